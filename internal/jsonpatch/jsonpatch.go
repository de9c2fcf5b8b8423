// Package jsonpatch applies RFC 6902 JSON Patch documents to JSON values
// decoded with json.Decoder.UseNumber: values are nil, bool, string,
// json.Number, []any and map[string]any. A Patch applies all-or-nothing:
// Apply works on a deep copy and returns it only when every operation
// succeeded. Values are decoded with Box's strict rules
// (box.DecodeStrictJSON), so that localbox, which serves Box's metadata
// PUT with it, and the Box client agree on what a well-formed document is.
package jsonpatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"

	"filesight/internal/box"
)

// Patch is a parsed JSON Patch document.
type Patch []Operation

// Operation is one parsed JSON Patch operation.
type Operation struct {
	Op       string
	Path     []string // JSON Pointer tokens, unescaped
	From     []string // for move and copy
	Value    any      // for add, replace and test
	rawPath  string
	rawFrom  string
	hasValue bool
}

// Error reports why a patch was refused; Index is the operation's
// position in the patch (-1 for a malformed patch document).
type Error struct {
	Index int
	Msg   string
}

// Error describes the refusal, naming the operation.
func (e *Error) Error() string {
	if e.Index < 0 {
		return e.Msg
	}
	return fmt.Sprintf("operation %d: %s", e.Index, e.Msg)
}

// MaxOperations bounds the work one patch can ask for.
const MaxOperations = 10000

// DecodeValue decodes one JSON value with box.DecodeStrictJSON (numbers
// kept exact as json.Number, duplicate object keys and nesting deeper than
// box.MaxJSONDepth refused) and refuses data after it.
func DecodeValue(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := box.DecodeStrictJSON(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	return v, nil
}

// Parse parses a JSON Patch document: an array of operation objects.
// Members an operation does not use are ignored, as RFC 6902 requires. Its
// errors are *Error.
func Parse(data []byte) (Patch, error) {
	var raw []map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return nil, &Error{-1, "the body must be a JSON array of JSON Patch operations: " + strings.TrimPrefix(err.Error(), "json: ")}
	}
	if dec.More() {
		return nil, &Error{-1, "unexpected data after the JSON Patch array"}
	}
	if raw == nil {
		return nil, &Error{-1, "the body must be a JSON array of JSON Patch operations, not null"}
	}
	if len(raw) > MaxOperations {
		return nil, &Error{-1, fmt.Sprintf("a patch may hold at most %d operations", MaxOperations)}
	}
	ops := make(Patch, 0, len(raw))
	for i, m := range raw {
		if m == nil {
			return nil, &Error{i, "an operation must be a JSON object"}
		}
		var op Operation
		str := func(member string, required bool) (string, error) {
			v, ok := m[member]
			if !ok {
				if required {
					return "", &Error{i, fmt.Sprintf("the %q member is required", member)}
				}
				return "", nil
			}
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return "", &Error{i, fmt.Sprintf("the %q member must be a string", member)}
			}
			return s, nil
		}
		var err error
		if op.Op, err = str("op", true); err != nil {
			return nil, err
		}
		if op.rawPath, err = str("path", true); err != nil {
			return nil, err
		}
		if op.Path, err = parsePointer(op.rawPath); err != nil {
			return nil, &Error{i, "path: " + err.Error()}
		}
		switch op.Op {
		case "add", "replace", "test":
			v, ok := m["value"]
			if !ok {
				return nil, &Error{i, fmt.Sprintf("the \"value\" member is required for %q", op.Op)}
			}
			if op.Value, err = DecodeValue(v); err != nil {
				return nil, &Error{i, "value: " + err.Error()}
			}
			op.hasValue = true
		case "move", "copy":
			if op.rawFrom, err = str("from", true); err != nil {
				return nil, err
			}
			if op.From, err = parsePointer(op.rawFrom); err != nil {
				return nil, &Error{i, "from: " + err.Error()}
			}
		case "remove":
		default:
			return nil, &Error{i, fmt.Sprintf("unknown op %q (want add, remove, replace, move, copy or test)", op.Op)}
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// parsePointer splits an RFC 6901 JSON Pointer into unescaped tokens.
func parsePointer(p string) ([]string, error) {
	if p == "" {
		return []string{}, nil
	}
	if p[0] != '/' {
		return nil, fmt.Errorf("JSON Pointer %q must be empty or start with /", p)
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		if !strings.Contains(t, "~") {
			continue
		}
		var b strings.Builder
		for j := 0; j < len(t); j++ {
			if t[j] != '~' {
				b.WriteByte(t[j])
				continue
			}
			if j+1 >= len(t) || (t[j+1] != '0' && t[j+1] != '1') {
				return nil, fmt.Errorf("JSON Pointer %q has an invalid ~ escape", p)
			}
			if t[j+1] == '0' {
				b.WriteByte('~')
			} else {
				b.WriteByte('/')
			}
			j++
		}
		toks[i] = b.String()
	}
	return toks, nil
}

// Apply applies p to a deep copy of doc and returns the result; doc itself
// is never modified. Its errors are *Error.
func (p Patch) Apply(doc any) (any, error) {
	cur := deepCopy(doc)
	for i, op := range p {
		var err error
		if cur, err = applyOp(cur, op); err != nil {
			return nil, &Error{i, err.Error()}
		}
	}
	return cur, nil
}

func applyOp(doc any, op Operation) (any, error) {
	switch op.Op {
	case "add":
		return addValue(doc, op.Path, deepCopy(op.Value), op.rawPath)
	case "remove":
		if len(op.Path) == 0 {
			return nil, fmt.Errorf("cannot remove the whole document")
		}
		out, _, err := removeValue(doc, op.Path, op.rawPath)
		return out, err
	case "replace":
		if _, err := getValue(doc, op.Path, op.rawPath); err != nil {
			return nil, err
		}
		if len(op.Path) == 0 {
			return deepCopy(op.Value), nil
		}
		out, _, err := removeValue(doc, op.Path, op.rawPath)
		if err != nil {
			return nil, err
		}
		return addValue(out, op.Path, deepCopy(op.Value), op.rawPath)
	case "move":
		if op.rawFrom == op.rawPath {
			_, err := getValue(doc, op.From, op.rawFrom)
			return doc, err
		}
		if strings.HasPrefix(op.rawPath, op.rawFrom+"/") || op.rawFrom == "" {
			return nil, fmt.Errorf("cannot move %q into its own child %q", op.rawFrom, op.rawPath)
		}
		out, v, err := removeValue(doc, op.From, op.rawFrom)
		if err != nil {
			return nil, err
		}
		return addValue(out, op.Path, v, op.rawPath)
	case "copy":
		v, err := getValue(doc, op.From, op.rawFrom)
		if err != nil {
			return nil, err
		}
		return addValue(doc, op.Path, deepCopy(v), op.rawPath)
	case "test":
		v, err := getValue(doc, op.Path, op.rawPath)
		if err != nil {
			return nil, err
		}
		if !jsonEqual(v, op.Value) {
			return nil, fmt.Errorf("test failed: the value at %q differs", op.rawPath)
		}
		return doc, nil
	}
	return nil, fmt.Errorf("unknown op %q", op.Op)
}

// arrayIndex parses an array index token; with allowEnd, "-" and len(arr)
// are accepted (the position after the last element).
func arrayIndex(tok string, n int, allowEnd bool) (int, error) {
	if tok == "-" {
		if allowEnd {
			return n, nil
		}
		return 0, fmt.Errorf("index \"-\" refers to a nonexistent element")
	}
	if tok == "" || (len(tok) > 1 && tok[0] == '0') || strings.TrimLeft(tok, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a valid array index", tok)
	}
	i, err := strconv.Atoi(tok)
	if err != nil {
		return 0, fmt.Errorf("array index %q is out of range", tok)
	}
	if i > n || (i == n && !allowEnd) {
		return 0, fmt.Errorf("array index %d is out of range (length %d)", i, n)
	}
	return i, nil
}

func getValue(doc any, path []string, raw string) (any, error) {
	cur := doc
	for _, tok := range path {
		switch n := cur.(type) {
		case map[string]any:
			v, ok := n[tok]
			if !ok {
				return nil, fmt.Errorf("path %q does not exist", raw)
			}
			cur = v
		case []any:
			i, err := arrayIndex(tok, len(n), false)
			if err != nil {
				return nil, fmt.Errorf("path %q: %v", raw, err)
			}
			cur = n[i]
		default:
			return nil, fmt.Errorf("path %q does not exist", raw)
		}
	}
	return cur, nil
}

// modifyParent walks to the container holding the last token of path and
// lets leaf replace it; it returns the (possibly new) document.
func modifyParent(doc any, path []string, raw string, leaf func(parent any, tok string) (any, error)) (any, error) {
	if len(path) == 1 {
		return leaf(doc, path[0])
	}
	switch n := doc.(type) {
	case map[string]any:
		child, ok := n[path[0]]
		if !ok {
			return nil, fmt.Errorf("path %q does not exist", raw)
		}
		nc, err := modifyParent(child, path[1:], raw, leaf)
		if err != nil {
			return nil, err
		}
		n[path[0]] = nc
		return n, nil
	case []any:
		i, err := arrayIndex(path[0], len(n), false)
		if err != nil {
			return nil, fmt.Errorf("path %q: %v", raw, err)
		}
		nc, err := modifyParent(n[i], path[1:], raw, leaf)
		if err != nil {
			return nil, err
		}
		n[i] = nc
		return n, nil
	}
	return nil, fmt.Errorf("path %q does not exist", raw)
}

func addValue(doc any, path []string, v any, raw string) (any, error) {
	if len(path) == 0 {
		return v, nil
	}
	return modifyParent(doc, path, raw, func(parent any, tok string) (any, error) {
		switch n := parent.(type) {
		case map[string]any:
			n[tok] = v
			return n, nil
		case []any:
			i, err := arrayIndex(tok, len(n), true)
			if err != nil {
				return nil, fmt.Errorf("path %q: %v", raw, err)
			}
			out := make([]any, 0, len(n)+1)
			out = append(out, n[:i]...)
			out = append(out, v)
			return append(out, n[i:]...), nil
		}
		return nil, fmt.Errorf("path %q: the parent is not an object or array", raw)
	})
}

func removeValue(doc any, path []string, raw string) (any, any, error) {
	var removed any
	out, err := modifyParent(doc, path, raw, func(parent any, tok string) (any, error) {
		switch n := parent.(type) {
		case map[string]any:
			v, ok := n[tok]
			if !ok {
				return nil, fmt.Errorf("path %q does not exist", raw)
			}
			removed = v
			delete(n, tok)
			return n, nil
		case []any:
			i, err := arrayIndex(tok, len(n), false)
			if err != nil {
				return nil, fmt.Errorf("path %q: %v", raw, err)
			}
			removed = n[i]
			out := make([]any, 0, len(n)-1)
			out = append(out, n[:i]...)
			return append(out, n[i+1:]...), nil
		}
		return nil, fmt.Errorf("path %q does not exist", raw)
	})
	return out, removed, err
}

func deepCopy(v any) any {
	switch n := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(n))
		for k, e := range n {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(n))
		for i, e := range n {
			s[i] = deepCopy(e)
		}
		return s
	}
	return v
}

// jsonEqual is RFC 6902's equality for test: numbers compare by value,
// objects regardless of member order.
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		return x == y || numbersEqual(string(x), string(y))
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !jsonEqual(xv, yv) {
				return false
			}
		}
		return true
	}
	return false
}

// numbersEqual compares two JSON numbers by value, exactly and in time
// linear in their length (no big-number arithmetic that a huge exponent
// could blow up): both are reduced to sign, significant digits and a
// decimal exponent.
func numbersEqual(a, b string) bool {
	sa, da, ea, oka := canonicalNumber(a)
	sb, db, eb, okb := canonicalNumber(b)
	return oka && okb && sa == sb && da == db && ea.Cmp(eb) == 0
}

func canonicalNumber(s string) (neg bool, digits string, exp *big.Int, ok bool) {
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	mant, expPart, hasExp := strings.Cut(strings.ToLower(s), "e")
	intPart, frac, _ := strings.Cut(mant, ".")
	exp = new(big.Int)
	if hasExp {
		if _, ok := exp.SetString(strings.TrimPrefix(expPart, "+"), 10); !ok {
			return false, "", nil, false
		}
	}
	digits = intPart + frac
	if strings.Trim(digits, "0123456789") != "" || digits == "" {
		return false, "", nil, false
	}
	exp.Sub(exp, big.NewInt(int64(len(frac))))
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return false, "0", new(big.Int), true // zero, whatever its sign
	}
	trimmed := strings.TrimRight(digits, "0")
	exp.Add(exp, big.NewInt(int64(len(digits)-len(trimmed))))
	return neg, trimmed, exp, true
}

// Package jsonpatch applies RFC 6902 JSON Patch documents to JSON values
// decoded with json.Decoder.UseNumber: values are nil, bool, string,
// json.Number, []any and map[string]any. A Patch applies all-or-nothing:
// Apply works on a deep copy and returns it only when every operation
// succeeded. Values are decoded with Box's strict rules
// (box.DecodeStrictJSON), so that localbox, which serves Box's metadata
// PUT with it, and the Box client agree on what a well-formed document is.
// Apply stays within Limits on the document's size and depth, checked as
// each operation is applied, so a small patch cannot build a huge document.
package jsonpatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"

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
	// Err is the cause to match with errors.Is (ErrTooLarge), if any.
	Err error
}

// Error describes the refusal, naming the operation.
func (e *Error) Error() string {
	if e.Index < 0 {
		return e.Msg
	}
	return fmt.Sprintf("operation %d: %s", e.Index, e.Msg)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// ErrTooLarge is the cause of the *Error of a patch whose result would be
// larger than Limits.MaxBytes.
var ErrTooLarge = errors.New("the document would be too large")

// DefaultMaxBytes is the default Limits.MaxBytes: localbox's default JSON
// body limit, so a patch cannot make a document no request could create.
const DefaultMaxBytes = 16 << 20

// Limits bound what a patch may make of a document. Their zero value is
// the default: DefaultMaxBytes and box.MaxJSONDepth.
type Limits struct {
	// MaxBytes bounds the document's size as JSON (as json.Marshal writes
	// it). A patch may still shrink a document that is already larger.
	MaxBytes int64
	// MaxDepth bounds its nesting, counted as box.DecodeStrictJSON counts.
	MaxDepth int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = box.MaxJSONDepth
	}
	return l
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
		return nil, &Error{Index: -1, Msg: "the body must be a JSON array of JSON Patch operations: " + strings.TrimPrefix(err.Error(), "json: ")}
	}
	if dec.More() {
		return nil, &Error{Index: -1, Msg: "unexpected data after the JSON Patch array"}
	}
	if raw == nil {
		return nil, &Error{Index: -1, Msg: "the body must be a JSON array of JSON Patch operations, not null"}
	}
	if len(raw) > MaxOperations {
		return nil, &Error{Index: -1, Msg: fmt.Sprintf("a patch may hold at most %d operations", MaxOperations)}
	}
	ops := make(Patch, 0, len(raw))
	for i, m := range raw {
		if m == nil {
			return nil, &Error{Index: i, Msg: "an operation must be a JSON object"}
		}
		var op Operation
		str := func(member string, required bool) (string, error) {
			v, ok := m[member]
			if !ok {
				if required {
					return "", &Error{Index: i, Msg: fmt.Sprintf("the %q member is required", member)}
				}
				return "", nil
			}
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return "", &Error{Index: i, Msg: fmt.Sprintf("the %q member must be a string", member)}
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
			return nil, &Error{Index: i, Msg: "path: " + err.Error()}
		}
		switch op.Op {
		case "add", "replace", "test":
			v, ok := m["value"]
			if !ok {
				return nil, &Error{Index: i, Msg: fmt.Sprintf("the \"value\" member is required for %q", op.Op)}
			}
			if op.Value, err = DecodeValue(v); err != nil {
				return nil, &Error{Index: i, Msg: "value: " + err.Error()}
			}
			op.hasValue = true
		case "move", "copy":
			if op.rawFrom, err = str("from", true); err != nil {
				return nil, err
			}
			if op.From, err = parsePointer(op.rawFrom); err != nil {
				return nil, &Error{Index: i, Msg: "from: " + err.Error()}
			}
		case "remove":
		default:
			return nil, &Error{Index: i, Msg: fmt.Sprintf("unknown op %q (want add, remove, replace, move, copy or test)", op.Op)}
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

// Apply applies p to a deep copy of doc within the default Limits and
// returns the result; doc itself is never modified. Its errors are *Error.
func (p Patch) Apply(doc any) (any, error) { return p.ApplyWithin(doc, Limits{}) }

// ApplyWithin is Apply with explicit limits. The size of the document is
// tracked operation by operation, and every value is measured before it is
// copied, so a patch that would grow the document past lim.MaxBytes (twenty
// copies of the whole document into itself, say) stops at the first
// operation that would cross it, having used memory in proportion to the
// limit, not to the document it asks for. The work of one patch (bytes
// measured and copied) is bounded too, at eight times lim.MaxBytes plus
// the document's size.
func (p Patch) ApplyWithin(doc any, lim Limits) (any, error) {
	a := newApplier(doc, lim)
	cur := deepCopy(doc)
	for i, op := range p {
		var err error
		if cur, err = a.applyOp(cur, op); err != nil {
			var pe *Error
			if errors.As(err, &pe) {
				pe.Index = i
				return nil, pe
			}
			return nil, &Error{Index: i, Msg: err.Error()}
		}
	}
	return cur, nil
}

// applier tracks the size of the document being patched and the work
// left.
type applier struct {
	lim  Limits
	size int64 // the document's size as JSON
	work int64 // bytes that may still be measured or copied
}

// newApplier measures doc, the document a patch starts from.
func newApplier(doc any, lim Limits) *applier {
	a := &applier{lim: lim.withDefaults(), work: math.MaxInt64}
	a.size, _, _ = a.measure(doc, -1)
	a.work = 8 * (a.lim.MaxBytes + a.size)
	return a
}

// errTooMuchWork stops a patch that measures or copies too much.
var errTooMuchWork = errors.New("the patch copies or rewrites too much data")

// measure returns v's size as JSON and its nesting depth (0 for a
// scalar), charging the bytes visited to the work budget. It gives up
// (ok false) once the size passes limit (when limit >= 0) or the work
// budget runs out.
func (a *applier) measure(v any, limit int64) (size int64, depth int, ok bool) {
	var walk func(v any, level int) bool
	walk = func(v any, level int) bool {
		depth = max(depth, level)
		var n int64
		switch x := v.(type) {
		case map[string]any:
			n = 2 + int64(max(len(x)-1, 0))
			for k, e := range x {
				size += stringSize(k) + 1
				if !walk(e, level+1) {
					return false
				}
			}
		case []any:
			n = 2 + int64(max(len(x)-1, 0))
			for _, e := range x {
				if !walk(e, level+1) {
					return false
				}
			}
		case nil:
			n = 4
		case bool:
			n = 5
			if x {
				n = 4
			}
		case string:
			n = stringSize(x)
		case json.Number:
			n = int64(len(x))
		default:
			b, _ := json.Marshal(x)
			n = int64(len(b))
		}
		size += n
		a.work -= n
		return a.work >= 0 && (limit < 0 || size <= limit)
	}
	ok = walk(v, 0)
	return size, depth, ok
}

// stringSize is the length of s as json.Marshal writes it: quotes, and
// escapes for quotes, backslashes, control characters, <, >, & and the
// line separators U+2028 and U+2029 (an invalid byte counts as the
// six-byte escape of U+FFFD).
func stringSize(s string) int64 {
	n := int64(2)
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
				n += 2
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && w == 1, r == '\u2028', r == '\u2029':
			n += 6
		default:
			n += int64(w)
		}
		i += w
	}
	return n
}

// memberSize is what a member named tok adds to parent besides its value:
// the key and colon in an object, and a comma when parent is not empty.
func memberSize(parent any, tok string) int64 {
	var n int64
	switch p := parent.(type) {
	case map[string]any:
		n = stringSize(tok) + 1
		if len(p) > 0 {
			n++
		}
	case []any:
		if len(p) > 0 {
			n++
		}
	}
	return n
}

// put adds v at path (op "add") or, with replace, replaces the value that
// is there (op "replace"), checking size and depth before anything is
// copied (v is copied when copyValue is set: it then still belongs to the
// document or the patch).
func (a *applier) put(doc any, path []string, v any, raw string, copyValue, replace bool) (any, error) {
	var replaced int64 // size of the value v takes the place of
	var overhead int64 // what a new member costs besides its value
	if len(path) == 0 {
		replaced = a.size
	} else {
		parent, err := getValue(doc, path[:len(path)-1], raw)
		if err != nil {
			return nil, err
		}
		tok := path[len(path)-1]
		old, exists := any(nil), false
		if replace {
			old, err = getValue(parent, path[len(path)-1:], raw)
			if err != nil {
				return nil, err
			}
			exists = true
		} else if m, ok := parent.(map[string]any); ok {
			old, exists = m[tok]
		}
		if exists {
			var ok bool
			if replaced, _, ok = a.measure(old, -1); !ok {
				return nil, errTooMuchWork
			}
		} else {
			overhead = memberSize(parent, tok)
		}
	}
	// v fits when the document stays within the limit, or does not grow.
	room := a.lim.MaxBytes - a.size + replaced - overhead
	size, depth, ok := a.measure(v, max(room, replaced-overhead, 0))
	if !ok && a.work < 0 {
		return nil, errTooMuchWork
	}
	if !ok || size > room && size+overhead > replaced {
		return nil, &Error{Msg: fmt.Sprintf("the document would grow past %d bytes", a.lim.MaxBytes), Err: ErrTooLarge}
	}
	if len(path)+depth > a.lim.MaxDepth {
		return nil, fmt.Errorf("the document would be nested deeper than %d levels", a.lim.MaxDepth)
	}
	if copyValue {
		a.work -= size
		if a.work < 0 {
			return nil, errTooMuchWork
		}
		v = deepCopy(v)
	}
	var out any
	var err error
	if replace && len(path) > 0 {
		out, err = modifyParent(doc, path, raw, func(parent any, tok string) (any, error) {
			switch n := parent.(type) {
			case map[string]any:
				n[tok] = v
			case []any:
				i, err := arrayIndex(tok, len(n), false)
				if err != nil {
					return nil, fmt.Errorf("path %q: %v", raw, err)
				}
				n[i] = v
			}
			return parent, nil
		})
	} else {
		out, err = addValue(doc, path, v, raw)
	}
	if err != nil {
		return nil, err
	}
	a.size += size + overhead - replaced
	return out, nil
}

// remove takes the value at path out and returns it.
func (a *applier) remove(doc any, path []string, raw string) (any, any, error) {
	if len(path) == 0 {
		return nil, nil, fmt.Errorf("cannot remove the whole document")
	}
	out, removed, err := removeValue(doc, path, raw)
	if err != nil {
		return nil, nil, err
	}
	size, _, ok := a.measure(removed, -1)
	if !ok {
		return nil, nil, errTooMuchWork
	}
	// What the member cost besides its value, seen from what is left.
	parent, _ := getValue(out, path[:len(path)-1], raw)
	a.size -= size + memberSize(parent, path[len(path)-1])
	return out, removed, nil
}

func (a *applier) applyOp(doc any, op Operation) (any, error) {
	switch op.Op {
	case "add":
		return a.put(doc, op.Path, op.Value, op.rawPath, true, false)
	case "remove":
		out, _, err := a.remove(doc, op.Path, op.rawPath)
		return out, err
	case "replace":
		if _, err := getValue(doc, op.Path, op.rawPath); err != nil {
			return nil, err
		}
		return a.put(doc, op.Path, op.Value, op.rawPath, true, true)
	case "move":
		if op.rawFrom == op.rawPath {
			_, err := getValue(doc, op.From, op.rawFrom)
			return doc, err
		}
		if strings.HasPrefix(op.rawPath, op.rawFrom+"/") || op.rawFrom == "" {
			return nil, fmt.Errorf("cannot move %q into its own child %q", op.rawFrom, op.rawPath)
		}
		out, v, err := a.remove(doc, op.From, op.rawFrom)
		if err != nil {
			return nil, err
		}
		return a.put(out, op.Path, v, op.rawPath, false, false)
	case "copy":
		v, err := getValue(doc, op.From, op.rawFrom)
		if err != nil {
			return nil, err
		}
		return a.put(doc, op.Path, v, op.rawPath, true, false)
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

package box

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// FieldError is one schema violation: the JSON path of the offending value
// (e.g. "cards[2].entries[0].appears[0].start") and what is wrong with it.
type FieldError struct {
	Path    string
	Problem string
}

func (e FieldError) String() string {
	if e.Path == "" {
		return e.Problem
	}
	return e.Path + ": " + e.Problem
}

// SchemaError is returned by ValidateSkillsCards. Problems are in document
// order; Error() shows the first few.
type SchemaError struct {
	Problems []FieldError
}

const maxShownProblems = 5

func (e *SchemaError) Error() string {
	var b strings.Builder
	b.WriteString("invalid boxSkillsCards document: ")
	for i, p := range e.Problems {
		if i == maxShownProblems {
			fmt.Fprintf(&b, "; and %d more", len(e.Problems)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// maxProblems bounds the work and the error size for hostile documents.
const maxProblems = 100

var cardTypes = []string{CardTypeKeyword, CardTypeTranscript, CardTypeTimeline, CardTypeStatus}
var statusCodes = []string{StatusInvoked, StatusProcessing, StatusSuccess, StatusTransientFailure, StatusPermanentFailure}

// metadataInstanceFields are the $-prefixed fields Box adds to an instance,
// with their schema types (SkillCardsMetadata).
var metadataInstanceFields = map[string]string{
	"$canEdit": "boolean", "$id": "string", "$parent": "string", "$scope": "string",
	"$template": "string", "$type": "string", "$typeVersion": "integer", "$version": "integer",
}

// ValidateSkillsCards checks a global/boxSkillsCards metadata document
// ({"cards":[...]}) against Box's skill card schemas, choosing the schema by
// skill_card_type: required members, enums and JSON types. It returns nil or
// a *SchemaError naming every offending path, e.g.
// "cards[2].entries[0].appears[0].start: required".
//
// Where the schemas are loose, it is strict in the same way as localbox:
//   - members a card schema does not define are refused (a typo fails here
//     rather than being dropped), and at the top level only "cards" and Box's
//     read-only "$" fields are accepted;
//   - the "required" Box lists beside each "appears" array applies to its
//     items: transcript appearances need start, timeline ones start and end;
//   - times are whole, non-negative seconds (integers without fraction or
//     exponent, so 2.0 is refused), and end is not before start;
//   - skill.id and invocation.id are non-empty;
//   - duplicate object keys are refused.
//
// A document it accepts always decodes into SkillsDocument.
func ValidateSkillsCards(doc []byte) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	v, err := DecodeStrictJSON(dec)
	if err != nil {
		return &SchemaError{Problems: []FieldError{{Problem: "not valid JSON: " + err.Error()}}}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &SchemaError{Problems: []FieldError{{Problem: "not valid JSON: data after the top-level value"}}}
	}
	var c checker
	c.document(v)
	if len(c.problems) == 0 {
		return nil
	}
	return &SchemaError{Problems: c.problems}
}

// MaxJSONDepth bounds the nesting DecodeStrictJSON accepts; skill cards
// nest five levels deep.
const MaxJSONDepth = 64

// DecodeStrictJSON decodes the next JSON value from dec like Decode into
// any (numbers as json.Number when dec.UseNumber was called) but refuses
// duplicate object keys, which decoders resolve differently (a map keeps the
// last, a struct sees both), and nesting deeper than MaxJSONDepth. Whatever
// follows the value is left in dec for the caller to check. localbox decodes
// metadata documents with it, so that server and client agree on what a
// well-formed document is.
func DecodeStrictJSON(dec *json.Decoder) (any, error) {
	return decodeStrict(dec, 0)
}

func decodeStrict(dec *json.Decoder, depth int) (any, error) {
	if depth > MaxJSONDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", MaxJSONDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			obj := map[string]any{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("object key is not a string")
				}
				if _, dup := obj[k]; dup {
					return nil, fmt.Errorf("duplicate key %q", truncate(k))
				}
				if obj[k], err = decodeStrict(dec, depth+1); err != nil {
					return nil, err
				}
			}
			if _, err := dec.Token(); err != nil { // '}'
				return nil, err
			}
			return obj, nil
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := decodeStrict(dec, depth+1)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := dec.Token(); err != nil { // ']'
				return nil, err
			}
			return arr, nil
		}
		return nil, fmt.Errorf("unexpected %q", t)
	default:
		return t, nil // string, json.Number, bool, nil
	}
}

type checker struct{ problems []FieldError }

func (c *checker) add(path, format string, args ...any) {
	if len(c.problems) < maxProblems {
		c.problems = append(c.problems, FieldError{Path: path, Problem: fmt.Sprintf(format, args...)})
	}
}

func (c *checker) full() bool { return len(c.problems) >= maxProblems }

func (c *checker) document(v any) {
	obj, ok := v.(map[string]any)
	if !ok {
		c.add("", "must be an object, got %s", jsonType(v))
		return
	}
	keys := sortedKeys(obj)
	for _, k := range keys {
		if k == "cards" {
			continue
		}
		if typ, ok := metadataInstanceFields[k]; ok {
			c.typed(k, obj[k], typ)
			continue
		}
		c.add(k, "unknown field (the boxSkillsCards template has only cards)")
	}
	cardsV, ok := obj["cards"]
	if !ok {
		c.add("cards", "required")
		return
	}
	cards, ok := cardsV.([]any)
	if !ok {
		c.add("cards", "must be an array, got %s", jsonType(cardsV))
		return
	}
	for i, card := range cards {
		if c.full() {
			return
		}
		c.card(fmt.Sprintf("cards[%d]", i), card)
	}
}

// cardSchema is what one card schema allows: its members, which are
// required, and the members of its entries and of their appearances.
type cardSchema struct {
	members, required []string
	entryMembers      []string // nil: the card has no entries
	appearsMembers    []string // all required when present
}

var cardSchemas = map[string]cardSchema{
	CardTypeKeyword: {
		members:      []string{"created_at", "type", "skill_card_type", "skill_card_title", "skill", "invocation", "entries"},
		required:     []string{"type", "skill_card_type", "skill", "invocation", "entries"},
		entryMembers: []string{"text"},
	},
	CardTypeTranscript: {
		members:        []string{"created_at", "type", "skill_card_type", "skill_card_title", "skill", "invocation", "duration", "entries"},
		required:       []string{"type", "skill_card_type", "skill", "invocation", "entries"},
		entryMembers:   []string{"text", "appears"},
		appearsMembers: []string{"start"},
	},
	CardTypeTimeline: {
		members:        []string{"created_at", "type", "skill_card_type", "skill_card_title", "skill", "invocation", "duration", "entries"},
		required:       []string{"type", "skill_card_type", "skill", "invocation", "entries"},
		entryMembers:   []string{"text", "appears", "image_url"},
		appearsMembers: []string{"start", "end"},
	},
	CardTypeStatus: {
		members:  []string{"created_at", "type", "skill_card_type", "skill_card_title", "status", "skill", "invocation"},
		required: []string{"type", "skill_card_type", "skill", "invocation", "status"},
	},
}

func (c *checker) card(path string, v any) {
	obj, ok := c.object(path, v)
	if !ok {
		return
	}
	kind, kindOK := c.enum(obj, path, "skill_card_type", cardTypes, true)
	c.enum(obj, path, "type", []string{CardObjectType}, true)
	if !kindOK {
		// Without a known skill_card_type there is no schema for the rest.
		return
	}
	schema := cardSchemas[kind]
	c.members(obj, path, schema.members)
	for _, k := range schema.required {
		if _, ok := obj[k]; !ok && k != "type" && k != "skill_card_type" {
			c.add(path+"."+k, "required")
		}
	}
	if t, ok := obj["created_at"]; ok {
		if s, ok := c.typed(path+".created_at", t, "string"); ok {
			// time.Time's own JSON decoding, so that valid means decodable.
			var tm time.Time
			if err := tm.UnmarshalJSON([]byte(strconv.Quote(s))); err != nil {
				c.add(path+".created_at", "must be an RFC 3339 date-time")
			}
		}
	}
	if t, ok := obj["skill_card_title"]; ok {
		if title, ok := c.object(path+".skill_card_title", t); ok {
			c.members(title, path+".skill_card_title", []string{"code", "message"})
			c.optString(title, path+".skill_card_title", "code")
			c.reqString(title, path+".skill_card_title", "message")
		}
	}
	c.ref(obj, path, "skill", SkillObjectType)
	c.ref(obj, path, "invocation", InvocationObjectType)
	if d, ok := obj["duration"]; ok {
		c.seconds(path+".duration", d)
	}
	if sv, ok := obj["status"]; ok {
		if st, ok := c.object(path+".status", sv); ok {
			c.members(st, path+".status", []string{"code", "message"})
			c.enum(st, path+".status", "code", statusCodes, true)
			c.optString(st, path+".status", "message")
		}
	}
	ev, ok := obj["entries"]
	if !ok || schema.entryMembers == nil {
		return
	}
	entries, ok := ev.([]any)
	if !ok {
		c.add(path+".entries", "must be an array, got %s", jsonType(ev))
		return
	}
	for i, e := range entries {
		if c.full() {
			return
		}
		c.entry(fmt.Sprintf("%s.entries[%d]", path, i), schema, e)
	}
}

func (c *checker) entry(path string, schema cardSchema, v any) {
	obj, ok := c.object(path, v)
	if !ok {
		return
	}
	c.members(obj, path, schema.entryMembers)
	c.optString(obj, path, "text")
	if slices.Contains(schema.entryMembers, "image_url") {
		c.optString(obj, path, "image_url")
	}
	av, ok := obj["appears"]
	if !ok || schema.appearsMembers == nil {
		return
	}
	appears, ok := av.([]any)
	if !ok {
		c.add(path+".appears", "must be an array, got %s", jsonType(av))
		return
	}
	for i, a := range appears {
		if c.full() {
			return
		}
		ap := fmt.Sprintf("%s.appears[%d]", path, i)
		ao, ok := c.object(ap, a)
		if !ok {
			continue
		}
		c.members(ao, ap, schema.appearsMembers)
		times := map[string]int64{}
		for _, f := range schema.appearsMembers {
			fv, present := ao[f]
			if !present {
				c.add(ap+"."+f, "required")
				continue
			}
			if n, ok := c.seconds(ap+"."+f, fv); ok {
				times[f] = n
			}
		}
		start, okS := times["start"]
		if end, okE := times["end"]; okS && okE && end < start {
			c.add(ap+".end", "is before start (%d < %d)", end, start)
		}
	}
}

// members reports every member of obj that allowed does not list.
func (c *checker) members(obj map[string]any, path string, allowed []string) {
	for _, k := range sortedKeys(obj) {
		if !slices.Contains(allowed, k) {
			c.add(path+"."+k, "unknown member (allowed: %s)", strings.Join(allowed, ", "))
		}
	}
}

// seconds checks a time in whole seconds: an integer, not negative.
func (c *checker) seconds(path string, v any) (int64, bool) {
	if _, ok := c.typed(path, v, "integer"); !ok {
		return 0, false
	}
	n, _ := strconv.ParseInt(string(v.(json.Number)), 10, 64)
	if n < 0 {
		c.add(path, "must not be negative")
		return 0, false
	}
	return n, true
}

// ref checks a required {type: <fixed>, id: non-empty string} object (skill, invocation).
func (c *checker) ref(obj map[string]any, path, field, typ string) {
	v, ok := obj[field]
	if !ok {
		return // reported with the card's required members
	}
	p := path + "." + field
	o, ok := c.object(p, v)
	if !ok {
		return
	}
	c.members(o, p, []string{"type", "id"})
	c.enum(o, p, "type", []string{typ}, true)
	if id, ok := o["id"]; !ok {
		c.add(p+".id", "required")
	} else if s, ok := c.typed(p+".id", id, "string"); ok && s == "" {
		c.add(p+".id", "must not be empty")
	}
}

func (c *checker) enum(obj map[string]any, path, field string, allowed []string, required bool) (string, bool) {
	v, ok := obj[field]
	if !ok {
		if required {
			c.add(path+"."+field, "required")
		}
		return "", false
	}
	s, ok := c.typed(path+"."+field, v, "string")
	if !ok {
		return "", false
	}
	if !slices.Contains(allowed, s) {
		c.add(path+"."+field, "must be one of %s, got %q", strings.Join(allowed, ", "), truncate(s))
		return s, false
	}
	return s, true
}

func (c *checker) reqString(obj map[string]any, path, field string) {
	v, ok := obj[field]
	if !ok {
		c.add(path+"."+field, "required")
		return
	}
	c.typed(path+"."+field, v, "string")
}

func (c *checker) optString(obj map[string]any, path, field string) {
	if v, ok := obj[field]; ok {
		c.typed(path+"."+field, v, "string")
	}
}

func (c *checker) object(path string, v any) (map[string]any, bool) {
	o, ok := v.(map[string]any)
	if !ok {
		c.add(path, "must be an object, got %s", jsonType(v))
	}
	return o, ok
}

// typed checks v against a JSON schema primitive type and returns it as a
// string when it is one.
func (c *checker) typed(path string, v any, typ string) (string, bool) {
	switch typ {
	case "string":
		s, ok := v.(string)
		if !ok {
			c.add(path, "must be a string, got %s", jsonType(v))
		}
		return s, ok
	case "boolean":
		_, ok := v.(bool)
		if !ok {
			c.add(path, "must be a boolean, got %s", jsonType(v))
		}
		return "", ok
	case "integer":
		if !isInteger(v) {
			c.add(path, "must be an integer, got %s", jsonType(v))
			return "", false
		}
		return "", true
	}
	panic("box: unknown schema type " + typ)
}

// isInteger follows the JSON Schema draft OpenAPI 3.0 builds on: a number
// without a fraction or exponent part (so 2.0 is not an integer), within
// int64 like the Go fields it decodes into.
func isInteger(v any) bool {
	n, ok := v.(json.Number)
	if !ok {
		return false
	}
	_, err := strconv.ParseInt(string(n), 10, 64)
	return err == nil
}

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		if isInteger(x) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// truncate shortens s for an error message, on a rune boundary.
func truncate(s string) string { return truncateTo(s, 40) }

// truncateTo keeps at most n bytes of s, cut on a rune boundary and
// marked with "…".
func truncateTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

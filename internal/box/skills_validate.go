package box

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
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
// ({"cards":[...]}) against Box's skill card schemas: required fields,
// enums and JSON types, choosing the schema by skill_card_type. It returns
// nil or a *SchemaError naming the offending paths, e.g.
// "cards[2].entries[0].appears[0].start: required".
//
// Beyond cards, only Box's read-only $-prefixed instance fields are
// accepted at the top level (the template has no other fields). Unknown
// fields inside cards are allowed, as the schemas do not forbid them.
// The "required" Box lists beside each "appears" array is applied to its
// items: transcript appearances need start, timeline appearances start and end.
func ValidateSkillsCards(doc []byte) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
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

func (c *checker) card(path string, v any) {
	obj, ok := v.(map[string]any)
	if !ok {
		c.add(path, "must be an object, got %s", jsonType(v))
		return
	}
	kind, kindOK := c.enum(obj, path, "skill_card_type", cardTypes, true)
	c.enum(obj, path, "type", []string{CardObjectType}, true)
	if t, ok := obj["created_at"]; ok {
		if s, ok := c.typed(path+".created_at", t, "string"); ok {
			if _, err := time.Parse(time.RFC3339, s); err != nil {
				c.add(path+".created_at", "must be an RFC 3339 date-time")
			}
		}
	}
	if t, ok := obj["skill_card_title"]; ok {
		if title, ok := c.object(path+".skill_card_title", t); ok {
			c.optString(title, path+".skill_card_title", "code")
			c.reqString(title, path+".skill_card_title", "message")
		}
	}
	c.ref(obj, path, "skill", SkillObjectType)
	c.ref(obj, path, "invocation", InvocationObjectType)
	if !kindOK {
		// Without a known skill_card_type there is no schema to check the rest against.
		return
	}
	switch kind {
	case CardTypeStatus:
		sv, ok := obj["status"]
		if !ok {
			c.add(path+".status", "required")
			return
		}
		if st, ok := c.object(path+".status", sv); ok {
			c.enum(st, path+".status", "code", statusCodes, true)
			c.optString(st, path+".status", "message")
		}
	case CardTypeKeyword, CardTypeTranscript, CardTypeTimeline:
		if kind != CardTypeKeyword {
			if d, ok := obj["duration"]; ok {
				c.typed(path+".duration", d, "integer")
			}
		}
		ev, ok := obj["entries"]
		if !ok {
			c.add(path+".entries", "required")
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
			c.entry(fmt.Sprintf("%s.entries[%d]", path, i), kind, e)
		}
	}
}

func (c *checker) entry(path, kind string, v any) {
	obj, ok := c.object(path, v)
	if !ok {
		return
	}
	c.optString(obj, path, "text")
	if kind == CardTypeKeyword {
		return
	}
	if kind == CardTypeTimeline {
		c.optString(obj, path, "image_url")
	}
	av, ok := obj["appears"]
	if !ok {
		return
	}
	appears, ok := av.([]any)
	if !ok {
		c.add(path+".appears", "must be an array, got %s", jsonType(av))
		return
	}
	required := []string{"start"}
	if kind == CardTypeTimeline {
		required = []string{"start", "end"}
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
		for _, f := range []string{"start", "end"} {
			fv, present := ao[f]
			if !present {
				if slices.Contains(required, f) {
					c.add(ap+"."+f, "required")
				}
				continue
			}
			if kind == CardTypeTranscript && f == "end" {
				continue // not in the transcript schema; tolerated like any unknown field
			}
			c.typed(ap+"."+f, fv, "integer")
		}
	}
}

// ref checks a required {type: <fixed>, id: string} object (skill, invocation).
func (c *checker) ref(obj map[string]any, path, field, typ string) {
	v, ok := obj[field]
	if !ok {
		c.add(path+"."+field, "required")
		return
	}
	o, ok := c.object(path+"."+field, v)
	if !ok {
		return
	}
	c.enum(o, path+"."+field, "type", []string{typ}, true)
	c.reqString(o, path+"."+field, "id")
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

// isInteger follows JSON Schema: a number with no fractional part (1.0 counts).
func isInteger(v any) bool {
	n, ok := v.(json.Number)
	if !ok {
		return false
	}
	if _, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return true
	}
	f, err := strconv.ParseFloat(string(n), 64)
	return err == nil && !math.IsInf(f, 0) && f == math.Trunc(f) && math.Abs(f) <= 1<<53
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

func truncate(s string) string {
	const max = 40
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

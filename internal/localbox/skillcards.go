package localbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// validateSkillsCards checks a global/boxSkillsCards document, {"cards":[…]},
// against the KeywordSkillCard, TranscriptSkillCard, TimelineSkillCard and
// StatusSkillCard schemas of Box's OpenAPI description: required fields,
// enums and JSON types, the schema chosen by skill_card_type.
//
// It accepts exactly what filesight/internal/box.ValidateSkillsCards accepts
// (a differential test and fuzz target hold the two together). localbox
// cannot call that function: internal/box's own tests start a localbox, and
// Go refuses the import cycle that would make.
//
// Rules, as the schemas say: unknown members inside cards are allowed (the
// schemas do not forbid them) but every member known to any card schema is
// type-checked wherever it appears; times (duration, appears.start/end) are
// integers written without fraction or exponent; transcript appearances
// need start, timeline appearances start and end; at the top level only
// "cards" and Box's $-members are allowed. doc is as decodeJSONValue
// returns it (numbers as json.Number; duplicate keys already refused).
func validateSkillsCards(doc any) error {
	obj, ok := doc.(map[string]any)
	if !ok {
		return fmt.Errorf("the document must be an object, got %s", jsonTypeName(doc))
	}
	for _, k := range sortedKeys(obj) {
		if k == "cards" {
			continue
		}
		typ, ok := instanceMembers[k]
		if !ok {
			return fmt.Errorf("%s: unknown member (the boxSkillsCards template has only cards)", k)
		}
		if err := checkType(k, obj[k], typ); err != nil {
			return err
		}
	}
	raw, ok := obj["cards"]
	if !ok {
		return errors.New("cards: required")
	}
	cards, ok := raw.([]any)
	if !ok {
		return fmt.Errorf("cards: must be an array, got %s", jsonTypeName(raw))
	}
	for i, c := range cards {
		if err := validateCard(fmt.Sprintf("cards[%d]", i), c); err != nil {
			return err
		}
	}
	return nil
}

// instanceMembers are the $-members Box adds to an instance, with their types.
var instanceMembers = map[string]string{
	"$canEdit": "boolean", "$id": "string", "$parent": "string", "$scope": "string",
	"$template": "string", "$type": "string", "$typeVersion": "integer", "$version": "integer",
}

var (
	cardKinds   = []string{"keyword", "transcript", "timeline", "status"}
	statusCodes = []string{"invoked", "processing", "success", "transient_failure", "permanent_failure"}
)

func validateCard(path string, v any) error {
	card, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: must be an object, got %s", path, jsonTypeName(v))
	}
	kind, err := enumMember(card, path, "skill_card_type", cardKinds, true)
	if err != nil {
		return err
	}
	if _, err := enumMember(card, path, "type", []string{"skill_card"}, true); err != nil {
		return err
	}
	if c, ok := card["created_at"]; ok {
		if err := checkType(path+".created_at", c, "string"); err != nil {
			return err
		}
		if _, err := time.Parse(time.RFC3339, c.(string)); err != nil {
			return fmt.Errorf("%s.created_at: must be an RFC 3339 date-time", path)
		}
	}
	if t, ok := card["skill_card_title"]; ok {
		title, err := objectMember(path+".skill_card_title", t)
		if err != nil {
			return err
		}
		if err := stringMember(title, path+".skill_card_title", "code", false); err != nil {
			return err
		}
		if err := stringMember(title, path+".skill_card_title", "message", true); err != nil {
			return err
		}
	}
	for field, typ := range map[string]string{"skill": "service", "invocation": "skill_invocation"} {
		raw, ok := card[field]
		if !ok {
			return fmt.Errorf("%s.%s: required", path, field)
		}
		ref, err := objectMember(path+"."+field, raw)
		if err != nil {
			return err
		}
		if _, err := enumMember(ref, path+"."+field, "type", []string{typ}, true); err != nil {
			return err
		}
		if err := stringMember(ref, path+"."+field, "id", true); err != nil {
			return err
		}
	}
	if d, ok := card["duration"]; ok {
		if err := checkType(path+".duration", d, "integer"); err != nil {
			return err
		}
	}
	if sv, ok := card["status"]; ok {
		st, err := objectMember(path+".status", sv)
		if err != nil {
			return err
		}
		if _, err := enumMember(st, path+".status", "code", statusCodes, kind == "status"); err != nil {
			return err
		}
		if err := stringMember(st, path+".status", "message", false); err != nil {
			return err
		}
	} else if kind == "status" {
		return fmt.Errorf("%s.status: required", path)
	}
	ev, ok := card["entries"]
	if !ok {
		if kind != "status" {
			return fmt.Errorf("%s.entries: required", path)
		}
		return nil
	}
	entries, ok := ev.([]any)
	if !ok {
		return fmt.Errorf("%s.entries: must be an array, got %s", path, jsonTypeName(ev))
	}
	var required []string
	switch kind {
	case "transcript":
		required = []string{"start"}
	case "timeline":
		required = []string{"start", "end"}
	}
	for i, e := range entries {
		ep := fmt.Sprintf("%s.entries[%d]", path, i)
		entry, err := objectMember(ep, e)
		if err != nil {
			return err
		}
		if err := stringMember(entry, ep, "text", false); err != nil {
			return err
		}
		if err := stringMember(entry, ep, "image_url", false); err != nil {
			return err
		}
		av, ok := entry["appears"]
		if !ok {
			continue
		}
		appears, ok := av.([]any)
		if !ok {
			return fmt.Errorf("%s.appears: must be an array, got %s", ep, jsonTypeName(av))
		}
		for j, a := range appears {
			ap := fmt.Sprintf("%s.appears[%d]", ep, j)
			app, err := objectMember(ap, a)
			if err != nil {
				return err
			}
			for _, f := range []string{"start", "end"} {
				if fv, ok := app[f]; ok {
					if err := checkType(ap+"."+f, fv, "integer"); err != nil {
						return err
					}
				} else if slices.Contains(required, f) {
					return fmt.Errorf("%s.%s: required", ap, f)
				}
			}
		}
	}
	return nil
}

func enumMember(obj map[string]any, path, field string, allowed []string, required bool) (string, error) {
	v, ok := obj[field]
	if !ok {
		if required {
			return "", fmt.Errorf("%s.%s: required", path, field)
		}
		return "", nil
	}
	if err := checkType(path+"."+field, v, "string"); err != nil {
		return "", err
	}
	if s := v.(string); slices.Contains(allowed, s) {
		return s, nil
	}
	return "", fmt.Errorf("%s.%s: must be one of %v, got %q", path, field, allowed, v)
}

func stringMember(obj map[string]any, path, field string, required bool) error {
	v, ok := obj[field]
	if !ok {
		if required {
			return fmt.Errorf("%s.%s: required", path, field)
		}
		return nil
	}
	return checkType(path+"."+field, v, "string")
}

func objectMember(path string, v any) (map[string]any, error) {
	o, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: must be an object, got %s", path, jsonTypeName(v))
	}
	return o, nil
}

func checkType(path string, v any, typ string) error {
	ok := false
	switch typ {
	case "string":
		_, ok = v.(string)
	case "boolean":
		_, ok = v.(bool)
	case "integer":
		ok = isJSONInteger(v)
	}
	if !ok {
		return fmt.Errorf("%s: must be %s %s, got %s", path, map[bool]string{true: "an", false: "a"}[typ == "integer"], typ, jsonTypeName(v))
	}
	return nil
}

// isJSONInteger: a number without fraction or exponent that fits int64.
func isJSONInteger(v any) bool {
	n, ok := v.(json.Number)
	if !ok {
		return false
	}
	_, err := strconv.ParseInt(string(n), 10, 64)
	return err == nil
}

func jsonTypeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		if isJSONInteger(x) {
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

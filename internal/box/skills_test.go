package box

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func sampleCards() []Card {
	created := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	m := CardMeta{SkillID: "filesight", InvocationID: "file-1-v2", Title: "Topics", TitleCode: "skills_topics", CreatedAt: &created}
	return []Card{
		NewKeywordCard(m, "temporal", "box"),
		NewTranscriptCard(m, 120, []CardEntry{{Text: "hello world", Appears: []Appearance{At(0)}}}),
		NewTimelineCard(m, 120, []CardEntry{{Text: "scene 1", ImageURL: "https://example.com/1.png", Appears: []Appearance{Span(0, 10), Span(0, 0)}}}),
		NewStatusCard(CardMeta{SkillID: "filesight", InvocationID: "file-1-v2"}, StatusProcessing, "working"),
		NewKeywordCard(m), // no keywords: entries must still be present
	}
}

func TestConstructedCardsValidate(t *testing.T) {
	b, err := json.Marshal(SkillsDocument{Cards: sampleCards()})
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateSkillsCards(b); err != nil {
		t.Fatalf("constructed cards do not validate: %v\n%s", err, b)
	}
	// Shape checks against the schema's field names.
	var raw struct {
		Cards []map[string]any `json:"cards"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	kw := raw.Cards[0]
	if kw["type"] != "skill_card" || kw["skill_card_type"] != "keyword" {
		t.Errorf("keyword card: %v", kw)
	}
	if s := kw["skill"].(map[string]any); s["type"] != "service" || s["id"] != "filesight" {
		t.Errorf("skill: %v", s)
	}
	if s := kw["invocation"].(map[string]any); s["type"] != "skill_invocation" || s["id"] != "file-1-v2" {
		t.Errorf("invocation: %v", s)
	}
	if s := kw["skill_card_title"].(map[string]any); s["message"] != "Topics" || s["code"] != "skills_topics" {
		t.Errorf("title: %v", s)
	}
	if kw["created_at"] != "2026-11-25T12:00:00Z" {
		t.Errorf("created_at: %v", kw["created_at"])
	}
	if _, ok := raw.Cards[4]["entries"].([]any); !ok {
		t.Errorf("empty keyword card lost its entries: %v", raw.Cards[4])
	}
	if _, ok := raw.Cards[3]["entries"]; ok {
		t.Errorf("status card has entries: %v", raw.Cards[3])
	}
	if _, ok := raw.Cards[3]["skill_card_title"]; ok {
		t.Errorf("untitled status card has a title: %v", raw.Cards[3])
	}
	tl := raw.Cards[2]["entries"].([]any)[0].(map[string]any)["appears"].([]any)[1].(map[string]any)
	if tl["start"] != 0.0 || tl["end"] != 0.0 {
		t.Errorf("zero span lost its fields: %v", tl)
	}
	tr := raw.Cards[1]["entries"].([]any)[0].(map[string]any)["appears"].([]any)[0].(map[string]any)
	if _, ok := tr["end"]; ok {
		t.Errorf("transcript appearance has end: %v", tr)
	}

	// Round trip through the Go types.
	var back SkillsDocument
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Cards) != 5 || back.Cards[2].Entries[0].Appears[0].End == nil || *back.Cards[2].Entries[0].Appears[0].End != 10 || back.Cards[3].Status.Code != StatusProcessing {
		t.Errorf("round trip: %+v", back)
	}
}

const validCard = `{"type":"skill_card","skill_card_type":"timeline","skill":{"type":"service","id":"s"},"invocation":{"type":"skill_invocation","id":"i"},"duration":10,"entries":[{"text":"a","image_url":"u","appears":[{"start":1,"end":2}]}]}`

func TestValidateSkillsCardsProblems(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"brief example", `{"cards":[` + validCard + `,` + validCard + `,{"type":"skill_card","skill_card_type":"transcript","skill":{"type":"service","id":"s"},"invocation":{"type":"skill_invocation","id":"i"},"entries":[{"text":"x","appears":[{"end":3}]}]}]}`,
			"cards[2].entries[0].appears[0].start: required"},
		{"not json", `{"cards":`, ": not valid JSON"},
		{"trailing", `{"cards":[]} {}`, "data after the top-level value"},
		{"duplicate key", `{"cards":[{"skill":"","skill":{}}]}`, `duplicate key "skill"`},
		{"too deep", `{"cards":[` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `]}`, "nested deeper than"},
		{"not object", `[]`, "must be an object, got array"},
		{"no cards", `{}`, "cards: required"},
		{"cards not array", `{"cards":{}}`, "cards: must be an array, got object"},
		{"unknown top-level", `{"cards":[],"extra":1}`, "extra: unknown field"},
		{"bad $version", `{"cards":[],"$version":"1"}`, "$version: must be an integer, got string"},
		{"card not object", `{"cards":[3]}`, "cards[0]: must be an object, got integer"},
		{"missing type", `{"cards":[{"skill_card_type":"status","skill":{"type":"service","id":"s"},"invocation":{"type":"skill_invocation","id":"i"},"status":{"code":"success"}}]}`, "cards[0].type: required"},
		{"wrong type", strings.Replace(`{"cards":[`+validCard+`]}`, `"type":"skill_card"`, `"type":"card"`, 1), `cards[0].type: must be one of skill_card, got "card"`},
		{"missing card type", strings.Replace(`{"cards":[`+validCard+`]}`, `"skill_card_type":"timeline",`, ``, 1), "cards[0].skill_card_type: required"},
		{"unknown card type", strings.Replace(`{"cards":[`+validCard+`]}`, `"timeline"`, `"faces"`, 1), "cards[0].skill_card_type: must be one of keyword, transcript, timeline, status"},
		{"skill type", strings.Replace(`{"cards":[`+validCard+`]}`, `"type":"service"`, `"type":"app"`, 1), "cards[0].skill.type: must be one of service"},
		{"skill id type", strings.Replace(`{"cards":[`+validCard+`]}`, `"id":"s"`, `"id":7`, 1), "cards[0].skill.id: must be a string, got integer"},
		{"missing invocation", strings.Replace(`{"cards":[`+validCard+`]}`, `"invocation":{"type":"skill_invocation","id":"i"},`, ``, 1), "cards[0].invocation: required"},
		{"invocation id missing", strings.Replace(`{"cards":[`+validCard+`]}`, `,"id":"i"`, ``, 1), "cards[0].invocation.id: required"},
		{"missing entries", strings.Replace(`{"cards":[`+validCard+`]}`, `"entries"`, `"entry"`, 1), "cards[0].entries: required"},
		{"entries null", strings.Replace(`{"cards":[`+validCard+`]}`, `"entries":[{"text":"a","image_url":"u","appears":[{"start":1,"end":2}]}]`, `"entries":null`, 1), "cards[0].entries: must be an array, got null"},
		{"duration float", strings.Replace(`{"cards":[`+validCard+`]}`, `"duration":10`, `"duration":10.5`, 1), "cards[0].duration: must be an integer, got number"},
		{"duration 10.0", strings.Replace(`{"cards":[`+validCard+`]}`, `"duration":10`, `"duration":10.0`, 1), "cards[0].duration: must be an integer, got number"},
		{"keyword duration", `{"cards":[{"type":"skill_card","skill_card_type":"keyword","skill":{"type":"service","id":"s"},"invocation":{"type":"skill_invocation","id":"i"},"entries":[],"duration":3}]}`, "cards[0].duration: unknown member"},
		{"status entries", `{"cards":[{"type":"skill_card","skill_card_type":"status","skill":{"type":"service","id":"s"},"invocation":{"type":"skill_invocation","id":"i"},"status":{"code":"success"},"entries":[]}]}`, "cards[0].entries: unknown member"},
		{"card typo", strings.Replace(`{"cards":[`+validCard+`]}`, `"duration"`, `"durration"`, 1), "cards[0].durration: unknown member"},
		{"transcript end", `{"cards":[{"type":"skill_card","skill_card_type":"transcript","skill":{"type":"service","id":"s"},"invocation":{"type":"skill_invocation","id":"i"},"entries":[{"appears":[{"start":1,"end":2}]}]}]}`, "cards[0].entries[0].appears[0].end: unknown member"},
		{"keyword appears", `{"cards":[{"type":"skill_card","skill_card_type":"keyword","skill":{"type":"service","id":"s"},"invocation":{"type":"skill_invocation","id":"i"},"entries":[{"text":"a","appears":[]}]}]}`, "cards[0].entries[0].appears: unknown member"},
		{"skill extra", strings.Replace(`{"cards":[`+validCard+`]}`, `"id":"s"`, `"id":"s","name":"n"`, 1), "cards[0].skill.name: unknown member"},
		{"status extra", `{"cards":[{"type":"skill_card","skill_card_type":"status","skill":{"type":"service","id":"s"},"invocation":{"type":"skill_invocation","id":"i"},"status":{"code":"success","detail":1}}]}`, "cards[0].status.detail: unknown member"},
		{"empty skill id", strings.Replace(`{"cards":[`+validCard+`]}`, `"id":"s"`, `"id":""`, 1), "cards[0].skill.id: must not be empty"},
		{"negative start", strings.Replace(`{"cards":[`+validCard+`]}`, `"start":1`, `"start":-1`, 1), "cards[0].entries[0].appears[0].start: must not be negative"},
		{"negative duration", strings.Replace(`{"cards":[`+validCard+`]}`, `"duration":10`, `"duration":-10`, 1), "cards[0].duration: must not be negative"},
		{"end before start", strings.Replace(`{"cards":[`+validCard+`]}`, `"start":1,"end":2`, `"start":3,"end":2`, 1), "cards[0].entries[0].appears[0].end: is before start (2 < 3)"},
		{"timeline end missing", strings.Replace(`{"cards":[`+validCard+`]}`, `,"end":2`, ``, 1), "cards[0].entries[0].appears[0].end: required"},
		{"start string", strings.Replace(`{"cards":[`+validCard+`]}`, `"start":1`, `"start":"1"`, 1), "cards[0].entries[0].appears[0].start: must be an integer, got string"},
		{"image_url type", strings.Replace(`{"cards":[`+validCard+`]}`, `"image_url":"u"`, `"image_url":false`, 1), "cards[0].entries[0].image_url: must be a string, got boolean"},
		{"text type", strings.Replace(`{"cards":[`+validCard+`]}`, `"text":"a"`, `"text":["a"]`, 1), "cards[0].entries[0].text: must be a string, got array"},
		{"title message missing", `{"cards":[{"type":"skill_card","skill_card_type":"keyword","skill_card_title":{"code":"c"},"skill":{"type":"service","id":"s"},"invocation":{"type":"skill_invocation","id":"i"},"entries":[]}]}`, "cards[0].skill_card_title.message: required"},
		{"created_at", `{"cards":[{"created_at":"yesterday","type":"skill_card","skill_card_type":"keyword","skill":{"type":"service","id":"s"},"invocation":{"type":"skill_invocation","id":"i"},"entries":[]}]}`, "cards[0].created_at: must be an RFC 3339 date-time"},
		{"status missing", `{"cards":[{"type":"skill_card","skill_card_type":"status","skill":{"type":"service","id":"s"},"invocation":{"type":"skill_invocation","id":"i"}}]}`, "cards[0].status: required"},
		{"status code", `{"cards":[{"type":"skill_card","skill_card_type":"status","skill":{"type":"service","id":"s"},"invocation":{"type":"skill_invocation","id":"i"},"status":{"code":"done"}}]}`, "cards[0].status.code: must be one of invoked, processing, success, transient_failure, permanent_failure"},
		{"status code missing", `{"cards":[{"type":"skill_card","skill_card_type":"status","skill":{"type":"service","id":"s"},"invocation":{"type":"skill_invocation","id":"i"},"status":{"message":"m"}}]}`, "cards[0].status.code: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateSkillsCards([]byte(tt.doc))
			var se *SchemaError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a *SchemaError containing %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestValidateSkillsCardsAccepts(t *testing.T) {
	for _, doc := range []string{
		`{"cards":[]}`,
		`{"cards":[` + validCard + `]}`,
		// $ fields from a read, an empty entry
		`{"$id":"01234567-89ab-cdef-0123-456789abcdef","$version":0,"$canEdit":true,"$scope":"global","$template":"boxSkillsCards","cards":[{"type":"skill_card","skill_card_type":"transcript","duration":2,"skill":{"type":"service","id":"s"},"invocation":{"type":"skill_invocation","id":"i"},"entries":[{"text":"t","appears":[{"start":0}]},{}]}]}`,
	} {
		if err := ValidateSkillsCards([]byte(doc)); err != nil {
			t.Errorf("%s: %v", doc, err)
		}
	}
}

func TestValidateSkillsCardsReportsAllAndBounds(t *testing.T) {
	// Two problems in different cards are both reported, in document order.
	doc := `{"cards":[{"type":"skill_card"},{"type":"skill_card","skill_card_type":"status"}]}`
	err := ValidateSkillsCards([]byte(doc))
	var se *SchemaError
	if !errors.As(err, &se) {
		t.Fatalf("got %v", err)
	}
	if se.Problems[0].Path != "cards[0].skill_card_type" || se.Problems[len(se.Problems)-1].Path != "cards[1].status" {
		t.Fatalf("problems out of order or missing: %+v", se.Problems)
	}
	// An unknown skill_card_type is reported alone: there is no schema for the rest.
	err = ValidateSkillsCards([]byte(`{"cards":[{"type":"skill_card","skill_card_type":"faces","skill":{"type":"service"}}]}`))
	if !errors.As(err, &se) || len(se.Problems) != 1 || se.Problems[0].Path != "cards[0].skill_card_type" {
		t.Fatalf("unknown card type: %v", err)
	}
	// A hostile document produces a bounded error.
	big := `{"cards":[` + strings.Repeat(`1,`, 10000) + `1]}`
	err = ValidateSkillsCards([]byte(big))
	if !errors.As(err, &se) || len(se.Problems) != maxProblems || !strings.Contains(err.Error(), "more") {
		t.Fatalf("unbounded: %d problems, %v", len(se.Problems), err)
	}
}

func TestUpsertPatch(t *testing.T) {
	doc := map[string]any{"cards": []any{}, "a/b~c": "x", "$id": "skip", "zero": nil}
	ops := UpsertPatch(map[string]any{"cards": 1, "$id": "i"}, doc)
	b, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"op":"add","path":"/a~1b~0c","value":"x"},{"op":"replace","path":"/cards","value":[]},{"op":"add","path":"/zero","value":null}]`
	if string(b) != want {
		t.Fatalf("patch\n got %s\nwant %s", b, want)
	}
	// Unknown instance: everything is added (RFC 6902 add replaces an existing member).
	ops = UpsertPatch(nil, map[string]any{"k": 1})
	if len(ops) != 1 || ops[0].Op != PatchAdd {
		t.Fatalf("%+v", ops)
	}
	b, _ = json.Marshal(PatchOp{Op: PatchRemove, Path: "/k"})
	if string(b) != `{"op":"remove","path":"/k"}` {
		t.Fatalf("remove op: %s", b)
	}
	if PointerUnescape(PointerEscape("~1/~0")) != "~1/~0" {
		t.Fatal("pointer escape does not round-trip")
	}
}

// FuzzValidateSkillsCards: the validator never panics, and a document it
// accepts decodes into SkillsDocument and re-encodes to a valid document.
func FuzzValidateSkillsCards(f *testing.F) {
	b, _ := json.Marshal(SkillsDocument{Cards: sampleCards()})
	f.Add(b)
	f.Add([]byte(`{"cards":[` + validCard + `]}`))
	f.Add([]byte(`{"cards":[{"type":"skill_card","skill_card_type":"status","skill":{"type":"service","id":"s"},"invocation":{"type":"skill_invocation","id":"i"},"status":{"code":"success"}}]}`))
	f.Add([]byte(`{"cards":[],"$version":1}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		if ValidateSkillsCards(doc) != nil {
			return
		}
		var d SkillsDocument
		if err := json.Unmarshal(doc, &d); err != nil {
			t.Fatalf("valid document does not decode: %v\n%s", err, doc)
		}
		d.Type, d.Scope, d.Template, d.Parent, d.ID = "", "", "", "", ""
		again, err := json.Marshal(SkillsDocument{Cards: d.Cards})
		if err != nil {
			t.Fatal(err)
		}
		if err := ValidateSkillsCards(again); err != nil {
			t.Fatalf("re-encoded document invalid: %v\n%s\n%s", err, doc, again)
		}
	})
}

package localbox_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"filesight/internal/localbox"
	"filesight/internal/localbox/localboxtest"
	"filesight/internal/testutil"
)

const validCards = `{"cards":[
 {"type":"skill_card","skill_card_type":"status","skill":{"type":"service","id":"filesight"},
  "invocation":{"type":"skill_invocation","id":"file-1-v1"},"status":{"code":"processing","message":"Working"}},
 {"type":"skill_card","skill_card_type":"transcript","skill_card_title":{"code":"transcript","message":"Transcript"},
  "skill":{"type":"service","id":"filesight"},"invocation":{"type":"skill_invocation","id":"file-1-v1"},"duration":12,
  "entries":[{"text":"hello world","appears":[{"start":0},{"start":5}]}]},
 {"type":"skill_card","skill_card_type":"timeline","skill":{"type":"service","id":"filesight"},
  "invocation":{"type":"skill_invocation","id":"file-1-v1"},"created_at":"2026-11-25T12:00:00Z",
  "entries":[{"text":"Scene 1","appears":[{"start":0,"end":4}],"image_url":"http://x/1.jpg"}]},
 {"type":"skill_card","skill_card_type":"keyword","skill":{"type":"service","id":"filesight"},
  "invocation":{"type":"skill_invocation","id":"file-1-v1"},"entries":[{"text":"temporal"}]}]}`

func TestMetadataInstances(t *testing.T) {
	ts := localboxtest.Start(t)
	tok := ts.ParentToken(t)
	f := ts.UploadFile(t, ts.CreateFolder(t, "0", "in"), "a.mp4", []byte("a"))
	base := ts.URL + "/2.0/files/" + f.ID + "/metadata"

	// Create, then 409 on a second create.
	r := call(t, http.MethodPost, base+"/global/boxSkillsCards", tok, "application/json", strings.NewReader(validCards)).wantStatus(t, http.StatusCreated)
	inst := r.json(t)
	if str(inst, "$parent") != "file_"+f.ID || str(inst, "$template") != "boxSkillsCards" || str(inst, "$scope") != "global" ||
		inst["$version"] != float64(0) || str(inst, "$id") == "" || len(inst["cards"].([]any)) != 4 {
		t.Fatalf("created instance = %s", r.Body)
	}
	call(t, http.MethodPost, base+"/global/boxSkillsCards", tok, "application/json", strings.NewReader(validCards)).
		wantError(t, http.StatusConflict, "tuple_already_exists")

	got := getJSON(t, base+"/global/boxSkillsCards", tok).wantStatus(t, http.StatusOK).json(t)
	if str(got, "$id") != str(inst, "$id") || len(got["cards"].([]any)) != 4 {
		t.Fatalf("get = %v", got)
	}
	// Numbers keep their exact form.
	if d := got["cards"].([]any)[1].(map[string]any)["duration"]; d != float64(12) {
		t.Fatalf("duration = %v", d)
	}

	// JSON Patch: replace the status card, append a keyword; test honoured.
	patch := `[{"op":"test","path":"/cards/0/status/code","value":"processing"},
		{"op":"replace","path":"/cards/0/status","value":{"code":"success","message":"Done"}},
		{"op":"add","path":"/cards/3/entries/-","value":{"text":"workflow"}}]`
	r = call(t, http.MethodPut, base+"/global/boxSkillsCards", tok, "application/json-patch+json", strings.NewReader(patch)).wantStatus(t, http.StatusOK)
	p := r.json(t)
	cards := p["cards"].([]any)
	if str(cards[0].(map[string]any), "status", "code") != "success" || len(cards[3].(map[string]any)["entries"].([]any)) != 2 || p["$version"] != float64(1) {
		t.Fatalf("patched = %s", r.Body)
	}

	// All or nothing: a failing test, a bad path, or a result that breaks
	// the card schema changes nothing.
	for name, bad := range map[string]string{
		"failed test":   `[{"op":"replace","path":"/cards/0/status/message","value":"X"},{"op":"test","path":"/cards/0/status/code","value":"processing"}]`,
		"missing path":  `[{"op":"replace","path":"/cards/0/status/message","value":"X"},{"op":"remove","path":"/cards/9"}]`,
		"breaks schema": `[{"op":"replace","path":"/cards/0/status/code","value":"finished"}]`,
		"float time":    `[{"op":"replace","path":"/cards/1/entries/0/appears/0/start","value":1.5}]`,
		"not a patch":   `{"op":"add"}`,
		"unknown op":    `[{"op":"merge","path":"/x","value":1}]`,
		"no value":      `[{"op":"add","path":"/x"}]`,
		"bad pointer":   `[{"op":"add","path":"x","value":1}]`,
		"dollar member": `[{"op":"add","path":"/$id","value":"x"}]`,
		"not an object": `[{"op":"replace","path":"","value":[1]}]`,
	} {
		t.Run(name, func(t *testing.T) {
			r := call(t, http.MethodPut, base+"/global/boxSkillsCards", tok, "application/json-patch+json", strings.NewReader(bad))
			if r.Status != http.StatusBadRequest {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			if c := r.json(t)["code"]; c != "bad_request" && c != "schema_validation_failed" {
				t.Fatalf("code %v: %s", c, r.Body)
			}
			now := getJSON(t, base+"/global/boxSkillsCards", tok).json(t)
			if now["$version"] != float64(1) || str(now["cards"].([]any)[0].(map[string]any), "status", "message") != "Done" {
				t.Fatalf("a refused patch changed the instance: %v", now)
			}
		})
	}
	call(t, http.MethodPut, base+"/global/boxSkillsCards", tok, "application/json", strings.NewReader(`[]`)).
		wantError(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
	call(t, http.MethodPut, base+"/global/properties", tok, "application/json-patch+json", strings.NewReader(`[]`)).
		wantError(t, http.StatusNotFound, "instance_not_found")

	// Invalid cards are refused at create.
	other := ts.UploadFile(t, ts.CreateFolder(t, "0", "other"), "b.mp4", []byte("b"))
	for name, doc := range map[string]string{
		"no cards":         `{}`,
		"unknown member":   `{"cards":[],"extra":1}`,
		"bad card type":    `{"cards":[{"type":"skill_card","skill_card_type":"faces","skill":{"type":"service","id":"s"},"invocation":{"type":"skill_invocation","id":"i"},"entries":[]}]}`,
		"missing entries":  `{"cards":[{"type":"skill_card","skill_card_type":"keyword","skill":{"type":"service","id":"s"},"invocation":{"type":"skill_invocation","id":"i"}}]}`,
		"timeline no end":  `{"cards":[{"type":"skill_card","skill_card_type":"timeline","skill":{"type":"service","id":"s"},"invocation":{"type":"skill_invocation","id":"i"},"entries":[{"text":"x","appears":[{"start":1}]}]}]}`,
		"duplicate key":    `{"cards":[],"cards":[]}`,
		"reserved $member": `{"cards":[],"$id":"x"}`,
	} {
		t.Run(name, func(t *testing.T) {
			r := call(t, http.MethodPost, ts.URL+"/2.0/files/"+other.ID+"/metadata/global/boxSkillsCards", tok, "application/json", strings.NewReader(doc))
			if r.Status != http.StatusBadRequest {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
		})
	}
	getJSON(t, ts.URL+"/2.0/files/"+other.ID+"/metadata/global/boxSkillsCards", tok).wantError(t, http.StatusNotFound, "instance_not_found")

	// Other templates: global.properties, enterprise (normalised scope), unknown global.
	sendJSON(t, http.MethodPost, base+"/global/properties", tok, map[string]any{"lang": "en", "n": 3}).wantStatus(t, http.StatusCreated)
	e := sendJSON(t, http.MethodPost, base+"/enterprise/filesight", tok, map[string]any{"stage": "done"}).wantStatus(t, http.StatusCreated).json(t)
	if str(e, "$scope") != "enterprise_"+ts.EnterpriseID {
		t.Fatalf("enterprise instance scope = %v", e["$scope"])
	}
	getJSON(t, base+"/enterprise_"+ts.EnterpriseID+"/filesight", tok).wantStatus(t, http.StatusOK)
	sendJSON(t, http.MethodPost, base+"/global/nosuch", tok, map[string]any{}).wantError(t, http.StatusNotFound, "instance_tuple_not_found")
	sendJSON(t, http.MethodPost, base+"/enterprise_999/x", tok, map[string]any{}).wantError(t, http.StatusBadRequest, "bad_request")
	call(t, http.MethodPost, base+"/global/properties", tok, "text/plain", strings.NewReader(`{}`)).wantError(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
	call(t, http.MethodPost, base+"/global/properties", tok, "application/json", strings.NewReader(`[1]`)).wantError(t, http.StatusBadRequest, "bad_request")

	list := getJSON(t, base, tok).wantStatus(t, http.StatusOK).json(t)
	if list["total_count"] != float64(3) || len(list["entries"].([]any)) != 3 || list["limit"] != float64(100) {
		t.Fatalf("list = %v", list)
	}
	// fields=metadata.<scope>.<template> on file info.
	fi := getJSON(t, ts.URL+"/2.0/files/"+f.ID+"?fields=name,metadata.global.boxSkillsCards", tok).wantStatus(t, http.StatusOK).json(t)
	md, _ := fi["metadata"].(map[string]any)
	if md == nil || md["global"].(map[string]any)["boxSkillsCards"] == nil {
		t.Fatalf("fields=metadata... = %v", fi)
	}

	call(t, http.MethodDelete, base+"/global/properties", tok, "", nil).wantStatus(t, http.StatusNoContent)
	call(t, http.MethodDelete, base+"/global/properties", tok, "", nil).wantError(t, http.StatusNotFound, "instance_not_found")
	getJSON(t, ts.URL+"/2.0/files/220000999999/metadata", tok).wantError(t, http.StatusNotFound, "not_found")

	// Oversized bodies are refused.
	small := localboxtest.Start(t, localboxtest.WithConfig(func(c *localbox.Config) { c.MaxJSONBytes = 64 }))
	sf := small.UploadFile(t, "0", "x", []byte("x"))
	sendJSON(t, http.MethodPost, small.URL+"/2.0/files/"+sf.ID+"/metadata/global/properties", small.ParentToken(t),
		map[string]string{"k": strings.Repeat("v", 100)}).wantError(t, http.StatusRequestEntityTooLarge, "request_entity_too_large")
}

// TestMetadataPatchGrowthRefused: a 751-byte patch of 20 operations that
// each copy the whole document into itself would make a 25 MB instance
// (and 30 of them 25 GB). The patch is refused with Box's 413 error at the
// operation that would pass the JSON limit, nothing changes, and the
// server's memory stays in proportion to the limit.
func TestMetadataPatchGrowthRefused(t *testing.T) {
	ts := localboxtest.Start(t)
	tok := ts.ParentToken(t)
	f := ts.UploadFile(t, ts.CreateFolder(t, "0", "in"), "a.mp4", []byte("a"))
	u := ts.URL + "/2.0/files/" + f.ID + "/metadata/enterprise/review"
	sendJSON(t, http.MethodPost, u, tok, map[string]string{"name": "quarterly"}).wantStatus(t, http.StatusCreated)
	ops := make([]string, 20)
	for i := range ops {
		ops[i] = fmt.Sprintf(`{"op":"copy","from":"","path":"/c%d"}`, i)
	}
	patch := "[" + strings.Join(ops, ",") + "]"
	if len(patch) != 751 {
		t.Fatalf("the patch has %d bytes, want the 751 of the report", len(patch))
	}
	var r *resp
	mem := testutil.MeasureMemory(func() {
		r = call(t, http.MethodPut, u, tok, "application/json-patch+json", strings.NewReader(patch))
	})
	t.Logf("751-byte patch of 20 self-copies against the 16 MiB limit: %d %s; %s", r.Status, r.Body, mem)
	e := r.wantError(t, http.StatusRequestEntityTooLarge, "request_entity_too_large")
	if msg, _ := e["message"].(string); !strings.Contains(msg, "no change made") || !strings.Contains(msg, "16777216 bytes") {
		t.Errorf("message %q", msg)
	}
	if mem.Allocated > 512<<20 {
		t.Errorf("the refused patch allocated %d bytes", mem.Allocated)
	}
	got := getJSON(t, u, tok).wantStatus(t, http.StatusOK).json(t)
	if got["$version"] != float64(0) || got["name"] != "quarterly" || len(got) != 9 {
		t.Fatalf("the instance changed: %v", got)
	}
}

package starter_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"

	"filesight/internal/box"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/starter"
)

// TestCallbackReplayChangesNothing: a recorded callback sent again, as it
// was or re-stamped with its delivery ID, is answered (200, "duplicate"),
// logged, and signals nothing; its delivery ID cannot be swapped for a
// fresh one, since the signature covers it; a delivery that failed for
// want of Temporal is handled when the sender tries again.
func TestCallbackReplayChangesNothing(t *testing.T) {
	fake := newFakeTemporal()
	fake.runs["file-1-v2"] = "run-1"
	srv := newTestServer(t, fake, starter.Options{})
	body, _ := json.Marshal(map[string]any{"job_id": "job-1", "status": "succeeded", "labels": map[string]string{"workflow_id": "file-1-v2"}})
	recorded := http.Header{}
	signCallbackID(recorded, body, time.Now(), callbackKey, "delivery-1")
	post := func(h http.Header) (int, map[string]string) {
		rec := srv.do(t, http.MethodPost, "/callbacks/mlengine", body, h)
		var answer map[string]string
		_ = json.Unmarshal(rec.Body.Bytes(), &answer)
		return rec.Code, answer
	}
	if code, a := post(recorded); code != 200 || a["status"] != "delivered" {
		t.Fatalf("first delivery: %d %v", code, a)
	}
	retry := http.Header{}
	signCallbackID(retry, body, time.Now().Add(time.Second), callbackKey, "delivery-1")
	renamed := recorded.Clone()
	renamed.Set(mlengineapi.HeaderDeliveryID, "delivery-2")
	for name, tc := range map[string]struct {
		h      http.Header
		code   int
		status string
	}{
		"replayed as recorded":       {recorded, 200, "duplicate"},
		"retried with the same ID":   {retry, 200, "duplicate"},
		"replayed under another ID":  {renamed, 401, ""},
		"replayed as recorded again": {recorded, 200, "duplicate"},
	} {
		if code, a := post(tc.h); code != tc.code || a["status"] != tc.status {
			t.Errorf("%s: %d %v, want %d %q", name, code, a, tc.code, tc.status)
		}
	}
	if len(fake.signals) != 1 {
		t.Fatalf("%d signals, want 1: %+v", len(fake.signals), fake.signals)
	}
	if !strings.Contains(srv.logs.String(), `"replayed":true`) || !strings.Contains(srv.logs.String(), `"delivery_id":"delivery-1"`) {
		t.Errorf("the replays are not logged:\n%s", srv.logs.String())
	}

	// A delivery answered 503 (Temporal down) is handled on the retry.
	down := http.Header{}
	signCallbackID(down, body, time.Now(), callbackKey, "delivery-3")
	fake.sigErr = serviceerror.NewUnavailable("down")
	if code, _ := post(down); code != http.StatusServiceUnavailable {
		t.Fatalf("Temporal down: %d", code)
	}
	fake.sigErr = nil
	if code, a := post(down); code != 200 || a["status"] != "delivered" {
		t.Fatalf("retry after Temporal came back: %d %v", code, a)
	}
	if len(fake.signals) != 2 {
		t.Fatalf("%d signals, want 2", len(fake.signals))
	}
	// Each signal carries a request ID derived from its delivery, the same
	// for the same delivery whatever the starter process, so that Temporal
	// itself drops a replay the memory no longer knows (after a restart).
	other := newTestServer(t, fake, starter.Options{})
	if rec := other.do(t, http.MethodPost, "/callbacks/mlengine", body, recorded); rec.Code != 200 {
		t.Fatalf("replay to a fresh starter: %d", rec.Code)
	}
	ids := []string{fake.signals[0].RequestID, fake.signals[1].RequestID, fake.signals[2].RequestID}
	if ids[0] == "" || ids[0] == "random" || ids[0] == ids[1] || ids[0] != ids[2] {
		t.Fatalf("request IDs %q: want one per delivery, stable across starters", ids)
	}
}

// TestBoxWebhookReplay: a Box delivery sent again, as recorded or under a
// new BOX-DELIVERY-ID (which Box does not sign), is answered as the first
// was (the same workflow and run), logged, and reaches Temporal no more.
func TestBoxWebhookReplay(t *testing.T) {
	fake := newFakeTemporal()
	srv := newTestServer(t, fake, starter.Options{})
	body := boxEventJSON(t, "ev-r", "FILE.UPLOADED", "42", "43", "talk.mp4", 99)
	recorded := http.Header{}
	signBox(recorded, body, time.Now(), primaryKey, secondaryKey)
	rec := srv.do(t, http.MethodPost, "/webhooks/box", body, recorded)
	first := decode(t, rec)
	if rec.Code != http.StatusAccepted || first.Status != "started" {
		t.Fatalf("first delivery: %d %+v", rec.Code, first)
	}
	renamed := recorded.Clone()
	renamed.Set(box.HeaderDeliveryID, "a-fresh-delivery-id")
	for name, h := range map[string]http.Header{"as recorded": recorded, "under a new delivery ID": renamed} {
		rec := srv.do(t, http.MethodPost, "/webhooks/box", body, h)
		d := decode(t, rec)
		if rec.Code != http.StatusOK || d.Status != "duplicate" || d.WorkflowID != first.WorkflowID || d.RunID != first.RunID {
			t.Errorf("%s: %d %+v", name, rec.Code, d)
		}
	}
	if n := len(fake.starts); n != 1 {
		t.Fatalf("%d start requests reached Temporal, want 1", n)
	}
	if !strings.Contains(srv.logs.String(), `"replayed":true`) {
		t.Errorf("the replays are not logged:\n%s", srv.logs.String())
	}
}

package starter_test

import (
	"encoding/json"
	"testing"

	"filesight/internal/starter"
)

func FuzzParseBoxEvent(f *testing.F) {
	f.Add(boxEventJSON(f, "ev-1", "FILE.UPLOADED", "1", "2", "a.mp4", 10))
	f.Add(boxEventJSON(f, "ev-2", "FILE.TRASHED", "1", "", "a.mp4", 10))
	f.Add(boxEventJSON(f, "", "FILE.UPLOADED", "", "", "", 0))
	f.Add([]byte(`{"type":"webhook_event","trigger":"FILE.UPLOADED","source":{"id":1,"file_version":{"id":[]}}}`))
	f.Add([]byte(`{"type":"webhook_event","trigger":"FILE.UPLOADED","source":null}`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	f.Add([]byte(`{"source":{"size":-1e400}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := starter.ParseBoxEvent(body)
		if err != nil {
			if ev != (starter.FileEvent{}) {
				t.Fatalf("error %v with a non-zero event %+v", err, ev)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("invalid JSON accepted: %q", body)
		}
		if ev.Trigger == "" {
			t.Fatalf("event without trigger accepted: %q", body)
		}
		if ev.Trigger == starter.TriggerFileUploaded && (ev.FileID == "" || ev.FileVersionID == "") {
			t.Fatalf("upload without file id/version accepted: %+v from %q", ev, body)
		}
	})
}

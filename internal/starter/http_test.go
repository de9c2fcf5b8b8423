package starter_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"filesight/internal/box"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/secret"
	"filesight/internal/signature"
	"filesight/internal/starter"
	"filesight/workflows"
)

const (
	primaryKey   = "primary-webhook-key-0123456789-abcd"
	secondaryKey = "secondary-webhook-key-987654321-ab"
	callbackKey  = "mlengine-callback-key-abcdefgh-0123"
)

func boxEventJSON(t testing.TB, eventID, trigger, fileID, versionID, name string, size int64) []byte {
	t.Helper()
	src := map[string]any{"type": "file", "name": name, "size": size, "parent": map[string]any{"type": "folder", "id": "77"}}
	if fileID != "" {
		src["id"] = fileID
	}
	if versionID != "" {
		src["file_version"] = map[string]any{"type": "file_version", "id": versionID, "sha1": "da39a3ee5e6b4b0d3255bfef95601890afd80709"}
	}
	b, err := json.Marshal(map[string]any{
		"type": "webhook_event", "id": eventID, "created_at": "2026-11-25T10:00:00-08:00",
		"trigger": trigger, "webhook": map[string]any{"id": "12", "type": "webhook"},
		"created_by": map[string]any{"type": "user", "id": "1", "name": "A User", "login": "a@example.com"},
		"source":     src,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signBox sets Box's v2 delivery headers for body.
func signBox(h http.Header, body []byte, ts time.Time, primary, secondary string) {
	stamp := ts.UTC().Format(time.RFC3339)
	h.Set("BOX-DELIVERY-ID", "delivery-"+stamp)
	h.Set("BOX-DELIVERY-TIMESTAMP", stamp)
	h.Set("BOX-SIGNATURE-VERSION", "1")
	h.Set("BOX-SIGNATURE-ALGORITHM", "HmacSHA256")
	if primary != "" {
		h.Set("BOX-SIGNATURE-PRIMARY", signature.Sign([]byte(primary), body, stamp))
	}
	if secondary != "" {
		h.Set("BOX-SIGNATURE-SECONDARY", signature.Sign([]byte(secondary), body, stamp))
	}
}

// signCallback signs body as mlengine does, with a delivery ID of its own
// (mlengine's IDs are unique per callback).
func signCallback(h http.Header, body []byte, ts time.Time, key string) {
	sum := sha256.Sum256(body)
	signCallbackID(h, body, ts, key, "cb-"+hex.EncodeToString(sum[:8]))
}

func signCallbackID(h http.Header, body []byte, ts time.Time, key, deliveryID string) {
	mlengineapi.SignCallback(h, []byte(key), body, ts.UTC().Format(time.RFC3339), deliveryID)
}

type testServer struct {
	fake    *fakeTemporal
	handler http.Handler
	logs    *bytes.Buffer
}

func newTestServer(t testing.TB, fake *fakeTemporal, opts starter.Options) *testServer {
	t.Helper()
	logs := &bytes.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	opts.Logger = logger
	svc := starter.NewService(fake, opts)
	h, err := starter.NewHandler(starter.HandlerConfig{
		Service:       svc,
		BoxVerifier:   box.NewWebhookVerifier(secret.String(primaryKey), secret.String(secondaryKey)),
		ParseBoxEvent: starter.ParseBoxEvent,
		Callbacks:     map[string]starter.CallbackProvider{"mlengine": starter.MLEngineCallbacks(callbackKey, "")},
		MaxBodyBytes:  4096,
		Logger:        logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{fake: fake, handler: h, logs: logs}
}

func (s *testServer) do(t testing.TB, method, path string, body []byte, hdr http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	return rec
}

type decisionBody struct {
	Status     string `json:"status"`
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	Reason     string `json:"reason"`
	Error      string `json:"error"`
}

func decode(t testing.TB, rec *httptest.ResponseRecorder) decisionBody {
	t.Helper()
	var d decisionBody
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
		t.Fatalf("response %d is not JSON: %q", rec.Code, rec.Body.String())
	}
	return d
}

func TestBoxWebhookStatuses(t *testing.T) {
	now := time.Now()
	upload := boxEventJSON(t, "ev-1", "FILE.UPLOADED", "1001", "2002", "talk.mp4", 1234)
	tests := []struct {
		name       string
		opts       starter.Options
		fake       func(*fakeTemporal)
		method     string
		body       []byte
		sign       func(h http.Header, body []byte)
		rawHeaders map[string]string
		wantCode   int
		wantStatus string // decision status, or "" for error answers
		wantWFID   string
		wantStarts int // workflows existing afterwards
		wantError  string
	}{
		{
			name: "upload starts the workflow", body: upload,
			wantCode: 202, wantStatus: "started", wantWFID: "file-1001-v2002", wantStarts: 1,
		},
		{
			name: "signature with the secondary key only", body: upload,
			sign:     func(h http.Header, b []byte) { signBox(h, b, now, "", secondaryKey) },
			wantCode: 202, wantStatus: "started", wantWFID: "file-1001-v2002", wantStarts: 1,
		},
		{
			name: "workflow already exists is a no-op with the same id", body: upload,
			fake:     func(f *fakeTemporal) { f.runs["file-1001-v2002"] = "run-old" },
			wantCode: 200, wantStatus: "duplicate", wantWFID: "file-1001-v2002", wantStarts: 1,
		},
		{
			name: "missing signature", body: upload,
			sign:     func(h http.Header, b []byte) { h.Set("BOX-DELIVERY-TIMESTAMP", now.UTC().Format(time.RFC3339)) },
			wantCode: 401, wantError: "invalid signature",
		},
		{
			name: "forged signature", body: upload,
			sign:     func(h http.Header, b []byte) { signBox(h, b, now, "not-the-key", "also-not-the-key") },
			wantCode: 401, wantError: "invalid signature",
		},
		{
			name: "body changed after signing", body: upload,
			sign: func(h http.Header, b []byte) {
				signBox(h, bytes.Replace(b, []byte("1001"), []byte("1002"), 1), now, primaryKey, secondaryKey)
			},
			wantCode: 401, wantError: "invalid signature",
		},
		{
			name: "timestamp older than the window", body: upload,
			sign:     func(h http.Header, b []byte) { signBox(h, b, now.Add(-11*time.Minute), primaryKey, secondaryKey) },
			wantCode: 401, wantError: "invalid signature",
		},
		{
			name: "timestamp too far in the future", body: upload,
			sign:     func(h http.Header, b []byte) { signBox(h, b, now.Add(5*time.Minute), primaryKey, secondaryKey) },
			wantCode: 401, wantError: "invalid signature",
		},
		{
			name: "body over the limit", body: boxEventJSON(t, "ev-big", "FILE.UPLOADED", "1", "2", strings.Repeat("x", 5000), 1),
			wantCode: 413, wantError: "request body too large",
		},
		{
			name: "malformed JSON", body: []byte(`{"type":"webhook_event","trigger":`),
			wantCode: 400,
		},
		{
			name: "missing file id", body: boxEventJSON(t, "ev-2", "FILE.UPLOADED", "", "2002", "a.mp4", 1),
			wantCode: 400,
		},
		{
			name: "missing file version", body: boxEventJSON(t, "ev-3", "FILE.UPLOADED", "1001", "", "a.mp4", 1),
			wantCode: 400,
		},
		{
			name: "other trigger is acknowledged and ignored", body: boxEventJSON(t, "ev-4", "FILE.TRASHED", "1001", "2002", "a.mp4", 1),
			wantCode: 200, wantStatus: "ignored",
		},
		{
			name: "extension filtered", body: boxEventJSON(t, "ev-5", "FILE.UPLOADED", "1001", "2002", "notes.txt", 10),
			opts:     starter.Options{Filter: starter.Filter{Extensions: []string{"mp4", "mov"}}},
			wantCode: 200, wantStatus: "filtered", wantWFID: "file-1001-v2002",
		},
		{
			name: "size filtered", body: upload,
			opts:     starter.Options{Filter: starter.Filter{MaxSize: 1000}},
			wantCode: 200, wantStatus: "filtered", wantWFID: "file-1001-v2002",
		},
		{
			name: "allowed extension passes the filter", body: upload,
			opts:     starter.Options{Filter: starter.Filter{Extensions: []string{"MP4"}, MaxSize: 1 << 20}},
			wantCode: 202, wantStatus: "started", wantWFID: "file-1001-v2002", wantStarts: 1,
		},
		{
			name: "temporal unavailable", body: upload,
			fake:     func(f *fakeTemporal) { f.startErr = serviceerror.NewUnavailable("connection refused") },
			wantCode: 503,
		},
		{
			name: "temporal connection failure outside serviceerror", body: upload,
			fake: func(f *fakeTemporal) {
				f.startErr = errors.New("failed reaching server: dial tcp 127.0.0.1:7233: connect: connection refused")
			},
			wantCode: 503,
		},
		{
			name: "temporal hangs past the timeout", body: upload,
			opts:     starter.Options{Timeout: 20 * time.Millisecond},
			fake:     func(f *fakeTemporal) { f.block = true },
			wantCode: 503,
		},
		{
			name: "temporal overloaded", body: upload,
			fake:     func(f *fakeTemporal) { f.startErr = serviceerror.NewResourceExhausted(0, "busy") },
			wantCode: 503,
		},
		{
			name: "temporal rejects the request", body: upload,
			fake: func(f *fakeTemporal) {
				f.startErr = serviceerror.NewInvalidArgument("search attribute FileID is not defined")
			},
			wantCode: 500,
		},
		{
			name: "temporal namespace in the wrong state", body: upload,
			fake:     func(f *fakeTemporal) { f.startErr = serviceerror.NewFailedPrecondition("namespace is not active") },
			wantCode: 500,
		},
		{
			name: "temporal does not implement the call", body: upload,
			fake:     func(f *fakeTemporal) { f.startErr = serviceerror.NewUnimplemented("unknown method") },
			wantCode: 500,
		},
		{
			name: "wrong method", method: http.MethodGet, body: nil,
			wantCode: 405,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFakeTemporal()
			if tc.fake != nil {
				tc.fake(fake)
			}
			srv := newTestServer(t, fake, tc.opts)
			hdr := http.Header{}
			hdr.Set("Content-Type", "application/json")
			if tc.sign != nil {
				tc.sign(hdr, tc.body)
			} else {
				signBox(hdr, tc.body, now, primaryKey, secondaryKey)
			}
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			rec := srv.do(t, method, "/webhooks/box", tc.body, hdr)
			if rec.Code != tc.wantCode {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.wantCode, rec.Body.String())
			}
			if got := fake.startCount(); got != tc.wantStarts {
				t.Errorf("workflows afterwards = %d, want %d", got, tc.wantStarts)
			}
			if tc.wantCode == 405 {
				return
			}
			d := decode(t, rec)
			if d.Status != tc.wantStatus {
				t.Errorf("decision status = %q, want %q", d.Status, tc.wantStatus)
			}
			if d.WorkflowID != tc.wantWFID {
				t.Errorf("workflow_id = %q, want %q", d.WorkflowID, tc.wantWFID)
			}
			if tc.wantError != "" && d.Error != tc.wantError {
				t.Errorf("error = %q, want %q", d.Error, tc.wantError)
			}
			if tc.wantCode == 503 && rec.Header().Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			for _, leak := range []string{primaryKey, secondaryKey} {
				if strings.Contains(srv.logs.String(), leak) || strings.Contains(rec.Body.String(), leak) {
					t.Errorf("key material leaked into logs or answer")
				}
			}
		})
	}
}

func TestBoxWebhookRedeliveryIsNoOp(t *testing.T) {
	fake := newFakeTemporal()
	srv := newTestServer(t, fake, starter.Options{})
	body := boxEventJSON(t, "ev-1", "FILE.UPLOADED", "42", "43", "talk.mp4", 99)
	var first decisionBody
	for i := range 3 {
		hdr := http.Header{}
		// Every retry has a new delivery timestamp and signature, same body.
		signBox(hdr, body, time.Now().Add(time.Duration(-i)*time.Minute), primaryKey, secondaryKey)
		rec := srv.do(t, http.MethodPost, "/webhooks/box", body, hdr)
		d := decode(t, rec)
		if i == 0 {
			if rec.Code != http.StatusAccepted || d.Status != "started" {
				t.Fatalf("first delivery: %d %+v", rec.Code, d)
			}
			first = d
			continue
		}
		if rec.Code != http.StatusOK || d.Status != "duplicate" {
			t.Fatalf("redelivery %d: %d %+v", i, rec.Code, d)
		}
		if d.WorkflowID != first.WorkflowID || d.RunID != first.RunID {
			t.Fatalf("redelivery %d answered %s/%s, first was %s/%s", i, d.WorkflowID, d.RunID, first.WorkflowID, first.RunID)
		}
	}
	if fake.startCount() != 1 {
		t.Fatalf("%d workflows, want 1", fake.startCount())
	}
}

func TestBoxWebhookStartOptions(t *testing.T) {
	fake := newFakeTemporal()
	srv := newTestServer(t, fake, starter.Options{SetSearchAttributes: true})
	body := boxEventJSON(t, "ev-9", "FILE.UPLOADED", "500", "600", "keynote.mov", 2048)
	hdr := http.Header{}
	signBox(hdr, body, time.Now(), primaryKey, "")
	if rec := srv.do(t, http.MethodPost, "/webhooks/box", body, hdr); rec.Code != 202 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	o := fake.starts[0]
	if o.ID != "file-500-v600" || o.TaskQueue != workflows.TaskQueue {
		t.Errorf("id/task queue = %q/%q", o.ID, o.TaskQueue)
	}
	if o.WorkflowIDReusePolicy.String() != "RejectDuplicate" {
		t.Errorf("reuse policy = %v", o.WorkflowIDReusePolicy)
	}
	if !strings.Contains(o.StaticSummary, "keynote.mov") || !strings.Contains(o.StaticSummary, "webhook") {
		t.Errorf("summary %q", o.StaticSummary)
	}
	if v, ok := o.TypedSearchAttributes.GetKeyword(fileIDKey()); !ok || v != "500" {
		t.Errorf("FileID search attribute = %q, %v", v, ok)
	}
	if v, ok := o.TypedSearchAttributes.GetKeyword(temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrStage)); !ok || v != string(workflows.StageStarting) {
		t.Errorf("Stage search attribute = %q, %v, want %q", v, ok, workflows.StageStarting)
	}
	want := workflows.ProcessFileInput{FileID: "500", FileVersionID: "600", FileName: "keynote.mov", ParentFolderID: "77",
		Size: 2048, Source: "webhook", EventID: "ev-9", Trigger: "FILE.UPLOADED"}
	if fake.inputs[0] != want {
		t.Errorf("input = %+v, want %+v", fake.inputs[0], want)
	}
}

func TestCallbackStatuses(t *testing.T) {
	now := time.Now()
	cb := func(jobID, wf string) []byte {
		b, _ := json.Marshal(map[string]any{"job_id": jobID, "status": "succeeded", "labels": map[string]string{"workflow_id": wf}})
		return b
	}
	good := cb("job-1", "file-1-v2")
	tests := []struct {
		name     string
		provider string
		body     []byte
		key      string
		ts       time.Time
		fake     func(*fakeTemporal)
		wantCode int
		signaled bool
	}{
		{name: "signals the workflow", provider: "mlengine", body: good, wantCode: 200, signaled: true},
		{name: "bad signature", provider: "mlengine", body: good, key: "wrong-key", wantCode: 401},
		{name: "stale timestamp", provider: "mlengine", body: good, ts: now.Add(-time.Hour), wantCode: 401},
		{name: "unknown provider", provider: "nosuch", body: good, wantCode: 404},
		{name: "unknown workflow", provider: "mlengine", body: cb("job-2", "file-9-v9"), wantCode: 404},
		{name: "closed workflow", provider: "mlengine", body: good, fake: func(f *fakeTemporal) { f.closed["file-1-v2"] = true }, wantCode: 404},
		{name: "no workflow label", provider: "mlengine", body: []byte(`{"job_id":"job-3","status":"failed"}`), wantCode: 404},
		{name: "malformed JSON", provider: "mlengine", body: []byte(`{"job_id":`), wantCode: 400},
		{name: "missing job id", provider: "mlengine", body: []byte(`{"status":"failed","labels":{"workflow_id":"file-1-v2"}}`), wantCode: 400},
		{name: "body over the limit", provider: "mlengine", body: cb(strings.Repeat("j", 5000), "file-1-v2"), wantCode: 413},
		{name: "temporal unavailable", provider: "mlengine", body: good, fake: func(f *fakeTemporal) { f.sigErr = serviceerror.NewUnavailable("down") }, wantCode: 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFakeTemporal()
			fake.runs["file-1-v2"] = "run-1"
			if tc.fake != nil {
				tc.fake(fake)
			}
			srv := newTestServer(t, fake, starter.Options{})
			key, ts := tc.key, tc.ts
			if key == "" {
				key = callbackKey
			}
			if ts.IsZero() {
				ts = now
			}
			hdr := http.Header{}
			signCallback(hdr, tc.body, ts, key)
			rec := srv.do(t, http.MethodPost, "/callbacks/"+tc.provider, tc.body, hdr)
			if rec.Code != tc.wantCode {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.wantCode, rec.Body.String())
			}
			if got := len(fake.signals) == 1; got != tc.signaled {
				t.Fatalf("signals = %+v, want signaled=%v", fake.signals, tc.signaled)
			}
			if tc.signaled {
				s := fake.signals[0]
				want := workflows.JobCallback{Provider: "mlengine", JobID: "job-1", Status: "succeeded"}
				if s.WorkflowID != "file-1-v2" || s.Name != workflows.SignalJobCallback || s.Arg != want {
					t.Errorf("signal = %+v", s)
				}
			}
			if strings.Contains(srv.logs.String(), callbackKey) {
				t.Error("callback key leaked into logs")
			}
		})
	}
}

func TestHealthAndReady(t *testing.T) {
	svc := starter.NewService(newFakeTemporal(), starter.Options{})
	var readyErr error
	h, err := starter.NewHandler(starter.HandlerConfig{
		Service: svc, BoxVerifier: box.NewWebhookVerifier(primaryKey, ""), ParseBoxEvent: starter.ParseBoxEvent,
		Ready: func(context.Context) error { return readyErr },
	})
	if err != nil {
		t.Fatal(err)
	}
	get := func(p string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		_, _ = io.Copy(io.Discard, rec.Body)
		return rec.Code
	}
	if c := get("/healthz"); c != 200 {
		t.Errorf("healthz = %d", c)
	}
	if c := get("/readyz"); c != 200 {
		t.Errorf("readyz = %d", c)
	}
	readyErr = errors.New("temporal down")
	if c := get("/readyz"); c != 503 {
		t.Errorf("readyz while down = %d", c)
	}
	if c := get("/healthz"); c != 200 {
		t.Errorf("healthz while temporal down = %d", c)
	}
}

func TestChunkedBodyOverLimit(t *testing.T) {
	srv := newTestServer(t, newFakeTemporal(), starter.Options{})
	body := boxEventJSON(t, "ev-big", "FILE.UPLOADED", "1", "2", strings.Repeat("y", 8000), 1)
	req := httptest.NewRequest(http.MethodPost, "/webhooks/box", io.MultiReader(bytes.NewReader(body)))
	req.ContentLength = -1 // unknown length: the limit must hold while reading
	signBox(req.Header, body, time.Now(), primaryKey, "")
	rec := httptest.NewRecorder()
	srv.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d, want 413", rec.Code)
	}
}

func fileIDKey() temporal.SearchAttributeKeyKeyword {
	return temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrFileID)
}

// BenchmarkBoxWebhookHandler measures the handler's own cost (verification,
// parsing, decision, JSON answer) over an in-memory Temporal fake; see
// BenchmarkWebhookLoopback (integration) for the round trip to a real server.
func BenchmarkBoxWebhookHandler(b *testing.B) {
	srv := newTestServer(b, newFakeTemporal(), starter.Options{})
	bodies := make([][]byte, b.N)
	hdrs := make([]http.Header, b.N)
	for i := range b.N {
		bodies[i] = boxEventJSON(b, "ev", "FILE.UPLOADED", "f"+strconv.Itoa(i), "1", "a.mp4", 1)
		hdrs[i] = http.Header{}
		signBox(hdrs[i], bodies[i], time.Now(), primaryKey, "")
	}
	b.ResetTimer()
	for i := range b.N {
		if rec := srv.do(b, http.MethodPost, "/webhooks/box", bodies[i], hdrs[i]); rec.Code != http.StatusAccepted {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

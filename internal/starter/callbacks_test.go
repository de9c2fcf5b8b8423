package starter_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"filesight/internal/box"
	"filesight/internal/config"
	"filesight/internal/provider"
	"filesight/internal/provider/assemblyai"
	"filesight/internal/provider/catalog"
	"filesight/internal/provider/videoindexer"
	"filesight/internal/secret"
	"filesight/internal/starter"
	"filesight/workflows"
)

const (
	viKey         = "videoindexer-callback-key-0123456789abcdef"
	aaiKey        = "assemblyai-callback-key-0123456789abcdefgh"
	aaiOldKey     = "assemblyai-old-callback-key-0123456789abcd"
	starterPublic = "https://starter.example.com"
)

// cloudServer is the starter's handler with the cloud adapters' callback
// readers, built from their configuration as the serve command does.
func cloudServer(t *testing.T, fake *fakeTemporal) *testServer {
	t.Helper()
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	cfg := catalog.Config{
		VideoIndexer: videoindexer.Config{CallbackKey: viKey, Name: "videoindexer"},
		AssemblyAI:   assemblyai.Config{CallbackKey: aaiKey, CallbackSecondaryKey: aaiOldKey, Name: "assemblyai"},
	}
	callbacks := map[string]starter.CallbackProvider{}
	for name, r := range catalog.CallbackReaders(cfg) {
		callbacks[name] = starter.CallbackProvider{Reader: r}
	}
	h, err := starter.NewHandler(starter.HandlerConfig{
		Service:       starter.NewService(fake, starter.Options{Logger: logger}),
		BoxVerifier:   box.NewWebhookVerifier(secret.String(primaryKey), secret.String(secondaryKey)),
		ParseBoxEvent: starter.ParseBoxEvent,
		Callbacks:     callbacks,
		MaxBodyBytes:  4096,
		Logger:        logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{fake: fake, handler: h, logs: &logs}
}

// signedPath is the callback URL an adapter gives its service (signed with
// the provider's callback key), as a path with its query, plus extra query
// parameters the service adds.
func signedPath(t *testing.T, providerName, key, workflowID string, ttl time.Duration, extra url.Values) string {
	t.Helper()
	s := provider.CallbackSigner{Provider: providerName, Key: secret.String(key)}
	signed, err := s.Sign(starterPublic+"/callbacks/"+providerName, workflowID, ttl)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(signed.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for k, v := range extra {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return u.RequestURI()
}

// Each cloud adapter's callbacks reach /callbacks/{provider} and are
// checked with that provider's own reader: Video Indexer's (signed URL, job
// and state in the query, no body) and AssemblyAI's (signed URL, job and
// status in the JSON body). Only a genuine callback claiming a terminal
// state signals the workflow; the signal is the same as mlengine's.
func TestCloudProviderCallbacks(t *testing.T) {
	const wf = "file-1-v2"
	vi := func(state string) url.Values { return url.Values{"id": {"vid-1"}, "state": {state}} }
	aaiBody := func(status string) []byte { return []byte(`{"transcript_id":"t-1","status":"` + status + `"}`) }
	tampered := func(path string) string { return strings.Replace(path, "fs_wf=file-1-v2", "fs_wf=file-9-v9", 1) }
	for _, tc := range []struct {
		name     string
		path     string
		body     []byte
		wantCode int
		want     *workflows.JobCallback
	}{
		{name: "videoindexer processed", path: signedPath(t, "videoindexer", viKey, wf, time.Hour, vi("Processed")),
			wantCode: 200, want: &workflows.JobCallback{Provider: "videoindexer", JobID: "vid-1", Status: "succeeded"}},
		{name: "videoindexer failed", path: signedPath(t, "videoindexer", viKey, wf, time.Hour, vi("Failed")),
			wantCode: 200, want: &workflows.JobCallback{Provider: "videoindexer", JobID: "vid-1", Status: "failed"}},
		{name: "videoindexer still processing wakes nothing", path: signedPath(t, "videoindexer", viKey, wf, time.Hour, vi("Processing")), wantCode: 200},
		{name: "videoindexer unsigned", path: "/callbacks/videoindexer?id=vid-1&state=Processed", wantCode: 401},
		{name: "videoindexer another workflow", path: tampered(signedPath(t, "videoindexer", viKey, wf, time.Hour, vi("Processed"))), wantCode: 401},
		{name: "videoindexer expired", path: signedPath(t, "videoindexer", viKey, wf, -time.Minute, vi("Processed")), wantCode: 401},
		{name: "videoindexer wrong key", path: signedPath(t, "videoindexer", aaiKey, wf, time.Hour, vi("Processed")), wantCode: 401},
		{name: "assemblyai completed", path: signedPath(t, "assemblyai", aaiKey, wf, time.Hour, nil), body: aaiBody("completed"),
			wantCode: 200, want: &workflows.JobCallback{Provider: "assemblyai", JobID: "t-1", Status: "succeeded"}},
		{name: "assemblyai error, signed with the old key", path: signedPath(t, "assemblyai", aaiOldKey, wf, time.Hour, nil), body: aaiBody("error"),
			wantCode: 200, want: &workflows.JobCallback{Provider: "assemblyai", JobID: "t-1", Status: "failed"}},
		{name: "assemblyai malformed body", path: signedPath(t, "assemblyai", aaiKey, wf, time.Hour, nil), body: []byte(`{"transcript_id":`), wantCode: 400},
		{name: "assemblyai no job", path: signedPath(t, "assemblyai", aaiKey, wf, time.Hour, nil), body: []byte(`{"status":"completed"}`), wantCode: 400},
		// A URL signed for one provider does not pass at another's endpoint:
		// the signature binds the provider name.
		{name: "videoindexer URL at the assemblyai endpoint",
			path: strings.Replace(signedPath(t, "videoindexer", aaiKey, wf, time.Hour, nil), "/callbacks/videoindexer", "/callbacks/assemblyai", 1),
			body: aaiBody("completed"), wantCode: 401},
		{name: "whisper has no endpoint", path: "/callbacks/whisper", body: aaiBody("completed"), wantCode: 404},
		{name: "closed workflow", path: signedPath(t, "assemblyai", aaiKey, "file-3-v4", time.Hour, nil), body: aaiBody("completed"), wantCode: 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFakeTemporal()
			fake.runs[wf] = "run-1"
			fake.runs["file-3-v4"], fake.closed["file-3-v4"] = "run-2", true
			srv := cloudServer(t, fake)
			rec := srv.do(t, http.MethodPost, tc.path, tc.body, http.Header{"Content-Type": {"application/json"}})
			if rec.Code != tc.wantCode {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tc.wantCode, rec.Body.String())
			}
			switch {
			case tc.want == nil && len(fake.signals) != 0:
				t.Errorf("signalled %+v", fake.signals)
			case tc.want != nil && (len(fake.signals) != 1 || fake.signals[0].WorkflowID != wf ||
				fake.signals[0].Name != workflows.SignalJobCallback || fake.signals[0].Arg != *tc.want):
				t.Errorf("signals %+v, want %+v to %s", fake.signals, *tc.want, wf)
			}
			if rec.Code == 401 && !strings.Contains(rec.Body.String(), "invalid signature") {
				t.Errorf("a refusal tells more than it should: %s", rec.Body.String())
			}
			for _, s := range []string{viKey, aaiKey, aaiOldKey, "fs_sig="} {
				if strings.Contains(srv.logs.String(), s) || strings.Contains(rec.Body.String(), s) {
					t.Errorf("%q leaked into the logs or the answer", s)
				}
			}
		})
	}
}

// The serve command refuses a cloud callback key shorter than 32 bytes
// (exit 2), naming the variable and not the key.
func TestServeRefusesShortCallbackKeys(t *testing.T) {
	var out, errb bytes.Buffer
	code := starter.Main(context.Background(), []string{"serve"}, &out, &errb, config.MapLookuper(map[string]string{
		"BOX_WEBHOOK_PRIMARY_KEY": primaryKey, "FILESIGHT_CODEC_KEYS": "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"STARTER_CODEC_ADDR": "off", "ASSEMBLYAI_CALLBACK_KEY": "short-callback-key",
	}))
	if code != 2 || !strings.Contains(errb.String(), "ASSEMBLYAI_CALLBACK_KEY") || strings.Contains(errb.String(), "short-callback-key") {
		t.Fatalf("exit %d, stderr %s", code, errb.String())
	}
}

package assemblyai_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filesight/internal/config"
	"filesight/internal/provider"
	"filesight/internal/provider/assemblyai"
	"filesight/internal/provider/assemblyai/assemblyaitest"
	"filesight/internal/provider/providertest"
	"filesight/internal/secret"
)

const (
	apiKey      = "aai-test-key-0123456789"
	readToken   = "box-read-token-abcdef123456"
	callbackKey = "callback-key-0123456789abcdef0123456789"
)

type fixture struct {
	fake   *assemblyaitest.Server
	media  *providertest.Media
	hooks  *providertest.Callbacks
	client *assemblyai.Client
	cfg    assemblyai.Config
}

func setup(t *testing.T, env map[string]string) *fixture {
	t.Helper()
	f := &fixture{fake: assemblyaitest.Start(t, apiKey), media: providertest.StartMedia(t, readToken, []byte("RIFF....WAVEfake"))}
	vars := map[string]string{"ASSEMBLYAI_API_KEY": apiKey, "ASSEMBLYAI_BASE_URL": f.fake.URL, "ASSEMBLYAI_CALLBACK_KEY": callbackKey}
	for k, v := range env {
		vars[k] = v
	}
	if err := config.LoadFrom(context.Background(), &f.cfg, config.MapLookuper(vars)); err != nil {
		t.Fatal(err)
	}
	if err := f.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	f.hooks = providertest.StartCallbacks(t, "assemblyai", assemblyai.NewCallbackReader(f.cfg))
	f.client = assemblyai.New(f.cfg, nil)
	return f
}

func (f *fixture) request(analyses ...string) provider.JobRequest {
	return provider.JobRequest{
		IdempotencyKey: "file-1234-v1/transcript", MediaURL: f.media.URL, MediaToken: readToken, Analyses: analyses,
		CallbackURL: f.hooks.URL + "/callbacks/assemblyai",
		Labels:      map[string]string{provider.LabelWorkflowID: "file-1234-v1", "job": "transcript"},
	}
}

var words = []assemblyai.Word{
	{Text: "Hello", Start: 250, End: 650, Confidence: 0.97},
	{Text: "filesight", Start: 700, End: 1400, Confidence: 0.88},
}

func TestJobLifecycle(t *testing.T) {
	f := setup(t, nil)
	ctx := context.Background()
	ref, err := f.client.Submit(ctx, f.request(provider.AnalysisTranscript, provider.AnalysisKeywords, provider.AnalysisMedia))
	if err != nil {
		t.Fatal(err)
	}
	if ref.Provider != "assemblyai" || ref.ID == "" {
		t.Fatalf("ref %+v", ref)
	}
	// The documented request: audio_url with the token in its query,
	// speech_models, key phrases on, a signed webhook URL.
	p := f.fake.Params(ref.ID)
	au, _ := url.Parse(p["audio_url"].(string))
	if au.Query().Get("access_token") != readToken || !strings.HasPrefix(p["audio_url"].(string), f.media.URL) {
		t.Errorf("audio_url %v does not carry the read token", p["audio_url"])
	}
	if p["auto_highlights"] != true || p["language_detection"] != true || len(p["speech_models"].([]any)) != 2 {
		t.Errorf("params %v", p)
	}
	hook, _ := url.Parse(p["webhook_url"].(string))
	if hook.Path != "/callbacks/assemblyai" || hook.Query().Get(provider.CallbackParamWorkflow) != "file-1234-v1" || hook.Query().Get(provider.CallbackParamSignature) == "" {
		t.Errorf("webhook_url %v", p["webhook_url"])
	}

	st, err := f.client.Status(ctx, ref)
	if err != nil || st.State != provider.StateQueued || st.MediaFetched || st.RetryAfter != 5*time.Second {
		t.Fatalf("queued: %+v %v", st, err)
	}
	f.fake.SetStatus(ref.ID, assemblyai.StatusProcessing)
	if st, _ = f.client.Status(ctx, ref); st.State != provider.StateRunning || st.MediaFetched {
		t.Fatalf("processing: %+v", st)
	}
	if _, err := f.client.Result(ctx, ref); !isRetryable(err) {
		t.Fatalf("result while processing must be retryable: %v", err)
	}

	f.fake.Process(ref.ID, assemblyaitest.Outcome{Words: words, Duration: 2, Highlights: []assemblyai.AutoHighlight{
		{Count: 1, Rank: 0.08, Text: "filesight", Timestamps: []assemblyai.Timestamp{{Start: 700, End: 1400}}},
	}})
	st, err = f.client.Status(ctx, ref)
	if err != nil || st.State != provider.StateSucceeded || !st.MediaFetched || st.RetryAfter != 0 {
		t.Fatalf("completed: %+v %v", st, err)
	}
	want := []provider.AnalysisState{{Name: "keywords", State: "succeeded"}, {Name: "media", State: "succeeded"}, {Name: "transcript", State: "succeeded"}}
	if fmt.Sprint(st.Analyses) != fmt.Sprint(want) {
		t.Errorf("analyses %v, want %v", st.Analyses, want)
	}
	res, err := f.client.Result(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if res.Transcript.Text != "Hello filesight" || len(res.Transcript.Words) != 2 ||
		res.Transcript.Words[1] != (provider.Word{Word: "filesight", Start: 0.7, End: 1.4, Confidence: 0.88}) {
		t.Errorf("transcript %+v", res.Transcript)
	}
	if len(res.Keywords) != 1 || res.Keywords[0].Text != "filesight" || res.Keywords[0].Appears[0] != (provider.Span{Start: 0.7, End: 1.4}) {
		t.Errorf("keywords %+v", res.Keywords)
	}
	if res.Media == nil || res.Media.Duration != 2 || !res.Media.HasAudio {
		t.Errorf("media %+v", res.Media)
	}

	// The webhook reached the receiver, was authenticated by its signed URL
	// and names the job and the workflow.
	if cbs := f.hooks.Accepted(); len(cbs) != 1 || cbs[0] != (provider.Callback{JobID: ref.ID, State: provider.StateSucceeded, WorkflowID: "file-1234-v1"}) {
		t.Fatalf("callbacks %+v, refused %v", cbs, f.hooks.Refused())
	}
}

func TestNoKeywordsWhenNotAsked(t *testing.T) {
	f := setup(t, map[string]string{"ASSEMBLYAI_LANGUAGE_CODE": "en_us", "ASSEMBLYAI_CALLBACK_KEY": ""})
	req := f.request(provider.AnalysisTranscript)
	ref, err := f.client.Submit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	p := f.fake.Params(ref.ID)
	if p["auto_highlights"] != false || p["language_code"] != "en_us" || p["language_detection"] != nil || p["webhook_url"] != nil {
		t.Errorf("params %v", p)
	}
	f.fake.Process(ref.ID, assemblyaitest.Outcome{Words: words})
	res, err := f.client.Result(context.Background(), ref)
	if err != nil || res.Keywords != nil {
		t.Fatalf("keywords must be absent (not run), got %v %v", res, err)
	}
}

func TestKeyPhrasesUnavailable(t *testing.T) {
	f := setup(t, nil)
	ref, _ := f.client.Submit(context.Background(), f.request(provider.AnalysisTranscript, provider.AnalysisKeywords))
	f.fake.Process(ref.ID, assemblyaitest.Outcome{Words: words, HighlightsUnavailable: true})
	st, err := f.client.Status(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range st.Analyses {
		if a.Name == provider.AnalysisKeywords && a.State != provider.StateFailed {
			t.Errorf("keywords %s, want failed", a.State)
		}
	}
}

func TestSubmitIsIdempotentForTheSameMediaURL(t *testing.T) {
	f := setup(t, nil)
	ctx := context.Background()
	a, err := f.client.Submit(ctx, f.request(provider.AnalysisTranscript))
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.client.Submit(ctx, f.request(provider.AnalysisTranscript))
	if err != nil || a != b || len(f.fake.IDs()) != 1 {
		t.Fatalf("retry created another transcript: %v %v %v", a, b, f.fake.IDs())
	}
	// A resubmission comes with a new read token: a new job.
	req := f.request(provider.AnalysisTranscript)
	req.MediaToken = "another-read-token-987654"
	c, err := f.client.Submit(ctx, req)
	if err != nil || c == a || len(f.fake.IDs()) != 2 {
		t.Fatalf("new token must make a new job: %v %v", c, f.fake.IDs())
	}
	// With the search off, nothing is looked up.
	g := setup(t, map[string]string{"ASSEMBLYAI_DEDUPE_LOOKBACK": "0"})
	if _, err := g.client.Submit(ctx, g.request(provider.AnalysisTranscript)); err != nil || g.fake.Requests("GET /v2/transcript") != 0 {
		t.Fatalf("lookup made with lookback 0: %v", err)
	}
}

func TestUnsupportedAnalysisIsRefusedBeforeAnyCall(t *testing.T) {
	f := setup(t, nil)
	_, err := f.client.Submit(context.Background(), f.request(provider.AnalysisTranscript, provider.AnalysisScenes))
	pe, ok := provider.AsError(err)
	if !ok || pe.Retryable || pe.Code != "unsupported_analysis" || !strings.Contains(pe.Message, "scenes") {
		t.Fatalf("got %v", err)
	}
	if n := f.fake.Requests("POST /v2/transcript"); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

func TestErrorAnswers(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
		body       string
		retryable  bool
		wantAfter  time.Duration
		wantInMsg  string
	}{
		{"rate limited", 429, "7", "", true, 7 * time.Second, "Too Many Requests"},
		{"server error", 500, "", `{"error": "Server error, developers have been alerted."}`, true, 0, "Server error"},
		{"unavailable", 503, "2", "", true, 2 * time.Second, "Service Unavailable"},
		{"gateway timeout", 504, "", "", true, 0, "Gateway Timeout"},
		{"bad request", 400, "", `{"error": "format_text must be a Boolean"}`, false, 0, "format_text must be a Boolean"},
		{"funds", 400, "", `{"error": "Your current account balance is negative. Please top up to continue using the API."}`, false, 0, "balance is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, map[string]string{"ASSEMBLYAI_DEDUPE_LOOKBACK": "0"})
			f.fake.Fail(http.MethodPost, "/v2/transcript", tc.status, tc.retryAfter, tc.body)
			_, err := f.client.Submit(context.Background(), f.request(provider.AnalysisTranscript))
			pe, ok := provider.AsError(err)
			if !ok || pe.StatusCode != tc.status || pe.Retryable != tc.retryable || pe.RetryAfter != tc.wantAfter || !strings.Contains(pe.Message, tc.wantInMsg) {
				t.Fatalf("got %#v", err)
			}
		})
	}
	t.Run("bad key", func(t *testing.T) {
		f := setup(t, map[string]string{"ASSEMBLYAI_API_KEY": "wrong-key-000000000"})
		_, err := f.client.Status(context.Background(), provider.JobRef{Provider: "assemblyai", ID: "x"})
		pe, ok := provider.AsError(err)
		if !ok || pe.StatusCode != 401 || pe.Retryable {
			t.Fatalf("got %v", err)
		}
		if strings.Contains(err.Error(), "wrong-key-000000000") {
			t.Fatal("key leaked")
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		f := setup(t, map[string]string{"ASSEMBLYAI_BASE_URL": "http://127.0.0.1:1"})
		_, err := f.client.Submit(context.Background(), f.request(provider.AnalysisTranscript))
		pe, ok := provider.AsError(err)
		if !ok || !pe.Retryable || pe.StatusCode != 0 {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("answer too large", func(t *testing.T) {
		f := setup(t, map[string]string{"ASSEMBLYAI_MAX_RESPONSE_BYTES": "64"})
		_, err := f.client.Submit(context.Background(), f.request(provider.AnalysisTranscript))
		pe, ok := provider.AsError(err)
		if !ok || pe.Retryable || pe.Code != "answer_too_large" {
			t.Fatalf("got %v", err)
		}
	})
}

func TestDownloadFailureIsRetryableAndRedacted(t *testing.T) {
	f := setup(t, nil)
	ref, err := f.client.Submit(context.Background(), f.request(provider.AnalysisTranscript))
	if err != nil {
		t.Fatal(err)
	}
	f.media.Revoke()
	f.fake.Process(ref.ID, assemblyaitest.Outcome{Words: words})
	st, err := f.client.Status(context.Background(), ref)
	if err != nil || st.State != provider.StateFailed || st.Error == nil {
		t.Fatalf("%+v %v", st, err)
	}
	if st.Error.Code != "media_fetch_failed" || !st.Error.Retryable || !strings.Contains(st.Error.Message, "Download error") {
		t.Errorf("job error %+v", st.Error)
	}
	// AssemblyAI's text quotes the audio URL: the token must not survive.
	b, _ := json.Marshal(st)
	if strings.Contains(string(b), readToken) || strings.Contains(string(b), "access_token") {
		t.Fatalf("token leaked into the status: %s", b)
	}
	if _, err := f.client.Result(context.Background(), ref); err == nil || isRetryable(err) || strings.Contains(err.Error(), readToken) {
		t.Fatalf("result of a failed job: %v", err)
	}
	for _, cb := range f.hooks.Accepted() {
		if cb.State != provider.StateFailed {
			t.Errorf("callback %+v", cb)
		}
	}
}

func TestOtherJobFailuresAreNotRetryable(t *testing.T) {
	f := setup(t, nil)
	ref, _ := f.client.Submit(context.Background(), f.request(provider.AnalysisTranscript))
	f.fake.Process(ref.ID, assemblyaitest.Outcome{Error: "File does not appear to contain audio. File type is text/html (HTML document)."})
	st, _ := f.client.Status(context.Background(), ref)
	if st.Error == nil || st.Error.Retryable || st.Error.Code != "no_audio" {
		t.Fatalf("%+v", st.Error)
	}
}

func TestUnknownJob(t *testing.T) {
	f := setup(t, nil)
	ref := provider.JobRef{Provider: "assemblyai", ID: "9ea68fd3-f953-42c1-9742-976c447fb463"}
	_, err := f.client.Status(context.Background(), ref)
	if pe, ok := provider.AsError(err); !ok || pe.StatusCode != http.StatusNotFound || pe.Retryable {
		t.Fatalf("got %v", err)
	}
	if err := f.client.Cancel(context.Background(), ref); err != nil {
		t.Fatalf("cancelling a job that is gone: %v", err)
	}
	if _, err := f.client.Status(context.Background(), provider.JobRef{Provider: "mlengine", ID: "x"}); err == nil {
		t.Fatal("a ref of another provider must be refused")
	}
}

func TestCancel(t *testing.T) {
	f := setup(t, nil)
	ctx := context.Background()
	ref, _ := f.client.Submit(ctx, f.request(provider.AnalysisTranscript))
	if err := f.client.Cancel(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if n := f.fake.Requests("DELETE /v2/transcript/{id}"); n != 1 {
		t.Fatalf("%d deletes", n)
	}
	st, err := f.client.Status(ctx, ref)
	if err != nil || st.State != provider.StateCanceled {
		t.Fatalf("after cancel: %+v %v", st, err)
	}
	if err := f.client.Cancel(ctx, ref); err != nil {
		t.Fatalf("second cancel: %v", err)
	}

	// A completed transcript is left as it is.
	media2 := providertest.StartMedia(t, "second-read-token-0000", []byte("x"))
	req := f.request(provider.AnalysisTranscript)
	req.MediaURL, req.MediaToken = media2.URL, "second-read-token-0000"
	done, _ := f.client.Submit(ctx, req)
	f.fake.Process(done.ID, assemblyaitest.Outcome{Words: words})
	if st, _ := f.client.Status(ctx, done); st.State != provider.StateSucceeded {
		t.Fatalf("second job: %+v", st)
	}
	deletes := f.fake.Requests("DELETE /v2/transcript/{id}")
	if err := f.client.Cancel(ctx, done); err != nil || f.fake.Requests("DELETE /v2/transcript/{id}") != deletes {
		t.Fatalf("cancel of a completed job deleted it: %v", err)
	}
	// A refused delete is reported, not hidden.
	other, _ := f.client.Submit(ctx, func() provider.JobRequest {
		r := f.request(provider.AnalysisTranscript)
		r.MediaToken = "third-read-token-0000"
		return r
	}())
	f.fake.Fail(http.MethodDelete, "/v2/transcript/", 400, "", `{"error": "Transcript is still processing"}`)
	if err := f.client.Cancel(ctx, other); err == nil || isRetryable(err) {
		t.Fatalf("refused delete: %v", err)
	}
}

func TestCallbackAuthentication(t *testing.T) {
	f := setup(t, nil)
	reader := assemblyai.NewCallbackReader(f.cfg)
	ref, _ := f.client.Submit(context.Background(), f.request(provider.AnalysisTranscript))
	hook, _ := url.Parse(f.fake.Params(ref.ID)["webhook_url"].(string))
	body := []byte(`{"transcript_id": "` + ref.ID + `", "status": "completed"}`)
	if cb, err := reader.ReadCallback(nil, hook.Query(), body); err != nil || cb.WorkflowID != "file-1234-v1" || cb.State != provider.StateSucceeded {
		t.Fatalf("genuine: %+v %v", cb, err)
	}
	for name, mutate := range map[string]func(url.Values){
		"no signature":   func(q url.Values) { q.Del(provider.CallbackParamSignature) },
		"other workflow": func(q url.Values) { q.Set(provider.CallbackParamWorkflow, "file-9999-v1") },
		"later expiry":   func(q url.Values) { q.Set(provider.CallbackParamExpires, "99999999999") },
	} {
		q, _ := url.ParseQuery(hook.RawQuery)
		mutate(q)
		if _, err := reader.ReadCallback(nil, q, body); !errors.Is(err, provider.ErrCallbackAuth) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	// Another provider's key does not verify.
	other := f.cfg
	other.CallbackKey = "another-callback-key-0123456789abcdef"
	if _, err := assemblyai.NewCallbackReader(other).ReadCallback(nil, hook.Query(), body); !errors.Is(err, provider.ErrCallbackAuth) {
		t.Errorf("other key: %v", err)
	}
	// Rotation: the old key as secondary still verifies.
	rotated := f.cfg
	rotated.CallbackKey, rotated.CallbackSecondaryKey = "new-callback-key-0123456789abcdef0000", f.cfg.CallbackKey
	if _, err := assemblyai.NewCallbackReader(rotated).ReadCallback(nil, hook.Query(), body); err != nil {
		t.Errorf("rotated: %v", err)
	}
	if _, err := reader.ReadCallback(nil, hook.Query(), []byte(`{"status": "completed"}`)); err == nil || errors.Is(err, provider.ErrCallbackAuth) {
		t.Errorf("no transcript_id: %v", err)
	}
}

func TestSecretsStayOut(t *testing.T) {
	f := setup(t, nil)
	for _, out := range []string{fmt.Sprint(f.client), fmt.Sprintf("%+v %#v", f.client, f.client), fmt.Sprintf("%v %+v", f.cfg, f.cfg)} {
		if strings.Contains(out, apiKey) || strings.Contains(out, callbackKey) {
			t.Errorf("secret in %q", out)
		}
	}
}

func TestConfig(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(apiKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var cfg assemblyai.Config
	if err := config.LoadFrom(context.Background(), &cfg, config.MapLookuper(map[string]string{"ASSEMBLYAI_API_KEY_FILE": keyFile})); err != nil {
		t.Fatal(err)
	}
	if !cfg.Enabled() || cfg.APIKey.Reveal() != apiKey || cfg.Validate() != nil || cfg.BaseURL != "https://api.assemblyai.com" ||
		cfg.Policy() != (provider.Policy{JobTimeout: time.Hour, PollInterval: 5 * time.Second}) {
		t.Fatalf("defaults: %v %v", cfg, cfg.Validate())
	}
	var off assemblyai.Config
	_ = config.LoadFrom(context.Background(), &off, config.MapLookuper(nil))
	if off.Enabled() {
		t.Fatal("enabled without a key")
	}
	bad := cfg
	bad.CallbackKey, bad.PollInterval, bad.DedupeLookback, bad.BaseURL = secret.String("short"), 0, 500, "ftp://x"
	err := bad.Validate()
	for _, name := range []string{"ASSEMBLYAI_CALLBACK_KEY", "ASSEMBLYAI_POLL_INTERVAL", "ASSEMBLYAI_DEDUPE_LOOKBACK", "ASSEMBLYAI_BASE_URL"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("want an error naming %s, got %v", name, err)
		}
	}
}

func isRetryable(err error) bool {
	pe, ok := provider.AsError(err)
	return ok && pe.Retryable
}

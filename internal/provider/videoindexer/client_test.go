package videoindexer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"filesight/internal/config"
	"filesight/internal/provider"
	"filesight/internal/provider/providertest"
	"filesight/internal/provider/videoindexer"
	"filesight/internal/provider/videoindexer/videoindexertest"
)

const (
	readToken   = "box-read-token-abcdef123456"
	callbackKey = "vi-callback-key-0123456789abcdef0123"
)

type fixture struct {
	fake   *videoindexertest.Server
	media  *providertest.Media
	hooks  *providertest.Callbacks
	cfg    videoindexer.Config
	client *videoindexer.Client
}

func setup(t *testing.T, env map[string]string) *fixture {
	t.Helper()
	f := &fixture{fake: videoindexertest.Start(t), media: providertest.StartMedia(t, readToken, []byte("fake mp4"))}
	a := f.fake.Account
	vars := map[string]string{
		"VIDEOINDEXER_TENANT_ID": a.TenantID, "VIDEOINDEXER_CLIENT_ID": a.ClientID, "VIDEOINDEXER_CLIENT_SECRET": a.ClientSecret,
		"VIDEOINDEXER_SUBSCRIPTION_ID": a.SubscriptionID, "VIDEOINDEXER_RESOURCE_GROUP": a.ResourceGroup,
		"VIDEOINDEXER_ACCOUNT_NAME": a.Name, "VIDEOINDEXER_ACCOUNT_ID": a.ID, "VIDEOINDEXER_LOCATION": a.Location,
		"VIDEOINDEXER_AUTHORITY_URL": f.fake.URL, "VIDEOINDEXER_ARM_URL": f.fake.URL, "VIDEOINDEXER_API_URL": f.fake.URL,
		"VIDEOINDEXER_CALLBACK_KEY": callbackKey,
	}
	for k, v := range env {
		vars[k] = v
	}
	if err := config.LoadFrom(context.Background(), &f.cfg, config.MapLookuper(vars)); err != nil {
		t.Fatal(err)
	}
	if err := f.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	f.hooks = providertest.StartCallbacks(t, "videoindexer", videoindexer.NewCallbackReader(f.cfg))
	f.client = videoindexer.New(f.cfg, videoindexer.Options{})
	return f
}

func (f *fixture) request(key string, analyses ...string) provider.JobRequest {
	return provider.JobRequest{
		IdempotencyKey: key, MediaURL: f.media.URL, MediaToken: readToken, Analyses: analyses,
		CallbackURL: f.hooks.URL + "/callbacks/videoindexer",
		Labels:      map[string]string{provider.LabelWorkflowID: "file-1234-v1", "job": "vi"},
	}
}

func ts(s string) videoindexer.Timestamp {
	v, err := videoindexer.ParseTimestamp(s)
	if err != nil {
		panic(err)
	}
	return videoindexer.Timestamp(v)
}

func inst(start, end string) videoindexer.Instance {
	return videoindexer.Instance{Start: ts(start), End: ts(end)}
}

// insights in the documented shapes (video-indexer-output-json).
func sampleInsights() *videoindexer.Insights {
	return &videoindexer.Insights{
		Transcript: []videoindexer.TranscriptLine{
			{ID: 1, Text: "Well, good morning everyone", Confidence: 0.88, Instances: []videoindexer.Instance{inst("0:00:10.21", "0:00:12.81")}},
			{ID: 2, Text: "  ", Instances: []videoindexer.Instance{inst("0:00:13", "0:00:14")}},
		},
		OCR: []videoindexer.OCRLine{{ID: 0, Text: "LIVE FROM NEW YORK", Confidence: 675.971,
			Instances: []videoindexer.Instance{inst("00:00:26", "00:00:52"), inst("00:01:02", "00:01:04")}}},
		Keywords: []videoindexer.Keyword{{ID: 0, Text: "technology", Confidence: 1, Instances: []videoindexer.Instance{inst("0:05:15.782", "0:05:16.249")}}},
		Labels: []videoindexer.Label{{ID: 0, Name: "person", Instances: []videoindexer.Instance{
			{Start: ts("00:00:00"), End: ts("00:00:25.6"), Confidence: 0.9}, {Start: ts("00:01:33.867"), End: ts("00:01:39.2"), Confidence: 0.7}}}},
		Shots: []videoindexer.Shot{
			{ID: 0, KeyFrames: []videoindexer.KeyFrame{{ID: 0, Instances: []videoindexer.Instance{{Start: ts("0:00:00.209"), End: ts("0:00:00.251"), ThumbnailID: "thumb-0"}}}},
				Instances: []videoindexer.Instance{inst("0:00:00", "0:00:06.34")}},
			{ID: 1, Instances: []videoindexer.Instance{inst("0:00:06.34", "0:00:47.047")}},
		},
		Scenes: []videoindexer.SceneInsight{{ID: 0, Instances: []videoindexer.Instance{inst("0:00:00", "0:00:47.047")}}},
	}
}

func TestJobLifecycle(t *testing.T) {
	f := setup(t, nil)
	ctx := context.Background()
	ref, err := f.client.Submit(ctx, f.request("file-1234-v1/vi", provider.AnalysisTranscript, provider.AnalysisKeywords,
		provider.AnalysisScenes, provider.AnalysisOCR, provider.AnalysisMedia))
	if err != nil {
		t.Fatal(err)
	}
	ups := f.fake.Uploads()
	if len(ups) != 1 {
		t.Fatalf("%d uploads", len(ups))
	}
	q := ups[0]
	vu, _ := url.Parse(q.Get("videoUrl"))
	if vu.Query().Get("access_token") != readToken || q.Get("privacy") != "Private" || q.Get("externalId") != videoindexer.ExternalID("file-1234-v1/vi") ||
		q.Get("indexingPreset") != "Default" || q.Get("streamingPreset") != "NoStreaming" || q.Get("sendSuccessEmail") != "false" {
		t.Errorf("upload query %v", q)
	}
	if !reflect.DeepEqual(q["excludedAI"], []string{"Faces", "ObservedPeople"}) {
		t.Errorf("faces must be excluded by default: %v", q["excludedAI"])
	}
	if strings.Contains(q.Get("name"), "1234") {
		t.Errorf("the video name %q must not reveal the file", q.Get("name"))
	}
	cb, _ := url.Parse(q.Get("callbackUrl"))
	if cb.Path != "/callbacks/videoindexer" || cb.Query().Get(provider.CallbackParamWorkflow) != "file-1234-v1" {
		t.Errorf("callbackUrl %v", cb)
	}

	st, err := f.client.Status(ctx, ref)
	if err != nil || st.State != provider.StateQueued || st.MediaFetched || st.RetryAfter != 30*time.Second {
		t.Fatalf("uploaded: %+v %v", st, err)
	}
	if _, err := f.client.Result(ctx, ref); !isRetryable(err) {
		t.Fatalf("result before processing must be retryable: %v", err)
	}
	f.fake.SetState(ref.ID, videoindexer.StateProcessing, "40%")
	if st, _ = f.client.Status(ctx, ref); st.State != provider.StateRunning || !st.MediaFetched || st.Progress != 0.4 {
		t.Fatalf("processing: %+v", st)
	}
	f.fake.Process(ref.ID, 120, sampleInsights())
	st, err = f.client.Status(ctx, ref)
	if err != nil || st.State != provider.StateSucceeded || st.Progress != 1 || st.RetryAfter != 0 || len(st.Analyses) != 5 {
		t.Fatalf("processed: %+v %v", st, err)
	}

	res, err := f.client.Result(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if res.Media.Duration != 120 || !res.Media.HasVideo {
		t.Errorf("media %+v", res.Media)
	}
	if res.Transcript.Text != "Well, good morning everyone" || len(res.Transcript.Words) != 4 {
		t.Fatalf("transcript %+v", res.Transcript)
	}
	w := res.Transcript.Words
	if !near(w[0].Start, 10.21) || !near(w[3].End, 12.81) || !(w[0].End < w[1].Start) || w[1].Word != "good" || w[0].Confidence != 0.88 {
		t.Errorf("word timing %+v", w)
	}
	if len(res.OCR) != 2 || res.OCR[0] != (provider.OCRText{Text: "LIVE FROM NEW YORK", Start: 26, End: 52, Confidence: 0.675971}) || res.OCR[1].Start != 62 {
		t.Errorf("ocr %+v", res.OCR)
	}
	if len(res.Keywords) != 2 || res.Keywords[0].Text != "technology" || res.Keywords[1].Text != "person" || res.Keywords[1].Score != 0.45 ||
		len(res.Keywords[1].Appears) != 2 || !near(res.Keywords[0].Appears[0].Start, 315.782) {
		t.Errorf("keywords %+v", res.Keywords)
	}
	if len(res.Scenes) != 2 || res.Scenes[0] != (provider.Scene{Start: 0, End: 6.34, Thumbnail: "thumb-0"}) || !near(res.Scenes[1].End, 47.047) {
		t.Errorf("scenes (from shots) %+v", res.Scenes)
	}

	// Video Indexer called back for each state change; only the terminal
	// one names a terminal state.
	var terminal []provider.Callback
	for _, c := range f.hooks.Accepted() {
		if c.JobID != ref.ID || c.WorkflowID != "file-1234-v1" {
			t.Errorf("callback %+v", c)
		}
		if c.State.Terminal() {
			terminal = append(terminal, c)
		}
	}
	if len(terminal) != 1 || terminal[0].State != provider.StateSucceeded || len(f.hooks.Refused()) != 0 {
		t.Fatalf("callbacks %+v refused %v", f.hooks.Accepted(), f.hooks.Refused())
	}
}

func near(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 }

func TestScenesFromScenesAndNoLabels(t *testing.T) {
	f := setup(t, map[string]string{"VIDEOINDEXER_SCENES_FROM": "scenes", "VIDEOINDEXER_LABELS_AS_KEYWORDS": "false", "VIDEOINDEXER_EXCLUDED_AI": "Faces"})
	ref, err := f.client.Submit(context.Background(), f.request("k", provider.AnalysisScenes, provider.AnalysisKeywords))
	if err != nil {
		t.Fatal(err)
	}
	if q := f.fake.Uploads()[0]; !reflect.DeepEqual(q["excludedAI"], []string{"Faces", "Labels"}) || q.Get("indexingPreset") != "Default" {
		t.Errorf("upload %v", q)
	}
	f.fake.Process(ref.ID, 47, sampleInsights())
	res, err := f.client.Result(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Scenes) != 1 || !near(res.Scenes[0].End, 47.047) || len(res.Keywords) != 1 {
		t.Errorf("scenes %+v keywords %+v", res.Scenes, res.Keywords)
	}
}

func TestPreset(t *testing.T) {
	for _, tc := range []struct {
		analyses []string
		env      map[string]string
		want     string
	}{
		{[]string{provider.AnalysisTranscript}, nil, "AudioOnly"},
		{[]string{provider.AnalysisTranscript, provider.AnalysisKeywords}, map[string]string{"VIDEOINDEXER_LABELS_AS_KEYWORDS": "false"}, "AudioOnly"},
		{[]string{provider.AnalysisOCR, provider.AnalysisScenes}, nil, "VideoOnly"},
		{[]string{provider.AnalysisTranscript, provider.AnalysisOCR}, nil, "Default"},
		{[]string{provider.AnalysisTranscript}, map[string]string{"VIDEOINDEXER_INDEXING_PRESET": "BasicAudio"}, "BasicAudio"},
	} {
		f := setup(t, tc.env)
		if _, err := f.client.Submit(context.Background(), f.request("k", tc.analyses...)); err != nil {
			t.Fatal(err)
		}
		if got := f.fake.Uploads()[0].Get("indexingPreset"); got != tc.want {
			t.Errorf("%v: preset %s, want %s", tc.analyses, got, tc.want)
		}
	}
}

func TestSubmitIsIdempotent(t *testing.T) {
	f := setup(t, nil)
	ctx := context.Background()
	a, err := f.client.Submit(ctx, f.request("file-1234-v1/vi", provider.AnalysisTranscript))
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.client.Submit(ctx, f.request("file-1234-v1/vi", provider.AnalysisTranscript))
	if err != nil || a != b || len(f.fake.Uploads()) != 1 {
		t.Fatalf("same key uploaded twice: %v %v %d", a, b, len(f.fake.Uploads()))
	}
	c, err := f.client.Submit(ctx, f.request("file-1234-v1/vi/attempt-2", provider.AnalysisTranscript))
	if err != nil || c == a || len(f.fake.Uploads()) != 2 {
		t.Fatalf("another key must upload again: %v", c)
	}
	// A 409 on upload (a concurrent Submit won) finds the winner's video.
	g := setup(t, nil)
	won, _ := g.client.Submit(ctx, g.request("race", provider.AnalysisTranscript))
	g.fake.Fail(http.MethodGet, "/Videos/Search", 200, "", `{"results": [], "nextPage": {"done": true}}`)
	g.fake.Fail(http.MethodPost, "/Videos", 409, "", `{"ErrorType": "ALREADY_EXISTS", "Message": "A video with this external id is being indexed"}`)
	got, err := g.client.Submit(ctx, g.request("race", provider.AnalysisTranscript))
	if err != nil || got != won {
		t.Fatalf("409 fallback: %v %v, want %v", got, err, won)
	}
}

func TestTokens(t *testing.T) {
	f := setup(t, nil)
	ctx := context.Background()
	ref, err := f.client.Submit(ctx, f.request("k", provider.AnalysisTranscript))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := f.client.Status(ctx, ref); err != nil {
			t.Fatal(err)
		}
	}
	if e, a := f.fake.TokenCalls(); e != 1 || a != 1 {
		t.Fatalf("tokens are not cached: %d Entra, %d ARM", e, a)
	}
	// An account token refused (expired early, revoked): renewed once.
	f.fake.ExpireAccountTokens()
	if _, err := f.client.Status(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if e, a := f.fake.TokenCalls(); e != 1 || a != 2 {
		t.Fatalf("after expiry: %d Entra, %d ARM", e, a)
	}
	// The account token's own expiry (its exp claim) is honoured.
	later := time.Now().Add(56 * time.Minute)
	g := videoindexer.New(f.cfg, videoindexer.Options{Now: func() time.Time { return later }})
	if _, err := g.Status(ctx, ref); err != nil {
		t.Fatal(err)
	}
}

func TestAuthFailures(t *testing.T) {
	f := setup(t, map[string]string{"VIDEOINDEXER_CLIENT_SECRET": "wrong-secret-value-1234"})
	_, err := f.client.Status(context.Background(), provider.JobRef{Provider: "videoindexer", ID: "abc"})
	pe, ok := provider.AsError(err)
	if !ok || pe.StatusCode != 401 || pe.Retryable || !strings.Contains(pe.Message, "Entra") {
		t.Fatalf("bad secret: %v", err)
	}
	if strings.Contains(err.Error(), "wrong-secret-value-1234") {
		t.Fatal("secret leaked")
	}
	g := setup(t, map[string]string{"VIDEOINDEXER_ACCOUNT_NAME": "no-such-account"})
	_, err = g.client.Status(context.Background(), provider.JobRef{Provider: "videoindexer", ID: "abc"})
	if pe, ok := provider.AsError(err); !ok || pe.StatusCode != 404 || pe.Retryable || pe.Code != "ResourceNotFound" {
		t.Fatalf("unknown account: %v", err)
	}
	h := setup(t, nil)
	h.fake.Fail(http.MethodPost, "/oauth2/v2.0/token", 503, "4", "")
	_, err = h.client.Status(context.Background(), provider.JobRef{Provider: "videoindexer", ID: "abc"})
	if pe, ok := provider.AsError(err); !ok || !pe.Retryable || pe.RetryAfter != 4*time.Second {
		t.Fatalf("Entra unavailable: %v", err)
	}
}

func TestErrorAnswers(t *testing.T) {
	f := setup(t, nil)
	ctx := context.Background()
	ref, _ := f.client.Submit(ctx, f.request("k", provider.AnalysisTranscript))
	f.fake.Fail(http.MethodGet, "/Index", 429, "12", `{"ErrorType": "TOO_MANY_REQUESTS", "Message": "Rate limit is exceeded. Try again in 12 seconds."}`)
	_, err := f.client.Status(ctx, ref)
	if pe, ok := provider.AsError(err); !ok || !pe.Retryable || pe.RetryAfter != 12*time.Second || pe.StatusCode != 429 || pe.Code != "TOO_MANY_REQUESTS" {
		t.Fatalf("429: %#v", err)
	}
	f.fake.Fail(http.MethodGet, "/Index", 500, "", "")
	if _, err := f.client.Status(ctx, ref); !isRetryable(err) {
		t.Fatalf("500: %v", err)
	}
	f.fake.Fail(http.MethodPost, "/Videos", 400, "", `{"ErrorType": "INVALID_INPUT", "Message": "videoUrl https://x/y?access_token=`+readToken+` is not reachable"}`)
	_, err = f.client.Submit(ctx, f.request("k2", provider.AnalysisTranscript))
	pe, ok := provider.AsError(err)
	if !ok || pe.Retryable || pe.Code != "INVALID_INPUT" || strings.Contains(err.Error(), readToken) {
		t.Fatalf("400: %v", err)
	}
	_, err = f.client.Status(ctx, provider.JobRef{Provider: "videoindexer", ID: "nosuchvideo"})
	if pe, ok := provider.AsError(err); !ok || pe.StatusCode != 404 || pe.Retryable {
		t.Fatalf("unknown video: %v", err)
	}
	if _, err := f.client.Submit(ctx, f.request("k3", provider.AnalysisLoudness)); err == nil || isRetryable(err) || !strings.Contains(err.Error(), "loudness") {
		t.Fatalf("unsupported analysis: %v", err)
	}
}

func TestFailures(t *testing.T) {
	f := setup(t, nil)
	ctx := context.Background()
	ref, _ := f.client.Submit(ctx, f.request("k", provider.AnalysisTranscript))
	f.media.Revoke()
	f.fake.Process(ref.ID, 10, sampleInsights())
	st, err := f.client.Status(ctx, ref)
	if err != nil || st.State != provider.StateFailed || st.Error == nil || !st.Error.Retryable {
		t.Fatalf("download failure: %+v %v", st, err)
	}
	b, _ := json.Marshal(st)
	if strings.Contains(string(b), readToken) || strings.Contains(string(b), "access_token") {
		t.Fatalf("token leaked: %s", b)
	}
	if cbs := f.hooks.Accepted(); len(cbs) != 1 || cbs[0].State != provider.StateFailed {
		t.Fatalf("callbacks %+v", cbs)
	}

	ref2, _ := f.client.Submit(ctx, f.request("k2", provider.AnalysisTranscript))
	f.fake.FailIndexing(ref2.ID, "UnsupportedFileType", "The file type is not supported.")
	st, _ = f.client.Status(ctx, ref2)
	if st.Error == nil || st.Error.Retryable || st.Error.Code != "UnsupportedFileType" {
		t.Fatalf("unsupported file: %+v", st.Error)
	}
	ref3, _ := f.client.Submit(ctx, f.request("k3", provider.AnalysisTranscript))
	f.fake.SetState(ref3.ID, videoindexer.StateQuarantined, "100%")
	st, _ = f.client.Status(ctx, ref3)
	if st.State != provider.StateFailed || st.Error.Code != "quarantined" || st.Error.Retryable {
		t.Fatalf("quarantined: %+v", st)
	}
	if _, err := f.client.Result(ctx, ref3); err == nil || isRetryable(err) {
		t.Fatalf("result of a failed video: %v", err)
	}
}

func TestCancel(t *testing.T) {
	f := setup(t, nil)
	ctx := context.Background()
	running, _ := f.client.Submit(ctx, f.request("a", provider.AnalysisTranscript))
	f.fake.SetState(running.ID, videoindexer.StateProcessing, "10%")
	if err := f.client.Cancel(ctx, running); err != nil || !f.fake.Deleted(running.ID) {
		t.Fatalf("cancel: %v", err)
	}
	if err := f.client.Cancel(ctx, running); err != nil {
		t.Fatalf("second cancel: %v", err)
	}
	done, _ := f.client.Submit(ctx, f.request("b", provider.AnalysisTranscript))
	f.fake.Process(done.ID, 10, sampleInsights())
	if err := f.client.Cancel(ctx, done); err != nil || f.fake.Deleted(done.ID) {
		t.Fatalf("a processed video must be left alone: %v", err)
	}
}

func TestCallbackReader(t *testing.T) {
	f := setup(t, nil)
	r := videoindexer.NewCallbackReader(f.cfg)
	ref, _ := f.client.Submit(context.Background(), f.request("k", provider.AnalysisTranscript))
	cb, _ := url.Parse(f.fake.Uploads()[0].Get("callbackUrl"))
	q := cb.Query()
	q.Set("id", ref.ID)
	for state, want := range map[string]provider.State{"Processed": provider.StateSucceeded, "Failed": provider.StateFailed, "Processing": provider.StateRunning, "Whatever": ""} {
		q.Set("state", state)
		got, err := r.ReadCallback(nil, q, []byte("ignored body"))
		if err != nil || got != (provider.Callback{JobID: ref.ID, State: want, WorkflowID: "file-1234-v1"}) {
			t.Errorf("%s: %+v %v", state, got, err)
		}
	}
	q.Del("id")
	if _, err := r.ReadCallback(nil, q, nil); err == nil {
		t.Error("a callback without id must be refused")
	}
	q.Set("id", ref.ID)
	q.Set(provider.CallbackParamWorkflow, "file-9-v9")
	if _, err := r.ReadCallback(nil, q, nil); err == nil {
		t.Error("a callback for another workflow must be refused")
	}
}

func TestParseTimestamp(t *testing.T) {
	for in, want := range map[string]float64{
		"0:00:06.34": 6.34, "00:00:07.2400000": 7.24, "00: 00: 25.6000000": 25.6, "0:05:15.782": 315.782, "1:00:00": 3600, "1.02:00:00": 93600,
	} {
		if got, err := videoindexer.ParseTimestamp(in); err != nil || !near(got, want) {
			t.Errorf("ParseTimestamp(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "6.34", "0:61:00", "a:b:c", "0:00:60"} {
		if _, err := videoindexer.ParseTimestamp(bad); err == nil {
			t.Errorf("ParseTimestamp(%q) must fail", bad)
		}
	}
	var v struct{ T videoindexer.Timestamp }
	if err := json.Unmarshal([]byte(`{"T": "0:01:02.5"}`), &v); err != nil || v.T != 62.5 {
		t.Fatalf("%v %v", v, err)
	}
	b, _ := json.Marshal(v)
	var back struct{ T videoindexer.Timestamp }
	if err := json.Unmarshal(b, &back); err != nil || back != v {
		t.Fatalf("round trip %s: %v", b, err)
	}
}

func TestConfig(t *testing.T) {
	var c videoindexer.Config
	if err := config.LoadFrom(context.Background(), &c, config.MapLookuper(nil)); err != nil {
		t.Fatal(err)
	}
	if c.Enabled() {
		t.Fatal("enabled without an account")
	}
	c.AccountID, c.Location, c.AccountName, c.CallbackKey, c.ScenesFrom = "not-a-guid", "West Europe", "x", "short", "frames"
	err := c.Validate()
	for _, name := range []string{"VIDEOINDEXER_TENANT_ID", "VIDEOINDEXER_CLIENT_SECRET", "VIDEOINDEXER_ACCOUNT_ID must be a GUID",
		"VIDEOINDEXER_LOCATION", "VIDEOINDEXER_ACCOUNT_NAME", "VIDEOINDEXER_CALLBACK_KEY", "VIDEOINDEXER_SCENES_FROM"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("want an error naming %s, got %v", name, err)
		}
	}
	f := setup(t, nil)
	if f.cfg.Policy() != (provider.Policy{JobTimeout: 4 * time.Hour, PollInterval: 30 * time.Second}) {
		t.Errorf("policy %+v", f.cfg.Policy())
	}
	for _, out := range []string{fmt.Sprint(f.client), fmt.Sprintf("%+v %#v", f.cfg, f.client)} {
		if strings.Contains(out, f.fake.Account.ClientSecret) || strings.Contains(out, callbackKey) {
			t.Errorf("secret in %q", out)
		}
	}
}

func isRetryable(err error) bool {
	pe, ok := provider.AsError(err)
	return ok && pe.Retryable
}

package whisper_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"filesight/internal/codec/codectest"
	"filesight/internal/config"
	"filesight/internal/provider"
	"filesight/internal/provider/claimcheck"
	"filesight/internal/provider/providertest"
	"filesight/internal/provider/whisper"
	"filesight/internal/provider/whisper/whispertest"
	"filesight/internal/secret"
	"filesight/internal/testutil"
	"filesight/internal/tokenseal"
	"filesight/internal/tokenseal/tokensealtest"
)

const (
	readToken = "box-read-token-abcdef123456"
	apiKey    = "sk-test-0123456789abcdef"
	speech    = "welcome to the quarterly review of the filesight project and its new providers"
)

func loadConfig(t *testing.T, env map[string]string) whisper.Config {
	t.Helper()
	var cfg whisper.Config
	if err := config.LoadFrom(context.Background(), &cfg, config.MapLookuper(env)); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// sealFor seals token for job jobID, as the provider does when it submits.
func sealFor(t *testing.T, s *tokenseal.Sealer, jobID, token string) string {
	t.Helper()
	sealed, err := s.Seal(secret.String(token), whisper.MediaTokenLabel(jobID))
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

type activityFixture struct {
	sealer *tokenseal.Sealer
	srv    *whispertest.Server
	media  *providertest.Media
	store  *claimcheck.Dir
	cfg    whisper.Config
	env    *testsuite.TestActivityEnvironment
	beats  atomic.Int32
}

func newActivity(t *testing.T, env map[string]string, content []byte) *activityFixture {
	t.Helper()
	f := &activityFixture{srv: whispertest.Start(t, apiKey, speech), media: providertest.StartMedia(t, readToken, content)}
	vars := map[string]string{"WHISPER_URL": f.srv.URL, "WHISPER_API_KEY": apiKey, "WHISPER_STORE_DIR": t.TempDir(), "WHISPER_HEARTBEAT_TIMEOUT": "300ms"}
	for k, v := range env {
		vars[k] = v
	}
	f.cfg = loadConfig(t, vars)
	var err error
	if f.store, err = claimcheck.NewDir(f.cfg.StoreDir, claimcheck.DirOptions{}); err != nil {
		t.Fatal(err)
	}
	f.sealer = tokensealtest.New(t)
	jobs := whisper.NewJobs(f.cfg, f.store, f.sealer, whisper.JobsOptions{TempDir: t.TempDir()})
	var s testsuite.WorkflowTestSuite
	f.env = s.NewTestActivityEnvironment()
	f.env.RegisterActivityWithOptions(jobs.Transcribe, activity.RegisterOptions{Name: whisper.ActivityName})
	f.env.SetHeartbeatDetails(nil)
	f.env.SetOnActivityHeartbeatListener(func(*activity.Info, converter.EncodedValues) { f.beats.Add(1) })
	f.env.SetTestTimeout(30 * time.Second)
	return f
}

func (f *activityFixture) run(t *testing.T, jobID string) (whisper.JobOutput, error) {
	v, err := f.env.ExecuteActivity(whisper.ActivityName, whisper.TranscribeInput{JobID: jobID, MediaURL: f.media.URL, SealedMediaToken: sealFor(t, f.sealer, jobID, readToken)})
	var out whisper.JobOutput
	if err == nil {
		err = v.Get(&out)
	}
	return out, err
}

func appError(t *testing.T, err error) (*temporal.ApplicationError, provider.JobError) {
	t.Helper()
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) {
		t.Fatalf("want an application error, got %v", err)
	}
	var je provider.JobError
	if ae.HasDetails() {
		_ = ae.Details(&je)
	}
	return ae, je
}

func TestTranscribe(t *testing.T) {
	f := newActivity(t, nil, []byte("ID3 fake mp3 bytes"))
	out, err := f.run(t, "whisper:wf-1/transcript")
	if err != nil {
		t.Fatal(err)
	}
	if out.Words != 13 || out.Duration != 6.5 || out.Language != "english" {
		t.Fatalf("output %+v", out)
	}
	reqs := f.srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.Auth != "Bearer "+apiKey || r.FileSize != int64(len("ID3 fake mp3 bytes")) || r.Fields["model"][0] != "whisper-1" ||
		r.Fields["response_format"][0] != "verbose_json" || strings.Join(r.Fields["timestamp_granularities[]"], ",") != "segment,word" {
		t.Fatalf("request %+v", r)
	}
	if f.beats.Load() == 0 {
		t.Fatal("no heartbeat recorded")
	}
	b, err := f.store.Get(context.Background(), "whisper-result/whisper:wf-1/transcript")
	if err != nil {
		t.Fatal(err)
	}
	var res provider.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Transcript.Text != speech || len(res.Transcript.Words) != 13 || res.Transcript.Words[1] != (provider.Word{Word: "to", Start: 0.5, End: 0.9, Confidence: res.Transcript.Words[1].Confidence}) ||
		res.Transcript.Words[1].Confidence < 0.9 || res.Media.Duration != 6.5 || !res.Media.HasAudio {
		t.Fatalf("result %+v", res)
	}
}

// The file name sent carries the extension only (servers need it to tell
// the format; the user's file name stays home).
func TestTranscribeFileName(t *testing.T) {
	srv := whispertest.Start(t, "", speech)
	media := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Disposition", `attachment; filename="Board meeting 2026.M4A"`)
		_, _ = w.Write([]byte("m4a bytes"))
	}))
	t.Cleanup(media.Close)
	cfg := loadConfig(t, map[string]string{"WHISPER_URL": srv.URL, "WHISPER_STORE_DIR": t.TempDir(), "WHISPER_WORD_TIMESTAMPS": "false", "WHISPER_LANGUAGE": "en"})
	store, _ := claimcheck.NewDir(cfg.StoreDir, claimcheck.DirOptions{})
	sealer := tokensealtest.New(t)
	jobs := whisper.NewJobs(cfg, store, sealer, whisper.JobsOptions{})
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(jobs.Transcribe, activity.RegisterOptions{Name: whisper.ActivityName})
	if _, err := env.ExecuteActivity(whisper.ActivityName, whisper.TranscribeInput{JobID: "j", MediaURL: media.URL, SealedMediaToken: sealFor(t, sealer, "j", "t")}); err != nil {
		t.Fatal(err)
	}
	r := srv.Requests()[0]
	if r.FileName != "media.m4a" || r.Auth != "" || r.Fields["language"][0] != "en" || strings.Join(r.Fields["timestamp_granularities[]"], ",") != "segment" {
		t.Fatalf("request %+v", r)
	}
	// Without word timestamps, words share out their segment's time.
	b, _ := store.Get(context.Background(), "whisper-result/j")
	var res provider.Result
	_ = json.Unmarshal(b, &res)
	if len(res.Transcript.Words) != 13 || res.Transcript.Words[8].Start != 4 || res.Transcript.Words[12].End != 6.5 {
		t.Fatalf("words %+v", res.Transcript.Words)
	}
}

func TestTranscribeMediaLimits(t *testing.T) {
	big := []byte(strings.Repeat("x", 2048))
	f := newActivity(t, map[string]string{"WHISPER_MAX_MEDIA_BYTES": "1024"}, big)
	_, err := f.run(t, "j")
	ae, je := appError(t, err)
	if !ae.NonRetryable() || ae.Type() != whisper.ErrTypeMediaTooLarge || je.Retryable || !strings.Contains(je.Message, "larger") {
		t.Fatalf("too large: %v %+v", err, je)
	}
	if len(f.srv.Requests()) != 0 {
		t.Fatal("an oversized file was sent")
	}
	// Without Content-Length the limit holds while reading.
	chunked := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 4 {
			_, _ = w.Write(big[:512])
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(chunked.Close)
	v, err := f.env.ExecuteActivity(whisper.ActivityName, whisper.TranscribeInput{JobID: "j2", MediaURL: chunked.URL, SealedMediaToken: sealFor(t, f.sealer, "j2", "t")})
	if ae, _ := appError(t, err); ae.Type() != whisper.ErrTypeMediaTooLarge {
		t.Fatalf("streamed too large: %v %v", v, err)
	}
}

func TestTranscribeMediaErrors(t *testing.T) {
	f := newActivity(t, nil, []byte("audio"))
	f.media.Revoke()
	_, err := f.run(t, "j")
	ae, je := appError(t, err)
	if !ae.NonRetryable() || ae.Type() != whisper.ErrTypeMediaUnauthorized || !je.Retryable {
		t.Fatalf("revoked token: %v %+v (a new job with a new token may work, this one cannot)", err, je)
	}
	for _, tc := range []struct {
		status    int
		typ       string
		retryable bool
	}{
		{http.StatusNotFound, whisper.ErrTypeMediaNotFound, false},
		{http.StatusServiceUnavailable, whisper.ErrTypeUnavailable, true},
		{http.StatusAccepted, whisper.ErrTypeUnavailable, true},
		{http.StatusTeapot, whisper.ErrTypeMediaRejected, false},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(tc.status)
		}))
		_, err := f.env.ExecuteActivity(whisper.ActivityName, whisper.TranscribeInput{JobID: "j", MediaURL: srv.URL, SealedMediaToken: sealFor(t, f.sealer, "j", "t")})
		srv.Close()
		ae, _ := appError(t, err)
		if ae.Type() != tc.typ || ae.NonRetryable() == tc.retryable {
			t.Errorf("HTTP %d: %v (type %s, non-retryable %t)", tc.status, err, ae.Type(), ae.NonRetryable())
		}
		if tc.retryable && tc.status != http.StatusTeapot && ae.NextRetryDelay() != 3*time.Second {
			t.Errorf("HTTP %d: next retry %v, want the Retry-After", tc.status, ae.NextRetryDelay())
		}
	}
}

func TestTranscribeEndpointErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
		body       string
		typ        string
		retryable  bool
		after      time.Duration
	}{
		{"rate limited", 429, "7", "", whisper.ErrTypeUnavailable, true, 7 * time.Second},
		{"quota", 429, "", `{"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}`, whisper.ErrTypeQuotaExceeded, false, 0},
		{"server error", 500, "", "", whisper.ErrTypeUnavailable, true, 0},
		{"overloaded", 503, "20", "", whisper.ErrTypeUnavailable, true, 20 * time.Second},
		{"bad file", 400, "", `{"error": {"message": "Invalid file format.", "type": "invalid_request_error", "param": null, "code": null}}`, whisper.ErrTypeUnsupportedMedia, false, 0},
		{"too large", 413, "", "", whisper.ErrTypeMediaTooLarge, false, 0},
		{"self-hosted detail", 422, "", `{"detail": [{"loc": ["body", "file"], "msg": "field required"}]}`, whisper.ErrTypeUnsupportedMedia, false, 0},
		{"not found", 404, "", "", whisper.ErrTypeRejected, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newActivity(t, nil, []byte("audio"))
			f.srv.Fail(tc.status, tc.retryAfter, tc.body)
			_, err := f.run(t, "j")
			ae, je := appError(t, err)
			if ae.Type() != tc.typ || ae.NonRetryable() == tc.retryable || ae.NextRetryDelay() != tc.after || je.Code != tc.typ {
				t.Fatalf("got %v (type %s, non-retryable %t, next %v, job error %+v)", err, ae.Type(), ae.NonRetryable(), ae.NextRetryDelay(), je)
			}
		})
	}
	t.Run("bad key", func(t *testing.T) {
		f := newActivity(t, map[string]string{"WHISPER_API_KEY": "sk-wrong-key-99999999"}, []byte("audio"))
		_, err := f.run(t, "j")
		ae, je := appError(t, err)
		if ae.Type() != whisper.ErrTypeProviderAuth || !ae.NonRetryable() || strings.Contains(err.Error(), "sk-") || strings.Contains(je.Message, "sk-") {
			t.Fatalf("got %v %+v", err, je)
		}
	})
}

func TestTranscribeStopsWhenCancelled(t *testing.T) {
	f := newActivity(t, nil, []byte("audio"))
	f.srv.Hold()
	ctx, cancel := context.WithCancel(context.Background())
	f.env.SetWorkerOptions(workerOptionsWithContext(ctx))
	done := make(chan error, 1)
	go func() { _, err := f.run(t, "j"); done <- err }()
	testutil.WaitFor(t, 10*time.Second, "the request to reach the server", func() bool { return f.srv.Entered() > 0 })
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a cancelled transcription succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the activity did not stop when cancelled")
	}
}

// workerOptionsWithContext makes ctx the parent of the activity's context.
func workerOptionsWithContext(ctx context.Context) worker.Options {
	return worker.Options{BackgroundActivityContext: ctx}
}

// The job's input carries the read token sealed for that job: a worker
// without the key that sealed it leaves the attempt to another (retryable),
// a sealed value altered or sealed for another job is refused for good;
// in neither case is the media fetched (which would fail as
// media_unauthorized) or anything sent.
func TestTranscribeOpensTheSealedToken(t *testing.T) {
	f := newActivity(t, nil, []byte("audio"))
	stranger := tokensealtest.New(t, codectest.NewKey(t, "seal-other"))
	for name, c := range map[string]struct {
		sealed string
		typ    string
	}{
		"unknown key": {sealFor(t, stranger, "j", readToken), whisper.ErrTypeUnavailable},
		"another job": {sealFor(t, f.sealer, "j-other", readToken), whisper.ErrTypeMediaRejected},
		"clear token": {readToken, whisper.ErrTypeMediaRejected},
		"nothing":     {"", whisper.ErrTypeMediaRejected},
		"altered":     {sealFor(t, f.sealer, "j", readToken) + "A", whisper.ErrTypeMediaRejected},
	} {
		_, err := f.env.ExecuteActivity(whisper.ActivityName, whisper.TranscribeInput{JobID: "j", MediaURL: f.media.URL, SealedMediaToken: c.sealed})
		ae, _ := appError(t, err)
		if ae.Type() != c.typ || ae.NonRetryable() != (c.typ != whisper.ErrTypeUnavailable) || strings.Contains(err.Error(), readToken) {
			t.Errorf("%s: %v (type %s, non-retryable %v)", name, err, ae.Type(), ae.NonRetryable())
		}
	}
	if f.media.Fetches() != 0 || len(f.srv.Requests()) != 0 {
		t.Errorf("media fetched %d times, %d transcription requests, without a valid token", f.media.Fetches(), len(f.srv.Requests()))
	}
	if _, err := f.run(t, "j"); err != nil {
		t.Fatalf("the token sealed for the job: %v", err)
	}
}

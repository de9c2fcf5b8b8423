//go:build integration

package workflows_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"filesight/activities"
	"filesight/activities/activitiestest"
	"filesight/internal/box"
	"filesight/internal/codec"
	"filesight/internal/localbox"
	"filesight/internal/mediatest"
	"filesight/internal/mlengine"
	"filesight/internal/provider"
	mlclient "filesight/internal/provider/mlengine"
	"filesight/internal/replay"
	"filesight/internal/secret"
	"filesight/internal/signature"
	"filesight/internal/starter"
	"filesight/internal/testenv"
	"filesight/internal/vault"
	"filesight/workflows"
)

// recordEnv, when set to 1, makes the integration test write the histories
// it produces into workflows/testdata (the replay test's corpus):
//
//	FILESIGHT_RECORD_HISTORIES=1 go test -tags integration -run TestIntegration ./workflows/
const recordEnv = "FILESIGHT_RECORD_HISTORIES"

// stack is every real component: the Temporal dev server, localbox,
// mlengine with its real analyzers, the starter's service and callback
// handler, and a worker with the production activities.
type stack struct {
	t      *testing.T
	tm     *testenv.Temporal
	c      client.Client
	lb     *localbox.TestServer
	ml     *mlengine.TestServer
	bc     *box.Client
	mlc    *mlclient.Client
	sim    *simProvider
	flaky  *activitiestest.Provider
	svc    *starter.Service
	hooks  string // the starter's handler: Box webhooks and provider callbacks
	talk   []byte
	folder string
}

// testKeyring holds only the committed, test-only codec key (testKeys), so
// that the histories recorded here replay in the unit tests whatever
// FILESIGHT_REPLAY_CODEC_KEYS says.
func testKeyring(t testing.TB) *codec.Keyring {
	t.Helper()
	kr, err := codec.NewKeyring(testKeys(t)...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func startStack(t *testing.T) *stack {
	t.Helper()
	mediatest.Require(t)
	s := &stack{t: t}
	s.tm = testenv.StartTemporal(t)
	// The production converter, with the committed test key, so that the
	// histories recorded here replay in the unit tests.
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dc := codec.NewDataConverter(testKeyring(t), codec.Options{Compress: true})
	var err error
	s.c, err = client.Dial(client.Options{HostPort: s.tm.HostPort, Namespace: s.tm.Namespace, DataConverter: dc, Logger: tlog.NewStructuredLogger(log)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.c.Close)
	s.lb = localbox.StartForTest(t)
	s.ml = mlengine.StartForTest(t)

	s.bc, err = box.NewClient(box.Config{APIURL: s.lb.URL, UploadURL: s.lb.UploadURL, ClientID: s.lb.ClientID,
		ClientSecret: s.lb.ClientSecret, SubjectType: "enterprise", SubjectID: s.lb.EnterpriseID, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	s.mlc = mlclient.New(mlclient.Config{BaseURL: s.ml.URL, APIKey: secret.String(s.ml.APIKey)})
	// A second "provider" that refuses us: the same mlengine with a wrong key.
	refusing := mlclient.New(mlclient.Config{BaseURL: s.ml.URL, APIKey: "not-the-engine-key", Name: "vision"})
	s.sim = newSimProvider()
	// A provider whose first job fails retryably (as mlengine's do after
	// repeated restarts) and whose next one succeeds.
	s.flaky = activitiestest.NewProvider("flaky", time.Now, activitiestest.Plan{Duration: 200 * time.Millisecond, Final: provider.StateFailed,
		JobError: &provider.JobError{Code: "interrupted", Message: "the service restarted 3 times while the job ran", Retryable: true},
		Next:     []activitiestest.Plan{{Duration: 200 * time.Millisecond, Result: activitiestest.AudioResult()}}})

	// The starter, as in production: it starts workflows and turns signed
	// provider callbacks into signals.
	s.svc = starter.NewService(s.c, starter.Options{SetFileIDAttribute: true, Logger: log})
	cbVerifier := signature.NewVerifier([]byte(s.ml.CallbackKey), nil)
	h, err := starter.NewHandler(starter.HandlerConfig{
		Service: s.svc, BoxVerifier: box.NewWebhookVerifier(s.lb.WebhookPrimaryKey, s.lb.WebhookSecondaryKey),
		ParseBoxEvent: starter.ParseBoxEvent, Logger: log,
		Callbacks: map[string]starter.CallbackProvider{"mlengine": {Verifier: starter.VerifierFunc(func(h http.Header, body []byte) error {
			return mlclient.VerifyCallback(cbVerifier, h, body)
		})}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cb := httptest.NewServer(h)
	t.Cleanup(cb.Close)
	s.hooks = cb.URL

	tok, err := vault.New("integration-test-vault-key-01")
	if err != nil {
		t.Fatal(err)
	}
	acts, err := activities.New(s.bc, []provider.Provider{s.mlc, refusing, s.sim, s.flaky}, tok, activities.Options{CallbackBaseURL: cb.URL, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(s.c, workflows.TaskQueue, worker.Options{
		MaxConcurrentActivityExecutionSize: 16, MaxConcurrentWorkflowTaskExecutionSize: 4,
		MaxConcurrentActivityTaskPollers: 2, MaxConcurrentWorkflowTaskPollers: 2, WorkerStopTimeout: 10 * time.Second,
	})
	workflows.Register(w, acts)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	s.folder = s.lb.CreateFolder(t, "0", "inbox")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	path, err := mediatest.GenerateTalk(ctx, t.TempDir(), mediatest.DefaultTalk())
	if err != nil {
		t.Fatal(err)
	}
	if s.talk, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	return s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// upload stores content as a new file and returns the workflow input.
func (s *stack) upload(name string, content []byte, opts *workflows.Options) workflows.ProcessFileInput {
	f := s.lb.UploadFile(s.t, s.folder, name, content)
	return workflows.ProcessFileInput{FileID: f.ID, FileVersionID: f.VersionID, FileName: name, Size: int64(len(content)),
		ParentFolderID: s.folder, Source: starter.SourceManual, Options: opts}
}

func (s *stack) start(ctx context.Context, in workflows.ProcessFileInput) string {
	s.t.Helper()
	d, err := s.svc.Start(ctx, in)
	if err != nil || d.Outcome != starter.OutcomeStarted {
		s.t.Fatalf("start: %+v %v", d, err)
	}
	return d.WorkflowID
}

func (s *stack) result(ctx context.Context, id string) (*workflows.ProcessFileResult, error) {
	var res workflows.ProcessFileResult
	err := s.c.GetWorkflow(ctx, id, "").Get(ctx, &res)
	if err != nil {
		return nil, err
	}
	return &res, nil
}

func (s *stack) progress(ctx context.Context, id string) workflows.Progress {
	s.t.Helper()
	v, err := s.c.QueryWorkflow(ctx, id, "", workflows.QueryProgress)
	if err != nil {
		s.t.Fatalf("query: %v", err)
	}
	var p workflows.Progress
	if err := v.Get(&p); err != nil {
		s.t.Fatal(err)
	}
	return p
}

func (s *stack) cards(ctx context.Context, fileID string) []box.Card {
	s.t.Helper()
	doc, err := s.bc.GetSkillsCards(ctx, "", fileID)
	if err != nil {
		s.t.Fatalf("reading cards of %s: %v", fileID, err)
	}
	return doc.Cards
}

// tokens lists localbox's downscoped tokens in a state ("live" or "all").
func (s *stack) tokens(ctx context.Context, state string) []localbox.AdminToken {
	s.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.lb.URL+"/_localbox/tokens?state="+state, nil)
	req.Header.Set("Authorization", "Bearer "+s.lb.AdminKey.Reveal())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		TotalCount int                   `json:"total_count"`
		Entries    []localbox.AdminToken `json:"entries"`
	}
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("admin tokens: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		s.t.Fatal(err)
	}
	if out.TotalCount != len(out.Entries) {
		s.t.Fatalf("admin tokens: total_count %d, %d entries", out.TotalCount, len(out.Entries))
	}
	return out.Entries
}

// assertNoLiveTokens: every token issued for fileID is revoked.
func (s *stack) assertNoLiveTokens(ctx context.Context, fileID string) {
	s.t.Helper()
	issued := 0
	for _, tk := range s.tokens(ctx, "all") {
		if tk.ResourceID == fileID {
			issued++
		}
	}
	if issued == 0 {
		s.t.Fatalf("localbox issued no token for file %s", fileID)
	}
	for _, tk := range s.tokens(ctx, "live") {
		if tk.ResourceID == fileID {
			s.t.Errorf("token %s (%v) for file %s is still live", tk.ID, tk.Scopes, fileID)
		}
	}
}

// record writes the run's history (to testdata when recording) and
// replays it with the production converter.
func (s *stack) record(ctx context.Context, id, name string) int {
	s.t.Helper()
	dir := s.t.TempDir()
	if os.Getenv(recordEnv) == "1" {
		dir = "testdata"
	}
	path := filepath.Join(dir, name+".json")
	h, err := replay.WriteHistory(ctx, s.c, id, "", path)
	if err != nil {
		s.t.Fatal(err)
	}
	r, err := replay.NewReplayer(codec.NewDataConverter(testKeyring(s.t), codec.Options{Compress: true}))
	if err != nil {
		s.t.Fatal(err)
	}
	if err := replay.Failed(replay.ReplayFiles(r, nil, path)); err != nil {
		s.t.Fatalf("the fresh history does not replay: %v", err)
	}
	s.t.Logf("%s: %d history events (%s)", name, len(h.Events), path)
	return len(h.Events)
}

func findCard(t *testing.T, cards []box.Card, kind string) box.Card {
	t.Helper()
	for i, k := range cardTypes(cards) {
		if k == kind {
			return cards[i]
		}
	}
	t.Fatalf("no %s card in %v", kind, cardTypes(cards))
	return box.Card{}
}

func TestIntegration(t *testing.T) {
	s := startStack(t)
	fast := func(o workflows.Options) *workflows.Options {
		o.PollMinDelay, o.PollMaxDelay = time.Second, 5*time.Second
		return &o
	}

	t.Run("success", func(t *testing.T) {
		s.t = t
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		in := s.upload("talk.mp4", s.talk, fast(workflows.Options{}))
		id := s.start(ctx, in)
		res, err := s.result(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != workflows.OutcomeSuccess || res.MediaKind != workflows.MediaVideo {
			t.Fatalf("result %+v", res)
		}
		cards := s.cards(ctx, in.FileID)
		t.Logf("cards: %v", cardTypes(cards))
		if err := box.ValidateSkillsCards(mustJSON(t, box.SkillsDocument{Cards: cards})); err != nil {
			t.Fatal(err)
		}
		var said []string
		for _, e := range findCard(t, cards, "transcript:transcript").Entries {
			said = append(said, strings.Fields(strings.ToLower(e.Text))...)
		}
		if !slices.Contains(said, "video") && !slices.Contains(said, "machine") && !slices.Contains(said, "data") {
			t.Errorf("the transcript misses the talk's words: %v", said)
		}
		if kw := findCard(t, cards, "keyword:keywords"); len(kw.Entries) == 0 {
			t.Error("no keywords")
		}
		if sc := findCard(t, cards, "timeline:scenes"); len(sc.Entries) < 2 {
			t.Errorf("scenes %+v", sc.Entries)
		}
		var onScreen []string
		for _, e := range findCard(t, cards, "timeline:ocr").Entries {
			onScreen = append(onScreen, strings.ToUpper(e.Text))
		}
		if !strings.Contains(strings.Join(onScreen, " "), "DATA") && !strings.Contains(strings.Join(onScreen, " "), "VIDEO") {
			t.Errorf("on-screen text %v", onScreen)
		}
		if st := findCard(t, cards, "status:status"); st.Status.Code != box.StatusSuccess {
			t.Errorf("status %+v", st.Status)
		}
		p := s.progress(ctx, id)
		t.Logf("progress: stage %s, jobs %+v, callback used: %v", p.Stage, p.Jobs, p.Jobs[0].Callback)
		if p.Stage != workflows.StageDone {
			t.Errorf("stage %s", p.Stage)
		}
		s.assertNoLiveTokens(ctx, in.FileID)
		s.record(ctx, id, "success")
	})

	// Music or a tone: every analysis runs and finds nothing. That is a
	// success with "nothing to show", not a failure (the empty lists must
	// survive the trip mlengine → JSON → card writer).
	t.Run("audio without speech", func(t *testing.T) {
		s.t = t
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		tonePath := filepath.Join(t.TempDir(), "tone.m4a")
		if out, err := exec.CommandContext(ctx, "ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=4", tonePath).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v: %s", err, out)
		}
		tone, err := os.ReadFile(tonePath)
		if err != nil {
			t.Fatal(err)
		}
		in := s.upload("tone.m4a", tone, fast(workflows.Options{}))
		id := s.start(ctx, in)
		res, err := s.result(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != workflows.OutcomeSuccess || res.MediaKind != workflows.MediaAudio {
			t.Fatalf("result %+v", res)
		}
		st := findCard(t, s.cards(ctx, in.FileID), "status:status")
		if st.Status.Code != box.StatusSuccess || !strings.Contains(st.Status.Message, "no speech") {
			t.Errorf("status %+v", st.Status)
		}
		s.assertNoLiveTokens(ctx, in.FileID)
	})

	t.Run("partial failure", func(t *testing.T) {
		s.t = t
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		in := s.upload("talk-partial.mp4", s.talk, fast(workflows.Options{VideoJobs: []workflows.JobSpec{
			{Name: "speech", Provider: "mlengine", Analyses: []string{provider.AnalysisMedia, provider.AnalysisTranscript, provider.AnalysisKeywords}},
			{Name: "visual", Provider: "vision", Analyses: []string{provider.AnalysisScenes, provider.AnalysisOCR}},
		}}))
		id := s.start(ctx, in)
		res, err := s.result(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		cards := s.cards(ctx, in.FileID)
		st := findCard(t, cards, "status:status")
		if res.Outcome != workflows.OutcomePartial || !slices.Equal(cardTypes(cards), []string{"transcript:transcript", "keyword:keywords", "status:status"}) ||
			!strings.Contains(st.Status.Message, `job "visual" could not be submitted`) {
			t.Fatalf("result %+v cards %v status %+v", res, cardTypes(cards), st.Status)
		}
		s.assertNoLiveTokens(ctx, in.FileID)
		s.record(ctx, id, "partial-failure")
	})

	t.Run("cancellation", func(t *testing.T) {
		s.t = t
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		in := s.upload("talk-cancel.mp4", s.talk, fast(workflows.Options{}))
		id := s.start(ctx, in)
		var jobID string
		testenv.Eventually(t, time.Minute, 50*time.Millisecond, func() error {
			p := s.progress(ctx, id)
			if len(p.Jobs) == 0 || p.Jobs[0].JobID == "" {
				return fmt.Errorf("no job yet (stage %s)", p.Stage)
			}
			jobID = p.Jobs[0].JobID
			return nil
		})
		if err := s.c.CancelWorkflow(ctx, id, ""); err != nil {
			t.Fatal(err)
		}
		_, err := s.result(ctx, id)
		var ce *temporal.CanceledError
		if !errors.As(err, &ce) {
			t.Fatalf("want cancelled, got %v", err)
		}
		st, err := s.mlc.Status(ctx, provider.JobRef{Provider: "mlengine", ID: jobID})
		if err != nil || st.State != provider.StateCanceled {
			t.Fatalf("job %s at mlengine: %+v %v", jobID, st, err)
		}
		cards := s.cards(ctx, in.FileID)
		if stc := findCard(t, cards, "status:status"); !strings.Contains(stc.Status.Message, "cancelled") {
			t.Errorf("status %+v", stc.Status)
		}
		desc, err := s.c.DescribeWorkflowExecution(ctx, id, "")
		if err != nil || desc.WorkflowExecutionInfo.Status != enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED {
			t.Fatalf("describe: %v %v", desc, err)
		}
		s.assertNoLiveTokens(ctx, in.FileID)
		s.record(ctx, id, "cancelled")
	})

	t.Run("job timeout", func(t *testing.T) {
		s.t = t
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		in := s.upload("talk-timeout.mp4", s.talk, fast(workflows.Options{JobTimeout: time.Second}))
		id := s.start(ctx, in)
		res, err := s.result(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		p := s.progress(ctx, id)
		if res.Outcome != workflows.OutcomeFailed || p.Jobs[0].State != workflows.JobTimedOut {
			t.Fatalf("result %+v jobs %+v", res, p.Jobs)
		}
		st, err := s.mlc.Status(ctx, provider.JobRef{Provider: "mlengine", ID: p.Jobs[0].JobID})
		if err != nil || st.State != provider.StateCanceled {
			t.Fatalf("job at mlengine after its deadline: %+v %v", st, err)
		}
		if stc := findCard(t, s.cards(ctx, in.FileID), "status:status"); stc.Status.Code != box.StatusTransientFailure || !strings.Contains(stc.Status.Message, "timed out") {
			t.Errorf("status %+v", stc.Status)
		}
		s.assertNoLiveTokens(ctx, in.FileID)
		s.record(ctx, id, "job-timeout")
	})

	// A job failing with a retryable job error is resubmitted as a new job
	// with a read token of its own; the run replays (GetVersion marker).
	t.Run("resubmission", func(t *testing.T) {
		s.t = t
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		in := s.upload("flaky.mp4", []byte("not really a video: the flaky provider never fetches it"), &workflows.Options{
			VideoJobs:    []workflows.JobSpec{{Name: "flaky", Provider: "flaky", Analyses: []string{provider.AnalysisTranscript, provider.AnalysisKeywords}}},
			PollMinDelay: 20 * time.Millisecond, PollMaxDelay: 20 * time.Millisecond,
		})
		id := s.start(ctx, in)
		res, err := s.result(ctx, id)
		if err != nil || res.Outcome != workflows.OutcomeSuccess {
			t.Fatalf("%+v %v", res, err)
		}
		jobs := s.flaky.Jobs()
		if len(jobs) != 2 || jobs[0].Request.IdempotencyKey != id+"/flaky" || jobs[1].Request.IdempotencyKey != id+"/flaky/attempt-2" {
			t.Fatalf("jobs at the provider: %+v", jobs)
		}
		if p := s.progress(ctx, id); p.Jobs[0].Attempt != 2 || len(p.Jobs[0].PreviousAttempts) != 1 || !strings.Contains(p.Jobs[0].PreviousAttempts[0].Error, "interrupted") {
			t.Errorf("job progress %+v", p.Jobs[0])
		}
		if stc := findCard(t, s.cards(ctx, in.FileID), "status:status"); stc.Status.Code != box.StatusSuccess || !strings.Contains(stc.Status.Message, "resubmitted once") {
			t.Errorf("status %+v", stc.Status)
		}
		var reads int
		for _, tk := range s.tokens(ctx, "all") {
			if tk.ResourceID == in.FileID && slices.Contains(tk.Scopes, "item_download") {
				reads++
			}
		}
		if reads != 2 || jobs[0].Request.MediaToken == jobs[1].Request.MediaToken {
			t.Errorf("%d read tokens issued for the file, want 2 (one per attempt)", reads)
		}
		s.assertNoLiveTokens(ctx, in.FileID)
		path := filepath.Join(t.TempDir(), "resubmission.json")
		h, err := replay.WriteHistory(ctx, s.c, id, "", path)
		if err != nil {
			t.Fatal(err)
		}
		markers := 0
		for _, e := range h.Events {
			if e.GetEventType() == enumspb.EVENT_TYPE_MARKER_RECORDED {
				markers++
			}
		}
		if markers != 1 {
			t.Errorf("%d marker events, want 1 (the resubmission's version marker)", markers)
		}
		r, err := replay.NewReplayer(codec.NewDataConverter(testKeyring(t), codec.Options{Compress: true}))
		if err != nil {
			t.Fatal(err)
		}
		if err := replay.Failed(replay.ReplayFiles(r, nil, path)); err != nil {
			t.Fatalf("the resubmission's history does not replay: %v", err)
		}
	})

	// The infrequent-polling pattern on the real server: a job that takes
	// 2 hours of the provider's (simulated) time, asking to be polled every
	// 4 minutes, is polled 31 times; a 2-minute job polled every 30 seconds
	// 5 times; the histories have the same number of events. (The server
	// waits about a second between retries whatever NextRetryDelay says, so
	// each poll costs a second of real time.)
	t.Run("history length does not grow with job duration", func(t *testing.T) {
		s.t = t
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		count := func(name string, d, step time.Duration) (events, polls int) {
			s.sim.set(d, step)
			before := s.sim.polls()
			in := s.upload(name, []byte("not really a video: the simulated provider never fetches it"), &workflows.Options{
				VideoJobs:    []workflows.JobSpec{{Name: "sim", Provider: "simclock", Analyses: []string{provider.AnalysisTranscript}}},
				PollMinDelay: 20 * time.Millisecond, PollMaxDelay: 20 * time.Millisecond,
			})
			id := s.start(ctx, in)
			res, err := s.result(ctx, id)
			if err != nil || res.Outcome != workflows.OutcomeSuccess {
				t.Fatalf("%s: %+v %v", name, res, err)
			}
			s.assertNoLiveTokens(ctx, in.FileID)
			h, err := replay.History(ctx, s.c, id, "")
			if err != nil {
				t.Fatal(err)
			}
			return len(h.Events), s.sim.polls() - before
		}
		shortEvents, shortPolls := count("two-minutes.mp4", 2*time.Minute, 30*time.Second)
		longEvents, longPolls := count("two-hours.mp4", 2*time.Hour, 4*time.Minute)
		t.Logf("2-minute job: %d polls, %d history events; 2-hour job: %d polls, %d history events", shortPolls, shortEvents, longPolls, longEvents)
		if longPolls < 25 || shortPolls > 6 {
			t.Fatalf("the long job was polled only %d times", longPolls)
		}
		if longEvents > shortEvents {
			t.Fatalf("history grew with the job's duration: %d events vs %d", longEvents, shortEvents)
		}
	})

	// A signed webhook for a file that is gone (uploaded, then deleted before
	// the worker got to it) or that never existed (a forged-but-signed event):
	// the token exchange answers 400 invalid_resource, as Box does, and the
	// run ends as not_found, stage skipped, with nothing written and no token.
	t.Run("file gone", func(t *testing.T) {
		s.t = t
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		deleted := s.upload("deleted.mp4", []byte("uploaded, then deleted"), nil)
		req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, s.lb.URL+"/2.0/files/"+deleted.FileID, nil)
		req.Header.Set("Authorization", "Bearer "+s.lb.ParentToken(t))
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
			t.Fatalf("deleting file %s: %v %v", deleted.FileID, resp, err)
		}
		for _, f := range []struct{ name, id, version string }{
			{"deleted", deleted.FileID, deleted.FileVersionID},
			{"never existed", "987654321", "123456789"},
		} {
			body := mustJSON(t, map[string]any{
				"type": "webhook_event", "id": "event-gone-" + f.id, "created_at": time.Now().UTC().Format(time.RFC3339),
				"trigger": starter.TriggerFileUploaded, "webhook": map[string]string{"id": "1", "type": "webhook"},
				"source": map[string]any{"type": "file", "id": f.id, "name": f.name + ".mp4", "size": 22,
					"file_version": map[string]string{"type": "file_version", "id": f.version},
					"parent":       map[string]string{"type": "folder", "id": s.folder}},
			})
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.hooks+"/webhooks/box", bytes.NewReader(body))
			req.Header = box.SignWebhook(s.lb.WebhookPrimaryKey, s.lb.WebhookSecondaryKey, body, time.Now().UTC().Format(time.RFC3339), "delivery-gone-"+f.id)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var d starter.Decision
			err = json.NewDecoder(resp.Body).Decode(&d)
			resp.Body.Close()
			if err != nil || resp.StatusCode/100 != 2 || d.Outcome != starter.OutcomeStarted {
				t.Fatalf("%s: webhook answered %d %+v (%v)", f.name, resp.StatusCode, d, err)
			}
			res, err := s.result(ctx, d.WorkflowID)
			if err != nil {
				t.Fatalf("%s: the run failed instead of ending as not_found: %v", f.name, err)
			}
			if res.Outcome != workflows.OutcomeNotFound || res.MediaKind != workflows.MediaUnknown {
				t.Fatalf("%s: result %+v", f.name, res)
			}
			if p := s.progress(ctx, d.WorkflowID); p.Stage != workflows.StageSkipped || len(p.Jobs) != 0 {
				t.Errorf("%s: progress %+v", f.name, p)
			}
			for _, tk := range s.tokens(ctx, "all") {
				if tk.ResourceID == f.id {
					t.Errorf("%s: a token (%v) was issued for a file that does not exist", f.name, tk.Scopes)
				}
			}
		}
	})

	// The pre-deploy check and the exporter, against this server's runs.
	t.Run("replay from server", func(t *testing.T) {
		s.t = t
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		r, err := replay.NewReplayer(codec.NewDataConverter(testKeyring(t), codec.Options{Compress: true}))
		if err != nil {
			t.Fatal(err)
		}
		// Visibility is eventually consistent: wait for every closed run.
		testenv.Eventually(t, 30*time.Second, 200*time.Millisecond, func() error {
			execs, err := replay.List(ctx, s.c, replay.DefaultQuery, 100)
			if err != nil || len(execs) < 6 {
				return fmt.Errorf("%d closed executions listed (%v)", len(execs), err)
			}
			return nil
		})
		results, err := replay.ReplayFromServer(ctx, s.c, r, nil, replay.DefaultQuery, 50)
		if err != nil {
			t.Fatal(err)
		}
		if err := replay.Failed(results); err != nil || len(results) < 6 {
			t.Fatalf("%d replayed: %v", len(results), err)
		}
		dir := t.TempDir()
		paths, err := replay.Export(ctx, s.c, replay.DefaultQuery, 3, dir)
		if err != nil || len(paths) != 3 {
			t.Fatalf("export: %v %v", paths, err)
		}
		if err := replay.Failed(replay.ReplayFiles(r, nil, paths...)); err != nil {
			t.Fatal(err)
		}
	})
}

// simProvider is a provider whose clock is simulated: every status read
// advances it by the Retry-After it answers (step), as if the worker had
// waited that long. It lets the real server run a "2-hour" job in
// seconds, with every poll a real activity retry.
type simProvider struct {
	*activitiestest.Provider
	mu   sync.Mutex
	now  time.Time
	step time.Duration
	n    int
}

func newSimProvider() *simProvider {
	sp := &simProvider{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), step: time.Minute}
	sp.Provider = activitiestest.NewProvider("simclock", sp.clock, activitiestest.Plan{Duration: time.Minute, RetryAfter: time.Minute,
		Result: activitiestest.AudioResult()})
	return sp
}

func (sp *simProvider) clock() time.Time {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.now
}

// set makes the next jobs last d and ask to be polled every step.
func (sp *simProvider) set(d, step time.Duration) {
	sp.mu.Lock()
	sp.step = step
	sp.mu.Unlock()
	sp.Provider.SetPlan(activitiestest.Plan{Duration: d, RetryAfter: step, Result: activitiestest.AudioResult()})
}

func (sp *simProvider) polls() int {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.n
}

func (sp *simProvider) Status(ctx context.Context, ref provider.JobRef) (provider.JobStatus, error) {
	st, err := sp.Provider.Status(ctx, ref)
	sp.mu.Lock()
	sp.now = sp.now.Add(sp.step)
	sp.n++
	sp.mu.Unlock()
	return st, err
}

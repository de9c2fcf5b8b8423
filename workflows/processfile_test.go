package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"filesight/activities"
	"filesight/activities/activitiestest"
	"filesight/internal/box"
	"filesight/internal/provider"
	"filesight/internal/vault"
	"filesight/workflows"
)

const (
	fileID    = "1001"
	versionID = "2002"
)

// harness runs ProcessFile in Temporal's test environment (virtual clock)
// with the real activities over a fake Box and fake providers.
type harness struct {
	t         *testing.T
	env       *testsuite.TestWorkflowEnvironment
	box       *activitiestest.Box
	providers []*activitiestest.Provider

	mu       sync.Mutex
	started  []string       // activity types, in start order
	attempts map[string]int // activity type -> attempts started
	sa       []string       // "Name=value" in upsert order
	commands *commandCounter
}

type harnessOption func(*harnessConfig)

type harnessConfig struct {
	extraProviders []string
	plans          map[string]activitiestest.Plan
	callbackBase   string
	tokenLifetime  time.Duration
}

func withProvider(name string, plan activitiestest.Plan) harnessOption {
	return func(c *harnessConfig) { c.extraProviders = append(c.extraProviders, name); c.plans[name] = plan }
}

func newHarness(t *testing.T, plan activitiestest.Plan, opts ...harnessOption) *harness {
	t.Helper()
	cfg := harnessConfig{plans: map[string]activitiestest.Plan{"mlengine": plan}, callbackBase: "http://127.0.0.1:8088", tokenLifetime: time.Hour}
	for _, o := range opts {
		o(&cfg)
	}
	var s testsuite.WorkflowTestSuite
	s.SetLogger(nopLogger{})
	env := s.NewTestWorkflowEnvironment()
	h := &harness{t: t, env: env, attempts: map[string]int{}, commands: &commandCounter{}}
	h.box = activitiestest.NewBox(env.Now, cfg.tokenLifetime)
	var provs []provider.Provider
	for _, name := range append([]string{"mlengine"}, cfg.extraProviders...) {
		p := activitiestest.NewProvider(name, env.Now, cfg.plans[name])
		h.providers = append(h.providers, p)
		provs = append(provs, p)
	}
	tok, err := vault.New("unit-test-vault-key-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	acts, err := activities.New(h.box, provs, tok, activities.Options{
		CallbackBaseURL: cfg.callbackBase, Now: env.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{h.commands}})
	workflows.Register(env, acts)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflows.WorkflowID(fileID, versionID), TaskQueue: workflows.TaskQueue})
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if info.Attempt == 1 {
			h.started = append(h.started, info.ActivityType.Name)
		}
		h.attempts[info.ActivityType.Name]++
	})
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		h.mu.Lock()
		defer h.mu.Unlock()
		sas := args.Get(0).(temporal.SearchAttributes)
		for _, name := range []string{workflows.SearchAttrFileID, workflows.SearchAttrMediaKind, workflows.SearchAttrStage} {
			if v, ok := sas.GetKeyword(temporal.NewSearchAttributeKeyKeyword(name)); ok {
				h.sa = append(h.sa, name+"="+v)
			}
		}
	}).Return(nil).Maybe()
	return h
}

func (h *harness) ml() *activitiestest.Provider { return h.providers[0] }

func (h *harness) run(in workflows.ProcessFileInput) (*workflows.ProcessFileResult, error) {
	h.env.ExecuteWorkflow(workflows.ProcessFileName, in)
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("workflow did not complete")
	}
	if err := h.env.GetWorkflowError(); err != nil {
		return nil, err
	}
	var res workflows.ProcessFileResult
	if err := h.env.GetWorkflowResult(&res); err != nil {
		h.t.Fatal(err)
	}
	return &res, nil
}

func input() workflows.ProcessFileInput {
	return workflows.ProcessFileInput{FileID: fileID, FileVersionID: versionID, Source: "webhook", Trigger: "FILE.UPLOADED"}
}

func (h *harness) startedCount(name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, s := range h.started {
		if s == name {
			n++
		}
	}
	return n
}

func (h *harness) progress() workflows.Progress {
	h.t.Helper()
	v, err := h.env.QueryWorkflow(workflows.QueryProgress)
	if err != nil {
		h.t.Fatalf("query: %v", err)
	}
	var p workflows.Progress
	if err := v.Get(&p); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// assertTokensClean is every test's closing check: every token issued was
// revoked (Box side and workflow side), and no token value is visible in
// the progress query.
func (h *harness) assertTokensClean(res *workflows.ProcessFileResult) {
	h.t.Helper()
	if h.box.Issued() == 0 {
		h.t.Fatal("no token was issued at all")
	}
	if left := h.box.Unrevoked(); len(left) > 0 {
		h.t.Errorf("%d of %d issued tokens were not revoked: %v", len(left), h.box.Issued(), left)
	}
	p := h.progress()
	if len(p.Tokens) != h.box.Issued() {
		h.t.Errorf("progress shows %d tokens, Box issued %d", len(p.Tokens), h.box.Issued())
	}
	for _, tp := range p.Tokens {
		if tp.State != activities.TokenRevoked {
			h.t.Errorf("token %s (%s) is %s, want revoked", tp.ID, tp.Purpose, tp.State)
		}
	}
	if res != nil && (res.TokensIssued != h.box.Issued() || res.TokensRevoked != res.TokensIssued) {
		h.t.Errorf("result counts %d issued / %d revoked, Box issued %d", res.TokensIssued, res.TokensRevoked, h.box.Issued())
	}
	b, _ := json.Marshal(p)
	for _, v := range h.box.TokenValues() {
		if strings.Contains(string(b), v) {
			h.t.Errorf("progress query leaks a token value: %s", b)
		}
	}
}

// cardTypes names each card by its type and, where it has one, its title
// code ("timeline:scenes"); the integration test uses it too.
func cardTypes(cards []box.Card) []string {
	var out []string
	for _, c := range cards {
		k := c.SkillCardType
		if c.SkillCardTitle != nil && c.SkillCardTitle.Code != "" {
			k += ":" + c.SkillCardTitle.Code
		}
		out = append(out, k)
	}
	return out
}

func statusCard(t *testing.T, cards []box.Card) box.CardStatus {
	t.Helper()
	for _, c := range cards {
		if c.SkillCardType == box.CardTypeStatus {
			return *c.Status
		}
	}
	t.Fatalf("no status card in %v", cardTypes(cards))
	return box.CardStatus{}
}

func TestSuccessVideo(t *testing.T) {
	h := newHarness(t, activitiestest.Plan{FetchAfter: 30 * time.Second, Duration: 2 * time.Minute, RetryAfter: 5 * time.Second, Result: activitiestest.TalkResult()})
	h.box.AddFile(fileID, "talk.mp4", 10<<20, versionID)
	res, err := h.run(input())
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != workflows.OutcomeSuccess || res.MediaKind != workflows.MediaVideo {
		t.Fatalf("result %+v", res)
	}
	wantCards := []string{"transcript:transcript", "keyword:keywords", "timeline:scenes", "timeline:ocr", "status:status"}
	cards := h.box.Cards(fileID)
	if got := cardTypes(cards); !slices.Equal(got, wantCards) {
		t.Fatalf("cards %v, want %v", got, wantCards)
	}
	if st := statusCard(t, cards); st.Code != box.StatusSuccess || !strings.Contains(st.Message, "transcript (") {
		t.Errorf("status %+v", st)
	}
	// Sensitive values were replaced by vault tokens everywhere.
	doc, _ := json.Marshal(cards)
	if strings.Contains(string(doc), "4111") || strings.Contains(string(doc), "four one one one") {
		t.Errorf("a card number reached the cards: %s", doc)
	}
	if !strings.Contains(string(doc), "[card:") {
		t.Errorf("no vault token in the cards: %s", doc)
	}
	if err := box.ValidateSkillsCards(mustJSON(t, box.SkillsDocument{Cards: cards})); err != nil {
		t.Fatal(err)
	}

	// The job: idempotency key from the workflow ID, labels, callback URL,
	// and the read token (download scope) as media token.
	jobs := h.ml().Jobs()
	if len(jobs) != 1 {
		t.Fatalf("%d jobs", len(jobs))
	}
	req := jobs[0].Request
	if req.IdempotencyKey != "file-1001-v2002/mlengine" || req.Labels["workflow_id"] != "file-1001-v2002" ||
		req.CallbackURL != "http://127.0.0.1:8088/callbacks/mlengine" || !slices.Contains(req.Analyses, provider.AnalysisOCR) {
		t.Errorf("job request %+v", req)
	}
	// Tokens: read + processing-card write + cards write.
	if h.box.Issued() != 3 {
		t.Errorf("issued %d tokens, want 3", h.box.Issued())
	}
	// The read token was revoked once the media was fetched, well before
	// the job ended.
	submitAt := jobs[0].Submitted
	at, ok := h.box.RevokedAt(req.MediaToken.Fingerprint())
	readRevoked := at.Sub(submitAt)
	if !ok {
		t.Fatal("the read token was never revoked")
	}
	if readRevoked < 30*time.Second || readRevoked >= 2*time.Minute {
		t.Errorf("read token revoked %v after submission, want once the media was fetched (30s) and before the job ended (2m)", readRevoked)
	}
	// Polls: about one per Retry-After (5 s) for 2 minutes, in two activities.
	if n := h.startedCount("AwaitJob"); n != 2 {
		t.Errorf("AwaitJob scheduled %d times, want 2 (media fetched, finished)", n)
	}
	if polls := len(h.ml().Calls("Status")); polls < 20 || polls > 30 {
		t.Errorf("%d status polls for a 2-minute job with Retry-After 5s", polls)
	}
	wantSA := []string{"FileID=1001", "Stage=starting", "Stage=describing", "MediaKind=video", "Stage=submitting", "Stage=processing", "Stage=writing", "Stage=done"}
	if !slices.Equal(h.sa, wantSA) {
		t.Errorf("search attribute upserts %v, want %v", h.sa, wantSA)
	}
	p := h.progress()
	if p.Stage != workflows.StageDone || p.MediaKind != workflows.MediaVideo || len(p.Jobs) != 1 || p.Jobs[0].State != "succeeded" || !p.Jobs[0].MediaFetched {
		t.Errorf("progress %+v", p)
	}
	h.assertTokensClean(res)
}

func TestSuccessAudioOnly(t *testing.T) {
	h := newHarness(t, activitiestest.Plan{Duration: time.Minute, Result: activitiestest.AudioResult()})
	h.box.AddFile(fileID, "Podcast.MP3", 3<<20, versionID)
	res, err := h.run(input())
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != workflows.OutcomeSuccess || res.MediaKind != workflows.MediaAudio {
		t.Fatalf("result %+v", res)
	}
	if got := cardTypes(h.box.Cards(fileID)); !slices.Equal(got, []string{"transcript:transcript", "keyword:keywords", "status:status"}) {
		t.Fatalf("cards %v", got)
	}
	an := h.ml().Jobs()[0].Request.Analyses
	if slices.Contains(an, provider.AnalysisScenes) || slices.Contains(an, provider.AnalysisOCR) || !slices.Contains(an, provider.AnalysisTranscript) {
		t.Errorf("audio job asked for %v", an)
	}
	h.assertTokensClean(res)
}

func TestUnsupportedFiles(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		size       int64
		opts       *workflows.Options
		want       string
	}{
		{"not media", "report.pdf", 1000, nil, ".pdf"},
		{"no extension", "README", 1000, nil, "no extension"},
		{"empty", "clip.mp4", 0, nil, "empty"},
		{"too large", "huge.mov", 5 << 20, &workflows.Options{MaxSizeBytes: 1 << 20}, "larger than 1.0 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, activitiestest.Plan{Duration: time.Minute})
			h.box.AddFile(fileID, tc.file, tc.size, versionID)
			in := input()
			in.Options = tc.opts
			res, err := h.run(in)
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != workflows.OutcomeUnsupported || res.MediaKind != workflows.MediaUnsupported {
				t.Fatalf("result %+v", res)
			}
			if n := len(h.ml().Calls("Submit")); n != 0 {
				t.Fatalf("%d submissions for an unsupported file", n)
			}
			cards := h.box.Cards(fileID)
			st := statusCard(t, cards)
			if len(cards) != 1 || st.Code != box.StatusPermanentFailure || !strings.Contains(st.Message, tc.want) {
				t.Fatalf("cards %v status %+v", cardTypes(cards), st)
			}
			if p := h.progress(); p.Stage != workflows.StageUnsupported {
				t.Errorf("stage %s", p.Stage)
			}
			h.assertTokensClean(res)
		})
	}
}

func TestSupersededAndGoneFilesWriteNothing(t *testing.T) {
	t.Run("superseded", func(t *testing.T) {
		h := newHarness(t, activitiestest.Plan{Duration: time.Minute})
		h.box.AddFile(fileID, "talk.mp4", 1000, "9999")
		res, err := h.run(input())
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != workflows.OutcomeSuperseded || len(h.box.Cards(fileID)) != 0 || len(h.ml().Calls("Submit")) != 0 {
			t.Fatalf("result %+v cards %v", res, h.box.Cards(fileID))
		}
		h.assertTokensClean(res)
	})
	t.Run("gone", func(t *testing.T) {
		h := newHarness(t, activitiestest.Plan{Duration: time.Minute})
		h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
		h.box.FailOn("GetFile", 1, &box.Error{StatusCode: http.StatusNotFound, Code: "not_found", Op: "GET /2.0/files/{id}"})
		res, err := h.run(input())
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != workflows.OutcomeNotFound || len(h.box.Cards(fileID)) != 0 {
			t.Fatalf("result %+v", res)
		}
		h.assertTokensClean(res)
	})
}

func TestJobFailsNonRetryably(t *testing.T) {
	h := newHarness(t, activitiestest.Plan{Duration: 40 * time.Second, Final: provider.StateFailed,
		JobError: &provider.JobError{Code: "media_unreadable", Message: "ffprobe found no audio or video stream", Retryable: false}})
	h.box.AddFile(fileID, "broken.mp4", 1000, versionID)
	res, err := h.run(input())
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != workflows.OutcomeFailed {
		t.Fatalf("result %+v", res)
	}
	cards := h.box.Cards(fileID)
	st := statusCard(t, cards)
	if len(cards) != 1 || st.Code != box.StatusPermanentFailure || !strings.Contains(st.Message, "media_unreadable") {
		t.Fatalf("cards %v, status %+v", cardTypes(cards), st)
	}
	if n := len(h.ml().Calls("Cancel")); n != 0 {
		t.Errorf("a failed job was cancelled %d times", n)
	}
	if p := h.progress(); p.Stage != workflows.StageFailed || p.Jobs[0].State != "failed" || !strings.Contains(p.Jobs[0].Error, "media_unreadable") {
		t.Errorf("progress %+v", p)
	}
	h.assertTokensClean(res)
}

func TestJobNeverFinishes(t *testing.T) {
	h := newHarness(t, activitiestest.Plan{FetchAfter: time.Minute, Duration: -1, RetryAfter: 30 * time.Second})
	h.box.AddFile(fileID, "endless.mp4", 1000, versionID)
	in := input()
	in.Options = &workflows.Options{JobTimeout: time.Hour}
	start := h.env.Now()
	res, err := h.run(in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != workflows.OutcomeFailed {
		t.Fatalf("result %+v", res)
	}
	jobs := h.ml().Jobs()
	if len(jobs) != 1 || !jobs[0].Canceled {
		t.Fatalf("job not cancelled at the provider: %+v", jobs)
	}
	if d := jobs[0].CanceledAt.Sub(jobs[0].Submitted); d < time.Hour || d > time.Hour+2*time.Minute {
		t.Errorf("cancelled %v after submission, want at the 1h deadline", d)
	}
	st := statusCard(t, h.box.Cards(fileID))
	if st.Code != box.StatusTransientFailure || !strings.Contains(st.Message, "timed out") {
		t.Errorf("status %+v", st)
	}
	if elapsed := h.env.Now().Sub(start); elapsed > 2*time.Hour {
		t.Errorf("run took %v of virtual time", elapsed)
	}
	if p := h.progress(); p.Jobs[0].State != workflows.JobTimedOut {
		t.Errorf("job state %s", p.Jobs[0].State)
	}
	h.assertTokensClean(res)
}

func TestWorkflowCancelledMidJob(t *testing.T) {
	h := newHarness(t, activitiestest.Plan{FetchAfter: 10 * time.Minute, Duration: 2 * time.Hour, RetryAfter: time.Minute})
	h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
	h.env.RegisterDelayedCallback(h.env.CancelWorkflow, 5*time.Minute)
	_, err := h.run(input())
	var ce *temporal.CanceledError
	if !errors.As(err, &ce) {
		t.Fatalf("want a cancelled workflow, got %v", err)
	}
	jobs := h.ml().Jobs()
	if len(jobs) != 1 || !jobs[0].Canceled {
		t.Fatalf("job not cancelled at the provider: %+v", jobs)
	}
	st := statusCard(t, h.box.Cards(fileID))
	if st.Code != box.StatusPermanentFailure || !strings.Contains(st.Message, "cancelled") {
		t.Errorf("status %+v", st)
	}
	p := h.progress()
	if p.Stage != workflows.StageCancelled || p.Jobs[0].State != "canceled" {
		t.Errorf("progress %+v", p)
	}
	// The read token was still out (media not fetched yet) when the
	// cancellation came: the compensation revoked it.
	h.assertTokensClean(nil)
}

func TestBoxRateLimitHonoursRetryAfter(t *testing.T) {
	h := newHarness(t, activitiestest.Plan{Duration: time.Minute, Result: activitiestest.TalkResult()})
	h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
	h.box.FailOn("Downscope", 1, &box.Error{StatusCode: http.StatusTooManyRequests, Code: "rate_limit_exceeded", RetryAfter: 17 * time.Second, Op: "POST /oauth2/token"})
	res, err := h.run(input())
	if err != nil {
		t.Fatal(err)
	}
	calls := h.box.Calls("Downscope")
	if len(calls) < 2 || calls[0].Err == nil {
		t.Fatalf("calls %+v", calls)
	}
	if gap := calls[1].At.Sub(calls[0].At); gap != 17*time.Second {
		t.Errorf("retried after %v, want Box's Retry-After 17s", gap)
	}
	if res.Outcome != workflows.OutcomeSuccess {
		t.Errorf("result %+v", res)
	}
	h.assertTokensClean(res)
}

func TestWriteFailsThenSucceeds(t *testing.T) {
	t.Run("box unavailable", func(t *testing.T) {
		h := newHarness(t, activitiestest.Plan{Duration: time.Minute, Result: activitiestest.TalkResult()})
		h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
		// The first write is the processing card; the second the results.
		h.box.FailOn("UpsertSkillsCards", 2, &box.Error{StatusCode: http.StatusServiceUnavailable, Op: "PUT metadata"})
		res, err := h.run(input())
		if err != nil {
			t.Fatal(err)
		}
		if n := len(h.box.Calls("UpsertSkillsCards")); n != 3 {
			t.Errorf("%d writes, want 3 (processing, failed, retried)", n)
		}
		if got := cardTypes(h.box.Cards(fileID)); len(got) != 5 || res.Outcome != workflows.OutcomeSuccess {
			t.Errorf("cards %v result %+v", got, res)
		}
		if h.box.Issued() != 3 {
			t.Errorf("issued %d tokens; a retry of the same write needs no new token", h.box.Issued())
		}
		h.assertTokensClean(res)
	})
	t.Run("write token rejected", func(t *testing.T) {
		h := newHarness(t, activitiestest.Plan{Duration: time.Minute, Result: activitiestest.TalkResult()})
		h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
		h.box.FailOn("UpsertSkillsCards", 2, &box.Error{StatusCode: http.StatusUnauthorized, Code: "invalid_token", Op: "PUT metadata"})
		res, err := h.run(input())
		if err != nil {
			t.Fatal(err)
		}
		if h.box.Issued() != 4 || res.Outcome != workflows.OutcomeSuccess {
			t.Errorf("issued %d tokens (want 4: a new write token after the 401), result %+v", h.box.Issued(), res)
		}
		h.assertTokensClean(res)
	})
}

func TestCallbackBeforeFirstPoll(t *testing.T) {
	h := newHarness(t, activitiestest.Plan{Duration: 0, Result: activitiestest.TalkResult()})
	h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
	// The provider's callback overtakes even the submission's result.
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(workflows.SignalJobCallback, workflows.JobCallback{Provider: "mlengine", JobID: h.ml().JobID(1), Status: "succeeded"})
	}, 0)
	res, err := h.run(input())
	if err != nil {
		t.Fatal(err)
	}
	if n := h.startedCount("AwaitJob"); n != 0 {
		t.Errorf("polled %d times although the callback had come", n)
	}
	if n := h.startedCount("GetJobStatus"); n != 1 {
		t.Errorf("GetJobStatus ran %d times, want 1", n)
	}
	if res.Outcome != workflows.OutcomeSuccess {
		t.Errorf("result %+v", res)
	}
	if p := h.progress(); p.Callbacks != 1 || !p.Jobs[0].Callback {
		t.Errorf("progress %+v", p)
	}
	h.assertTokensClean(res)
}

func TestCallbackShortCircuitsPollingAndDuplicatesAreHarmless(t *testing.T) {
	// Polls at 0 and 5m (media fetched), then 5m, 10m, 15m...: the job ends
	// at 10m30s, its callback comes at 10m35s, long before the 15m poll.
	h := newHarness(t, activitiestest.Plan{FetchAfter: time.Minute, Duration: 10*time.Minute + 30*time.Second, RetryAfter: 5 * time.Minute, Result: activitiestest.TalkResult()})
	h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
	in := input()
	in.Options = &workflows.Options{PollMaxDelay: 5 * time.Minute}
	cb := workflows.JobCallback{Provider: "mlengine", JobID: h.ml().JobID(1), Status: "succeeded"}
	for _, at := range []time.Duration{10*time.Minute + 35*time.Second, 10*time.Minute + 36*time.Second, 12 * time.Minute} {
		h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(workflows.SignalJobCallback, cb) }, at)
	}
	// Noise that must be ignored: another job, a non-terminal status.
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(workflows.SignalJobCallback, workflows.JobCallback{Provider: "mlengine", JobID: "someone-else", Status: "succeeded"})
		h.env.SignalWorkflow(workflows.SignalJobCallback, workflows.JobCallback{Provider: "mlengine", JobID: h.ml().JobID(1), Status: "running"})
	}, 3*time.Minute)
	res, err := h.run(in)
	if err != nil {
		t.Fatal(err)
	}
	if n := h.startedCount("GetJobStatus"); n != 1 {
		t.Errorf("GetJobStatus ran %d times, want 1 (duplicates ignored)", n)
	}
	results := h.ml().Calls("Result")
	if len(results) != 1 || results[0].At.Sub(h.ml().Jobs()[0].Submitted) > 11*time.Minute {
		t.Errorf("results fetched at %+v; the callback at 10m35s should have ended the wait before the next poll at 15m", results)
	}
	if p := h.progress(); p.Callbacks != 2 { // the job's and "someone-else"'s
		t.Errorf("callbacks %d", p.Callbacks)
	}
	if res.Outcome != workflows.OutcomeSuccess {
		t.Errorf("result %+v", res)
	}
	h.assertTokensClean(res)
}

func TestPrematureCallbackFallsBackToPolling(t *testing.T) {
	h := newHarness(t, activitiestest.Plan{FetchAfter: time.Minute, Duration: 10 * time.Minute, RetryAfter: time.Minute, Result: activitiestest.TalkResult()})
	h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(workflows.SignalJobCallback, workflows.JobCallback{Provider: "mlengine", JobID: h.ml().JobID(1), Status: "succeeded"})
	}, 3*time.Minute)
	res, err := h.run(input())
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != workflows.OutcomeSuccess || h.startedCount("GetJobStatus") != 1 || h.startedCount("AwaitJob") < 2 {
		t.Errorf("result %+v, GetJobStatus %d, AwaitJob %d", res, h.startedCount("GetJobStatus"), h.startedCount("AwaitJob"))
	}
	h.assertTokensClean(res)
}

func TestPartialSuccess(t *testing.T) {
	t.Run("analyses failed within a job", func(t *testing.T) {
		h := newHarness(t, activitiestest.Plan{Duration: time.Minute, Result: activitiestest.TalkResult(),
			Analyses: map[string]provider.State{provider.AnalysisTranscript: provider.StateFailed, provider.AnalysisKeywords: provider.StateFailed}})
		h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
		res, err := h.run(input())
		if err != nil {
			t.Fatal(err)
		}
		cards := h.box.Cards(fileID)
		if got := cardTypes(cards); !slices.Equal(got, []string{"timeline:scenes", "timeline:ocr", "status:status"}) {
			t.Fatalf("cards %v", got)
		}
		st := statusCard(t, cards)
		if res.Outcome != workflows.OutcomePartial || st.Code != box.StatusPermanentFailure ||
			!strings.Contains(st.Message, "Missing: transcript, keywords") || !slices.Equal(res.Failed, []string{"transcript", "keywords"}) {
			t.Errorf("result %+v status %+v", res, st)
		}
		if p := h.progress(); p.Stage != workflows.StagePartial {
			t.Errorf("stage %s", p.Stage)
		}
		h.assertTokensClean(res)
	})
	t.Run("one of two providers fails", func(t *testing.T) {
		h := newHarness(t, activitiestest.Plan{Duration: time.Minute, Result: activitiestest.TalkResult()},
			withProvider("vision", activitiestest.Plan{Duration: 3 * time.Minute, Final: provider.StateFailed,
				JobError: &provider.JobError{Code: "gpu_unavailable", Message: "no GPU capacity"}}))
		h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
		in := input()
		in.Options = &workflows.Options{VideoJobs: []workflows.JobSpec{
			{Name: "speech", Provider: "mlengine", Analyses: []string{provider.AnalysisTranscript, provider.AnalysisKeywords}},
			{Name: "visual", Provider: "vision", Analyses: []string{provider.AnalysisScenes, provider.AnalysisOCR}},
		}}
		res, err := h.run(in)
		if err != nil {
			t.Fatal(err)
		}
		cards := h.box.Cards(fileID)
		st := statusCard(t, cards)
		if got := cardTypes(cards); !slices.Equal(got, []string{"transcript:transcript", "keyword:keywords", "status:status"}) {
			t.Fatalf("cards %v", got)
		}
		if res.Outcome != workflows.OutcomePartial || !strings.Contains(st.Message, `job "visual" failed: gpu_unavailable`) ||
			!strings.Contains(st.Message, "scenes, on-screen text") {
			t.Errorf("result %+v status %+v", res, st)
		}
		if len(h.providers[1].Jobs()) != 1 || h.providers[1].Jobs()[0].Request.IdempotencyKey != "file-1001-v2002/visual" {
			t.Errorf("vision jobs %+v", h.providers[1].Jobs())
		}
		h.assertTokensClean(res)
	})
}

func TestSubmitRejected(t *testing.T) {
	h := newHarness(t, activitiestest.Plan{Duration: time.Minute, SubmitErrors: []error{
		&provider.Error{Op: "submit", StatusCode: 429, Code: "queue_full", Retryable: true, RetryAfter: 20 * time.Second},
		&provider.Error{Op: "submit", StatusCode: 401, Code: "unauthorized", Message: "bad engine key"},
	}})
	h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
	res, err := h.run(input())
	if err != nil {
		t.Fatal(err)
	}
	calls := h.ml().Calls("Submit")
	if len(calls) != 2 || calls[1].At.Sub(calls[0].At) != 20*time.Second {
		t.Fatalf("submit calls %+v", calls)
	}
	st := statusCard(t, h.box.Cards(fileID))
	if res.Outcome != workflows.OutcomeFailed || !strings.Contains(st.Message, "could not be submitted") {
		t.Errorf("result %+v status %+v", res, st)
	}
	h.assertTokensClean(res)
}

func TestInvalidInputFailsFast(t *testing.T) {
	h := newHarness(t, activitiestest.Plan{})
	_, err := h.run(workflows.ProcessFileInput{FileID: "../etc"})
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != "InvalidInput" {
		t.Fatalf("got %v", err)
	}
	if h.box.Issued() != 0 {
		t.Error("a token was issued for invalid input")
	}
}

// A 2-hour job makes exactly the same workflow commands (and so the same
// history) as a 2-minute one: only the poll activity's retries differ, and
// retries are not recorded in history.
func TestLongJobAddsNoHistory(t *testing.T) {
	measure := func(d time.Duration) (commands, polls int) {
		h := newHarness(t, activitiestest.Plan{FetchAfter: 20 * time.Second, Duration: d, RetryAfter: time.Minute, Result: activitiestest.TalkResult()})
		h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
		res, err := h.run(input())
		if err != nil || res.Outcome != workflows.OutcomeSuccess {
			t.Fatalf("%v: %+v %v", d, res, err)
		}
		h.assertTokensClean(res)
		return h.commands.total(), len(h.ml().Calls("Status"))
	}
	shortCmds, shortPolls := measure(2 * time.Minute)
	longCmds, longPolls := measure(2 * time.Hour)
	t.Logf("2-minute job: %d commands, %d polls; 2-hour job: %d commands, %d polls", shortCmds, shortPolls, longCmds, longPolls)
	if longPolls < 100 || shortPolls > 5 {
		t.Fatalf("polls: short %d, long %d; the test does not exercise polling", shortPolls, longPolls)
	}
	if longCmds != shortCmds {
		t.Fatalf("2-hour job made %d commands, 2-minute job %d", longCmds, shortCmds)
	}
}

// commandCounter counts the commands workflow code issues (each becomes
// history events): activities, timers, search attribute upserts, markers.
type commandCounter struct {
	interceptor.WorkerInterceptorBase
	mu sync.Mutex
	n  map[string]int
}

func (c *commandCounter) add(kind string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[kind]++
}

func (c *commandCounter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := 0
	for _, v := range c.n {
		t += v
	}
	return t
}

func (c *commandCounter) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &countingInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, c: c}
}

type countingInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	c *commandCounter
}

func (i *countingInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&countingOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}, c: i.c})
}

type countingOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	c *commandCounter
}

func (o *countingOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	o.c.add("activity")
	return o.Next.ExecuteActivity(ctx, activityType, args...)
}

func (o *countingOutbound) NewTimer(ctx workflow.Context, d time.Duration) workflow.Future {
	o.c.add("timer")
	return o.Next.NewTimer(ctx, d)
}

func (o *countingOutbound) UpsertTypedSearchAttributes(ctx workflow.Context, attrs ...temporal.SearchAttributeUpdate) error {
	o.c.add("upsert")
	return o.Next.UpsertTypedSearchAttributes(ctx, attrs...)
}

func (o *countingOutbound) GetVersion(ctx workflow.Context, changeID string, minSupported, maxSupported workflow.Version) workflow.Version {
	o.c.add("version")
	return o.Next.GetVersion(ctx, changeID, minSupported, maxSupported)
}

func (o *countingOutbound) SideEffect(ctx workflow.Context, f func(ctx workflow.Context) any) converter.EncodedValue {
	o.c.add("side_effect")
	return o.Next.SideEffect(ctx, f)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type nopLogger struct{}

func (nopLogger) Debug(string, ...any) {}
func (nopLogger) Info(string, ...any)  {}
func (nopLogger) Warn(string, ...any)  {}
func (nopLogger) Error(string, ...any) {}

func TestJobStateNamesAgree(t *testing.T) {
	if workflows.JobTimedOut != activities.JobStateTimedOut || workflows.JobSubmitFailed != activities.JobStateSubmitFailed {
		t.Fatal("the workflow and the card writer disagree on job state names")
	}
}

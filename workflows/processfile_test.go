package workflows_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"filesight/activities"
	"filesight/activities/activitiestest"
	"filesight/internal/box"
	"filesight/internal/provider"
	"filesight/workflows"
)

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
	// One upsert each: the start, the jobs at the providers, the end.
	wantSA := []string{"FileID=1001 Stage=starting", "MediaKind=video Stage=processing", "Stage=done"}
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
	if p := h.progress(); p.Jobs[0].State != activities.JobTimedOut || p.Stage != workflows.StageFailed || p.Outcome != workflows.OutcomeFailed {
		t.Errorf("job state %s, stage %s, outcome %s", p.Jobs[0].State, p.Stage, p.Outcome)
	}
	if len(res.Failed) == 0 || len(res.Cards) != 1 {
		t.Errorf("result names no failure, or has cards besides the status: %+v", res)
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

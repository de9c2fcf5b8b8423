package workflows_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"filesight/activities"
	"filesight/activities/activitiestest"
	"filesight/internal/box"
	"filesight/internal/provider"
	"filesight/workflows"
)

// interrupted is mlengine's retryable job failure after repeated restarts.
var interrupted = &provider.JobError{Code: "interrupted", Message: "the service restarted 3 times while the job ran", Retryable: true}

func TestRetryableFailureIsResubmitted(t *testing.T) {
	// The first job fails retryably after a minute; its resubmission
	// fetches the media after 20 s and succeeds after 2 minutes.
	h := newHarness(t, activitiestest.Plan{FetchAfter: 30 * time.Second, Duration: time.Minute, RetryAfter: 5 * time.Second,
		Final: provider.StateFailed, JobError: interrupted,
		Next: []activitiestest.Plan{{FetchAfter: 20 * time.Second, Duration: 2 * time.Minute, RetryAfter: 5 * time.Second, Result: activitiestest.TalkResult()}}})
	h.box.AddFile(fileID, "talk.mp4", 10<<20, versionID)
	// The first job's own (late) callback must not touch the second attempt.
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(workflows.SignalJobCallback, workflows.JobCallback{Provider: "mlengine", JobID: h.ml().JobID(1), Status: "failed"})
	}, 90*time.Second)
	res, err := h.run(input())
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != workflows.OutcomeSuccess {
		t.Fatalf("result %+v", res)
	}
	cards := h.box.Cards(fileID)
	if got := cardTypes(cards); !slices.Equal(got, []string{"transcript:transcript", "keyword:keywords", "timeline:scenes", "timeline:ocr", "status:status"}) {
		t.Fatalf("cards %v", got)
	}
	st := statusCard(t, cards)
	if st.Code != box.StatusSuccess || !strings.Contains(st.Message, `Job "mlengine" was resubmitted once after a retryable failure (attempt 1: interrupted: the service restarted`) ||
		!strings.Contains(st.Message, "attempt 2 succeeded") {
		t.Errorf("status %+v", st)
	}
	if !strings.Contains(res.Message, "resubmitted") {
		t.Errorf("result message %q does not mention the resubmission", res.Message)
	}

	jobs := h.ml().Jobs()
	if len(jobs) != 2 {
		t.Fatalf("%d jobs, want 2", len(jobs))
	}
	if k1, k2 := jobs[0].Request.IdempotencyKey, jobs[1].Request.IdempotencyKey; k1 != "file-1001-v2002/mlengine" || k2 != "file-1001-v2002/mlengine/attempt-2" {
		t.Errorf("idempotency keys %q, %q", k1, k2)
	}
	if l := jobs[1].Request.Labels; l["attempt"] != "2" || l["workflow_id"] != "file-1001-v2002" || l["job"] != "mlengine" {
		t.Errorf("labels of the resubmission %v", l)
	}
	if jobs[0].Canceled || jobs[1].Canceled {
		t.Errorf("a job was cancelled: %+v", jobs)
	}
	// Read tokens: the run's, then one for the resubmission, each revoked
	// once its own job had fetched the media, before that job ended.
	h.assertOwnReadTokens(jobs)
	for i, fetch := range []time.Duration{30 * time.Second, 20 * time.Second} {
		at, _ := h.box.RevokedAt(jobs[i].Request.MediaToken.Fingerprint())
		if d := at.Sub(jobs[i].Submitted); d < fetch || d > fetch+10*time.Second {
			t.Errorf("job %d's read token revoked %v after its submission, want soon after the media fetch at %v", i+1, d, fetch)
		}
	}
	if h.box.Issued() != 4 {
		t.Errorf("issued %d tokens, want 4 (read, processing write, read for attempt 2, cards write)", h.box.Issued())
	}
	if n := h.startedCount("GetJobStatus"); n != 0 {
		t.Errorf("the old job's callback made %d status reads", n)
	}

	p := h.progress()
	j := p.Jobs[0]
	if j.Attempt != 2 || j.JobID != h.ml().JobID(2) || j.State != "succeeded" || !j.MediaFetched ||
		len(j.PreviousAttempts) != 1 || j.PreviousAttempts[0] != (workflows.AttemptProgress{Attempt: 1, JobID: h.ml().JobID(1), State: "failed", Error: "interrupted: " + interrupted.Message}) {
		t.Errorf("job progress %+v", j)
	}
	// The deadline is the first submission's.
	if d := j.Deadline.Sub(jobs[0].Submitted); d != workflows.DefaultJobTimeout {
		t.Errorf("deadline %v after the first submission, want %v", d, workflows.DefaultJobTimeout)
	}
	if n := h.versionMarkers("resubmit-retryable-job-failures"); n != 1 {
		t.Errorf("GetVersion called %d times, want 1", n)
	}
	h.assertTokensClean(res)
}

func TestRetryableFailureOnEveryAttempt(t *testing.T) {
	for _, tc := range []struct {
		name string
		max  *int // Options.MaxResubmissions
		jobs int
	}{
		{"default: one resubmission", nil, 2},
		{"two resubmissions", new(2), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, activitiestest.Plan{FetchAfter: 10 * time.Second, Duration: 40 * time.Second, RetryAfter: 5 * time.Second,
				Final: provider.StateFailed, JobError: interrupted})
			h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
			in := input()
			in.Options = &workflows.Options{MaxResubmissions: tc.max}
			res, err := h.run(in)
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != workflows.OutcomeFailed {
				t.Fatalf("result %+v", res)
			}
			jobs := h.ml().Jobs()
			if len(jobs) != tc.jobs {
				t.Fatalf("%d jobs, want %d", len(jobs), tc.jobs)
			}
			var keys []string
			for i, j := range jobs {
				keys = append(keys, j.Request.IdempotencyKey)
				want := "file-1001-v2002/mlengine"
				if i > 0 {
					want += fmt.Sprintf("/attempt-%d", i+1)
				}
				if j.Request.IdempotencyKey != want {
					t.Errorf("job %d: idempotency key %q, want %q", i+1, j.Request.IdempotencyKey, want)
				}
			}
			cards := h.box.Cards(fileID)
			st := statusCard(t, cards)
			if len(cards) != 1 || st.Code != box.StatusTransientFailure || !strings.Contains(st.Message, `job "mlengine" failed: interrupted: the service restarted`) ||
				!strings.Contains(st.Message, fmt.Sprintf("attempt %d did not succeed either", tc.jobs)) {
				t.Errorf("cards %v, status %+v", cardTypes(cards), st)
			}
			p := h.progress()
			if j := p.Jobs[0]; j.Attempt != tc.jobs || len(j.PreviousAttempts) != tc.jobs-1 || j.State != "failed" || j.JobID != h.ml().JobID(tc.jobs) {
				t.Errorf("job progress %+v", j)
			}
			if n := len(h.ml().Calls("Cancel")); n != 0 {
				t.Errorf("failed jobs were cancelled %d times", n)
			}
			h.assertOwnReadTokens(jobs)
			if h.box.Issued() != 2+tc.jobs {
				t.Errorf("issued %d tokens, want %d (a read token per job, two writes)", h.box.Issued(), 2+tc.jobs)
			}
			h.assertTokensClean(res)
		})
	}
}

func TestNoResubmission(t *testing.T) {
	for _, tc := range []struct {
		name   string
		plan   activitiestest.Plan
		opts   *workflows.Options
		code   string
		reason string
	}{
		{"non-retryable failure",
			activitiestest.Plan{Duration: 40 * time.Second, Final: provider.StateFailed,
				JobError: &provider.JobError{Code: "media_unreadable", Message: "ffprobe found no audio or video stream"}},
			nil, box.StatusPermanentFailure, "media_unreadable"},
		{"disabled by option",
			activitiestest.Plan{Duration: 40 * time.Second, Final: provider.StateFailed, JobError: interrupted},
			&workflows.Options{MaxResubmissions: new(0)}, box.StatusTransientFailure, "interrupted"},
		{"deadline too close",
			activitiestest.Plan{Duration: 90 * time.Second, RetryAfter: 10 * time.Second, Final: provider.StateFailed, JobError: interrupted},
			&workflows.Options{JobTimeout: 2 * time.Minute}, box.StatusTransientFailure, "interrupted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.plan)
			h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
			in := input()
			in.Options = tc.opts
			res, err := h.run(in)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(h.ml().Jobs()); n != 1 {
				t.Fatalf("%d jobs, want 1", n)
			}
			st := statusCard(t, h.box.Cards(fileID))
			if res.Outcome != workflows.OutcomeFailed || st.Code != tc.code || !strings.Contains(st.Message, tc.reason) || strings.Contains(st.Message, "resubmitted") {
				t.Errorf("result %+v, status %+v", res, st)
			}
			if j := h.progress().Jobs[0]; j.Attempt != 1 || len(j.PreviousAttempts) != 0 {
				t.Errorf("job progress %+v", j)
			}
			// No resubmission, no version marker: the history is what it was.
			if n := h.versionMarkers("resubmit-retryable-job-failures"); n != 0 {
				t.Errorf("GetVersion called %d times without a resubmission", n)
			}
			if h.box.Issued() != 3 {
				t.Errorf("issued %d tokens, want 3", h.box.Issued())
			}
			h.assertTokensClean(res)
		})
	}
}

// A resubmitted job keeps the deadline of its first submission, and a
// job that then times out is not resubmitted again.
func TestResubmissionKeepsTheDeadline(t *testing.T) {
	h := newHarness(t, activitiestest.Plan{FetchAfter: time.Minute, Duration: 10 * time.Minute, RetryAfter: time.Minute,
		Final: provider.StateFailed, JobError: interrupted,
		Next: []activitiestest.Plan{{FetchAfter: time.Minute, Duration: -1, RetryAfter: time.Minute}}})
	h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
	in := input()
	in.Options = &workflows.Options{JobTimeout: time.Hour}
	res, err := h.run(in)
	if err != nil {
		t.Fatal(err)
	}
	jobs := h.ml().Jobs()
	if len(jobs) != 2 || jobs[0].Canceled || !jobs[1].Canceled {
		t.Fatalf("jobs %+v: want the second one cancelled at the deadline and no third", jobs)
	}
	if d := jobs[1].CanceledAt.Sub(jobs[0].Submitted); d < time.Hour || d > time.Hour+2*time.Minute {
		t.Errorf("the resubmission was cancelled %v after the first submission, want at the first submission's 1h deadline", d)
	}
	st := statusCard(t, h.box.Cards(fileID))
	if res.Outcome != workflows.OutcomeFailed || st.Code != box.StatusTransientFailure || !strings.Contains(st.Message, "timed out") ||
		!strings.Contains(st.Message, "resubmitted once") {
		t.Errorf("result %+v, status %+v", res, st)
	}
	if j := h.progress().Jobs[0]; j.State != activities.JobTimedOut || j.Attempt != 2 {
		t.Errorf("job progress %+v", j)
	}
	h.assertOwnReadTokens(jobs)
	h.assertTokensClean(res)
}

// Cancelling the workflow while the resubmission waits for the provider
// to fetch the media: the job is cancelled at the provider and the
// resubmission's read token, still out, is revoked by the compensation.
func TestWorkflowCancelledDuringResubmission(t *testing.T) {
	h := newHarness(t, activitiestest.Plan{FetchAfter: 10 * time.Second, Duration: 30 * time.Second, RetryAfter: 10 * time.Second,
		Final: provider.StateFailed, JobError: interrupted,
		Next: []activitiestest.Plan{{FetchAfter: 10 * time.Minute, Duration: time.Hour, RetryAfter: time.Minute}}})
	h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
	h.env.RegisterDelayedCallback(h.env.CancelWorkflow, 5*time.Minute)
	_, err := h.run(input())
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "cancel") {
		t.Fatalf("want a cancelled workflow, got %v", err)
	}
	jobs := h.ml().Jobs()
	if len(jobs) != 2 || jobs[0].Canceled || !jobs[1].Canceled {
		t.Fatalf("jobs %+v: want the resubmission cancelled at the provider", jobs)
	}
	p := h.progress()
	if p.Stage != workflows.StageCancelled || p.Jobs[0].State != "canceled" || p.Jobs[0].Attempt != 2 || p.Jobs[0].MediaFetched {
		t.Errorf("progress %+v", p)
	}
	h.assertOwnReadTokens(jobs)
	h.assertTokensClean(nil)
}

// Each attempt's callback ends its own wait: polls are 5 minutes apart,
// the attempts end at 2m and about 4m, and their callbacks come soon after.
func TestCallbacksForEachAttempt(t *testing.T) {
	h := newHarness(t, activitiestest.Plan{FetchAfter: time.Minute, Duration: 2 * time.Minute, RetryAfter: 5 * time.Minute,
		Final: provider.StateFailed, JobError: interrupted,
		Next: []activitiestest.Plan{{FetchAfter: time.Minute, Duration: 2 * time.Minute, RetryAfter: 5 * time.Minute, Result: activitiestest.TalkResult()}}})
	h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
	in := input()
	in.Options = &workflows.Options{PollMaxDelay: 5 * time.Minute}
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(workflows.SignalJobCallback, workflows.JobCallback{Provider: "mlengine", JobID: h.ml().JobID(1), Status: "failed"})
	}, 2*time.Minute+5*time.Second)
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(workflows.SignalJobCallback, workflows.JobCallback{Provider: "mlengine", JobID: h.ml().JobID(2), Status: "succeeded"})
	}, 4*time.Minute+30*time.Second)
	start := h.env.Now()
	res, err := h.run(in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != workflows.OutcomeSuccess || len(h.ml().Jobs()) != 2 {
		t.Fatalf("result %+v, %d jobs", res, len(h.ml().Jobs()))
	}
	if n := h.startedCount("GetJobStatus"); n != 2 {
		t.Errorf("GetJobStatus ran %d times, want 2 (one per attempt's callback)", n)
	}
	results := h.ml().Calls("Result")
	if len(results) != 1 || results[0].At.Sub(start) > 5*time.Minute {
		t.Errorf("results fetched at %+v; the second callback at 4m30s should have ended the wait before the next poll", results)
	}
	if p := h.progress(); p.Callbacks != 2 || !p.Jobs[0].Callback {
		t.Errorf("progress %+v", p)
	}
	h.assertOwnReadTokens(h.ml().Jobs())
	h.assertTokensClean(res)
}

// A first attempt that failed to fetch the media (5xx from the content
// store) no longer needs the run's read token: it is revoked as the job is
// resubmitted, not when the resubmission has fetched the media.
func TestResubmissionAfterFailedFetch(t *testing.T) {
	h := newHarness(t, activitiestest.Plan{FetchAfter: time.Hour, Duration: 30 * time.Second, RetryAfter: 10 * time.Second,
		Final: provider.StateFailed, JobError: &provider.JobError{Code: "media_fetch_failed", Message: "content store answered 503 three times", Retryable: true},
		Next: []activitiestest.Plan{{FetchAfter: 10 * time.Minute, Duration: 20 * time.Minute, RetryAfter: time.Minute, Result: activitiestest.TalkResult()}}})
	h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
	res, err := h.run(input())
	if err != nil {
		t.Fatal(err)
	}
	jobs := h.ml().Jobs()
	if res.Outcome != workflows.OutcomeSuccess || len(jobs) != 2 {
		t.Fatalf("result %+v, %d jobs", res, len(jobs))
	}
	first, _ := h.box.RevokedAt(jobs[0].Request.MediaToken.Fingerprint())
	if first.After(jobs[1].Submitted) {
		t.Errorf("the run's read token was revoked %v after the resubmission, want by the time it was submitted", first.Sub(jobs[1].Submitted))
	}
	second, _ := h.box.RevokedAt(jobs[1].Request.MediaToken.Fingerprint())
	if d := second.Sub(jobs[1].Submitted); d < 10*time.Minute || d > 12*time.Minute {
		t.Errorf("the resubmission's read token was revoked %v after its submission, want once it fetched the media (10m)", d)
	}
	if st := statusCard(t, h.box.Cards(fileID)); !strings.Contains(st.Message, "attempt 1: media_fetch_failed: content store answered 503") {
		t.Errorf("status %+v", st)
	}
	h.assertOwnReadTokens(jobs)
	h.assertTokensClean(res)
}

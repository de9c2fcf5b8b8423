package workflows_test

import (
	"errors"
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

// providerQueues are the policies the worker gives its providers: each on
// its own task queue.
func providerQueues(names ...string) []harnessOption {
	var out []harnessOption
	for _, n := range names {
		out = append(out, withPolicy(n, activities.ProviderPolicy{TaskQueue: workflows.ProviderTaskQueue(n)}))
	}
	return out
}

// assertQueues: every provider-facing activity ran on one of the given
// task queues, everything else on the workflow's.
func (h *harness) assertQueues(providerQueues ...string) {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, q := range h.queues {
		name, queue, _ := strings.Cut(q, "@")
		switch name {
		case "SubmitJob", "AwaitJob", "GetJobStatus", "CancelJob":
			if !slices.Contains(providerQueues, queue) {
				h.t.Errorf("%s ran on task queue %q, want one of %v", name, queue, providerQueues)
			}
		default:
			if queue != workflows.TaskQueue {
				h.t.Errorf("%s ran on task queue %q, want %q", name, queue, workflows.TaskQueue)
			}
		}
	}
}

// Speech to one provider, everything else to mlengine: two jobs, each with
// the analyses of its provider, its own deadline and poll interval, its
// provider-facing activities on its provider's task queue.
func TestTwoProvidersSelectedPerAnalysis(t *testing.T) {
	opts := append([]harnessOption{
		withProvider("speech", activitiestest.Plan{FetchAfter: 20 * time.Second, Duration: 5 * time.Minute, RetryAfter: 5 * time.Second, Result: activitiestest.AudioResult()}),
		withSelection("transcript=speech,keywords=speech"),
		withPolicy("speech", activities.ProviderPolicy{TaskQueue: workflows.ProviderTaskQueue("speech"), JobTimeout: 20 * time.Minute, PollInterval: 15 * time.Second}),
	}, providerQueues("mlengine")...)
	h := newHarness(t, activitiestest.Plan{FetchAfter: 10 * time.Second, Duration: 2 * time.Minute, RetryAfter: 5 * time.Second, Result: activitiestest.TalkResult()}, opts...)
	h.box.AddFile(fileID, "talk.mp4", 10<<20, versionID)
	res, err := h.run(input())
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != workflows.OutcomeSuccess {
		t.Fatalf("result %+v", res)
	}
	if got, want := cardTypes(h.box.Cards(fileID)), []string{"transcript:transcript", "keyword:keywords", "timeline:scenes", "timeline:ocr", "status:status"}; !slices.Equal(got, want) {
		t.Errorf("cards %v, want %v", got, want)
	}
	speech := h.providers[1]
	mlJobs, speechJobs := h.ml().Jobs(), speech.Jobs()
	if len(mlJobs) != 1 || len(speechJobs) != 1 {
		t.Fatalf("jobs: mlengine %d, speech %d", len(mlJobs), len(speechJobs))
	}
	if got, want := mlJobs[0].Request.Analyses, []string{"media", "scenes", "ocr", "loudness", "silences"}; !slices.Equal(got, want) {
		t.Errorf("mlengine was asked for %v, want %v", got, want)
	}
	sr := speechJobs[0].Request
	if !slices.Equal(sr.Analyses, []string{"transcript", "keywords"}) || sr.IdempotencyKey != "file-1001-v2002/speech" ||
		sr.CallbackURL != "http://127.0.0.1:8088/callbacks/speech" {
		t.Errorf("speech job request %+v", sr)
	}
	p := h.progress()
	if len(p.Jobs) != 2 || p.Jobs[0].Name != "mlengine" || p.Jobs[1].Name != "speech" {
		t.Fatalf("jobs %+v", p.Jobs)
	}
	if d := p.Jobs[1].Deadline.Sub(speechJobs[0].Submitted); d != 20*time.Minute {
		t.Errorf("speech deadline %v after its submission, want its provider's 20m", d)
	}
	if d := p.Jobs[0].Deadline.Sub(mlJobs[0].Submitted); d != workflows.DefaultJobTimeout {
		t.Errorf("mlengine deadline %v after its submission, want the default %v", d, workflows.DefaultJobTimeout)
	}
	if p.Jobs[0].TaskQueue != "filesight-provider-mlengine" || p.Jobs[1].TaskQueue != "filesight-provider-speech" || p.Jobs[1].Lease != "" {
		t.Errorf("jobs' queues and leases %+v", p.Jobs)
	}
	// Speech asks to be polled every 5 s, its policy says 15 s at least:
	// about 5 min / 15 s polls. mlengine is polled at its Retry-After (5 s).
	if n := len(speech.Calls("Status")); n < 15 || n > 25 {
		t.Errorf("speech polled %d times in 5 minutes, want about 20 (every 15 s)", n)
	}
	if n := len(h.ml().Calls("Status")); n < 20 || n > 30 {
		t.Errorf("mlengine polled %d times in 2 minutes, want about 24 (every 5 s)", n)
	}
	h.assertQueues("filesight-provider-mlengine", "filesight-provider-speech")
	// One submission on each provider's queue (they run concurrently, so
	// in no particular order).
	h.mu.Lock()
	var submits []string
	for _, q := range h.queues {
		if strings.HasPrefix(q, "SubmitJob@") {
			submits = append(submits, q)
		}
	}
	h.mu.Unlock()
	slices.Sort(submits)
	if want := []string{"SubmitJob@filesight-provider-mlengine", "SubmitJob@filesight-provider-speech"}; !slices.Equal(submits, want) {
		t.Errorf("submissions %v, want %v", submits, want)
	}
	if n := h.versionMarkers("provider-plan"); n != 1 {
		t.Errorf("provider-plan GetVersion called %d times, want 1", n)
	}
	h.assertTokensClean(res)
}

// Every provider-facing activity, the status read after a callback
// included, runs on the provider's queue.
func TestProviderActivitiesRunOnTheProvidersQueue(t *testing.T) {
	h := newHarness(t, activitiestest.Plan{FetchAfter: 10 * time.Second, Duration: 3 * time.Minute, RetryAfter: 5 * time.Second, Result: activitiestest.AudioResult()},
		providerQueues("mlengine")...)
	h.box.AddFile(fileID, "talk.mp3", 10<<20, versionID)
	h.env.RegisterDelayedCallback(func() {
		// A premature callback: one GetJobStatus, then polling goes on.
		h.env.SignalWorkflow(workflows.SignalJobCallback, workflows.JobCallback{Provider: "mlengine", JobID: h.ml().JobID(1), Status: "succeeded"})
	}, 90*time.Second)
	res, err := h.run(input())
	if err != nil || res.Outcome != workflows.OutcomeSuccess {
		t.Fatalf("%+v %v", res, err)
	}
	h.assertQueues("filesight-provider-mlengine")
	if h.startedCount("GetJobStatus") != 1 {
		t.Errorf("GetJobStatus ran %d times", h.startedCount("GetJobStatus"))
	}
	h.assertTokensClean(res)
}

// A provider's deadline ends its job (cancelled at the provider) while the
// other provider's job succeeds; a run that sets job_timeout itself keeps
// it for every job.
func TestProviderDeadlinePerJob(t *testing.T) {
	speechPlan := activitiestest.Plan{FetchAfter: 20 * time.Second, Duration: -1, RetryAfter: 30 * time.Second}
	opts := append([]harnessOption{
		withProvider("speech", speechPlan),
		withSelection("transcript=speech,keywords=speech"),
		withPolicy("speech", activities.ProviderPolicy{TaskQueue: workflows.ProviderTaskQueue("speech"), JobTimeout: 10 * time.Minute}),
	}, providerQueues("mlengine")...)

	t.Run("provider's deadline", func(t *testing.T) {
		h := newHarness(t, activitiestest.Plan{Duration: time.Minute, Result: activitiestest.TalkResult()}, opts...)
		h.box.AddFile(fileID, "talk.mp4", 10<<20, versionID)
		res, err := h.run(input())
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != workflows.OutcomePartial {
			t.Fatalf("result %+v", res)
		}
		p := h.progress()
		sj := h.providers[1].Jobs()[0]
		if p.Jobs[1].State != activities.JobTimedOut || !sj.Canceled || sj.CanceledAt.Sub(sj.Submitted) != 10*time.Minute {
			t.Errorf("speech job %+v, cancelled %v after submission (want 10m)", p.Jobs[1], sj.CanceledAt.Sub(sj.Submitted))
		}
		if p.Jobs[0].State != activities.JobSucceeded {
			t.Errorf("mlengine job %+v", p.Jobs[0])
		}
		if st := statusCard(t, h.box.Cards(fileID)); !strings.Contains(st.Message, "10m0s") {
			t.Errorf("status %+v", st)
		}
		h.assertTokensClean(res)
	})
	t.Run("run's job_timeout", func(t *testing.T) {
		h := newHarness(t, activitiestest.Plan{Duration: time.Minute, Result: activitiestest.TalkResult()}, opts...)
		h.box.AddFile(fileID, "talk.mp4", 10<<20, versionID)
		in := input()
		in.Options = &workflows.Options{JobTimeout: 30 * time.Minute}
		res, err := h.run(in)
		if err != nil || res.Outcome != workflows.OutcomePartial {
			t.Fatalf("%+v %v", res, err)
		}
		sj := h.providers[1].Jobs()[0]
		if d := sj.CanceledAt.Sub(sj.Submitted); d != 30*time.Minute {
			t.Errorf("speech job cancelled %v after submission, want the run's 30m", d)
		}
	})
}

// Jobs the run's options name keep their providers and get their
// providers' policies; a provider the worker does not have fails the
// submission at once, on the workflow's queue, as before.
func TestExplicitJobsGetTheirProvidersPolicy(t *testing.T) {
	opts := append([]harnessOption{
		withProvider("speech", activitiestest.Plan{Duration: time.Minute, Result: activitiestest.AudioResult()}),
		withPolicy("speech", activities.ProviderPolicy{TaskQueue: workflows.ProviderTaskQueue("speech"), JobTimeout: 20 * time.Minute}),
	}, providerQueues("mlengine")...)
	h := newHarness(t, activitiestest.Plan{Duration: time.Minute, Result: activitiestest.TalkResult()}, opts...)
	h.box.AddFile(fileID, "talk.mp4", 10<<20, versionID)
	in := input()
	in.Options = &workflows.Options{VideoJobs: []workflows.JobSpec{
		{Name: "words", Provider: "speech", Analyses: []string{provider.AnalysisTranscript, provider.AnalysisKeywords}},
		{Name: "pictures", Provider: "mlengine", Analyses: []string{provider.AnalysisScenes, provider.AnalysisOCR}, Timeout: 5 * time.Minute},
		{Name: "nobody", Provider: "vision", Analyses: []string{provider.AnalysisLoudness}},
	}}
	res, err := h.run(in)
	if err != nil {
		t.Fatal(err)
	}
	p := h.progress()
	if res.Outcome != workflows.OutcomePartial || len(p.Jobs) != 3 {
		t.Fatalf("result %+v jobs %+v", res, p.Jobs)
	}
	want := []struct {
		queue    string
		deadline time.Duration
		state    activities.JobState
	}{
		{"filesight-provider-speech", 20 * time.Minute, activities.JobSucceeded},
		{"filesight-provider-mlengine", 5 * time.Minute, activities.JobSucceeded},
		{"", 0, activities.JobSubmitFailed},
	}
	submitted := []time.Time{h.providers[1].Jobs()[0].Submitted, h.ml().Jobs()[0].Submitted, {}}
	for i, w := range want {
		j := p.Jobs[i]
		if j.TaskQueue != w.queue || j.State != w.state || (w.deadline > 0 && j.Deadline.Sub(submitted[i]) != w.deadline) {
			t.Errorf("job %s: %+v, want queue %q state %s deadline %v", j.Name, j, w.queue, w.state, w.deadline)
		}
	}
	if !strings.Contains(p.Jobs[2].Error, `no provider "vision"`) {
		t.Errorf("unknown provider's error %q", p.Jobs[2].Error)
	}
	h.assertTokensClean(res)
}

// A capped provider: each job holds a lease of the provider's semaphore
// from before its submission until it has ended, is submitted with a read
// token of its own (the wait for a lease may outlast the run's), and the
// cap holds between the jobs of one run too.
func TestCappedProviderHoldsALeasePerJob(t *testing.T) {
	h := newHarness(t, activitiestest.Plan{FetchAfter: 30 * time.Second, Duration: 3 * time.Minute, RetryAfter: 10 * time.Second, Result: activitiestest.TalkResult()},
		withPolicy("mlengine", activities.ProviderPolicy{TaskQueue: workflows.ProviderTaskQueue("mlengine"), MaxOpenJobs: 1}))
	h.box.AddFile(fileID, "talk.mp4", 10<<20, versionID)
	in := input()
	in.Options = &workflows.Options{VideoJobs: []workflows.JobSpec{
		{Name: "pictures", Provider: "mlengine", Analyses: []string{provider.AnalysisMedia, provider.AnalysisScenes, provider.AnalysisOCR}},
		{Name: "words", Provider: "mlengine", Analyses: []string{provider.AnalysisTranscript, provider.AnalysisKeywords}},
	}}
	res, err := h.run(in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != workflows.OutcomeSuccess {
		t.Fatalf("result %+v", res)
	}
	requests, releases, maxHeld := h.sem.snapshot()
	if len(requests) != 2 || len(releases) != 2 || maxHeld != 1 {
		t.Fatalf("requests %+v releases %v max held %d", requests, releases, maxHeld)
	}
	for _, r := range requests {
		if r.Resource != "provider-mlengine" || r.Request.WorkflowID != "file-1001-v2002" || r.Request.RunID == "" ||
			r.Request.Limit != 1 || r.Request.TTL != workflows.DefaultJobTimeout+30*time.Minute || !strings.Contains(r.Request.LeaseID, "@") {
			t.Errorf("lease request %+v", r)
		}
	}
	jobs := h.ml().Jobs()
	if len(jobs) != 2 {
		t.Fatalf("%d jobs", len(jobs))
	}
	// Each job was submitted after its grant and released after it ended;
	// the second was granted only when the first was released.
	var ended []time.Time
	for i, j := range jobs {
		granted, released := h.sem.times(requests[i].Request.LeaseID)
		end := j.Submitted.Add(3 * time.Minute)
		ended = append(ended, end)
		if j.Submitted.Before(granted) || released.Before(end) {
			t.Errorf("job %d: granted %v, submitted %v, ended %v, released %v", i+1, granted, j.Submitted, end, released)
		}
	}
	if granted2, _ := h.sem.times(requests[1].Request.LeaseID); granted2.Before(ended[0]) {
		t.Errorf("the second job was granted at %v, before the first ended at %v", granted2, ended[0])
	}
	// Read tokens: the run's (describe), then one per job, each revoked.
	if jobs[0].Request.MediaToken == jobs[1].Request.MediaToken || h.box.Issued() != 5 {
		t.Errorf("%d tokens issued; the jobs' media tokens must differ", h.box.Issued())
	}
	for i, j := range jobs {
		if _, ok := h.box.RevokedAt(j.Request.MediaToken.Fingerprint()); !ok {
			t.Errorf("job %d's read token was never revoked", i+1)
		}
	}
	for _, j := range h.progress().Jobs {
		if j.Lease != "released" || j.State != activities.JobSucceeded {
			t.Errorf("job %+v", j)
		}
	}
	h.assertTokensClean(res)
}

// A job waiting for a lease asks again every 10 minutes; a cancellation
// while it waits withdraws the request and submits nothing.
func TestCappedJobCancelledWhileWaiting(t *testing.T) {
	h := newHarness(t, activitiestest.Plan{Duration: time.Minute, Result: activitiestest.TalkResult()},
		withPolicy("mlengine", activities.ProviderPolicy{TaskQueue: workflows.ProviderTaskQueue("mlengine"), MaxOpenJobs: 3}))
	h.sem.setLimit(0) // others hold every lease
	h.box.AddFile(fileID, "talk.mp4", 10<<20, versionID)
	h.env.RegisterDelayedCallback(func() {
		if p := h.progress(); p.Jobs[0].State != activities.JobWaiting || p.Jobs[0].Lease != "waiting" {
			t.Errorf("while waiting: %+v", p.Jobs[0])
		}
		h.env.CancelWorkflow()
	}, 25*time.Minute)
	_, err := h.run(input())
	var ce *temporal.CanceledError
	if !errors.As(err, &ce) {
		t.Fatalf("want cancelled, got %v", err)
	}
	requests, releases, _ := h.sem.snapshot()
	if len(requests) != 3 || len(releases) != 1 || releases[0] != requests[0].Request.LeaseID {
		t.Errorf("requests %d (want 3: at 0, 10 and 20 min), releases %v", len(requests), releases)
	}
	if n := len(h.ml().Jobs()); n != 0 {
		t.Errorf("%d jobs submitted", n)
	}
	if st := statusCard(t, h.box.Cards(fileID)); st.Code != box.StatusPermanentFailure || !strings.Contains(st.Message, "cancelled") {
		t.Errorf("status %+v", st)
	}
	if p := h.progress(); p.Jobs[0].State != activities.JobCanceled || p.Jobs[0].Lease != "released" {
		t.Errorf("job %+v", p.Jobs[0])
	}
	h.assertTokensClean(nil)
}

// A job the run cancels at its provider (its deadline passed, or the run
// was cancelled) keeps its lease until the provider reports it ended.
func TestCappedJobReleasedOnceCancelled(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cancel time.Duration // cancel the run then (0: the job's deadline ends it)
	}{
		{"deadline", 0},
		{"run cancelled", 5 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, activitiestest.Plan{FetchAfter: 10 * time.Second, Duration: -1, RetryAfter: 30 * time.Second},
				withPolicy("mlengine", activities.ProviderPolicy{TaskQueue: workflows.ProviderTaskQueue("mlengine"), MaxOpenJobs: 2, JobTimeout: 20 * time.Minute}))
			h.box.AddFile(fileID, "talk.mp4", 10<<20, versionID)
			if tc.cancel > 0 {
				h.env.RegisterDelayedCallback(h.env.CancelWorkflow, tc.cancel)
			}
			res, err := h.run(input())
			if tc.cancel > 0 {
				var ce *temporal.CanceledError
				if !errors.As(err, &ce) {
					t.Fatalf("want cancelled, got %v", err)
				}
			} else if err != nil || res.Outcome != workflows.OutcomeFailed {
				t.Fatalf("%+v %v", res, err)
			}
			requests, releases, _ := h.sem.snapshot()
			job := h.ml().Jobs()[0]
			if len(requests) != 1 || len(releases) != 1 || !job.Canceled {
				t.Fatalf("requests %d releases %v job %+v", len(requests), releases, job)
			}
			_, released := h.sem.times(releases[0])
			if released.Before(job.CanceledAt) {
				t.Errorf("released at %v, before the job was cancelled at %v", released, job.CanceledAt)
			}
			// The last poll is the one confirming the cancellation.
			if calls := h.ml().Calls("Status"); len(calls) == 0 || calls[len(calls)-1].At.Before(job.CanceledAt) {
				t.Errorf("the cancellation was not confirmed by a status read before the release")
			}
			h.assertTokensClean(res)
		})
	}
}

// A lease request that cannot be delivered fails that job's submission
// (the status card says why), withdraws whatever may have got through, and
// leaves the other jobs alone.
func TestLeaseRequestFailing(t *testing.T) {
	h := newHarness(t, activitiestest.Plan{Duration: time.Minute, Result: activitiestest.TalkResult()},
		withProvider("speech", activitiestest.Plan{Duration: time.Minute, Result: activitiestest.AudioResult()}),
		withSelection("transcript=speech,keywords=speech"),
		withPolicy("speech", activities.ProviderPolicy{TaskQueue: workflows.ProviderTaskQueue("speech"), MaxOpenJobs: 2}))
	h.sem.fail = temporal.NewNonRetryableApplicationError("the semaphore is unreachable", "Test", nil)
	h.box.AddFile(fileID, "talk.mp4", 10<<20, versionID)
	res, err := h.run(input())
	if err != nil {
		t.Fatal(err)
	}
	p := h.progress()
	if res.Outcome != workflows.OutcomePartial || p.Jobs[1].State != activities.JobSubmitFailed || p.Jobs[1].Lease != "released" ||
		!strings.Contains(p.Jobs[1].Error, "lease") || p.Jobs[0].State != activities.JobSucceeded {
		t.Fatalf("result %+v jobs %+v", res, p.Jobs)
	}
	if _, releases, _ := h.sem.snapshot(); len(releases) != 1 {
		t.Errorf("releases %v, want the request withdrawn once", releases)
	}
	if n := len(h.providers[1].Jobs()); n != 0 {
		t.Errorf("%d speech jobs submitted", n)
	}
	h.assertTokensClean(res)
}

package workflows_test

import (
	"testing"
	"time"

	"filesight/activities/activitiestest"
	"filesight/workflows"
)

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

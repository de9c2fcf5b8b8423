package semaphore_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"filesight/workflows/semaphore"
)

// harness runs the semaphore in Temporal's test environment (virtual
// clock). Holders are played by the test: it sends acquire and release
// signals at chosen times and records the grants the semaphore signals.
type harness struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment

	mu     sync.Mutex
	grants []string // lease IDs, in the order they were signalled
	gone   map[string]bool
	// goneChecks answers FindGoneHolders: lease IDs reported gone.
	goneChecks []string
	checks     int
	start      time.Time
}

func newHarness(t *testing.T) *harness {
	var s testsuite.WorkflowTestSuite
	h := &harness{t: t, env: s.NewTestWorkflowEnvironment(), gone: map[string]bool{}}
	// A busy machine may not schedule a workflow task within the SDK's
	// default deadlock timeout of 1 s; a real deadlock still fails.
	h.env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: 30 * time.Second})
	h.start = h.env.Now()
	semaphore.Register(h.env, &semaphore.Activities{})
	h.env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, semaphore.SignalGranted, mock.Anything).Return(
		func(_, workflowID, _, _ string, arg any) error {
			g := arg.(semaphore.Grant)
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.gone[workflowID] {
				return errors.New("unknown external workflow execution")
			}
			h.grants = append(h.grants, g.LeaseID)
			return nil
		})
	h.env.OnActivity("FindGoneHolders", mock.Anything, mock.Anything).Return(
		func(_ context.Context, holders []semaphore.Holder) ([]semaphore.Holder, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.checks++
			var out []semaphore.Holder
			for _, hd := range holders {
				if slices.Contains(h.goneChecks, hd.LeaseID) {
					out = append(out, hd)
				}
			}
			return out, nil
		}).Maybe()
	return h
}

func (h *harness) at(d time.Duration, f func()) { h.env.RegisterDelayedCallback(f, d) }

func (h *harness) acquire(d time.Duration, lease string, limit int, ttl time.Duration) {
	h.at(d, func() {
		h.env.SignalWorkflow(semaphore.SignalAcquire, semaphore.Request{LeaseID: lease, WorkflowID: "wf-" + lease, RunID: "run", Limit: limit, TTL: ttl})
	})
}

func (h *harness) release(d time.Duration, lease string) {
	h.at(d, func() {
		h.env.SignalWorkflow(semaphore.SignalRelease, semaphore.Release{WorkflowID: "wf-" + lease, LeaseID: lease})
	})
}

func (h *harness) state() semaphore.State {
	h.t.Helper()
	v, err := h.env.QueryWorkflow(semaphore.QueryState)
	if err != nil {
		h.t.Fatal(err)
	}
	var st semaphore.State
	if err := v.Get(&st); err != nil {
		h.t.Fatal(err)
	}
	return st
}

// checkAt queries the state at d and hands it to f (in the test's goroutine
// order: delayed callbacks run in time order).
func (h *harness) checkAt(d time.Duration, f func(semaphore.State)) {
	h.at(d, func() { f(h.state()) })
}

func (h *harness) granted() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.grants)
}

func held(st semaphore.State) []string {
	var out []string
	for _, l := range st.Held {
		out = append(out, l.LeaseID)
	}
	return out
}

func waiting(st semaphore.State) []string {
	var out []string
	for _, l := range st.Waiting {
		out = append(out, l.LeaseID)
	}
	return out
}

func (h *harness) run(st semaphore.State) error {
	h.env.ExecuteWorkflow(semaphore.WorkflowName, st)
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("the semaphore did not end")
	}
	return h.env.GetWorkflowError()
}

var settings = semaphore.Settings{CheckInterval: time.Minute, IdleTimeout: 10 * time.Minute}

// Requests are granted in arrival order, never more than the limit at
// once; a release lets the next one in; a waiting request can be
// withdrawn; asking again keeps the place (and re-signals a held lease).
// Once nothing is held or asked for, the semaphore ends after its idle
// timeout.
func TestAcquireOrderAndRelease(t *testing.T) {
	h := newHarness(t)
	for i, l := range []string{"a", "b", "c", "d", "e"} {
		h.acquire(time.Duration(i+1)*time.Second, l, 2, 0)
	}
	h.acquire(10*time.Second, "c", 2, 0) // asking again while waiting
	h.checkAt(20*time.Second, func(st semaphore.State) {
		if !slices.Equal(held(st), []string{"a", "b"}) || !slices.Equal(waiting(st), []string{"c", "d", "e"}) {
			t.Errorf("at 20s: held %v waiting %v", held(st), waiting(st))
		}
	})
	h.release(time.Minute, "b")
	h.release(time.Minute+time.Second, "d") // withdrawn while waiting
	h.acquire(2*time.Minute, "a", 2, 0)     // a held lease asked again: signalled again
	h.checkAt(3*time.Minute, func(st semaphore.State) {
		if !slices.Equal(held(st), []string{"a", "c"}) || !slices.Equal(waiting(st), []string{"e"}) {
			t.Errorf("at 3m: held %v waiting %v", held(st), waiting(st))
		}
	})
	h.release(4*time.Minute, "a")
	h.release(5*time.Minute, "c")
	h.release(6*time.Minute, "e")
	var ended semaphore.State
	h.checkAt(6*time.Minute+time.Second, func(st semaphore.State) { ended = st })
	if err := h.run(semaphore.State{Resource: "provider-test", Limit: 2, Settings: settings}); err != nil {
		t.Fatal(err)
	}
	if got, want := h.granted(), []string{"a", "b", "c", "a", "e"}; !slices.Equal(got, want) {
		t.Errorf("grants %v, want %v", got, want)
	}
	if s := ended.Stats; s.Granted != 4 || s.Released != 4 || s.Withdrawn != 1 || s.MaxHeld != 2 || s.Gone != 0 || s.Expired != 0 {
		t.Errorf("stats %+v", s)
	}
	if len(ended.Held) != 0 || len(ended.Waiting) != 0 {
		t.Errorf("state after the last release: %+v", ended)
	}
	// The idle timeout (10 min) counts from the last release (6 min).
	if end := h.env.Now().Sub(startOf(h)); end < 16*time.Minute || end > 17*time.Minute {
		t.Errorf("ended %v after start, want about 16m (idle 10m after the last release)", end)
	}
}

// startOf is the test environment's start time (it starts at the wall
// clock's now and only moves when the workflow waits).
func startOf(h *harness) time.Time { return h.start }

// A holder that is gone is reclaimed three ways: it cannot be signalled
// its grant; the liveness check reports its run closed; its lease outlives
// its time-to-live.
func TestHolderGone(t *testing.T) {
	h := newHarness(t)
	h.gone["wf-b"] = true // b's run ended before its turn came
	h.acquire(time.Second, "a", 1, 0)
	h.acquire(2*time.Second, "b", 1, 0)
	h.acquire(3*time.Second, "c", 1, 0)
	h.acquire(4*time.Second, "d", 1, 30*time.Minute)
	h.acquire(5*time.Second, "e", 1, 0)
	// a's run is terminated without a release: the next check finds it.
	h.at(10*time.Minute, func() {
		h.mu.Lock()
		h.goneChecks = append(h.goneChecks, "a")
		h.mu.Unlock()
	})
	// c releases normally; d never releases and expires 30 min after its
	// grant; e releases.
	h.release(20*time.Minute, "c")
	h.release(2*time.Hour, "e")
	var ended semaphore.State
	h.checkAt(2*time.Hour+time.Second, func(st semaphore.State) { ended = st })
	if err := h.run(semaphore.State{Resource: "provider-test", Limit: 1, Settings: settings}); err != nil {
		t.Fatal(err)
	}
	if got, want := h.granted(), []string{"a", "c", "d", "e"}; !slices.Equal(got, want) {
		t.Errorf("grants %v, want %v (b was gone when its turn came)", got, want)
	}
	if s := ended.Stats; s.Gone != 2 || s.Expired != 1 || s.Released != 2 || s.MaxHeld != 1 {
		t.Errorf("stats %+v: want a and b gone, d expired, c and e released", s)
	}
	if h.checks == 0 {
		t.Error("the holders were never checked")
	}
}

// The semaphore continues as new when its history grows long, carrying
// every lease held and every request waiting (in order), its limit,
// settings and statistics.
func TestContinueAsNew(t *testing.T) {
	h := newHarness(t)
	h.acquire(time.Second, "a", 1, time.Hour)
	h.acquire(2*time.Second, "b", 1, 0)
	h.at(3*time.Second, func() { h.env.SetCurrentHistoryLength(5000) })
	h.acquire(4*time.Second, "c", 1, 0)
	err := h.run(semaphore.State{Resource: "provider-test", Limit: 1, Settings: settings})
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("want continue-as-new, got %v", err)
	}
	var next semaphore.State
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if can.WorkflowType.Name != semaphore.WorkflowName || next.Resource != "provider-test" || next.Limit != 1 ||
		next.Settings.CheckInterval != time.Minute || next.Settings.IdleTimeout != 10*time.Minute {
		t.Errorf("next run %s %+v", can.WorkflowType.Name, next)
	}
	if !slices.Equal(held(next), []string{"a"}) || !slices.Equal(waiting(next), []string{"b", "c"}) {
		t.Errorf("carried over: held %v waiting %v", held(next), waiting(next))
	}
	if next.Held[0].ExpiresAt.IsZero() || next.Held[0].WorkflowID != "wf-a" || next.Stats.Granted != 1 || next.Stats.Runs != 1 {
		t.Errorf("carried lease %+v stats %+v", next.Held[0], next.Stats)
	}

	// The next run takes over from there: a's release lets b in.
	h2 := newHarness(t)
	h2.release(time.Second, "a")
	h2.release(2*time.Second, "b")
	h2.release(3*time.Second, "c")
	var ended semaphore.State
	h2.checkAt(4*time.Second, func(st semaphore.State) { ended = st })
	if err := h2.run(next); err != nil {
		t.Fatal(err)
	}
	if got := h2.granted(); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("grants of the next run %v", got)
	}
	if ended.Stats.Runs != 2 || ended.Stats.Granted != 3 || ended.Stats.Released != 3 {
		t.Errorf("stats over both runs %+v", ended.Stats)
	}
}

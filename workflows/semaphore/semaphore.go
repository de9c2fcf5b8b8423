// Package semaphore is a counting semaphore shared by every worker of a
// Temporal cluster: one long-lived entity workflow per resource (for
// filesight, one per ML provider) hands out at most Limit leases at a time.
//
// A holder is a workflow. It asks for a lease with RequestLease, an activity
// that signals the semaphore workflow and starts it if it is not running
// (signal-with-start); the semaphore signals SignalGranted back to the
// holder when its turn comes (first come, first served); the holder signals
// SignalRelease when it is done. Because the leases live in a workflow and
// are tied to the holder's workflow execution, not to a worker process, a
// worker crash changes nothing: the holder goes on on another worker and
// still holds its lease. A holder that ends without releasing (terminated,
// reset, timed out) is found by a periodic liveness check (FindGoneHolders:
// is the holder's run still running?), and every lease also expires after
// the time-to-live its holder asked for. The semaphore continues as new
// before its history grows large and ends by itself once it has been idle
// for a while; the next request starts it again.
package semaphore

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Names of the semaphore's contract.
const (
	// WorkflowName is the registered workflow type.
	WorkflowName = "Semaphore"
	// SignalAcquire carries a Request to the semaphore.
	SignalAcquire = "semaphore-acquire"
	// SignalRelease carries a Release to the semaphore.
	SignalRelease = "semaphore-release"
	// SignalGranted carries a Grant to the holder.
	SignalGranted = "semaphore-granted"
	// QueryState returns the semaphore's State.
	QueryState = "state"
)

// WorkflowID is the ID of the semaphore workflow guarding resource.
func WorkflowID(resource string) string { return "semaphore-" + resource }

// Request asks for a lease. A lease is known by its holder's workflow ID
// and its lease ID together.
type Request struct {
	// LeaseID names the lease among its holder's leases (unique per use).
	// It is all the holder needs to recognise a grant, so it must not
	// depend on anything a replay may see differently (a replayer may give
	// the workflow another ID). Asking again with the same IDs is harmless:
	// a waiting request keeps its place, a granted lease is granted
	// (signalled) again.
	LeaseID string `json:"lease_id"`
	// WorkflowID and RunID are the holder's execution: it is signalled the
	// grant and checked for liveness.
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id,omitempty"`
	// Limit is how many leases may be held at once, as the holder's worker
	// is configured; the latest request's limit applies.
	Limit int `json:"limit"`
	// TTL is how long after its grant the lease is reclaimed if it has not
	// been released (zero: never; the liveness check still applies).
	TTL time.Duration `json:"ttl,omitempty"`
}

// Release gives a lease back, or withdraws a request not yet granted.
type Release struct {
	WorkflowID string `json:"workflow_id"`
	LeaseID    string `json:"lease_id"`
}

// Grant tells a holder that its lease is granted.
type Grant struct {
	Resource string `json:"resource"`
	LeaseID  string `json:"lease_id"`
}

// Lease is a request, waiting or granted.
type Lease struct {
	Request
	RequestedAt time.Time `json:"requested_at"`
	GrantedAt   time.Time `json:"granted_at,omitzero"`
	// ExpiresAt is GrantedAt + TTL (zero: no expiry).
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Settings tune the semaphore; the zero value of each field is its default.
type Settings struct {
	// CheckInterval is how often the holders are checked for liveness (and
	// leases for expiry) while any lease is held. Default 1 minute.
	CheckInterval time.Duration `json:"check_interval,omitempty"`
	// IdleTimeout is how long the semaphore waits, with no lease held or
	// asked for, before it ends. Default 10 minutes.
	IdleTimeout time.Duration `json:"idle_timeout,omitempty"`
	// MaxHistoryEvents makes the semaphore continue as new once its history
	// is this long (or when the server suggests it). Default 2000.
	MaxHistoryEvents int `json:"max_history_events,omitempty"`
}

// Defaults of Settings.
const (
	DefaultCheckInterval    = time.Minute
	DefaultIdleTimeout      = 10 * time.Minute
	DefaultMaxHistoryEvents = 2000
)

func (s Settings) withDefaults() Settings {
	if s.CheckInterval <= 0 {
		s.CheckInterval = DefaultCheckInterval
	}
	if s.IdleTimeout <= 0 {
		s.IdleTimeout = DefaultIdleTimeout
	}
	if s.MaxHistoryEvents <= 0 {
		s.MaxHistoryEvents = DefaultMaxHistoryEvents
	}
	return s
}

// Stats count what the semaphore did, over every run since it was started.
type Stats struct {
	Granted   int `json:"granted"`
	Released  int `json:"released"`
	Withdrawn int `json:"withdrawn"`
	// Expired and Gone count leases reclaimed: past their TTL, or held by
	// a run that is no longer running (or could not be signalled).
	Expired int `json:"expired"`
	Gone    int `json:"gone"`
	// MaxHeld is the most leases held at once.
	MaxHeld int `json:"max_held"`
	// Runs counts the runs (1 + continues-as-new).
	Runs int `json:"runs"`
}

// State is the semaphore's whole state: the input of each run (carried over
// continue-as-new) and the answer to QueryState.
type State struct {
	Resource string   `json:"resource"`
	Limit    int      `json:"limit"`
	Settings Settings `json:"settings"`
	// Held are the granted leases, in grant order; Waiting the requests in
	// arrival order.
	Held    []Lease `json:"held"`
	Waiting []Lease `json:"waiting"`
	Stats   Stats   `json:"stats"`
}

// same reports whether l is the lease of holder workflowID called leaseID.
func (l Lease) same(workflowID, leaseID string) bool {
	return l.WorkflowID == workflowID && l.LeaseID == leaseID
}

// Holder identifies a lease holder for the liveness check.
type Holder struct {
	LeaseID    string `json:"lease_id"`
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id,omitempty"`
}

// acts is the activities receiver for method references.
var acts *Activities

var checkOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    30 * time.Second,
	ScheduleToCloseTimeout: time.Minute,
	RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second},
}

// Workflow is the semaphore of one resource. Start it with
// signal-with-start (RequestLease does), with a State naming the resource
// and the limit.
func Workflow(ctx workflow.Context, st State) error {
	if st.Resource == "" {
		return temporal.NewNonRetryableApplicationError("semaphore: no resource named", "InvalidInput", nil)
	}
	s := &sem{State: st}
	s.Settings = s.Settings.withDefaults()
	s.Limit = max(s.Limit, 1)
	s.Held, s.Waiting = nonNil(s.Held), nonNil(s.Waiting)
	s.Stats.Runs++
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (State, error) { return s.snapshot(), nil }); err != nil {
		return fmt.Errorf("registering the %s query: %w", QueryState, err)
	}
	acquire := workflow.GetSignalChannel(ctx, SignalAcquire)
	release := workflow.GetSignalChannel(ctx, SignalRelease)
	log := workflow.GetLogger(ctx)

	// At most one timer is pending: the next liveness check while leases
	// are held, the end of the idle period otherwise.
	var timer workflow.Future
	var timerCancel workflow.CancelFunc
	var timerAt time.Time
	idleSince := workflow.Now(ctx)
	for {
		// Signals already received first (the one that started this run
		// among them), so that the timer below fits the state.
		s.drain(ctx, acquire, release)
		s.grant(ctx)
		info := workflow.GetInfo(ctx)
		idle := !s.busy() && workflow.Now(ctx).Sub(idleSince) >= s.Settings.IdleTimeout
		rotate := info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() >= s.Settings.MaxHistoryEvents
		if idle || rotate {
			// Signals that arrived meanwhile are handled first (and keep
			// the semaphore alive); none is lost: a signal arriving while
			// this task completes makes the server refuse the completion.
			if s.drain(ctx, acquire, release) {
				continue
			}
			if timerCancel != nil {
				timerCancel()
			}
			if idle {
				log.Info("semaphore idle; ending", "resource", s.Resource, "stats", s.Stats)
				return nil
			}
			log.Info("semaphore continuing as new", "resource", s.Resource, "held", len(s.Held), "waiting", len(s.Waiting))
			return workflow.NewContinueAsNewError(ctx, WorkflowName, s.snapshot())
		}

		now := workflow.Now(ctx)
		if timer != nil && s.busy() && timerAt.Sub(now) > s.Settings.CheckInterval {
			// The idle timer is pending but leases are held again.
			timerCancel()
			timer = nil
		}
		if timer == nil {
			wait := s.Settings.CheckInterval
			if !s.busy() {
				wait = s.Settings.IdleTimeout - now.Sub(idleSince)
			}
			wait = max(wait, time.Second)
			var tctx workflow.Context
			tctx, timerCancel = workflow.WithCancel(ctx)
			timer, timerAt = workflow.NewTimer(tctx, wait), now.Add(wait)
		}
		wasBusy := s.busy()
		fired := false
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(acquire, func(c workflow.ReceiveChannel, _ bool) {
			var r Request
			c.Receive(ctx, &r)
			s.onAcquire(ctx, r)
		})
		sel.AddReceive(release, func(c workflow.ReceiveChannel, _ bool) {
			var r Release
			c.Receive(ctx, &r)
			s.onRelease(r)
		})
		sel.AddFuture(timer, func(workflow.Future) { fired = true })
		sel.Select(ctx)
		s.drain(ctx, acquire, release)
		if fired {
			timer, timerCancel = nil, nil
			s.expire(ctx)
			s.checkHolders(ctx)
		}
		if wasBusy || s.busy() {
			idleSince = workflow.Now(ctx)
		}
	}
}

// sem is the running semaphore.
type sem struct {
	State
	// regrant are held leases whose holder asked again: they are signalled
	// the grant once more.
	regrant []Holder
}

func (s *sem) busy() bool { return len(s.Held) > 0 || len(s.Waiting) > 0 }

func nonNil(l []Lease) []Lease {
	if l == nil {
		return []Lease{}
	}
	return l
}

func (s *sem) snapshot() State {
	st := s.State
	st.Held, st.Waiting = slices.Clone(s.Held), slices.Clone(s.Waiting)
	return st
}

// drain handles every signal already received; it reports whether there
// was any.
func (s *sem) drain(ctx workflow.Context, acquire, release workflow.ReceiveChannel) bool {
	got := false
	for {
		var r Request
		if !acquire.ReceiveAsync(&r) {
			break
		}
		s.onAcquire(ctx, r)
		got = true
	}
	for {
		var r Release
		if !release.ReceiveAsync(&r) {
			break
		}
		s.onRelease(r)
		got = true
	}
	return got
}

func (s *sem) onAcquire(ctx workflow.Context, r Request) {
	if r.LeaseID == "" || r.WorkflowID == "" {
		workflow.GetLogger(ctx).Warn("ignoring a lease request without lease or workflow ID", "lease_id", r.LeaseID)
		return
	}
	if r.Limit > 0 {
		s.Limit = r.Limit
	}
	if slices.ContainsFunc(s.Held, func(l Lease) bool { return l.same(r.WorkflowID, r.LeaseID) }) {
		h := Holder{LeaseID: r.LeaseID, WorkflowID: r.WorkflowID}
		if !slices.Contains(s.regrant, h) {
			s.regrant = append(s.regrant, h)
		}
		return
	}
	if slices.ContainsFunc(s.Waiting, func(l Lease) bool { return l.same(r.WorkflowID, r.LeaseID) }) {
		return
	}
	s.Waiting = append(s.Waiting, Lease{Request: r, RequestedAt: workflow.Now(ctx)})
}

func (s *sem) onRelease(r Release) {
	if i := slices.IndexFunc(s.Held, func(l Lease) bool { return l.same(r.WorkflowID, r.LeaseID) }); i >= 0 {
		s.Held = slices.Delete(s.Held, i, i+1)
		s.Stats.Released++
		return
	}
	if i := slices.IndexFunc(s.Waiting, func(l Lease) bool { return l.same(r.WorkflowID, r.LeaseID) }); i >= 0 {
		s.Waiting = slices.Delete(s.Waiting, i, i+1)
		s.Stats.Withdrawn++
	}
}

// grant hands out leases while there is room, in arrival order, and
// signals each new holder (and each holder that asked again). A holder
// that cannot be signalled is gone: its lease is dropped at once.
func (s *sem) grant(ctx workflow.Context) {
	for {
		var batch []Lease
		for len(s.Held)+len(batch) < s.Limit && len(s.Waiting) > 0 {
			l := s.Waiting[0]
			s.Waiting = s.Waiting[1:]
			l.GrantedAt = workflow.Now(ctx)
			if l.TTL > 0 {
				l.ExpiresAt = l.GrantedAt.Add(l.TTL)
			}
			batch = append(batch, l)
		}
		s.Held = append(s.Held, batch...)
		s.Stats.Granted += len(batch)
		s.Stats.MaxHeld = max(s.Stats.MaxHeld, len(s.Held))
		send := batch
		for _, h := range s.regrant {
			if i := slices.IndexFunc(s.Held, func(l Lease) bool { return l.same(h.WorkflowID, h.LeaseID) }); i >= 0 {
				send = append(send, s.Held[i])
			}
		}
		s.regrant = nil
		if len(send) == 0 {
			return
		}
		futures := make([]workflow.Future, len(send))
		for i, l := range send {
			futures[i] = workflow.SignalExternalWorkflow(ctx, l.WorkflowID, l.RunID, SignalGranted, Grant{Resource: s.Resource, LeaseID: l.LeaseID})
		}
		lost := false
		for i, f := range futures {
			if err := f.Get(ctx, nil); err != nil {
				workflow.GetLogger(ctx).Warn("lease holder cannot be signalled; reclaiming its lease",
					"lease_id", send[i].LeaseID, "holder", send[i].WorkflowID, "error", err)
				lost = s.drop(send[i].WorkflowID, send[i].LeaseID) || lost
			}
		}
		if !lost {
			return
		}
		// Room was freed: grant again.
	}
}

// drop removes a held lease whose holder is gone.
func (s *sem) drop(workflowID, leaseID string) bool {
	i := slices.IndexFunc(s.Held, func(l Lease) bool { return l.same(workflowID, leaseID) })
	if i < 0 {
		return false
	}
	s.Held = slices.Delete(s.Held, i, i+1)
	s.Stats.Gone++
	return true
}

// expire reclaims leases past their expiry.
func (s *sem) expire(ctx workflow.Context) {
	now := workflow.Now(ctx)
	s.Held = slices.DeleteFunc(s.Held, func(l Lease) bool {
		if !l.ExpiresAt.IsZero() && !now.Before(l.ExpiresAt) {
			workflow.GetLogger(ctx).Warn("lease expired without a release; reclaiming it", "lease_id", l.LeaseID, "holder", l.WorkflowID)
			s.Stats.Expired++
			return true
		}
		return false
	})
}

// checkHolders asks which holders are no longer running and reclaims
// their leases. A failed check changes nothing (the next one may succeed).
func (s *sem) checkHolders(ctx workflow.Context) {
	if len(s.Held) == 0 {
		return
	}
	holders := make([]Holder, len(s.Held))
	for i, l := range s.Held {
		holders[i] = Holder{LeaseID: l.LeaseID, WorkflowID: l.WorkflowID, RunID: l.RunID}
	}
	o := checkOptions
	o.Summary = fmt.Sprintf("Check the %d holder(s) of %s leases", len(holders), s.Resource)
	var gone []Holder
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, o), acts.FindGoneHolders, holders).Get(ctx, &gone); err != nil {
		workflow.GetLogger(ctx).Warn("checking lease holders failed; trying again later", "resource", s.Resource, "error", err)
		return
	}
	for _, h := range gone {
		if s.drop(h.WorkflowID, h.LeaseID) {
			workflow.GetLogger(ctx).Warn("lease holder is no longer running; reclaimed its lease", "holder", h.WorkflowID, "lease_id", h.LeaseID)
		}
	}
}

// Register registers the semaphore workflow and its activities.
func Register(r worker.Registry, a *Activities) {
	RegisterWorkflow(r)
	r.RegisterActivity(a)
}

// RegisterWorkflow registers the semaphore workflow alone (replayers).
func RegisterWorkflow(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
}

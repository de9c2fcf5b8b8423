package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"filesight/activities"
	"filesight/workflows/semaphore"
)

// A provider's concurrency cap (FILESIGHT_PROVIDER_MAX_OPEN_JOBS) holds
// across every worker: each job of a capped provider holds a lease of the
// provider's semaphore (workflows/semaphore, one entity workflow per
// provider) from before its submission until the job has ended at the
// provider, resubmissions included. docs/operations.md explains the design.

// sem is the semaphore activities receiver for method references.
var sem *semaphore.Activities

// LeaseResource is the semaphore resource of a provider's cap; the
// semaphore's workflow ID is semaphore.WorkflowID(LeaseResource(name)).
func LeaseResource(providerName string) string { return "provider-" + providerName }

const (
	// leaseAskAgain: a job still waiting for its lease asks again this
	// often. The semaphore keeps a request's place, so asking again only
	// matters if the semaphore lost the request (it was terminated).
	leaseAskAgain = 10 * time.Minute
	// leaseMargin is added to the job's deadline for the lease's
	// time-to-live: the submission's retries before the deadline starts,
	// the cancellation and its confirmation after it.
	leaseMargin = 30 * time.Minute
	// cancelConfirmTimeout bounds the wait for a job cancelled at its
	// provider to reach its terminal state before its lease is released.
	cancelConfirmTimeout = 5 * time.Minute
)

var leaseOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    30 * time.Second,
	ScheduleToCloseTimeout: 10 * time.Minute,
	RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
}

type leaseState int

const (
	leaseNone leaseState = iota
	leaseRequested
	leaseGranted
	leaseReleased
)

func (s leaseState) String() string {
	switch s {
	case leaseRequested:
		return "waiting"
	case leaseGranted:
		return "held"
	case leaseReleased:
		return "released"
	}
	return ""
}

// leaseRun is a job's lease of its provider's cap.
type leaseRun struct {
	id       string
	resource string
	state    leaseState
}

// acquireLease waits for a lease of the job's provider. The job does not
// hold up the run's read token meanwhile (the wait may be long): it will
// be submitted with a read token of its own. It reports whether the lease
// was granted; if not, j.state says why.
func (r *run) acquireLease(ctx workflow.Context, j *jobRun) bool {
	// The lease ID is how this run recognises the grant, so it must be the
	// same when the run is replayed: the job and the run's start time (a
	// replayer may give the workflow another ID and run ID; the semaphore
	// knows the lease by the workflow ID and the lease ID together).
	info := workflow.GetInfo(ctx)
	l := &leaseRun{id: fmt.Sprintf("%s@%d", j.spec.Name, info.WorkflowStartTime.UnixMilli()), resource: LeaseResource(j.spec.Provider)}
	j.lease, j.readDone, j.state = l, true, activities.JobWaiting
	r.updateDetails(ctx)
	r.listenForGrants(ctx)
	req := semaphore.LeaseRequest{Resource: l.resource, Request: semaphore.Request{
		LeaseID: l.id, WorkflowID: r.wfID, RunID: info.WorkflowExecution.RunID, Limit: j.maxOpen,
		TTL: r.jobTimeout(j) + leaseMargin,
	}}
	for {
		// A request may reach the semaphore even if the activity reports
		// a failure: from here on the lease is given back in any case.
		l.state = leaseRequested
		err := workflow.ExecuteActivity(r.ao(ctx, leaseOptions, "Ask for a %s lease (at most %d jobs at once) for job %q", j.spec.Provider, j.maxOpen, j.spec.Name),
			sem.RequestLease, req).Get(ctx, nil)
		if err != nil {
			if temporal.IsCanceledError(err) || ctx.Err() != nil {
				j.state = activities.JobCanceled // finish withdraws the request
				return false
			}
			j.state, j.err = activities.JobSubmitFailed, "asking for a lease of the provider's concurrency cap: "+failureText(err)
			r.releaseLease(ctx, j) // a request that got through anyway is withdrawn
			return false
		}
		// A timer of its own rather than AwaitWithTimeout, which (as the
		// SDK is) leaves its timer running once the condition holds.
		tctx, cancelTimer := workflow.WithCancel(ctx)
		askAgain := workflow.NewTimer(tctx, leaseAskAgain)
		err = workflow.Await(ctx, func() bool { return l.state == leaseGranted || askAgain.IsReady() })
		if !askAgain.IsReady() {
			cancelTimer()
		}
		if err != nil {
			j.state = activities.JobCanceled
			return false
		}
		if l.state == leaseGranted {
			r.updateDetails(ctx)
			return true
		}
	}
}

// listenForGrants starts, once, the goroutine that receives the
// semaphores' grants.
func (r *run) listenForGrants(ctx workflow.Context) {
	if r.grantsListened {
		return
	}
	r.grantsListened = true
	ch := workflow.GetSignalChannel(ctx, semaphore.SignalGranted)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var g semaphore.Grant
			if more := ch.Receive(ctx, &g); !more {
				return
			}
			r.onGrant(ctx, g)
		}
	})
}

// onGrant marks a lease granted. A grant for a lease this run no longer
// wants (released already, or unknown) is given back at once.
func (r *run) onGrant(ctx workflow.Context, g semaphore.Grant) {
	for _, j := range r.jobs {
		if j.lease == nil || j.lease.id != g.LeaseID {
			continue
		}
		switch j.lease.state {
		case leaseRequested:
			j.lease.state = leaseGranted
		case leaseReleased:
			r.signalRelease(ctx, j.lease.resource, j.lease.id)
		}
		return
	}
	if g.Resource != "" && g.LeaseID != "" {
		r.signalRelease(ctx, g.Resource, g.LeaseID)
	}
}

// releaseLease gives the job's lease back, or withdraws its request. A
// job this run cancelled at its provider is first awaited until the
// provider reports it ended (at most cancelConfirmTimeout), so that the
// cap counts it until then.
func (r *run) releaseLease(ctx workflow.Context, j *jobRun) {
	l := j.lease
	if l == nil || l.state == leaseNone || l.state == leaseReleased {
		return
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if l.state == leaseGranted && j.cancelRequested && j.ref.ID != "" {
		r.awaitEnded(dctx, j)
	}
	l.state = leaseReleased
	r.signalRelease(dctx, l.resource, l.id)
	r.updateDetails(dctx)
}

func (r *run) signalRelease(ctx workflow.Context, resource, leaseID string) {
	err := workflow.SignalExternalWorkflow(ctx, semaphore.WorkflowID(resource), "", semaphore.SignalRelease,
		semaphore.Release{WorkflowID: r.wfID, LeaseID: leaseID}).Get(ctx, nil)
	if err != nil {
		// The semaphore is gone (terminated): nothing holds the lease.
		r.warn("releasing lease %s: %v", leaseID, failureText(err))
	}
}

// awaitEnded polls a cancelled job until its provider reports it ended.
func (r *run) awaitEnded(ctx workflow.Context, j *jobRun) {
	o := pollOptions
	o.ScheduleToCloseTimeout = cancelConfirmTimeout
	err := workflow.ExecuteActivity(r.pao(ctx, j, o, "Poll %s until its cancellation is done", j.ref), a.AwaitJob, activities.AwaitJobInput{
		Ref: j.ref, Mode: activities.AwaitTerminal, MinDelay: time.Second, MaxDelay: 10 * time.Second,
	}).Get(ctx, nil)
	if err != nil {
		r.warn("%s did not confirm its cancellation; releasing its lease anyway: %v", j.ref, failureText(err))
	}
}

// releaseLeases releases, in parallel, every lease still held or asked for.
func (r *run) releaseLeases(ctx workflow.Context) {
	wg := workflow.NewWaitGroup(ctx)
	for _, j := range r.jobs {
		if j.lease == nil || j.lease.state == leaseNone || j.lease.state == leaseReleased {
			continue
		}
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			r.releaseLease(ctx, j)
		})
	}
	wg.Wait(ctx)
}

// leaseProgress is the lease's state for the progress query.
func (j *jobRun) leaseProgress() string {
	if j.lease == nil {
		return ""
	}
	return j.lease.state.String()
}

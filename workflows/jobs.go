package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"filesight/activities"
	"filesight/internal/box"
	"filesight/internal/provider"
)

// minResubmitTime is the least time before a job's deadline worth a
// resubmission: a resubmitted job keeps its first submission's deadline.
const minResubmitTime = time.Minute

// jobRun is one ML job of the run, across its attempts.
type jobRun struct {
	spec         JobSpec
	ref          provider.JobRef
	state        activities.JobState
	mediaFetched bool
	deadline     time.Time
	analyses     []provider.AnalysisState
	err          string
	// errCode is the provider's code of the job's failure (err starts
	// with it); the card writer shows a media failure's message alone.
	errCode string
	// retryable is set when the job failed with an error its provider
	// calls retryable: such a job may be resubmitted.
	retryable bool
	// attempt counts submissions (1, then 2 for the first resubmission);
	// ref, state, mediaFetched, analyses and err are the current
	// attempt's, prior the earlier attempts'.
	attempt int
	prior   []AttemptProgress
	// readDone is set once the first attempt no longer needs the run's
	// read token although the job goes on (it is being resubmitted with a
	// read token of its own).
	readDone bool
	// finished is set when the job's goroutine has returned.
	finished bool
	// callbackUsed is set once a callback for this job has been acted upon,
	// so a duplicate (or premature) callback cannot short-circuit twice.
	callbackUsed bool

	// queue is the task queue of the job's provider-facing activities
	// (empty: the workflow's); maxOpen the provider's concurrency cap (0:
	// none), lease the job's lease of it. Both come from the plan.
	queue   string
	maxOpen int
	lease   *leaseRun
	// cancelRequested is set once the run asked the provider to cancel
	// the current attempt.
	cancelRequested bool
}

// runJob is one job's life: submit, wait until the media is fetched, wait
// until it ends (or its deadline passes, which cancels it at the provider);
// then, while it failed with a retryable job error and may, resubmit it.
// A job of a capped provider first waits for a lease of the provider's cap,
// is submitted with a read token of its own, and gives the lease back once
// it has ended (a run being cancelled leaves that to finish, which cancels
// the job first).
func (r *run) runJob(ctx workflow.Context, j *jobRun, read activities.Token) {
	if j.maxOpen > 0 {
		if !r.acquireLease(ctx, j) {
			return
		}
		defer func() {
			if ctx.Err() == nil {
				r.releaseLease(ctx, j)
			}
		}()
		r.attemptWithOwnToken(ctx, j, "the job")
	} else {
		if !r.submit(ctx, j, read) {
			return
		}
		st, err := r.awaitAttempt(ctx, j, nil)
		r.settle(ctx, j, st, err)
	}
	for r.mayResubmit(ctx, j) {
		// Decided here, where the old code simply ended: runs that never
		// see a retryable failure record no marker at all.
		if workflow.GetVersion(ctx, changeResubmit, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			return
		}
		r.resubmit(ctx, j)
	}
}

// submit submits the job's current attempt with the given read token.
// The first attempt's key is {workflowID}/{job} and its submission starts
// the job's deadline; a resubmission's is {workflowID}/{job}/attempt-N, it
// keeps the deadline and may not retry past it. It reports whether the
// provider took the job; if not, j.state says why.
func (r *run) submit(ctx workflow.Context, j *jobRun, read activities.Token) bool {
	j.state = activities.JobSubmitting
	r.updateDetails(ctx)
	o := submitOptions
	analyses := strings.Join(j.spec.Analyses, ", ")
	summary := fmt.Sprintf("Submit %s job %q (%s)", j.spec.Provider, j.spec.Name, analyses)
	in := activities.SubmitJobInput{
		Provider:       j.spec.Provider,
		IdempotencyKey: r.wfID + "/" + j.spec.Name,
		FileID:         r.in.FileID,
		ReadToken:      read,
		Analyses:       j.spec.Analyses,
		Labels:         map[string]string{"workflow_id": r.wfID, "job": j.spec.Name},
	}
	if j.attempt > 1 {
		o.ScheduleToCloseTimeout = min(o.ScheduleToCloseTimeout, j.deadline.Sub(workflow.Now(ctx)))
		summary = fmt.Sprintf("Resubmit %s job %q, attempt %d (%s)", j.spec.Provider, j.spec.Name, j.attempt, analyses)
		in.IdempotencyKey = fmt.Sprintf("%s/%s/attempt-%d", r.wfID, j.spec.Name, j.attempt)
		in.Labels["attempt"] = fmt.Sprint(j.attempt)
	}
	var ref provider.JobRef
	if err := workflow.ExecuteActivity(r.pao(ctx, j, o, "%s", summary), a.SubmitJob, in).Get(ctx, &ref); err != nil {
		if temporal.IsCanceledError(err) {
			j.state = activities.JobCanceled
		} else {
			j.state, j.err = activities.JobSubmitFailed, failureText(err)
		}
		return false
	}
	j.ref, j.state, j.cancelRequested = ref, activities.JobSubmitted, false
	if j.attempt == 1 {
		j.deadline = workflow.Now(ctx).Add(r.jobTimeout(j))
	}
	r.updateDetails(ctx)
	return true
}

// awaitAttempt waits for the current attempt of a submitted job: until the
// media is fetched (then onFetched runs, if set), then until it ends.
func (r *run) awaitAttempt(ctx workflow.Context, j *jobRun, onFetched func()) (provider.JobStatus, error) {
	st, err := r.awaitJob(ctx, j, activities.AwaitMediaFetched)
	if err == nil && !st.State.Terminal() {
		r.apply(ctx, j, st)
		if onFetched != nil {
			onFetched()
		}
		st, err = r.awaitJob(ctx, j, activities.AwaitTerminal)
	}
	return st, err
}

// settle records how the current attempt's wait ended.
func (r *run) settle(ctx workflow.Context, j *jobRun, st provider.JobStatus, err error) {
	switch {
	case err == nil:
		r.apply(ctx, j, st)
	case errors.Is(err, errDeadline):
		j.state, j.err, j.retryable = activities.JobTimedOut, fmt.Sprintf("did not finish within %s", r.jobTimeout(j)), false
		r.cancelJob(ctx, j)
	case temporal.IsCanceledError(err) || ctx.Err() != nil:
		// finish cancels it at the provider.
	default:
		// Polling failed for good (job unknown, credentials refused...):
		// stop it at the provider too, so it does not run for nothing.
		j.state, j.err, j.retryable = activities.JobFailed, failureText(err), false
		r.cancelJob(ctx, j)
	}
}

// mayResubmit: the job failed with a retryable job error (never a
// non-retryable one, a cancellation or a deadline), resubmissions are left,
// the run is not being cancelled, and the job's deadline is not too close.
func (r *run) mayResubmit(ctx workflow.Context, j *jobRun) bool {
	return j.state == activities.JobFailed && j.retryable && ctx.Err() == nil &&
		j.attempt <= r.opts.maxResubmissions() &&
		j.deadline.Sub(workflow.Now(ctx)) >= minResubmitTime
}

// resubmit submits a job that failed retryably again, as a new job: a new
// idempotency key ({workflowID}/{job}/attempt-N), a read token of its own
// (the run's may be revoked already, once every provider had the media),
// revoked as soon as this attempt has the media or is over, and the
// deadline of the first submission. Every token is in r.tokens, so the
// compensation revokes it whatever happens.
func (r *run) resubmit(ctx workflow.Context, j *jobRun) {
	j.readDone = true // the first attempt is done with the run's read token
	j.prior = append(j.prior, AttemptProgress{Attempt: j.attempt, JobID: j.ref.ID, State: j.state, Error: j.err})
	j.attempt++
	j.ref, j.state, j.err, j.retryable = provider.JobRef{}, activities.JobSubmitting, "", false
	j.errCode = ""
	j.mediaFetched, j.analyses, j.callbackUsed = false, nil, false
	r.updateDetails(ctx)
	r.attemptWithOwnToken(ctx, j, "the resubmission")
}

// attemptWithOwnToken runs the job's current attempt with a read token
// issued for it alone, revoked as soon as the attempt has the media or is
// over (what names the attempt in an error).
func (r *run) attemptWithOwnToken(ctx workflow.Context, j *jobRun, what string) {
	t, err := r.issueToken(ctx, activities.PurposeRead, box.ScopeItemPreview, box.ScopeItemDownload)
	if err != nil {
		if temporal.IsCanceledError(err) || ctx.Err() != nil {
			j.state = activities.JobCanceled
			return
		}
		j.state, j.err = activities.JobSubmitFailed, "issuing a read token for "+what+": "+failureText(err)
		return
	}
	if !r.submit(ctx, j, t.tok) {
		r.revoke(ctx, t)
		return
	}

	st, err := r.awaitAttempt(ctx, j, func() { r.revoke(ctx, t) })
	r.revoke(ctx, t) // the attempt is over (a no-op once revoked)
	r.settle(ctx, j, st, err)
}

func (r *run) apply(ctx workflow.Context, j *jobRun, st provider.JobStatus) {
	j.mediaFetched = j.mediaFetched || st.MediaFetched
	j.analyses = st.Analyses
	if st.State != "" {
		j.state = activities.JobState(st.State)
	}
	if st.State == provider.StateFailed && st.Error != nil {
		j.err = st.Error.Message
		if st.Error.Code != "" {
			j.err = st.Error.Code + ": " + st.Error.Message
		}
		j.errCode = st.Error.Code
	}
	j.retryable = st.State == provider.StateFailed && st.Error != nil && st.Error.Retryable
	r.updateDetails(ctx)
}

// awaitJob waits until the job satisfies mode, by polling (one activity
// whose retries are the polls) and by callback: a callback cancels the
// poll and one status read decides.
func (r *run) awaitJob(ctx workflow.Context, j *jobRun, mode activities.AwaitMode) (provider.JobStatus, error) {
	for {
		if r.callbackPending(j) {
			j.callbackUsed = true
			var st provider.JobStatus
			err := workflow.ExecuteActivity(r.pao(ctx, j, statusOptions, "Read status of %s after its callback", j.ref), a.GetJobStatus, j.ref).Get(ctx, &st)
			switch {
			case err != nil && (temporal.IsCanceledError(err) || ctx.Err() != nil):
				return st, err
			case err != nil:
				r.warn("reading %s after its callback failed, polling instead: %v", j.ref, failureText(err))
			case satisfied(st, mode):
				return st, nil
			default:
				r.apply(ctx, j, st)
			}
		}
		remaining := j.deadline.Sub(workflow.Now(ctx))
		if remaining <= 0 {
			return provider.JobStatus{}, errDeadline
		}
		pctx, cancelPoll := workflow.WithCancel(ctx)
		o := pollOptions
		o.ScheduleToCloseTimeout = remaining
		what := "media fetched"
		if mode == activities.AwaitTerminal {
			what = "finished"
		}
		minDelay, maxDelay := r.pollBounds(j)
		f := workflow.ExecuteActivity(r.pao(pctx, j, o, "Poll %s until %s", j.ref, what), a.AwaitJob, activities.AwaitJobInput{
			Ref: j.ref, Mode: mode, MinDelay: minDelay, MaxDelay: maxDelay,
		})
		if err := workflow.Await(ctx, func() bool { return f.IsReady() || r.callbackPending(j) }); err != nil {
			cancelPoll()
			return provider.JobStatus{}, err
		}
		if !f.IsReady() {
			cancelPoll() // a callback came: loop round to act on it
			continue
		}
		cancelPoll()
		var st provider.JobStatus
		err := f.Get(ctx, &st)
		if err != nil && isPollTimeout(err) {
			return st, errDeadline
		}
		return st, err
	}
}

func satisfied(st provider.JobStatus, mode activities.AwaitMode) bool {
	if st.State.Terminal() {
		return true
	}
	return mode == activities.AwaitMediaFetched && st.MediaFetched
}

// cancelJob cancels one job at its provider, on a disconnected context: a
// workflow cancellation arriving meanwhile must not stop it, since finish
// skips jobs that already count as ended.
func (r *run) cancelJob(ctx workflow.Context, j *jobRun) {
	if j.ref.ID == "" {
		return
	}
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	if err := r.startCancel(ctx, j).Get(ctx, nil); err != nil {
		r.warn("cancelling %s failed: %v", j.ref, failureText(err))
	}
}

func (r *run) startCancel(ctx workflow.Context, j *jobRun) workflow.Future {
	j.cancelRequested = true
	return workflow.ExecuteActivity(r.pao(ctx, j, cancelOptions, "Cancel %s at the provider", j.ref), a.CancelJob, j.ref)
}

// cancelOpenJobs cancels, in parallel, every submitted job not yet over.
func (r *run) cancelOpenJobs(ctx workflow.Context) {
	var open []*jobRun
	var fs []workflow.Future
	for _, j := range r.jobs {
		if j.ref.ID == "" || j.state.Terminal() {
			if !j.state.Terminal() {
				j.state = activities.JobCanceled
			}
			continue
		}
		open = append(open, j)
		fs = append(fs, r.startCancel(ctx, j))
	}
	for i, f := range fs {
		if err := f.Get(ctx, nil); err != nil {
			r.warn("cancelling %s failed: %v", open[i].ref, failureText(err))
		}
		open[i].state = activities.JobCanceled
	}
	r.updateDetails(ctx)
}

// onCallback records a provider callback. Only callbacks naming a terminal
// state count; duplicates are dropped (providers retry deliveries).
func (r *run) onCallback(ctx workflow.Context, cb JobCallback) {
	if cb.Provider == "" || cb.JobID == "" || !provider.State(cb.Status).Terminal() {
		workflow.GetLogger(ctx).Info("ignoring job callback", "provider", cb.Provider, "job", cb.JobID, "status", cb.Status)
		return
	}
	for _, seen := range r.callbacks {
		if seen.Provider == cb.Provider && seen.JobID == cb.JobID {
			return
		}
	}
	if len(r.callbacks) >= maxCallbacks {
		return
	}
	r.callbacks = append(r.callbacks, cb)
}

const maxCallbacks = 64

func (r *run) callbackPending(j *jobRun) bool {
	if j.callbackUsed || j.ref.ID == "" {
		return false
	}
	for _, cb := range r.callbacks {
		if cb.Provider == j.ref.Provider && cb.JobID == j.ref.ID {
			return true
		}
	}
	return false
}

package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"filesight/activities"
	"filesight/internal/provider"
)

// minResubmitTime is the least time before a job's deadline worth a
// resubmission: a resubmitted job keeps its first submission's deadline.
const minResubmitTime = time.Minute

type jobRun struct {
	spec         JobSpec
	ref          provider.JobRef
	state        string
	mediaFetched bool
	deadline     time.Time
	analyses     []provider.AnalysisState
	err          string
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
}

func (j *jobRun) terminal() bool {
	switch j.state {
	case string(provider.StateSucceeded), string(provider.StateFailed), string(provider.StateCanceled), JobSubmitFailed, JobTimedOut:
		return true
	}
	return false
}

// runJob is one job's life: submit, wait until the media is fetched, wait
// until it ends (or its deadline passes, which cancels it at the provider);
// then, while it failed with a retryable job error and may, resubmit it.
func (r *run) runJob(ctx workflow.Context, j *jobRun, read activities.Token) {
	j.state = JobSubmitting
	r.updateDetails(ctx)
	var ref provider.JobRef
	err := workflow.ExecuteActivity(r.ao(ctx, submitOptions, "Submit %s job %q (%s)", j.spec.Provider, j.spec.Name, strings.Join(j.spec.Analyses, ", ")),
		a.SubmitJob, activities.SubmitJobInput{
			Provider:       j.spec.Provider,
			IdempotencyKey: r.wfID + "/" + j.spec.Name,
			FileID:         r.in.FileID,
			ReadToken:      read,
			Analyses:       j.spec.Analyses,
			Labels:         map[string]string{"workflow_id": r.wfID, "job": j.spec.Name},
		}).Get(ctx, &ref)
	if err != nil {
		if temporal.IsCanceledError(err) {
			j.state = string(provider.StateCanceled)
			return
		}
		j.state, j.err = JobSubmitFailed, failureText(err)
		return
	}
	j.ref, j.state = ref, JobSubmitted
	j.deadline = workflow.Now(ctx).Add(r.opts.JobTimeout)
	r.updateDetails(ctx)

	st, err := r.awaitAttempt(ctx, j, nil)
	r.settle(ctx, j, st, err)
	for r.mayResubmit(ctx, j) {
		// Decided here, where the old code simply ended: runs that never
		// see a retryable failure record no marker at all.
		if workflow.GetVersion(ctx, changeResubmit, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			return
		}
		r.resubmit(ctx, j)
	}
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
		j.state, j.err, j.retryable = JobTimedOut, fmt.Sprintf("did not finish within %s", r.opts.JobTimeout), false
		r.cancelJob(ctx, j)
	case temporal.IsCanceledError(err) || ctx.Err() != nil:
		// finish cancels it at the provider.
	default:
		// Polling failed for good (job unknown, credentials refused...):
		// stop it at the provider too, so it does not run for nothing.
		j.state, j.err, j.retryable = string(provider.StateFailed), failureText(err), false
		r.cancelJob(ctx, j)
	}
}

// mayResubmit: the job failed with a retryable job error (never a
// non-retryable one, a cancellation or a deadline), resubmissions are left,
// the run is not being cancelled, and the job's deadline is not too close.
func (r *run) mayResubmit(ctx workflow.Context, j *jobRun) bool {
	return j.state == string(provider.StateFailed) && j.retryable && ctx.Err() == nil &&
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
	j.ref, j.state, j.err, j.retryable = provider.JobRef{}, JobSubmitting, "", false
	j.mediaFetched, j.analyses, j.callbackUsed = false, nil, false
	r.updateDetails(ctx)

	t, err := r.issueToken(ctx, activities.PurposeRead, activities.ScopeItemPreview, activities.ScopeItemDownload)
	if err != nil {
		if temporal.IsCanceledError(err) || ctx.Err() != nil {
			j.state = string(provider.StateCanceled)
			return
		}
		j.state, j.err = JobSubmitFailed, "issuing a read token for the resubmission: "+failureText(err)
		return
	}
	o := submitOptions
	o.ScheduleToCloseTimeout = min(o.ScheduleToCloseTimeout, j.deadline.Sub(workflow.Now(ctx)))
	var ref provider.JobRef
	err = workflow.ExecuteActivity(r.ao(ctx, o, "Resubmit %s job %q, attempt %d (%s)", j.spec.Provider, j.spec.Name, j.attempt, strings.Join(j.spec.Analyses, ", ")),
		a.SubmitJob, activities.SubmitJobInput{
			Provider:       j.spec.Provider,
			IdempotencyKey: fmt.Sprintf("%s/%s/attempt-%d", r.wfID, j.spec.Name, j.attempt),
			FileID:         r.in.FileID,
			ReadToken:      t.tok,
			Analyses:       j.spec.Analyses,
			Labels:         map[string]string{"workflow_id": r.wfID, "job": j.spec.Name, "attempt": fmt.Sprint(j.attempt)},
		}).Get(ctx, &ref)
	if err != nil {
		r.revoke(ctx, t)
		if temporal.IsCanceledError(err) {
			j.state = string(provider.StateCanceled)
			return
		}
		j.state, j.err = JobSubmitFailed, failureText(err)
		return
	}
	j.ref, j.state = ref, JobSubmitted
	r.updateDetails(ctx)

	st, err := r.awaitAttempt(ctx, j, func() { r.revoke(ctx, t) })
	r.revoke(ctx, t) // the attempt is over (a no-op once revoked)
	r.settle(ctx, j, st, err)
}

func (r *run) apply(ctx workflow.Context, j *jobRun, st provider.JobStatus) {
	j.mediaFetched = j.mediaFetched || st.MediaFetched
	j.analyses = st.Analyses
	if st.State != "" {
		j.state = string(st.State)
	}
	if st.State == provider.StateFailed && st.Error != nil {
		j.err = st.Error.Message
		if st.Error.Code != "" {
			j.err = st.Error.Code + ": " + st.Error.Message
		}
	}
	j.retryable = st.State == provider.StateFailed && st.Error != nil && st.Error.Retryable
	r.updateDetails(ctx)
}

// awaitJob waits until the job satisfies mode, by polling (one activity
// whose retries are the polls) and by callback: a callback cancels the
// poll and one status read decides.
func (r *run) awaitJob(ctx workflow.Context, j *jobRun, mode string) (provider.JobStatus, error) {
	for {
		if r.callbackPending(j) {
			j.callbackUsed = true
			var st provider.JobStatus
			err := workflow.ExecuteActivity(r.ao(ctx, statusOptions, "Read status of %s after its callback", j.ref), a.GetJobStatus, j.ref).Get(ctx, &st)
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
		f := workflow.ExecuteActivity(r.ao(pctx, o, "Poll %s until %s", j.ref, what), a.AwaitJob, activities.AwaitJobInput{
			Ref: j.ref, Mode: mode, MinDelay: r.opts.PollMinDelay, MaxDelay: r.opts.PollMaxDelay,
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

func satisfied(st provider.JobStatus, mode string) bool {
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
	err := workflow.ExecuteActivity(r.ao(ctx, cancelOptions, "Cancel %s at the provider", j.ref), a.CancelJob, j.ref).Get(ctx, nil)
	if err != nil {
		r.warn("cancelling %s failed: %v", j.ref, failureText(err))
	}
}

// cancelOpenJobs cancels, in parallel, every submitted job not yet over.
func (r *run) cancelOpenJobs(ctx workflow.Context) {
	var open []*jobRun
	var fs []workflow.Future
	for _, j := range r.jobs {
		if j.ref.ID == "" || j.terminal() {
			if !j.terminal() {
				j.state = string(provider.StateCanceled)
			}
			continue
		}
		open = append(open, j)
		fs = append(fs, workflow.ExecuteActivity(r.ao(ctx, cancelOptions, "Cancel %s at the provider", j.ref), a.CancelJob, j.ref))
	}
	for i, f := range fs {
		if err := f.Get(ctx, nil); err != nil {
			r.warn("cancelling %s failed: %v", open[i].ref, failureText(err))
		}
		open[i].state = string(provider.StateCanceled)
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

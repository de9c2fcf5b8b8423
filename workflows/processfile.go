package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"filesight/activities"
	"filesight/internal/box"
	"filesight/internal/provider"
)

// a is the activities receiver for method references (samples-go style):
// only its method names are used, the worker registers the real instance.
var a *activities.Activities

// errDeadline marks a job whose deadline passed.
var errDeadline = errors.New("job deadline passed")

// Change IDs for workflow.GetVersion (docs/workflow.md, "Determinism").
const (
	// changeResubmit: a job that fails with a retryable job error is
	// submitted again (Options.MaxResubmissions). Runs recorded before it
	// report the failure as it is.
	changeResubmit = "resubmit-retryable-job-failures"
)

// minResubmitTime is the least time before a job's deadline worth a
// resubmission: a resubmitted job keeps its first submission's deadline.
const minResubmitTime = time.Minute

// ProcessFile is the workflow of one file version: steps 1–6 of docs/architecture.md.
// See docs/workflow.md for the walk-through, timeouts and retry policies.
func ProcessFile(ctx workflow.Context, in ProcessFileInput) (*ProcessFileResult, error) {
	if err := validateInput(in); err != nil {
		return nil, temporal.NewNonRetryableApplicationError("invalid input: "+err.Error(), "InvalidInput", nil)
	}
	opts := in.Options.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, temporal.NewNonRetryableApplicationError("invalid options: "+err.Error(), "InvalidInput", nil)
	}
	r := &run{
		in:        in,
		opts:      opts,
		wfID:      workflow.GetInfo(ctx).WorkflowExecution.ID,
		stage:     StageStarting,
		mediaKind: MediaUnknown,
	}
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (Progress, error) { return r.progress(), nil }); err != nil {
		return nil, fmt.Errorf("registering the %s query: %w", QueryProgress, err)
	}
	// Callbacks are received for the whole run; a goroutine blocked on the
	// channel when the workflow ends is simply dropped.
	sig := workflow.GetSignalChannel(ctx, SignalJobCallback)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var cb JobCallback
			if more := sig.Receive(ctx, &cb); !more {
				return
			}
			r.onCallback(ctx, cb)
		}
	})
	r.upsert(ctx, temporal.NewSearchAttributeKeyKeyword(SearchAttrFileID).ValueSet(in.FileID))
	r.setStage(ctx, StageStarting)

	res, err := r.process(ctx)
	return r.finish(ctx, res, err)
}

func validateInput(in ProcessFileInput) error {
	for _, f := range [][2]string{{"file_id", in.FileID}, {"file_version_id", in.FileVersionID}} {
		if strings.ContainsAny(f[1], "/?#% \t\r\n") || len(f[1]) > 64 {
			return fmt.Errorf("%s %q is not a Box ID", f[0], f[1])
		}
	}
	if in.FileID == "" {
		return errors.New("file_id is required")
	}
	return nil
}

// run is the state of one execution. Only workflow code touches it, and
// the query handler reads it; everything is kept in slices, never ranged
// over as maps, so that the order of commands is deterministic.
type run struct {
	in        ProcessFileInput
	opts      Options
	wfID      string
	stage     string
	mediaKind string
	fileName  string
	outcome   string
	failed    []string
	warnings  []string

	tokens    []*tokenRun
	jobs      []*jobRun
	callbacks []JobCallback // distinct callbacks received

	// cardsStarted is set once the run owns the file's cards (supported,
	// current version): from then on a cancelled or failed run leaves a
	// status card saying so instead of "processing".
	cardsStarted bool
}

type tokenRun struct {
	tok   activities.Token
	state string
	err   string
}

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

// process runs steps 1–5. It returns the result, or an error (cancellation
// included) for finish to clean up after.
func (r *run) process(ctx workflow.Context) (*ProcessFileResult, error) {
	r.setStage(ctx, StageDescribing)

	// Step 2: read token → describe → pipeline.
	read, err := r.issueToken(ctx, activities.PurposeRead, activities.ScopeItemPreview, activities.ScopeItemDownload)
	if err != nil {
		if hasType(err, activities.ErrTypeNotFound) {
			r.outcome = OutcomeNotFound
			return &ProcessFileResult{Outcome: OutcomeNotFound, MediaKind: MediaUnknown,
				Message: fmt.Sprintf("File %s does not exist; nothing to do.", r.in.FileID)}, nil
		}
		return nil, fmt.Errorf("issuing the read token: %w", err)
	}
	var info activities.FileInfo
	err = workflow.ExecuteActivity(r.ao(ctx, describeOptions, "Describe file %s with the read token", r.in.FileID), a.DescribeFile,
		activities.DescribeFileInput{FileID: r.in.FileID, Token: read.tok}).Get(ctx, &info)
	if err != nil {
		return nil, fmt.Errorf("describing file %s: %w", r.in.FileID, err)
	}
	if !info.Found {
		r.revoke(ctx, read)
		r.outcome = OutcomeNotFound
		return &ProcessFileResult{Outcome: OutcomeNotFound, MediaKind: MediaUnknown,
			Message: fmt.Sprintf("File %s no longer exists; nothing to do.", r.in.FileID)}, nil
	}
	r.fileName = info.Name
	if r.in.FileVersionID != "" && info.FileVersionID != "" && info.FileVersionID != r.in.FileVersionID {
		// A newer version has its own workflow, which owns the cards now.
		r.revoke(ctx, read)
		r.outcome = OutcomeSuperseded
		return &ProcessFileResult{Outcome: OutcomeSuperseded, MediaKind: MediaUnknown,
			Message: fmt.Sprintf("File %s is now at version %s; version %s is not analysed.", r.in.FileID, info.FileVersionID, r.in.FileVersionID)}, nil
	}
	kind, reason := r.opts.classify(info.Name, info.Extension, info.Size)
	r.mediaKind = kind
	r.upsert(ctx, temporal.NewSearchAttributeKeyKeyword(SearchAttrMediaKind).ValueSet(kind))
	if kind == MediaUnsupported {
		r.revoke(ctx, read)
		r.cardsStarted = true
		if err := r.writeStatus(ctx, box.StatusPermanentFailure, reason); err != nil {
			return nil, fmt.Errorf("writing the unsupported-file status card: %w", err)
		}
		r.outcome = OutcomeUnsupported
		return &ProcessFileResult{Outcome: OutcomeUnsupported, MediaKind: kind, Cards: []string{"status"}, Message: reason}, nil
	}

	// Step 3: "processing" status card, with a write token of its own.
	r.setStage(ctx, StageSubmitting)
	r.cardsStarted = true
	specs := r.opts.jobsFor(kind)
	if err := r.writeStatus(ctx, box.StatusProcessing, processingMessage(kind, specs)); err != nil {
		if temporal.IsCanceledError(err) {
			return nil, err
		}
		// Not fatal: the final write will try again with a new token.
		r.warn("the processing status card was not written: %v", err)
	}

	// Step 4: submit every job in parallel and wait for each.
	for _, s := range specs {
		j := &jobRun{spec: s, state: JobPending, attempt: 1}
		r.jobs = append(r.jobs, j)
	}
	for _, j := range r.jobs {
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer func() { j.finished = true; r.updateDetails(ctx) }()
			r.runJob(ctx, j, read.tok)
		})
	}
	r.setStage(ctx, StageProcessing)
	// The read token goes as soon as every provider has the media (or its
	// job is over, one way or the other).
	if err := workflow.Await(ctx, func() bool {
		for _, j := range r.jobs {
			if !j.mediaFetched && !j.finished && !j.readDone {
				return false
			}
		}
		return true
	}); err != nil {
		return nil, err
	}
	r.revoke(ctx, read)
	if err := workflow.Await(ctx, r.allJobsFinished); err != nil {
		return nil, err
	}

	// Step 5: the cards, with a fresh write token.
	r.setStage(ctx, StageWriting)
	outcomes := make([]activities.JobOutcome, 0, len(r.jobs))
	for _, j := range r.jobs {
		o := activities.JobOutcome{
			Name: j.spec.Name, Ref: j.ref, Analyses: j.spec.Analyses, State: j.state, Status: j.analyses, Error: j.err,
			Retryable: j.retryable,
		}
		if len(j.prior) > 0 {
			o.Attempt = j.attempt
			for _, p := range j.prior {
				o.PreviousErrors = append(o.PreviousErrors, p.Error)
			}
		}
		outcomes = append(outcomes, o)
	}
	var wr activities.WriteCardsResult
	err = r.withWriteToken(ctx, func(tok activities.Token) error {
		return workflow.ExecuteActivity(r.ao(ctx, r.writeOptions(ctx, tok), "Write skills cards to file %s (%d job(s))", r.in.FileID, len(outcomes)),
			a.WriteCards, activities.WriteCardsInput{FileID: r.in.FileID, Token: tok, InvocationID: r.wfID, Jobs: outcomes}).Get(ctx, &wr)
	})
	if err != nil {
		return nil, fmt.Errorf("writing the cards: %w", err)
	}
	res := &ProcessFileResult{MediaKind: kind, Cards: wr.Cards, Failed: wr.Failed, Message: wr.Message}
	switch {
	case wr.StatusCode == box.StatusSuccess:
		res.Outcome = OutcomeSuccess
	case len(wr.Cards) > 1: // something besides the status card
		res.Outcome = OutcomePartial
	default:
		res.Outcome = OutcomeFailed
	}
	r.outcome, r.failed = res.Outcome, res.Failed
	return res, nil
}

// finish is step 6, the compensation: whatever happened, cancel what still
// runs at the providers, leave an honest status card, and revoke every
// token. It runs on a disconnected context so that a cancelled workflow
// still does all of it.
func (r *run) finish(ctx workflow.Context, res *ProcessFileResult, procErr error) (*ProcessFileResult, error) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	cancelled := procErr != nil && (temporal.IsCanceledError(procErr) || ctx.Err() != nil)
	if procErr != nil {
		r.setStage(dctx, StageCleaningUp)
		// Let every job goroutine settle first: a submission in flight when
		// the cancellation came may still hand us a job to cancel.
		_ = workflow.Await(dctx, r.allJobsFinished)
		r.cancelOpenJobs(dctx)
		if r.cardsStarted {
			msg := "Processing was cancelled before it finished; no results were written."
			if !cancelled {
				msg = "Processing failed: " + failureText(procErr)
			}
			r.writeStatusBestEffort(dctx, box.StatusPermanentFailure, msg)
		}
	}
	r.revokeAll(dctx)

	issued, revoked := len(r.tokens), 0
	for _, t := range r.tokens {
		if t.state == activities.TokenRevoked || t.state == activities.TokenExpired {
			revoked++
		}
	}
	switch {
	case cancelled:
		r.outcome = "cancelled"
		r.setStage(dctx, StageCancelled)
		return nil, procErr
	case procErr != nil:
		r.outcome = OutcomeFailed
		r.setStage(dctx, StageFailed)
		return nil, procErr
	}
	res.TokensIssued, res.TokensRevoked = issued, revoked
	switch res.Outcome {
	case OutcomeSuccess:
		r.setStage(dctx, StageDone)
	case OutcomePartial:
		r.setStage(dctx, StagePartial)
	case OutcomeUnsupported:
		r.setStage(dctx, StageUnsupported)
	case OutcomeSuperseded, OutcomeNotFound:
		r.setStage(dctx, StageSkipped)
	default:
		r.setStage(dctx, StageFailed)
	}
	return res, nil
}

func (r *run) allJobsFinished() bool {
	for _, j := range r.jobs {
		if !j.finished {
			return false
		}
	}
	return true
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

// isPollTimeout recognises the end of a poll activity by its deadline:
// either the schedule-to-close timeout fired, or the next retry would have
// been after it (then the last "still running" failure is returned).
func isPollTimeout(err error) bool {
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		return true
	}
	var ae *temporal.ActivityError
	if errors.As(err, &ae) && ae.RetryState() == enumspb.RETRY_STATE_TIMEOUT {
		return true
	}
	return hasType(err, activities.ErrTypeStillRunning)
}

// hasType reports whether err carries an application error of type typ.
func hasType(err error, typ string) bool {
	var app *temporal.ApplicationError
	return err != nil && errors.As(err, &app) && app.Type() == typ
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

// --- tokens -----------------------------------------------------------------

func (r *run) issueToken(ctx workflow.Context, purpose string, scopes ...string) (*tokenRun, error) {
	return r.issueTokenWith(ctx, issueOptions, purpose, scopes...)
}

func (r *run) issueTokenWith(ctx workflow.Context, o workflow.ActivityOptions, purpose string, scopes ...string) (*tokenRun, error) {
	var tok activities.Token
	err := workflow.ExecuteActivity(r.ao(ctx, o, "Issue %s token (%s) for file %s", purpose, strings.Join(scopes, " "), r.in.FileID),
		a.IssueToken, activities.IssueTokenInput{FileID: r.in.FileID, Purpose: purpose, Scopes: scopes}).Get(ctx, &tok)
	if err != nil {
		return nil, err
	}
	t := &tokenRun{tok: tok, state: activities.TokenIssued}
	r.tokens = append(r.tokens, t)
	r.updateDetails(ctx)
	return t, nil
}

// revoke revokes one token now, on a disconnected context: revocation must
// happen even if the workflow is being cancelled.
func (r *run) revoke(ctx workflow.Context, t *tokenRun) {
	if t.state != activities.TokenIssued {
		return
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	r.collectRevoke(dctx, t, r.startRevoke(dctx, t))
}

func (r *run) startRevoke(ctx workflow.Context, t *tokenRun) workflow.Future {
	return workflow.ExecuteActivity(r.ao(ctx, revokeOptions, "Revoke %s token %s", t.tok.Purpose, t.tok.ID), a.RevokeToken, t.tok)
}

func (r *run) collectRevoke(ctx workflow.Context, t *tokenRun, f workflow.Future) {
	var res activities.RevokeTokenResult
	if err := f.Get(ctx, &res); err != nil {
		t.state, t.err = activities.TokenRevokeFailed, failureText(err)
		r.warn("revoking %s token %s failed: %v", t.tok.Purpose, t.tok.ID, t.err)
	} else {
		t.state = res.State
	}
	r.updateDetails(ctx)
}

// revokeAll revokes, in parallel, every token still issued.
func (r *run) revokeAll(ctx workflow.Context) {
	var open []*tokenRun
	var fs []workflow.Future
	for _, t := range r.tokens {
		if t.state == activities.TokenIssued {
			open = append(open, t)
			fs = append(fs, r.startRevoke(ctx, t))
		}
	}
	for i, f := range fs {
		r.collectRevoke(ctx, open[i], f)
	}
}

// withWriteToken issues a write token for one write and revokes it right
// after. If the write is refused because the token was rejected (expired
// while the write was retrying), it tries once more with a new token.
func (r *run) withWriteToken(ctx workflow.Context, write func(activities.Token) error) error {
	var err error
	for round := 0; round < 2; round++ {
		var t *tokenRun
		t, err = r.issueToken(ctx, activities.PurposeWrite, activities.ScopeItemUpload)
		if err != nil {
			return fmt.Errorf("issuing a write token: %w", err)
		}
		err = write(t.tok)
		r.revoke(ctx, t)
		if !hasType(err, activities.ErrTypeTokenRejected) {
			return err
		}
	}
	return err
}

func (r *run) writeStatus(ctx workflow.Context, code, message string) error {
	return r.withWriteToken(ctx, func(tok activities.Token) error {
		return workflow.ExecuteActivity(r.ao(ctx, r.writeOptions(ctx, tok), "Write %q status card to file %s", code, r.in.FileID), a.WriteStatus,
			activities.WriteStatusInput{FileID: r.in.FileID, Token: tok, InvocationID: r.wfID, Code: code, Message: message}).Get(ctx, nil)
	})
}

// writeStatusBestEffort is for clean-up: bounded retries, failure only warned.
func (r *run) writeStatusBestEffort(ctx workflow.Context, code, message string) {
	t, err := r.issueTokenWith(ctx, bestEffort(issueOptions), activities.PurposeWrite, activities.ScopeItemUpload)
	if err != nil {
		r.warn("the final status card was not written: issuing a write token: %v", failureText(err))
		return
	}
	o := bestEffort(r.writeOptions(ctx, t.tok))
	err = workflow.ExecuteActivity(r.ao(ctx, o, "Write %q status card to file %s", code, r.in.FileID), a.WriteStatus,
		activities.WriteStatusInput{FileID: r.in.FileID, Token: t.tok, InvocationID: r.wfID, Code: code, Message: message}).Get(ctx, nil)
	if err != nil {
		r.warn("the final status card was not written: %v", failureText(err))
	}
	r.revoke(ctx, t)
}

// --- presentation -------------------------------------------------------------

func (r *run) setStage(ctx workflow.Context, stage string) {
	r.stage = stage
	r.upsert(ctx, temporal.NewSearchAttributeKeyKeyword(SearchAttrStage).ValueSet(stage))
	r.updateDetails(ctx)
}

func (r *run) upsert(ctx workflow.Context, u temporal.SearchAttributeUpdate) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, u); err != nil {
		workflow.GetLogger(ctx).Warn("upserting a search attribute failed", "error", err)
	}
}

func (r *run) warn(format string, args ...any) {
	if len(r.warnings) < 32 {
		r.warnings = append(r.warnings, fmt.Sprintf(format, args...))
	}
}

// updateDetails refreshes the workflow's "current details", the markdown
// the Temporal UI shows on the workflow page. No secret ever goes in.
func (r *run) updateDetails(ctx workflow.Context) {
	var b strings.Builder
	b.WriteString(fmt.Sprintf("**Stage:** %s  \n**File:** %s", r.stage, r.in.FileID))
	if r.in.FileVersionID != "" {
		b.WriteString(fmt.Sprintf(" v%s", r.in.FileVersionID))
	}
	if r.fileName != "" {
		b.WriteString(fmt.Sprintf(" (%s)", r.fileName))
	}
	b.WriteString(fmt.Sprintf("  \n**Media:** %s\n", r.mediaKind))
	for _, j := range r.jobs {
		b.WriteString(fmt.Sprintf("\n- job `%s` on %s: **%s**", j.spec.Name, j.spec.Provider, j.state))
		if j.ref.ID != "" {
			b.WriteString(fmt.Sprintf(" (id %s)", j.ref.ID))
		}
		if j.attempt > 1 {
			b.WriteString(fmt.Sprintf(", attempt %d", j.attempt))
		}
		if j.mediaFetched {
			b.WriteString(", media fetched")
		}
		if j.err != "" {
			b.WriteString(fmt.Sprintf(" — %s", j.err))
		}
	}
	if len(r.tokens) > 0 {
		b.WriteString("\n\n**Tokens:**")
		for _, t := range r.tokens {
			b.WriteString(fmt.Sprintf(" %s %s=%s;", t.tok.Purpose, t.tok.ID, t.state))
		}
	}
	workflow.SetCurrentDetails(ctx, b.String())
}

func (r *run) progress() Progress {
	p := Progress{
		WorkflowID: r.wfID, FileID: r.in.FileID, FileName: r.fileName, Stage: r.stage, MediaKind: r.mediaKind,
		Jobs: []JobProgress{}, Tokens: []TokenProgress{}, Callbacks: len(r.callbacks), Outcome: r.outcome,
		Failed: slices.Clone(r.failed), Warnings: slices.Clone(r.warnings),
	}
	for _, j := range r.jobs {
		p.Jobs = append(p.Jobs, JobProgress{
			Name: j.spec.Name, Provider: j.spec.Provider, JobID: j.ref.ID, Analyses: slices.Clone(j.spec.Analyses),
			State: j.state, MediaFetched: j.mediaFetched, Deadline: j.deadline, Callback: j.callbackUsed || r.callbackPending(j), Error: j.err,
			Attempt: j.attempt, PreviousAttempts: slices.Clone(j.prior),
		})
	}
	for _, t := range r.tokens {
		p.Tokens = append(p.Tokens, TokenProgress{
			ID: t.tok.ID, Purpose: t.tok.Purpose, Scopes: slices.Clone(t.tok.Scopes), State: t.state, ExpiresAt: t.tok.ExpiresAt,
		})
	}
	return p
}

func processingMessage(kind string, specs []JobSpec) string {
	var names []string
	for _, s := range specs {
		for _, an := range s.Analyses {
			if n := analysisLabel(an); n != "" && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return fmt.Sprintf("Analysing this %s file (%s). Results will appear here when ready.", kind, strings.Join(names, ", "))
}

func analysisLabel(a string) string {
	switch a {
	case provider.AnalysisTranscript:
		return "transcript"
	case provider.AnalysisKeywords:
		return "keywords"
	case provider.AnalysisScenes:
		return "scenes"
	case provider.AnalysisOCR:
		return "on-screen text"
	}
	return ""
}

// failureText is the innermost useful message of an activity error chain,
// without Temporal's wrapping ("activity error (type: ..., scheduledEventID...)").
func failureText(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		return "timed out (" + strings.ToLower(strings.TrimPrefix(te.TimeoutType().String(), "TIMEOUT_TYPE_")) + ")"
	}
	var ce *temporal.CanceledError
	if errors.As(err, &ce) {
		return "cancelled"
	}
	return err.Error()
}

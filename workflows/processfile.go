package workflows

import (
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"filesight/activities"
	"filesight/internal/box"
)

// This file is the run and its steps; jobs.go runs each ML job, tokens.go
// issues and revokes the downscoped tokens, progress.go presents the run
// (query, search attributes, current details), errors.go reads failures.

// a is the activities receiver for method references (samples-go style):
// only its method names are used, the worker registers the real instance.
var a *activities.Activities

// Change IDs for workflow.GetVersion (docs/workflow.md, "Determinism").
const (
	// changeResubmit: a job that fails with a retryable job error is
	// submitted again (Options.MaxResubmissions). Runs recorded before it
	// report the failure as it is.
	changeResubmit = "resubmit-retryable-job-failures"
	// changeProviderPlan: the worker plans the jobs (PlanJobs, a local
	// activity): providers per analysis, and each provider's deadline, poll
	// interval, task queue and concurrency cap (a lease of its semaphore
	// before submission). Runs recorded before run the pipeline as it is,
	// every activity on the workflow's queue.
	changeProviderPlan = "provider-plan"
	// changeStageUpserts: the search attributes are upserted only where a
	// user filters on them (publishedStage): FileID and Stage at the start
	// unless the starter set them, MediaKind with Stage "processing", and
	// the final Stage; the stages between live in the progress query and
	// the UI's current details only. Each upsert is a history event and a
	// visibility write. Runs recorded before upsert every stage as it comes.
	changeStageUpserts = "stage-upserts-at-transitions"
)

// ProcessFile is the workflow of one file version: steps 1–6 of docs/architecture.md.
// See docs/workflow.md for the walk-through, timeouts and retry policies.
func ProcessFile(ctx workflow.Context, in ProcessFileInput) (*ProcessFileResult, error) {
	if err := validateInput(in); err != nil {
		return nil, invalidInput("invalid input", err)
	}
	opts := in.Options.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, invalidInput("invalid options", err)
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
	r.fewerUpserts = workflow.GetVersion(ctx, changeStageUpserts, workflow.DefaultVersion, 1) >= 1
	if r.fewerUpserts {
		r.publishStart(ctx)
	} else {
		r.upsert(ctx, temporal.NewSearchAttributeKeyKeyword(SearchAttrFileID).ValueSet(in.FileID))
		r.setStage(ctx, StageStarting)
	}

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
	stage     Stage
	mediaKind MediaKind
	fileName  string
	outcome   Outcome
	failed    []string
	warnings  []string

	tokens    []*tokenRun
	jobs      []*jobRun
	callbacks []JobCallback // distinct callbacks received

	// cardsStarted is set once the run owns the file's cards (supported,
	// current version): from then on a cancelled or failed run leaves a
	// status card saying so instead of "processing".
	cardsStarted bool
	// grantsListened is set once the goroutine receiving lease grants runs.
	grantsListened bool
	// fewerUpserts is set when the run upserts its search attributes only
	// at published stages (changeStageUpserts); pending holds what waits
	// for the next one.
	fewerUpserts bool
	pending      []temporal.SearchAttributeUpdate
}

// process runs steps 1–5. It returns the result, or an error (cancellation
// included) for finish to clean up after.
func (r *run) process(ctx workflow.Context) (*ProcessFileResult, error) {
	r.setStage(ctx, StageDescribing)

	// Step 2: read token → describe → pipeline.
	read, err := r.issueToken(ctx, activities.PurposeRead, box.ScopeItemPreview, box.ScopeItemDownload)
	if err != nil {
		if activities.ErrTypeNotFound.Matches(err) {
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
	r.setMediaKind(ctx, kind)
	if kind == MediaUnsupported {
		r.revoke(ctx, read)
		r.cardsStarted = true
		if err := r.writeStatus(ctx, duringRun, box.StatusPermanentFailure, reason); err != nil {
			return nil, fmt.Errorf("writing the unsupported-file status card: %w", err)
		}
		r.outcome = OutcomeUnsupported
		return &ProcessFileResult{Outcome: OutcomeUnsupported, MediaKind: kind, Cards: []string{"status"}, Message: reason}, nil
	}

	// Step 3: "processing" status card, with a write token of its own.
	r.setStage(ctx, StageSubmitting)
	r.cardsStarted = true
	jobs, err := r.planJobs(ctx, kind)
	if err != nil {
		return nil, err
	}
	if err := r.writeStatus(ctx, duringRun, box.StatusProcessing, processingMessage(kind, specsOf(jobs))); err != nil {
		if temporal.IsCanceledError(err) {
			return nil, err
		}
		// Not fatal: the final write will try again with a new token.
		r.warn("the processing status card was not written: %v", err)
	}

	// Step 4: submit every job in parallel and wait for each.
	r.jobs = jobs
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
			Retryable: j.retryable, ErrorCode: j.errCode,
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
	err = r.withWriteToken(ctx, duringRun, func(tok activities.Token) error {
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
		r.releaseLeases(dctx)
		if r.cardsStarted {
			msg := "Processing was cancelled before it finished; no results were written."
			if !cancelled {
				msg = "Processing failed: " + failureText(procErr)
			}
			if err := r.writeStatus(dctx, duringCleanUp, box.StatusPermanentFailure, msg); err != nil {
				why := failureText(err)
				if errors.Is(err, errWriteToken) {
					why = errWriteToken.Error() + ": " + why
				}
				r.warn("the final status card was not written: %s", why)
			}
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
		r.outcome = OutcomeCancelled
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

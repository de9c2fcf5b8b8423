package whisper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"filesight/internal/provider"
	"filesight/internal/provider/claimcheck"
	"filesight/internal/tokenseal"
)

// Provider runs transcription jobs on filesight's own workers (see the
// package documentation). It implements provider.Provider and
// provider.Capabilities.
type Provider struct {
	cfg    Config
	tc     client.Client
	store  claimcheck.Store
	sealer *tokenseal.Sealer
}

var (
	_ provider.Provider     = (*Provider)(nil)
	_ provider.Capabilities = (*Provider)(nil)
)

// New returns the provider; cfg must be valid. tc is the worker's Temporal
// client; store is the same store the job's workers write to; sealer seals
// the read token into the job's input with the workers' keys (the job's
// workers open it with the same keys).
func New(cfg Config, tc client.Client, store claimcheck.Store, sealer *tokenseal.Sealer) *Provider {
	return &Provider{cfg: cfg, tc: tc, store: store, sealer: sealer}
}

// String describes the provider without the key.
func (p *Provider) String() string { return "whisper.Provider{" + p.cfg.String() + "}" }

// GoString is String, for %#v.
func (p *Provider) GoString() string { return p.String() }

// Name is the provider name.
func (p *Provider) Name() string { return p.cfg.name() }

// Policy is the configured deadline and poll interval.
func (p *Provider) Policy() provider.Policy { return p.cfg.Policy() }

// TaskQueue is the queue the job's workers must poll.
func (p *Provider) TaskQueue() string { return p.cfg.TaskQueue }

// Supports: the transcript with word timings and the media's duration.
func (p *Provider) Supports(analysis string) bool {
	return analysis == provider.AnalysisTranscript || analysis == provider.AnalysisMedia
}

// JobID is the job workflow's ID for an idempotency key.
func (p *Provider) JobID(idempotencyKey string) string { return p.Name() + ":" + idempotencyKey }

func (p *Provider) jobID(op string, ref provider.JobRef) (string, error) {
	if err := provider.CheckRef(ref, p.Name()); err != nil {
		return "", &provider.Error{Op: op, Message: err.Error()}
	}
	return ref.ID, nil
}

// Submit starts the job workflow, or returns the one started earlier with
// the same idempotency key (running or finished: the workflow ID is the
// key, and a finished ID is not reused). CallbackURL is not used: the job
// signals the submitting workflow (the workflow_id label) directly.
func (p *Provider) Submit(ctx context.Context, req provider.JobRequest) (provider.JobRef, error) {
	for _, a := range req.Analyses {
		if !p.Supports(a) {
			return provider.JobRef{}, &provider.Error{Op: "submit", Code: "unsupported_analysis",
				Message: fmt.Sprintf("%s does not perform the %s analysis (it does: transcript, media)", p.Name(), a)}
		}
	}
	if req.IdempotencyKey == "" {
		return provider.JobRef{}, &provider.Error{Op: "submit", Code: "invalid_request", Message: "an idempotency key is required"}
	}
	if req.MediaURL == "" || req.MediaToken.IsZero() {
		return provider.JobRef{}, &provider.Error{Op: "submit", Code: "invalid_request", Message: "a media URL and a read token are required"}
	}
	id := p.JobID(req.IdempotencyKey)
	if p.sealer == nil {
		return provider.JobRef{}, &provider.Error{Op: "submit", Code: "not_configured", Message: "no token sealer: the read token cannot be handed to the job"}
	}
	sealed, err := p.sealer.Seal(req.MediaToken, MediaTokenLabel(id))
	if err != nil {
		return provider.JobRef{}, &provider.Error{Op: "submit", Code: "seal_failed", Message: "the read token could not be sealed", Err: err}
	}
	in := JobInput{
		Provider: p.Name(), ParentWorkflowID: req.Labels[provider.LabelWorkflowID], Signal: p.cfg.Signal,
		MediaURL: req.MediaURL, SealedMediaToken: sealed, Analyses: slices.Clone(req.Analyses),
		AttemptTimeout: p.cfg.AttemptTimeout, HeartbeatTimeout: p.cfg.HeartbeatTimeout, MaxAttempts: p.cfg.MaxAttempts,
		RetryInterval: p.cfg.RetryInterval,
	}
	_, err = p.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: p.cfg.TaskQueue, WorkflowExecutionTimeout: p.cfg.JobTimeout,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            "Transcription job of " + req.Labels[provider.LabelWorkflowID],
	}, JobWorkflowName, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) {
		return provider.JobRef{}, temporalError("submit", err)
	}
	return provider.JobRef{Provider: p.Name(), ID: id}, nil
}

// temporalError maps a Temporal client error: an unknown job is a 404,
// anything the service may get over (unavailable, deadline, resource
// exhausted) is retryable.
func temporalError(op string, err error) error {
	var nf *serviceerror.NotFound
	var inv *serviceerror.InvalidArgument
	var denied *serviceerror.PermissionDenied
	switch {
	case errors.As(err, &nf):
		return &provider.Error{Op: op, StatusCode: http.StatusNotFound, Code: "job_not_found", Message: "no such transcription job"}
	case errors.As(err, &inv), errors.As(err, &denied):
		return &provider.Error{Op: op, Code: "rejected", Message: "Temporal refused the request: " + provider.Redact(err.Error())}
	case errors.Is(err, context.Canceled):
		return err
	}
	return &provider.Error{Op: op, Retryable: true, Code: "unavailable", Message: "Temporal unavailable: " + provider.Redact(err.Error()), Err: err}
}

// Status describes the job workflow. While it runs, the activity's state
// says whether the job waits for a worker (queued) or runs; the media
// counts as fetched only when the job has ended, because an attempt
// retried after a crash downloads it again with the same read token.
func (p *Provider) Status(ctx context.Context, ref provider.JobRef) (provider.JobStatus, error) {
	id, err := p.jobID("status", ref)
	if err != nil {
		return provider.JobStatus{}, err
	}
	d, err := p.tc.DescribeWorkflow(ctx, id, "")
	if err != nil {
		return provider.JobStatus{}, temporalError("status", err)
	}
	st := provider.JobStatus{Ref: provider.JobRef{Provider: p.Name(), ID: id}, RetryAfter: p.cfg.PollInterval}
	switch d.Status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		st.State = provider.StateQueued
		if d.RawResponse != nil {
			for _, a := range d.RawResponse.GetPendingActivities() {
				if a.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED || a.GetAttempt() > 1 {
					st.State, st.Progress = provider.StateRunning, 0.5
				}
			}
		}
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		st.State, st.Progress, st.MediaFetched = provider.StateSucceeded, 1, true
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		st.State, st.MediaFetched = provider.StateFailed, true
		st.Error = p.failure(ctx, id, d.Status)
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED, enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		st.State, st.MediaFetched = provider.StateCanceled, true
	default:
		st.State = provider.StateRunning
	}
	if d.WorkflowCloseTime != nil {
		st.UpdatedAt = *d.WorkflowCloseTime
	} else {
		st.UpdatedAt = d.WorkflowStartTime
	}
	if st.State.Terminal() {
		st.RetryAfter = 0
	}
	for _, a := range []string{provider.AnalysisMedia, provider.AnalysisTranscript} {
		st.Analyses = append(st.Analyses, provider.AnalysisState{Name: a, State: st.State})
	}
	return st, nil
}

// failure reads why a closed job failed: the job workflow's error details.
func (p *Provider) failure(ctx context.Context, id string, status enumspb.WorkflowExecutionStatus) *provider.JobError {
	if status == enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT {
		return &provider.JobError{Code: "timed_out", Message: fmt.Sprintf("the transcription did not finish within %s", p.cfg.JobTimeout), Retryable: true}
	}
	err := p.tc.GetWorkflow(ctx, id, "").Get(ctx, nil)
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		var je provider.JobError
		if ae.HasDetails() && ae.Details(&je) == nil && je.Code != "" {
			return &je
		}
		return &provider.JobError{Code: ae.Type(), Message: provider.Redact(ae.Message()), Retryable: !ae.NonRetryable()}
	}
	return &provider.JobError{Code: "failed", Message: "the transcription job failed", Retryable: true}
}

// Result reads the job's result from the store.
func (p *Provider) Result(ctx context.Context, ref provider.JobRef) (*provider.Result, error) {
	id, err := p.jobID("result", ref)
	if err != nil {
		return nil, err
	}
	b, err := p.store.Get(ctx, resultKey(id))
	if errors.Is(err, claimcheck.ErrNotFound) {
		st, serr := p.Status(ctx, ref)
		switch {
		case serr != nil:
			return nil, serr
		case st.State == provider.StateSucceeded:
			return nil, &provider.Error{Op: "result", Code: "result_missing",
				Message: "the job succeeded but its result is not in the store (pruned, or the store is not shared by every worker)"}
		case st.State.Terminal():
			return nil, &provider.Error{Op: "result", Code: "job_" + string(st.State), Message: "the job did not succeed"}
		}
		return nil, &provider.Error{Op: "result", Code: "not_finished", Retryable: true, Message: "the job is not finished"}
	}
	if err != nil {
		return nil, &provider.Error{Op: "result", Code: "store", Retryable: true, Message: "reading the result failed: " + provider.Redact(err.Error()), Err: err}
	}
	var r provider.Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, &provider.Error{Op: "result", Code: "store", Message: "the stored result is damaged"}
	}
	return &r, nil
}

// Cancel cancels the job workflow; its activity learns of it at its next
// heartbeat and aborts the request. A finished or unknown job is left
// alone.
func (p *Provider) Cancel(ctx context.Context, ref provider.JobRef) error {
	id, err := p.jobID("cancel", ref)
	if err != nil {
		return err
	}
	err = p.tc.CancelWorkflow(ctx, id, "")
	var nf *serviceerror.NotFound
	if err == nil || errors.As(err, &nf) || strings.Contains(strings.ToLower(err.Error()), "already completed") {
		return nil
	}
	return temporalError("cancel", err)
}

package whisper

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"filesight/internal/provider"
)

// Registered names of the job's workflow and activity (explicit, so they
// cannot collide with anything else a worker registers).
const (
	JobWorkflowName = "whisper.TranscriptionJob"
	ActivityName    = "whisper.Transcribe"
)

// Activity error types (application error types of Transcribe). Retrying
// cannot cure any of them; a transient failure is ErrTypeUnavailable.
const (
	ErrTypeUnavailable       = "Unavailable"
	ErrTypeMediaUnauthorized = "media_unauthorized"
	ErrTypeMediaNotFound     = "media_not_found"
	ErrTypeMediaRejected     = "media_fetch_rejected"
	ErrTypeMediaTooLarge     = "media_too_large"
	ErrTypeUnsupportedMedia  = "unsupported_media"
	ErrTypeProviderAuth      = "provider_auth"
	ErrTypeQuotaExceeded     = "quota_exceeded"
	ErrTypeRejected          = "rejected"
	ErrTypeBadAnswer         = "bad_answer"
	ErrTypeStore             = "store_failed"
)

// JobInput starts a job. The timeouts come from the submitting worker's
// configuration, so the workflow does not depend on the configuration of
// the worker that happens to run it.
type JobInput struct {
	Provider string `json:"provider"`
	// ParentWorkflowID is signalled with Signal when the job ends.
	ParentWorkflowID string `json:"parent_workflow_id,omitempty"`
	Signal           string `json:"signal,omitempty"`
	MediaURL         string `json:"media_url"`
	// SealedMediaToken is the file-scoped read token, sealed for this job
	// (internal/tokenseal) with the workers' key: the job's history shows
	// it to whoever may decode payloads, who cannot use it.
	SealedMediaToken string        `json:"sealed_media_token"`
	Analyses         []string      `json:"analyses"`
	AttemptTimeout   time.Duration `json:"attempt_timeout"`
	HeartbeatTimeout time.Duration `json:"heartbeat_timeout"`
	MaxAttempts      int           `json:"max_attempts"`
	// RetryInterval is the first pause before a retry (default 5 s),
	// doubling up to two minutes; a server's Retry-After takes precedence.
	RetryInterval time.Duration `json:"retry_interval,omitempty"`
}

// JobOutput summarises a finished job; the result itself is in the store.
type JobOutput struct {
	Words    int     `json:"words"`
	Duration float64 `json:"duration"`
	Language string  `json:"language,omitempty"`
}

// TranscribeInput is the activity's input.
type TranscribeInput struct {
	JobID            string `json:"job_id"`
	MediaURL         string `json:"media_url"`
	SealedMediaToken string `json:"sealed_media_token"`
}

// MediaTokenLabel is the label (internal/tokenseal) a job's read token is
// sealed for: the job's ID, so that a sealed token opens for that job only.
func MediaTokenLabel(jobID string) string { return "whisper-media/" + jobID }

// callbackSignal is the payload of the signal sent to the submitting
// workflow; its JSON is that of the job callback the starter delivers for
// other providers ({provider, job_id, status}).
type callbackSignal struct {
	Provider string `json:"provider"`
	JobID    string `json:"job_id"`
	Status   string `json:"status"`
}

// TranscriptionJob is the job workflow: one Transcribe activity, retried
// (on any worker of the task queue) until it succeeds, fails for good, or
// the job's deadline (the workflow's execution timeout) passes. A failure
// is returned as a non-retryable application error whose details are the
// provider.JobError that Status reports.
func TranscriptionJob(ctx workflow.Context, in JobInput) (JobOutput, error) {
	jobID := workflow.GetInfo(ctx).WorkflowExecution.ID
	first := in.RetryInterval
	if first <= 0 {
		first = 5 * time.Second
	}
	ao := workflow.ActivityOptions{
		StartToCloseTimeout: in.AttemptTimeout,
		HeartbeatTimeout:    in.HeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    first,
			BackoffCoefficient: 2,
			MaximumInterval:    2 * time.Minute,
			MaximumAttempts:    int32(max(in.MaxAttempts, 1)),
		},
		Summary: "Transcribe the media",
	}
	var out JobOutput
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, ao), ActivityName, TranscribeInput{
		JobID: jobID, MediaURL: in.MediaURL, SealedMediaToken: in.SealedMediaToken,
	}).Get(ctx, &out)
	if err != nil && (temporal.IsCanceledError(err) || ctx.Err() != nil) {
		notify(ctx, in, jobID, provider.StateCanceled)
		return JobOutput{}, err
	}
	if err != nil {
		je := jobError(err)
		notify(ctx, in, jobID, provider.StateFailed)
		return JobOutput{}, temporal.NewNonRetryableApplicationError(je.Message, je.Code, nil, je)
	}
	notify(ctx, in, jobID, provider.StateSucceeded)
	return out, nil
}

// notify signals the submitting workflow, best effort: it may have ended,
// and polling finds the job's end anyway. A cancelled job notifies on a
// disconnected context.
func notify(ctx workflow.Context, in JobInput, jobID string, st provider.State) {
	if in.ParentWorkflowID == "" || in.Signal == "" {
		return
	}
	if ctx.Err() != nil {
		ctx, _ = workflow.NewDisconnectedContext(ctx)
	}
	err := workflow.SignalExternalWorkflow(ctx, in.ParentWorkflowID, "", in.Signal,
		callbackSignal{Provider: in.Provider, JobID: jobID, Status: string(st)}).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Info("could not signal the submitting workflow", "workflow_id", in.ParentWorkflowID, "error", err)
	}
}

// jobError turns the activity's final failure into the job's error. The
// activity's messages are already redacted and fixed in form.
func jobError(err error) provider.JobError {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		var je provider.JobError
		if ae.HasDetails() && ae.Details(&je) == nil && je.Code != "" {
			return je
		}
		return provider.JobError{Code: ae.Type(), Message: provider.Redact(ae.Message()), Retryable: !ae.NonRetryable()}
	}
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		return provider.JobError{Code: "timed_out", Message: "the transcription did not finish in time (" + te.TimeoutType().String() + ")", Retryable: true}
	}
	return provider.JobError{Code: "failed", Message: provider.Redact(err.Error()), Retryable: true}
}

package activities

import (
	"time"

	"filesight/internal/provider"
	"filesight/internal/secret"
)

// TokenPurpose says what a downscoped token is for; it is shown in the
// workflow's progress query and in logs.
type TokenPurpose string

// Token purposes.
const (
	PurposeRead  TokenPurpose = "read"
	PurposeWrite TokenPurpose = "write"
)

// TokenState is a downscoped token's state as the workflow tracks it.
type TokenState string

// Token states.
const (
	TokenIssued       TokenState = "issued"
	TokenRevoked      TokenState = "revoked"
	TokenExpired      TokenState = "expired" // nothing left to revoke
	TokenRevokeFailed TokenState = "revoke_failed"
)

// Token is a downscoped, file-restricted Box token as it travels between
// activities through workflow history. Its value is sealed
// (internal/tokenseal) with a key only the workers hold, so whoever may
// decode history — the Temporal UI and CLI through the codec server, an
// exported history — sees the sealed form and ID, a fingerprint of the
// value, and nothing they could use; any worker opens it, so a token issued
// by one worker is used and revoked by another.
type Token struct {
	ID        string       `json:"id"`
	Purpose   TokenPurpose `json:"purpose"`
	FileID    string       `json:"file_id"`
	Scopes    []string     `json:"scopes"`
	ExpiresAt time.Time    `json:"expires_at"`
	// Sealed is the value, sealed for this file and purpose.
	Sealed string `json:"sealed,omitempty"`
	// LegacyAccessToken is the value in clear, as runs recorded before
	// tokens were sealed carry it: it is read, so that those runs finish
	// and revoke their tokens, and never written.
	LegacyAccessToken secret.String `json:"access_token,omitempty"`
}

// sealLabel binds a sealed value to its file and purpose.
func (t Token) sealLabel() string { return "box-token/" + t.FileID + "/" + string(t.Purpose) }

// IssueTokenInput asks for a token restricted to one file.
type IssueTokenInput struct {
	FileID  string       `json:"file_id"`
	Purpose TokenPurpose `json:"purpose"`
	// Scopes are box.Scope* values.
	Scopes []string `json:"scopes"`
}

// RevokeTokenResult says what became of a token.
type RevokeTokenResult struct {
	// State is TokenRevoked, or TokenExpired when the token had already
	// expired and there was nothing left to revoke.
	State TokenState `json:"state"`
}

// DescribeFileInput asks for a file's authoritative description.
type DescribeFileInput struct {
	FileID string `json:"file_id"`
	Token  Token  `json:"token"`
}

// FileInfo is what the workflow needs to know about a file to choose a
// pipeline. It carries no secret.
type FileInfo struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Extension     string `json:"extension"`
	Size          int64  `json:"size"`
	FileVersionID string `json:"file_version_id"`
	// Found is false when the file no longer exists (deleted or trashed):
	// the workflow ends without an ML job and without a card.
	Found bool `json:"found"`
}

// WriteStatusInput writes the status card alone (replacing any cards an
// earlier version of the file had).
type WriteStatusInput struct {
	FileID string `json:"file_id"`
	Token  Token  `json:"token"`
	// InvocationID identifies this run on the card (the workflow ID).
	InvocationID string `json:"invocation_id"`
	Code         string `json:"code"` // box.Status* constant
	Message      string `json:"message"`
}

// SubmitJobInput submits one ML job.
type SubmitJobInput struct {
	Provider string `json:"provider"`
	// IdempotencyKey is derived from the workflow ID and the job's name, so
	// every retry (and a replayed workflow task) reaches the same job.
	IdempotencyKey string            `json:"idempotency_key"`
	FileID         string            `json:"file_id"`
	ReadToken      Token             `json:"read_token"`
	Analyses       []string          `json:"analyses"`
	Labels         map[string]string `json:"labels,omitempty"`
}

// AwaitMode is the condition AwaitJob waits for.
type AwaitMode string

// Modes of AwaitJob.
const (
	// AwaitMediaFetched ends when the provider has fetched the media (so the
	// read token can be revoked) or the job has ended.
	AwaitMediaFetched AwaitMode = "media_fetched"
	// AwaitTerminal ends when the job has ended.
	AwaitTerminal AwaitMode = "terminal"
)

// AwaitJobInput polls a job until the mode's condition holds.
type AwaitJobInput struct {
	Ref  provider.JobRef `json:"ref"`
	Mode AwaitMode       `json:"mode"`
	// MinDelay and MaxDelay bound the delay between polls (the provider's
	// Retry-After, when it gives one, is clamped into this range).
	MinDelay time.Duration `json:"min_delay"`
	MaxDelay time.Duration `json:"max_delay"`
}

// JobState is an ML job's state as the workflow tracks it and the card
// writer reads it: one of the states below, or any provider.State the
// provider reports (queued, running...).
type JobState string

// Job states. The first three are the workflow's, before the provider
// has the job; the others end a job.
const (
	JobPending    JobState = "pending"
	JobSubmitting JobState = "submitting"
	JobSubmitted  JobState = "submitted"
	// JobSucceeded, JobFailed and JobCanceled are the provider's terminal
	// states (provider.StateSucceeded...).
	JobSucceeded JobState = JobState(provider.StateSucceeded)
	JobFailed    JobState = JobState(provider.StateFailed)
	JobCanceled  JobState = JobState(provider.StateCanceled)
	// JobSubmitFailed: the provider never took the job.
	JobSubmitFailed JobState = "submit_failed"
	// JobTimedOut: the job's deadline passed; it was cancelled at the provider.
	JobTimedOut JobState = "timed_out"
)

// Terminal reports whether a job in state s has ended, one way or another.
func (s JobState) Terminal() bool {
	switch s {
	case JobSucceeded, JobFailed, JobCanceled, JobSubmitFailed, JobTimedOut:
		return true
	}
	return false
}

// JobOutcome is everything the card writer needs to know about one job; the
// results themselves are fetched from the provider by the writer (claim
// check), never carried in history.
type JobOutcome struct {
	Name     string                   `json:"name"`
	Ref      provider.JobRef          `json:"ref"`
	Analyses []string                 `json:"analyses"` // what was asked for
	State    JobState                 `json:"state"`
	Status   []provider.AnalysisState `json:"status,omitempty"`
	Error    string                   `json:"error,omitempty"`
	// ErrorCode is the provider's code of a failed job (Error starts with
	// it); a provider.Reason means the media itself failed, and the status
	// card then shows the provider's fixed message only.
	ErrorCode string `json:"error_code,omitempty"`
	// Retryable is set when the job failed with an error its provider calls
	// retryable (the status card then says retrying later may help).
	Retryable bool `json:"retryable,omitempty"`
	// Attempt is the attempt this outcome is of when the job was
	// resubmitted (2 for the first resubmission); PreviousErrors says why
	// each earlier attempt failed, in order. Both are empty for a job
	// submitted once.
	Attempt        int      `json:"attempt,omitempty"`
	PreviousErrors []string `json:"previous_errors,omitempty"`
}

// WriteCardsInput writes every card of a run plus the final status card.
type WriteCardsInput struct {
	FileID       string       `json:"file_id"`
	Token        Token        `json:"token"`
	InvocationID string       `json:"invocation_id"`
	Jobs         []JobOutcome `json:"jobs"`
}

// WriteCardsResult summarises what was written.
type WriteCardsResult struct {
	// Cards names the cards written, e.g. "transcript", "keywords",
	// "timeline:scenes", "timeline:ocr", "status".
	Cards []string `json:"cards"`
	// Failed names each requested analysis (or job) that produced nothing.
	Failed     []string `json:"failed,omitempty"`
	StatusCode string   `json:"status_code"`
	Message    string   `json:"message"`
	// Redactions counts sensitive values replaced before writing.
	Redactions int `json:"redactions,omitempty"`
}

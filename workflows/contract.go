package workflows

import (
	"fmt"
	"time"

	"filesight/activities"
)

// Names shared by the worker, the starter and tests.
const (
	// TaskQueue is where ProcessFile and its activities run.
	TaskQueue = "filesight"
	// ProcessFileName is the registered workflow type name.
	ProcessFileName = "ProcessFile"
	// SignalJobCallback carries a provider's job-ended callback (JobCallback).
	SignalJobCallback = "job-callback"
	// QueryProgress returns a Progress.
	QueryProgress = "progress"
)

// Search attribute names registered on the Temporal namespace (all Keyword).
const (
	SearchAttrFileID    = "FileID"
	SearchAttrMediaKind = "MediaKind"
	SearchAttrStage     = "Stage"
)

// WorkflowID is the ID of the workflow for one file version: duplicate
// deliveries of the same upload map to the same ID and start nothing new.
func WorkflowID(fileID, fileVersionID string) string {
	return fmt.Sprintf("file-%s-v%s", fileID, fileVersionID)
}

// ProcessFileInput is the workflow's input: what the content store told us
// about the event. It carries no secret.
type ProcessFileInput struct {
	FileID        string `json:"file_id"`
	FileVersionID string `json:"file_version_id"`
	// FileName, ParentFolderID, Size are hints from the event; the workflow
	// reads the authoritative values from the content store.
	FileName       string `json:"file_name,omitempty"`
	ParentFolderID string `json:"parent_folder_id,omitempty"`
	Size           int64  `json:"size,omitempty"`
	// Source is where the start came from: "webhook", "manual", "backfill".
	Source string `json:"source,omitempty"`
	// EventID is the webhook event id (stable across redeliveries), if any.
	EventID string `json:"event_id,omitempty"`
	Trigger string `json:"trigger,omitempty"`
	// Options tunes the run (limits, pipelines, deadlines); nil means the
	// defaults, which is what starters normally send.
	Options *Options `json:"options,omitempty"`
}

// JobCallback is the payload of SignalJobCallback.
type JobCallback struct {
	Provider string `json:"provider"`
	JobID    string `json:"job_id"`
	Status   string `json:"status"`
}

// ErrTypeInvalidInput is the application error type of a run refused at
// once (non-retryable) for its input or options.
const ErrTypeInvalidInput activities.ErrorType = "InvalidInput"

// Stage is where a run is: the Stage search attribute and Progress.Stage.
type Stage string

// Stages. The last six are final: a run ends in exactly one of them.
const (
	StageStarting    Stage = "starting"
	StageDescribing  Stage = "describing"
	StageSubmitting  Stage = "submitting"
	StageProcessing  Stage = "processing"
	StageWriting     Stage = "writing"
	StageCleaningUp  Stage = "cleaning_up"
	StageDone        Stage = "done"        // every analysis written
	StagePartial     Stage = "partial"     // some cards written, the status card names what failed
	StageFailed      Stage = "failed"      // no analysis succeeded, or the run itself failed
	StageUnsupported Stage = "unsupported" // not audio/video, empty or too large: status card only
	StageSkipped     Stage = "skipped"     // file gone or superseded by a newer version: nothing written
	StageCancelled   Stage = "cancelled"
)

// Outcome is how a run ended (ProcessFileResult.Outcome, Progress.Outcome).
type Outcome string

// Outcomes.
const (
	OutcomeSuccess     Outcome = "success"
	OutcomePartial     Outcome = "partial"
	OutcomeFailed      Outcome = "failed"
	OutcomeUnsupported Outcome = "unsupported"
	OutcomeSuperseded  Outcome = "superseded"
	OutcomeNotFound    Outcome = "not_found"
	// OutcomeCancelled appears in Progress only: a cancelled run returns
	// a cancellation error, not a result.
	OutcomeCancelled Outcome = "cancelled"
)

// MediaKind is what a file holds, as far as the pipelines go: the
// MediaKind search attribute and the results' media_kind.
type MediaKind string

// Media kinds.
const (
	MediaUnknown     MediaKind = "unknown"
	MediaVideo       MediaKind = "video"
	MediaAudio       MediaKind = "audio"
	MediaUnsupported MediaKind = "unsupported"
)

// ProcessFileResult is the workflow's result. It carries no secret.
type ProcessFileResult struct {
	Outcome   Outcome   `json:"outcome"`
	MediaKind MediaKind `json:"media_kind"`
	Cards     []string  `json:"cards,omitempty"`
	// Failed names what failed (analyses, jobs) when Outcome is partial or failed.
	Failed  []string `json:"failed,omitempty"`
	Message string   `json:"message,omitempty"`
	// TokensIssued and TokensRevoked count downscoped tokens; expired ones
	// (nothing left to revoke) count as revoked.
	TokensIssued  int `json:"tokens_issued"`
	TokensRevoked int `json:"tokens_revoked"`
}

// Progress is the answer to QueryProgress. It never holds a secret: tokens
// appear as fingerprints.
type Progress struct {
	WorkflowID string          `json:"workflow_id"`
	FileID     string          `json:"file_id"`
	FileName   string          `json:"file_name,omitempty"`
	Stage      Stage           `json:"stage"`
	MediaKind  MediaKind       `json:"media_kind"`
	Jobs       []JobProgress   `json:"jobs"`
	Tokens     []TokenProgress `json:"tokens"`
	// Callbacks counts distinct provider callbacks received.
	Callbacks int      `json:"callbacks"`
	Outcome   Outcome  `json:"outcome,omitempty"`
	Failed    []string `json:"failed,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
}

// JobProgress is one ML job's state.
type JobProgress struct {
	Name         string              `json:"name"`
	Provider     string              `json:"provider"`
	JobID        string              `json:"job_id,omitempty"`
	Analyses     []string            `json:"analyses"`
	State        activities.JobState `json:"state"`
	MediaFetched bool                `json:"media_fetched"`
	Deadline     time.Time           `json:"deadline,omitzero"`
	Callback     bool                `json:"callback"`
	Error        string              `json:"error,omitempty"`
	// Attempt is the current attempt (1, or more once the job has been
	// resubmitted after a retryable failure; JobID and State are the
	// current attempt's). PreviousAttempts are the earlier ones, in order.
	Attempt          int               `json:"attempt"`
	PreviousAttempts []AttemptProgress `json:"previous_attempts,omitempty"`
	// TaskQueue is where the job's provider-facing activities run (empty:
	// the workflow's queue). Lease is the job's lease of its provider's
	// concurrency cap: waiting, held or released (empty: no cap).
	TaskQueue string `json:"task_queue,omitempty"`
	Lease     string `json:"lease,omitempty"`
}

// AttemptProgress is an earlier attempt of a resubmitted job.
type AttemptProgress struct {
	Attempt int                 `json:"attempt"`
	JobID   string              `json:"job_id,omitempty"`
	State   activities.JobState `json:"state"`
	Error   string              `json:"error,omitempty"`
}

// TokenProgress is one downscoped token, by fingerprint.
type TokenProgress struct {
	ID        string                  `json:"id"`
	Purpose   activities.TokenPurpose `json:"purpose"`
	Scopes    []string                `json:"scopes"`
	State     activities.TokenState   `json:"state"`
	ExpiresAt time.Time               `json:"expires_at,omitzero"`
}

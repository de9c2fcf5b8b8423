package workflows

import (
	"fmt"
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
}

// JobCallback is the payload of SignalJobCallback.
type JobCallback struct {
	Provider string `json:"provider"`
	JobID    string `json:"job_id"`
	Status   string `json:"status"`
}

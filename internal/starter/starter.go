// Package starter is the core of the starter program: it turns a content
// store event into a decision to start (or not) the ProcessFile workflow,
// turns an ML provider's job callback into the workflow's signal, and walks
// folders to backfill. The HTTP handlers in this package are thin wrappers
// over Service, so another entry point (a serverless function, a CLI) can
// wrap the same core.
package starter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"filesight/workflows"
)

// TemporalClient is the part of client.Client the starter uses.
// client.Client satisfies it; tests substitute a fake.
type TemporalClient interface {
	ExecuteWorkflow(ctx context.Context, options client.StartWorkflowOptions, workflow any, args ...any) (client.WorkflowRun, error)
	SignalWorkflow(ctx context.Context, workflowID, runID, signalName string, arg any) error
}

// Sources of a start, recorded in ProcessFileInput.Source.
const (
	SourceWebhook  = "webhook"
	SourceManual   = "manual"
	SourceBackfill = "backfill"
)

// Outcome says what Service did with an event or a start request.
type Outcome string

const (
	// OutcomeStarted: a new workflow execution was started.
	OutcomeStarted Outcome = "started"
	// OutcomeDuplicate: a workflow with this ID already exists (running or
	// closed); nothing new was started.
	OutcomeDuplicate Outcome = "duplicate"
	// OutcomeIgnored: the event's trigger does not start processing.
	OutcomeIgnored Outcome = "ignored"
	// OutcomeFiltered: the file was excluded by the extension or size filter.
	OutcomeFiltered Outcome = "filtered"
)

// Decision is the result of handling one event or start request.
type Decision struct {
	Outcome    Outcome `json:"status"`
	WorkflowID string  `json:"workflow_id,omitempty"`
	RunID      string  `json:"run_id,omitempty"`
	// Reason explains an ignored or filtered event.
	Reason string `json:"reason,omitempty"`
}

// FileEvent is what the starter needs from a content store event. It is
// independent of the wire format; see ParseBoxEvent.
type FileEvent struct {
	// EventID is stable across redeliveries of the same event.
	EventID        string
	Trigger        string
	FileID         string
	FileVersionID  string
	FileName       string
	ParentFolderID string
	Size           int64
}

// Errors returned by Service. The HTTP layer maps them to status codes.
var (
	// ErrUnavailable wraps failures that a later retry may cure: Temporal
	// unreachable, overloaded or too slow. Webhooks answer 503 for it.
	ErrUnavailable = errors.New("temporal temporarily unavailable")
	// ErrInvalid marks a request that can never succeed as sent.
	ErrInvalid = errors.New("invalid request")
	// ErrUnknownWorkflow: the workflow a callback refers to does not exist
	// or has already closed.
	ErrUnknownWorkflow = errors.New("unknown workflow")
)

// Filter decides which files are worth a workflow. The zero value accepts
// every file.
type Filter struct {
	// Extensions, when not empty, is the allow list of file extensions
	// (case-insensitive, without the dot).
	Extensions []string
	// MaxSize, when positive, is the largest file size in bytes accepted.
	MaxSize int64
}

// Check returns "" when the file passes, or the reason it does not.
func (f Filter) Check(name, ext string, size int64) string {
	if f.MaxSize > 0 && size > f.MaxSize {
		return fmt.Sprintf("file size %d exceeds the limit of %d bytes", size, f.MaxSize)
	}
	if len(f.Extensions) == 0 {
		return ""
	}
	if ext == "" {
		ext = strings.TrimPrefix(path.Ext(name), ".")
	}
	ext = strings.ToLower(strings.TrimPrefix(ext, "."))
	for _, allowed := range f.Extensions {
		if strings.EqualFold(strings.TrimPrefix(strings.TrimSpace(allowed), "."), ext) {
			return ""
		}
	}
	if ext == "" {
		return "file has no extension and an extension allow list is configured"
	}
	return fmt.Sprintf("extension %q is not in the allow list", ext)
}

// Options configure a Service.
type Options struct {
	// TaskQueue defaults to workflows.TaskQueue.
	TaskQueue string
	// Triggers that start processing; default FILE.UPLOADED (Box fires it for
	// a new file and for every new version of a file).
	Triggers []string
	Filter   Filter
	// Timeout bounds each call to Temporal, so a webhook is answered well
	// within Box's 30 s even when Temporal hangs. Default 10 s.
	Timeout time.Duration
	// SetSearchAttributes sets the FileID and Stage ("starting") search
	// attributes at start, so the workflow is searchable before its first
	// task runs and need not upsert them itself. It needs the attributes
	// registered on the namespace (they are, in the dev stack and cluster).
	SetSearchAttributes bool
	Logger              *slog.Logger
}

// Service holds the start and signal logic.
type Service struct {
	tc       TemporalClient
	opts     Options
	triggers map[string]bool
	log      *slog.Logger
}

// DefaultTimeout bounds one Temporal call.
const DefaultTimeout = 10 * time.Second

// TriggerFileUploaded is Box's trigger for a new file or a new version.
const TriggerFileUploaded = "FILE.UPLOADED"

// NewService returns a Service over tc.
func NewService(tc TemporalClient, opts Options) *Service {
	if opts.TaskQueue == "" {
		opts.TaskQueue = workflows.TaskQueue
	}
	if len(opts.Triggers) == 0 {
		opts.Triggers = []string{TriggerFileUploaded}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	trig := make(map[string]bool, len(opts.Triggers))
	for _, t := range opts.Triggers {
		trig[strings.ToUpper(strings.TrimSpace(t))] = true
	}
	return &Service{tc: tc, opts: opts, triggers: trig, log: opts.Logger}
}

// HandleFileEvent decides what to do with one content store event and, for
// an upload that passes the filter, starts ProcessFile. Redelivering the
// same event returns OutcomeDuplicate with the same workflow ID.
func (s *Service) HandleFileEvent(ctx context.Context, ev FileEvent) (Decision, error) {
	if !s.triggers[strings.ToUpper(ev.Trigger)] {
		return Decision{Outcome: OutcomeIgnored, Reason: fmt.Sprintf("trigger %q does not start processing", ev.Trigger)}, nil
	}
	if ev.FileID == "" || ev.FileVersionID == "" {
		return Decision{}, fmt.Errorf("%w: event without file id or file version id", ErrInvalid)
	}
	if reason := s.opts.Filter.Check(ev.FileName, "", ev.Size); reason != "" {
		return Decision{Outcome: OutcomeFiltered, WorkflowID: workflows.WorkflowID(ev.FileID, ev.FileVersionID), Reason: reason}, nil
	}
	return s.Start(ctx, workflows.ProcessFileInput{
		FileID:         ev.FileID,
		FileVersionID:  ev.FileVersionID,
		FileName:       ev.FileName,
		ParentFolderID: ev.ParentFolderID,
		Size:           ev.Size,
		Source:         SourceWebhook,
		EventID:        ev.EventID,
		Trigger:        ev.Trigger,
	})
}

// StartOptions tune a single Start.
type StartOptions struct {
	// RerunFailed lets a start replace a closed execution of the same file
	// version that failed, was canceled, terminated or timed out
	// (ALLOW_DUPLICATE_FAILED_ONLY). Webhook starts never set it, so a
	// redelivered event is always a no-op.
	RerunFailed bool
}

// Start starts ProcessFile for in with the workflow ID derived from the file
// and version. The ID reuse policy rejects duplicates, so a second start of
// the same file version, whether the first is running or closed, starts
// nothing and reports OutcomeDuplicate with the existing run.
func (s *Service) Start(ctx context.Context, in workflows.ProcessFileInput, so ...StartOptions) (Decision, error) {
	if in.FileID == "" || in.FileVersionID == "" {
		return Decision{}, fmt.Errorf("%w: file id and file version id are required", ErrInvalid)
	}
	var opt StartOptions
	if len(so) > 0 {
		opt = so[0]
	}
	id := workflows.WorkflowID(in.FileID, in.FileVersionID)
	reuse := enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE
	if opt.RerunFailed {
		reuse = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY
	}
	wo := client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                s.opts.TaskQueue,
		WorkflowIDReusePolicy:    reuse,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		// Surface "already started" so a duplicate can be told apart from a
		// new start; it is handled below and never reaches the caller.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            Summary(in),
		StaticDetails:                            Details(in),
	}
	if s.opts.SetSearchAttributes {
		wo.TypedSearchAttributes = temporal.NewSearchAttributes(
			temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrFileID).ValueSet(in.FileID),
			temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrStage).ValueSet(string(workflows.StageStarting)),
		)
	}
	cctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	run, err := s.tc.ExecuteWorkflow(cctx, wo, workflows.ProcessFileName, in)
	if err != nil {
		var already *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &already) {
			s.log.InfoContext(ctx, "workflow already exists; nothing started",
				"workflow_id", id, "run_id", already.RunId, "source", in.Source, "event_id", in.EventID)
			return Decision{Outcome: OutcomeDuplicate, WorkflowID: id, RunID: already.RunId}, nil
		}
		return Decision{}, classify(fmt.Sprintf("start workflow %s", id), err)
	}
	s.log.InfoContext(ctx, "workflow started",
		"workflow_id", id, "run_id", run.GetRunID(), "source", in.Source, "event_id", in.EventID,
		"file_name", in.FileName)
	return Decision{Outcome: OutcomeStarted, WorkflowID: id, RunID: run.GetRunID()}, nil
}

// Summary is the one-line static summary the Temporal UI shows for a file's
// workflow. It holds no secret: a file name, its ids and where the start came from.
func Summary(in workflows.ProcessFileInput) string {
	name := in.FileName
	if name == "" {
		name = "file " + in.FileID
	}
	src := in.Source
	if src == "" {
		src = "unknown source"
	}
	return fmt.Sprintf("Analyze %s (file %s, version %s) from %s", truncate(name, 120), in.FileID, in.FileVersionID, src)
}

// Details is the longer static description (markdown) for the UI.
func Details(in workflows.ProcessFileInput) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**File** `%s` version `%s`", in.FileID, in.FileVersionID)
	if in.FileName != "" {
		fmt.Fprintf(&b, " — %s", truncate(in.FileName, 200))
	}
	if in.Size > 0 {
		fmt.Fprintf(&b, ", %d bytes", in.Size)
	}
	b.WriteString("\n\n")
	fmt.Fprintf(&b, "Started by **%s**", orDash(in.Source))
	if in.Trigger != "" {
		fmt.Fprintf(&b, " on `%s`", in.Trigger)
	}
	if in.EventID != "" {
		fmt.Fprintf(&b, " (event `%s`)", in.EventID)
	}
	b.WriteString(". Cards are written to the file's `global/boxSkillsCards` metadata.")
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Callback is a provider's job-ended notification, routed to a workflow.
type Callback struct {
	Provider   string
	JobID      string
	Status     string
	WorkflowID string
	// DeliveryID is the provider's ID of this callback delivery, when it
	// signs one: the signal then carries a request ID derived from it, so
	// Temporal drops a replay of it (see SignalRequestIDs).
	DeliveryID string
}

// DeliverCallback signals the workflow named in cb with SignalJobCallback.
// It returns ErrUnknownWorkflow when the workflow does not exist or has
// closed, and an ErrUnavailable-wrapped error when Temporal cannot be reached.
func (s *Service) DeliverCallback(ctx context.Context, cb Callback) error {
	if cb.WorkflowID == "" {
		return fmt.Errorf("%w: callback for job %q names no workflow", ErrUnknownWorkflow, cb.JobID)
	}
	if cb.JobID == "" || cb.Provider == "" {
		return fmt.Errorf("%w: callback without provider or job id", ErrInvalid)
	}
	cctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	if cb.DeliveryID != "" {
		cctx = withSignalRequestID(cctx, cb.Provider, cb.DeliveryID)
	}
	err := s.tc.SignalWorkflow(cctx, cb.WorkflowID, "", workflows.SignalJobCallback, workflows.JobCallback{
		Provider: cb.Provider, JobID: cb.JobID, Status: cb.Status,
	})
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return fmt.Errorf("%w: %s (job %s/%s)", ErrUnknownWorkflow, cb.WorkflowID, cb.Provider, cb.JobID)
		}
		return classify(fmt.Sprintf("signal workflow %s", cb.WorkflowID), err)
	}
	s.log.InfoContext(ctx, "job callback delivered", "workflow_id", cb.WorkflowID,
		"provider", cb.Provider, "job_id", cb.JobID, "status", cb.Status)
	return nil
}

// classify wraps err with what failed and marks transient failures with
// ErrUnavailable. Only errors that no retry can cure (a malformed request,
// a permission problem, a missing namespace) stay unmarked.
func classify(what string, err error) error {
	var (
		invalid   *serviceerror.InvalidArgument
		denied    *serviceerror.PermissionDenied
		nsMissing *serviceerror.NamespaceNotFound
		failedPre *serviceerror.FailedPrecondition
		unimpl    *serviceerror.Unimplemented
	)
	switch {
	case errors.As(err, &invalid), errors.As(err, &denied), errors.As(err, &nsMissing),
		errors.As(err, &failedPre), errors.As(err, &unimpl):
		return fmt.Errorf("%s: %w", what, err)
	default:
		// Unavailable, DeadlineExceeded, ResourceExhausted, Canceled,
		// connection failures of a lazy client, context deadlines...
		return fmt.Errorf("%s: %w: %w", what, ErrUnavailable, err)
	}
}

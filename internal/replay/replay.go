// Package replay keeps ProcessFile deterministic across changes: it exports
// workflow histories from a Temporal server as JSON (the format of
// `temporal workflow show -o json`), and replays histories, from files or
// straight from a server, against the current workflow code with the
// production data converter. A replay that fails means the code would break
// running workflows: guard the change with workflow.GetVersion.
package replay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"filesight/internal/temporalclient"
	"filesight/workflows"
)

// DefaultQuery selects closed ProcessFile executions.
const DefaultQuery = `WorkflowType = "` + workflows.ProcessFileName + `" AND ExecutionStatus != "Running"`

// Execution names one workflow run.
type Execution struct {
	WorkflowID string
	RunID      string
	Status     enumspb.WorkflowExecutionStatus
}

// History fetches the full history of one run.
func History(ctx context.Context, c client.Client, workflowID, runID string) (*historypb.History, error) {
	it := c.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("reading the history of %s/%s: %w", workflowID, runID, err)
		}
		h.Events = append(h.Events, ev)
	}
	if len(h.Events) == 0 {
		return nil, fmt.Errorf("history of %s/%s is empty", workflowID, runID)
	}
	return h, nil
}

// MarshalHistory renders a history as `temporal workflow show -o json` does.
func MarshalHistory(h *historypb.History) ([]byte, error) {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encoding history: %w", err)
	}
	return append(b, '\n'), nil
}

// WriteHistory writes one run's history to path.
func WriteHistory(ctx context.Context, c client.Client, workflowID, runID, path string) (*historypb.History, error) {
	h, err := History(ctx, c, workflowID, runID)
	if err != nil {
		return nil, err
	}
	b, err := MarshalHistory(h)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return h, nil
}

// List returns up to limit executions matching query, newest first.
func List(ctx context.Context, c client.Client, query string, limit int) ([]Execution, error) {
	if query == "" {
		query = DefaultQuery
	}
	var out []Execution
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token, PageSize: int32(min(max(limit, 1), 1000))})
		if err != nil {
			return nil, fmt.Errorf("listing workflows (%s): %w", query, err)
		}
		for _, e := range resp.Executions {
			out = append(out, Execution{WorkflowID: e.Execution.GetWorkflowId(), RunID: e.Execution.GetRunId(), Status: e.GetStatus()})
			if limit > 0 && len(out) >= limit {
				return out, nil
			}
		}
		token = resp.NextPageToken
		if len(token) == 0 {
			return out, nil
		}
	}
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// FileName is the file an exported history gets: workflow ID, status and
// the start of the run ID.
func FileName(e Execution) string {
	status := strings.ToLower(strings.TrimPrefix(e.Status.String(), "WORKFLOW_EXECUTION_STATUS_"))
	run := e.RunID
	if len(run) > 8 {
		run = run[:8]
	}
	return unsafeName.ReplaceAllString(e.WorkflowID+"_"+status+"_"+run, "_") + ".json"
}

// Export writes the histories of up to limit executions matching query
// into dir and returns the paths written.
func Export(ctx context.Context, c client.Client, query string, limit int, dir string) ([]string, error) {
	execs, err := List(ctx, c, query, limit)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for _, e := range execs {
		p := filepath.Join(dir, FileName(e))
		if _, err := WriteHistory(ctx, c, e.WorkflowID, e.RunID, p); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// NewReplayer returns a replayer with ProcessFile registered under its
// contract name and the given (production) data converter. Workflow tasks
// are not timed: a replay checks determinism, and the SDK's one-second
// deadlock detection only made replays on a busy machine fail.
func NewReplayer(dc converter.DataConverter) (worker.WorkflowReplayer, error) {
	r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: dc, FailureConverter: temporalclient.FailureConverter(dc),
		DisableDeadlockDetection: true})
	if err != nil {
		return nil, err
	}
	workflows.RegisterWorkflows(r)
	return r, nil
}

// Result is the outcome of replaying one history.
type Result struct {
	Name string // file path or workflow ID/run ID
	Err  error
}

// ReplayFiles replays every history file with r.
func ReplayFiles(r worker.WorkflowReplayer, log *slog.Logger, paths ...string) []Result {
	var out []Result
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err == nil {
			var h *historypb.History
			h, err = client.HistoryFromJSON(strings.NewReader(string(b)), client.HistoryJSONOptions{})
			if err == nil {
				err = r.ReplayWorkflowHistory(logger(log), h)
			}
		}
		out = append(out, Result{Name: p, Err: err})
	}
	return out
}

// ReplayFromServer replays the last limit executions matching query,
// fetching each history from the server.
func ReplayFromServer(ctx context.Context, c client.Client, r worker.WorkflowReplayer, log *slog.Logger, query string, limit int) ([]Result, error) {
	execs, err := List(ctx, c, query, limit)
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, e := range execs {
		name := e.WorkflowID + "/" + e.RunID
		h, err := History(ctx, c, e.WorkflowID, e.RunID)
		if err == nil {
			err = r.ReplayWorkflowHistory(logger(log), h)
		}
		out = append(out, Result{Name: name, Err: err})
	}
	return out, nil
}

// Failed joins the failures of results, or returns nil.
func Failed(results []Result) error {
	var errs []error
	for _, r := range results {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Name, r.Err))
		}
	}
	return errors.Join(errs...)
}

// Histories lists the *.json files of dir, sorted.
func Histories(dir string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	slices.Sort(paths)
	return paths, nil
}

func logger(l *slog.Logger) tlog.Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return tlog.NewStructuredLogger(l)
}

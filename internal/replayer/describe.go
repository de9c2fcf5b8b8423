package replayer

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"filesight/internal/program"
	"filesight/internal/replay"
	"filesight/workflows"
)

// Summary is what `replayer describe` tells about one workflow run, every
// payload and failure decoded with the codec keys: what the Temporal CLI
// cannot show, because it does not decode failure attributes (it prints
// "Encoded failure").
type Summary struct {
	WorkflowID, RunID string
	Type, TaskQueue   string
	Status            enumspb.WorkflowExecutionStatus
	Started, Closed   time.Time // Closed is zero while the run is open
	// Stage and MediaKind are the search attributes the workflow keeps
	// (stage reached; empty when unknown).
	Stage, MediaKind string
	// Input and Result are the decoded ProcessFile input and result (nil
	// when absent or not a ProcessFile run).
	Input  *workflows.ProcessFileInput
	Result *workflows.ProcessFileResult
	// Failure is why the run failed (or timed out, or was terminated or
	// cancelled), outermost first, each cause after its parent.
	Failure []Failure
	// FailedActivities are the activity attempts the history records as
	// failed or timed out, in order.
	FailedActivities []ActivityFailure
	// Pending are the activities in flight with their last failure (open
	// runs only).
	Pending []ActivityFailure
}

// Failure is one link of a failure's cause chain, decoded.
type Failure struct {
	Message string
	// Kind says what failed: "application error <Type>", "activity
	// DescribeFile", "timeout", "canceled", ...
	Kind         string
	NonRetryable bool
}

// ActivityFailure is one failed (or retrying) activity attempt.
type ActivityFailure struct {
	Activity string
	Attempt  int32
	Failure  []Failure
}

// Describe reads one run (runID empty: the latest) and decodes it with dc.
func Describe(ctx context.Context, c client.Client, dc converter.DataConverter, workflowID, runID string) (*Summary, error) {
	d, err := c.DescribeWorkflowExecution(ctx, workflowID, runID)
	if err != nil {
		return nil, fmt.Errorf("describing workflow %s: %w", workflowID, err)
	}
	info := d.GetWorkflowExecutionInfo()
	s := &Summary{
		WorkflowID: info.GetExecution().GetWorkflowId(), RunID: info.GetExecution().GetRunId(),
		Type: info.GetType().GetName(), TaskQueue: info.GetTaskQueue(), Status: info.GetStatus(),
		Started: info.GetStartTime().AsTime(),
	}
	if info.GetCloseTime() != nil {
		s.Closed = info.GetCloseTime().AsTime()
	}
	fields := info.GetSearchAttributes().GetIndexedFields()
	s.Stage = searchAttribute(fields[workflows.SearchAttrStage])
	s.MediaKind = searchAttribute(fields[workflows.SearchAttrMediaKind])

	h, err := replay.History(ctx, c, s.WorkflowID, s.RunID)
	if err != nil {
		return nil, err
	}
	activityType := map[int64]string{} // scheduled event ID → activity type
	for _, ev := range h.GetEvents() {
		switch {
		case ev.GetWorkflowExecutionStartedEventAttributes() != nil:
			var in workflows.ProcessFileInput
			if s.Type == workflows.ProcessFileName && decodeFirst(dc, ev.GetWorkflowExecutionStartedEventAttributes().GetInput(), &in) == nil {
				s.Input = &in
			}
		case ev.GetActivityTaskScheduledEventAttributes() != nil:
			activityType[ev.GetEventId()] = ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
		case ev.GetActivityTaskFailedEventAttributes() != nil:
			a := ev.GetActivityTaskFailedEventAttributes()
			s.FailedActivities = append(s.FailedActivities, ActivityFailure{
				Activity: activityType[a.GetScheduledEventId()], Attempt: attemptOf(h, a.GetStartedEventId()),
				Failure: chain(dc, a.GetFailure()),
			})
		case ev.GetActivityTaskTimedOutEventAttributes() != nil:
			a := ev.GetActivityTaskTimedOutEventAttributes()
			s.FailedActivities = append(s.FailedActivities, ActivityFailure{
				Activity: activityType[a.GetScheduledEventId()], Attempt: attemptOf(h, a.GetStartedEventId()),
				Failure: chain(dc, a.GetFailure()),
			})
		case ev.GetWorkflowExecutionCompletedEventAttributes() != nil:
			var res workflows.ProcessFileResult
			if s.Type == workflows.ProcessFileName && decodeFirst(dc, ev.GetWorkflowExecutionCompletedEventAttributes().GetResult(), &res) == nil {
				s.Result = &res
			}
		case ev.GetWorkflowExecutionFailedEventAttributes() != nil:
			s.Failure = chain(dc, ev.GetWorkflowExecutionFailedEventAttributes().GetFailure())
		case ev.GetWorkflowExecutionTimedOutEventAttributes() != nil:
			s.Failure = []Failure{{Message: "the workflow timed out (" + ev.GetWorkflowExecutionTimedOutEventAttributes().GetRetryState().String() + ")", Kind: "timeout"}}
		case ev.GetWorkflowExecutionTerminatedEventAttributes() != nil:
			s.Failure = []Failure{{Message: "terminated: " + ev.GetWorkflowExecutionTerminatedEventAttributes().GetReason(), Kind: "terminated"}}
		case ev.GetWorkflowExecutionCanceledEventAttributes() != nil:
			s.Failure = []Failure{{Message: "the workflow was cancelled", Kind: "canceled"}}
		}
	}
	for _, pa := range d.GetPendingActivities() {
		if pa.GetLastFailure() == nil {
			continue
		}
		s.Pending = append(s.Pending, ActivityFailure{
			Activity: pa.GetActivityType().GetName(), Attempt: pa.GetAttempt(), Failure: chain(dc, pa.GetLastFailure()),
		})
	}
	return s, nil
}

// attemptOf reads the attempt number from an activity's started event.
func attemptOf(h *historypb.History, startedEventID int64) int32 {
	for _, ev := range h.GetEvents() {
		if ev.GetEventId() == startedEventID {
			return ev.GetActivityTaskStartedEventAttributes().GetAttempt()
		}
	}
	return 0
}

func decodeFirst(dc converter.DataConverter, p *commonpb.Payloads, v any) error {
	if len(p.GetPayloads()) == 0 {
		return errors.New("no payload")
	}
	return dc.FromPayload(p.GetPayloads()[0], v)
}

func searchAttribute(p *commonpb.Payload) string {
	var v string
	if p == nil || converter.GetDefaultDataConverter().FromPayload(p, &v) != nil {
		return ""
	}
	return v
}

// chain decodes a failure and its causes, outermost first. Message and
// stack trace are encrypted in filesight's histories (the failure
// converter's EncodeCommonAttributes); a failure that does not decode says
// so instead of showing "Encoded failure".
func chain(dc converter.DataConverter, f *failurepb.Failure) []Failure {
	var out []Failure
	for ; f != nil; f = f.GetCause() {
		msg := f.GetMessage()
		if ea := f.GetEncodedAttributes(); ea != nil {
			var attrs struct {
				Message string `json:"message"`
			}
			if err := dc.FromPayload(ea, &attrs); err != nil {
				msg = "(cannot decode the failure message: " + err.Error() + ")"
			} else {
				msg = attrs.Message
			}
		}
		out = append(out, Failure{Message: msg, Kind: failureKind(f), NonRetryable: f.GetApplicationFailureInfo().GetNonRetryable()})
	}
	return out
}

func failureKind(f *failurepb.Failure) string {
	switch {
	case f.GetApplicationFailureInfo() != nil:
		if t := f.GetApplicationFailureInfo().GetType(); t != "" {
			return "application error " + t
		}
		return "application error"
	case f.GetActivityFailureInfo() != nil:
		return "activity " + f.GetActivityFailureInfo().GetActivityType().GetName()
	case f.GetChildWorkflowExecutionFailureInfo() != nil:
		return "child workflow " + f.GetChildWorkflowExecutionFailureInfo().GetWorkflowType().GetName()
	case f.GetTimeoutFailureInfo() != nil:
		return "timeout " + strings.ToLower(strings.TrimPrefix(f.GetTimeoutFailureInfo().GetTimeoutType().String(), "TIMEOUT_TYPE_"))
	case f.GetCanceledFailureInfo() != nil:
		return "canceled"
	case f.GetTerminatedFailureInfo() != nil:
		return "terminated"
	case f.GetServerFailureInfo() != nil:
		return "server error"
	default:
		return "failure"
	}
}

// WriteText prints s for people.
func (s *Summary) WriteText(w io.Writer) {
	row := func(k, format string, args ...any) {
		fmt.Fprintf(w, "%-11s "+format+"\n", append([]any{k}, args...)...)
	}
	row("workflow", "%s", s.WorkflowID)
	row("run", "%s", s.RunID)
	row("type", "%s (task queue %s)", s.Type, s.TaskQueue)
	status := strings.TrimPrefix(s.Status.String(), "WORKFLOW_EXECUTION_STATUS_")
	if s.Closed.IsZero() {
		row("status", "%s since %s", status, s.Started.UTC().Format(time.RFC3339))
	} else {
		row("status", "%s at %s after %s", status, s.Closed.UTC().Format(time.RFC3339), s.Closed.Sub(s.Started).Round(time.Millisecond))
	}
	if in := s.Input; in != nil {
		file := "file " + in.FileID + " version " + in.FileVersionID
		if in.FileName != "" {
			file += " (" + in.FileName + ")"
		}
		if in.Source != "" {
			file += ", started by " + in.Source
		}
		row("input", "%s", file)
	}
	if s.Stage != "" {
		row("stage", "%s", s.Stage)
	}
	if s.MediaKind != "" {
		row("media kind", "%s", s.MediaKind)
	}
	if r := s.Result; r != nil {
		row("outcome", "%s", r.Outcome)
		if r.Message != "" {
			row("message", "%s", r.Message)
		}
		if len(r.Cards) > 0 {
			row("cards", "%s", strings.Join(r.Cards, ", "))
		}
		if len(r.Failed) > 0 {
			row("failed", "%s", strings.Join(r.Failed, ", "))
		}
		row("tokens", "%d issued, %d revoked", r.TokensIssued, r.TokensRevoked)
	}
	writeChain(w, "", "failure", s.Failure)
	if len(s.FailedActivities) > 0 {
		fmt.Fprintln(w, "failed activities:")
		for _, a := range s.FailedActivities {
			writeChain(w, "  ", fmt.Sprintf("%s (attempt %d)", a.Activity, a.Attempt), a.Failure)
		}
	}
	if len(s.Pending) > 0 {
		fmt.Fprintln(w, "retrying activities (last failure):")
		for _, a := range s.Pending {
			writeChain(w, "  ", fmt.Sprintf("%s (attempt %d)", a.Activity, a.Attempt), a.Failure)
		}
	}
}

// writeChain prints a cause chain: the outermost failure after label, each
// cause on a line of its own under it.
func writeChain(w io.Writer, indent, label string, fs []Failure) {
	for i, f := range fs {
		kind := f.Kind
		if f.NonRetryable {
			kind += ", non-retryable"
		}
		if i == 0 {
			fmt.Fprintf(w, "%s%-*s %s [%s]\n", indent, max(0, 11-len(indent)), label, f.Message, kind)
			continue
		}
		fmt.Fprintf(w, "%s  caused by: %s [%s]\n", indent, f.Message, kind)
	}
}

func (c command) describe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("describe", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	runID := fs.String("run-id", "", "run to describe (default: the latest run of the workflow)")
	if err := fs.Parse(args); err != nil {
		return program.Usage(err)
	}
	if fs.NArg() != 1 {
		return program.Usage(errors.New("describe takes one workflow ID"))
	}
	tc, dc, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer tc.Close()
	s, err := Describe(ctx, tc, dc, fs.Arg(0), *runID)
	if err != nil {
		return err
	}
	s.WriteText(c.stdout)
	return nil
}

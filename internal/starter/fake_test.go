package starter_test

import (
	"context"
	"fmt"
	"sync"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"

	"filesight/internal/starter"
	"filesight/workflows"
)

// fakeTemporal behaves like the server for the calls the starter makes:
// a workflow ID is taken once (REJECT_DUPLICATE), signals reach only
// existing workflows. It records every call.
type fakeTemporal struct {
	mu       sync.Mutex
	runs     map[string]string // workflow ID -> run ID
	closed   map[string]bool
	starts   []client.StartWorkflowOptions
	inputs   []workflows.ProcessFileInput
	signals  []signalCall
	startErr error // returned by every ExecuteWorkflow when set
	sigErr   error
	block    bool // ExecuteWorkflow waits for ctx to end (a hung server)
	next     int
}

type signalCall struct {
	WorkflowID, Name string
	Arg              any
	// RequestID is what starter.SignalRequestIDs puts in the request.
	RequestID string
}

func newFakeTemporal() *fakeTemporal {
	return &fakeTemporal{runs: map[string]string{}, closed: map[string]bool{}}
}

type fakeRun struct{ id, runID string }

func (r fakeRun) GetID() string                                                           { return r.id }
func (r fakeRun) GetRunID() string                                                        { return r.runID }
func (r fakeRun) GetFirstExecutionRunID() string                                          { return r.runID }
func (r fakeRun) Get(context.Context, any) error                                          { return nil }
func (r fakeRun) GetWithOptions(context.Context, any, client.WorkflowRunGetOptions) error { return nil }

func (f *fakeTemporal) ExecuteWorkflow(ctx context.Context, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	if f.block {
		<-ctx.Done()
		return nil, serviceerror.NewDeadlineExceeded(ctx.Err().Error())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts = append(f.starts, o)
	if in, ok := args[0].(workflows.ProcessFileInput); ok {
		f.inputs = append(f.inputs, in)
	}
	if f.startErr != nil {
		return nil, f.startErr
	}
	if wf != workflows.ProcessFileName {
		return nil, serviceerror.NewInvalidArgument(fmt.Sprintf("unexpected workflow %v", wf))
	}
	if run, ok := f.runs[o.ID]; ok {
		if !o.WorkflowExecutionErrorWhenAlreadyStarted {
			return fakeRun{o.ID, run}, nil
		}
		return nil, serviceerror.NewWorkflowExecutionAlreadyStarted("workflow execution already started", "req", run)
	}
	f.next++
	run := fmt.Sprintf("run-%d", f.next)
	f.runs[o.ID] = run
	return fakeRun{o.ID, run}, nil
}

func (f *fakeTemporal) SignalWorkflow(ctx context.Context, workflowID, runID, name string, arg any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sigErr != nil {
		return f.sigErr
	}
	if _, ok := f.runs[workflowID]; !ok || f.closed[workflowID] {
		return serviceerror.NewNotFound("workflow execution not found")
	}
	// What the starter's Temporal client, dialled with the interceptor, sends.
	req := &workflowservice.SignalWorkflowExecutionRequest{RequestId: "random"}
	_ = starter.SignalRequestIDs(ctx, "/SignalWorkflowExecution", req, nil, nil,
		func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil })
	f.signals = append(f.signals, signalCall{workflowID, name, arg, req.RequestId})
	return nil
}

func (f *fakeTemporal) startCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.runs)
}

type (
	clientStartOptions = client.StartWorkflowOptions
	clientRun          = client.WorkflowRun
)

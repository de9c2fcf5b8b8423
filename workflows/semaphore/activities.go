package semaphore

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// Activities are the semaphore's activities, for holders (RequestLease)
// and for the semaphore itself (FindGoneHolders). They hold the worker's
// Temporal client.
type Activities struct {
	// Client reaches the cluster the semaphores run in.
	Client client.Client
	// TaskQueue is where semaphore workflows are started.
	TaskQueue string
	// Settings are given to a semaphore this starts.
	Settings Settings
}

// LeaseRequest asks the semaphore of Resource for a lease.
type LeaseRequest struct {
	Resource string  `json:"resource"`
	Request  Request `json:"request"`
}

// RequestLease delivers a request to the resource's semaphore, starting
// the semaphore if it is not running (signal-with-start). The grant comes
// later, as SignalGranted to the holder. Delivering the same request twice
// is harmless.
func (a *Activities) RequestLease(ctx context.Context, in LeaseRequest) error {
	if in.Resource == "" || in.Request.LeaseID == "" || in.Request.WorkflowID == "" {
		return temporal.NewNonRetryableApplicationError("a lease request needs a resource, a lease ID and a workflow ID", "InvalidInput", nil)
	}
	_, err := a.Client.SignalWithStartWorkflow(ctx, WorkflowID(in.Resource), SignalAcquire, in.Request, client.StartWorkflowOptions{
		ID:                       WorkflowID(in.Resource),
		TaskQueue:                a.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            "Leases of " + in.Resource,
	}, WorkflowName, State{Resource: in.Resource, Limit: in.Request.Limit, Settings: a.Settings})
	if err != nil {
		return fmt.Errorf("asking the %s semaphore for lease %s: %w", in.Resource, in.Request.LeaseID, err)
	}
	return nil
}

// FindGoneHolders returns the holders whose run is no longer running
// (completed, failed, terminated, timed out, continued as new, or unknown
// to the server). A holder whose state cannot be read now is kept.
func (a *Activities) FindGoneHolders(ctx context.Context, holders []Holder) ([]Holder, error) {
	gone := []Holder{}
	var errs []error
	for _, h := range holders {
		d, err := a.Client.DescribeWorkflowExecution(ctx, h.WorkflowID, h.RunID)
		var nf *serviceerror.NotFound
		switch {
		case errors.As(err, &nf):
			gone = append(gone, h)
		case err != nil:
			errs = append(errs, fmt.Errorf("describing holder %s: %w", h.WorkflowID, err))
		case d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
			gone = append(gone, h)
		}
	}
	if len(errs) == len(holders) && len(errs) > 0 {
		// Nothing could be read: let the activity retry.
		return nil, errors.Join(errs...)
	}
	return gone, nil
}

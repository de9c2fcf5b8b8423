package workflows

import (
	"go.temporal.io/sdk/workflow"

	"filesight/activities"
)

// Registry is what Register needs: a worker.Worker, a replayer's worker
// or the test environment.
type Registry interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
	RegisterActivity(a any)
}

// Register registers ProcessFile under its contract name and, when acts is
// not nil, the activities (a replayer needs no activities).
func Register(r Registry, acts *activities.Activities) {
	r.RegisterWorkflowWithOptions(ProcessFile, workflow.RegisterOptions{Name: ProcessFileName})
	if acts != nil {
		r.RegisterActivity(acts)
	}
}

package workflows

import (
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"filesight/activities"
)

// RegisterWorkflows registers ProcessFile under its contract name with a
// worker, a replayer (worker.WorkflowReplayer) or the test environment.
func RegisterWorkflows(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(ProcessFile, workflow.RegisterOptions{Name: ProcessFileName})
}

// Register registers ProcessFile and the activities with a worker or the
// test environment.
func Register(r worker.Registry, acts *activities.Activities) {
	RegisterWorkflows(r)
	r.RegisterActivity(acts)
}

package workflows

import (
	"go.temporal.io/sdk/workflow"

	"filesight/activities"
)

// WorkflowRegistry is what RegisterWorkflows needs: a worker, a replayer
// or the test environment.
type WorkflowRegistry interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}

// Registry also registers activities (a worker, the test environment).
type Registry interface {
	WorkflowRegistry
	RegisterActivity(a any)
}

// RegisterWorkflows registers ProcessFile under its contract name.
func RegisterWorkflows(r WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(ProcessFile, workflow.RegisterOptions{Name: ProcessFileName})
}

// Register registers ProcessFile and the activities.
func Register(r Registry, acts *activities.Activities) {
	RegisterWorkflows(r)
	r.RegisterActivity(acts)
}

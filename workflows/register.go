package workflows

import (
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"filesight/activities"
	"filesight/workflows/semaphore"
)

// RegisterWorkflows registers ProcessFile and the providers' semaphore
// under their contract names with a worker, a replayer
// (worker.WorkflowReplayer) or the test environment.
func RegisterWorkflows(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(ProcessFile, workflow.RegisterOptions{Name: ProcessFileName})
	semaphore.RegisterWorkflow(r)
}

// Register registers the workflows and the activities with a worker or the
// test environment. sems, the semaphore's activities, may be nil where no
// provider is capped (tests).
func Register(r worker.Registry, acts *activities.Activities, sems ...*semaphore.Activities) {
	RegisterWorkflows(r)
	r.RegisterActivity(acts)
	for _, s := range sems {
		r.RegisterActivity(s)
	}
}

// RegisterProviderActivities registers the activities a provider's task
// queue (ProviderTaskQueue) serves: the provider-facing ones.
func RegisterProviderActivities(r worker.ActivityRegistry, acts *activities.Activities) {
	for name, fn := range map[string]any{
		"SubmitJob": acts.SubmitJob, "AwaitJob": acts.AwaitJob, "GetJobStatus": acts.GetJobStatus, "CancelJob": acts.CancelJob,
	} {
		r.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}

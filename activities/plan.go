package activities

import (
	"context"
	"time"

	"filesight/internal/provider"
)

// ProviderPolicy is how the workflow treats the jobs of one provider, as
// this worker is configured (docs/providers.md, docs/operations.md).
type ProviderPolicy struct {
	// TaskQueue is where the provider-facing activities (SubmitJob,
	// AwaitJob, GetJobStatus, CancelJob) of its jobs run; empty: the
	// workflow's own queue.
	TaskQueue string
	// JobTimeout is the job's deadline from its submission, unless the run
	// sets one (zero: the workflow's default).
	JobTimeout time.Duration
	// PollInterval is the least pause between two status reads of a
	// running job (zero: the workflow's poll bounds alone).
	PollInterval time.Duration
	// MaxOpenJobs caps the provider's jobs in flight across every worker
	// (zero: no cap).
	MaxOpenJobs int
}

// JobWaiting is the state of a job waiting for a lease of its provider's
// concurrency cap before it is submitted.
const JobWaiting JobState = "waiting"

// PlanJobsInput asks for a run's jobs.
type PlanJobsInput struct {
	// Analyses is the pipeline's analyses; the worker's selection
	// (FILESIGHT_ANALYSIS_PROVIDERS) splits them into one job per provider.
	// Used when Jobs is empty.
	Analyses []string `json:"analyses,omitempty"`
	// Jobs are the jobs the run's options name explicitly: kept as they
	// are, each with its provider's policy.
	Jobs []PlannedJob `json:"jobs,omitempty"`
}

// PlannedJob is one job of a run with its provider's policy.
type PlannedJob struct {
	Name     string   `json:"name"`
	Provider string   `json:"provider"`
	Analyses []string `json:"analyses"`
	// TaskQueue, JobTimeout, PollInterval and MaxOpenJobs are the
	// provider's ProviderPolicy (empty for a provider this worker does not
	// have: its submission then fails at once, as before).
	TaskQueue    string        `json:"task_queue,omitempty"`
	JobTimeout   time.Duration `json:"job_timeout,omitempty"`
	PollInterval time.Duration `json:"poll_interval,omitempty"`
	MaxOpenJobs  int           `json:"max_open_jobs,omitempty"`
}

// PlanJobsResult is the run's jobs, in pipeline order.
type PlanJobsResult struct {
	Jobs []PlannedJob `json:"jobs"`
}

// PlanJobs turns a pipeline into jobs: which provider performs which
// analysis (the worker's selection), and each provider's task queue,
// deadline, poll interval and concurrency cap. It reads only the worker's
// configuration; the workflow runs it as a local activity, so a run keeps
// the plan it started with whatever the workers are configured with later.
func (a *Activities) PlanJobs(_ context.Context, in PlanJobsInput) (PlanJobsResult, error) {
	jobs := in.Jobs
	if len(jobs) == 0 {
		for _, j := range a.opts.Selection.Jobs(in.Analyses) {
			jobs = append(jobs, PlannedJob{Name: j.Provider, Provider: j.Provider, Analyses: j.Analyses})
		}
	}
	out := PlanJobsResult{Jobs: make([]PlannedJob, 0, len(jobs))}
	for _, j := range jobs {
		pj := PlannedJob{Name: j.Name, Provider: j.Provider, Analyses: j.Analyses}
		if _, ok := a.providers[j.Provider]; ok {
			pol := a.opts.Policies[j.Provider]
			pj.TaskQueue, pj.JobTimeout, pj.PollInterval, pj.MaxOpenJobs = pol.TaskQueue, pol.JobTimeout, pol.PollInterval, pol.MaxOpenJobs
		}
		out.Jobs = append(out.Jobs, pj)
	}
	return out, nil
}

// defaultSelection gives every analysis to mlengine.
func defaultSelection() provider.Selection {
	s, _ := provider.ParseSelection("", "mlengine")
	return s
}

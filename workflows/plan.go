package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"filesight/activities"
)

// ProviderTaskQueue is the task queue of a provider's activities (submit,
// poll, status, cancel): one queue per provider, so that each can have its
// own server-side rate limit (TaskQueueActivitiesPerSecond). The worker
// serves it; the workflow learns it from the plan.
func ProviderTaskQueue(providerName string) string { return "filesight-provider-" + providerName }

// planOptions: the plan is a local activity reading the worker's
// configuration, done in microseconds.
var planOptions = workflow.LocalActivityOptions{
	StartToCloseTimeout:    10 * time.Second,
	ScheduleToCloseTimeout: time.Minute,
	RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second},
}

// planJobs returns the run's jobs for a media kind. Since changeProviderPlan
// the worker's configuration decides (PlanJobs, recorded in history as a
// local activity marker): the pipeline's analyses are spread over the
// providers FILESIGHT_ANALYSIS_PROVIDERS names, and every job gets its
// provider's task queue, deadline, poll interval and concurrency cap. Jobs
// named by the run's options keep their providers. Runs recorded before
// take the pipeline as it is, on the workflow's queue.
func (r *run) planJobs(ctx workflow.Context, kind MediaKind) ([]*jobRun, error) {
	specs := r.opts.jobsFor(kind)
	newJob := func(s JobSpec) *jobRun { return &jobRun{spec: s, state: activities.JobPending, attempt: 1} }
	if workflow.GetVersion(ctx, changeProviderPlan, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		jobs := make([]*jobRun, 0, len(specs))
		for _, s := range specs {
			jobs = append(jobs, newJob(s))
		}
		return jobs, nil
	}
	var in activities.PlanJobsInput
	explicit := r.explicitJobs(kind)
	if explicit {
		for _, s := range specs {
			in.Jobs = append(in.Jobs, activities.PlannedJob{Name: s.Name, Provider: s.Provider, Analyses: s.Analyses})
		}
	} else {
		for _, s := range specs {
			for _, an := range s.Analyses {
				if !slices.Contains(in.Analyses, an) {
					in.Analyses = append(in.Analyses, an)
				}
			}
		}
	}
	var res activities.PlanJobsResult
	lctx := workflow.WithLocalActivityOptions(ctx, planOptions)
	if err := workflow.ExecuteLocalActivity(lctx, a.PlanJobs, in).Get(ctx, &res); err != nil {
		return nil, fmt.Errorf("planning the jobs: %w", err)
	}
	if len(res.Jobs) == 0 || (explicit && len(res.Jobs) != len(specs)) {
		return nil, errors.New("planning the jobs: the plan does not match the pipeline")
	}
	jobs := make([]*jobRun, 0, len(res.Jobs))
	for i, pj := range res.Jobs {
		s := JobSpec{Name: pj.Name, Provider: pj.Provider, Analyses: pj.Analyses}
		if explicit {
			s = specs[i]
		}
		if s.Timeout == 0 && !r.explicitJobTimeout() {
			s.Timeout = pj.JobTimeout
		}
		if s.PollInterval == 0 {
			s.PollInterval = pj.PollInterval
		}
		j := newJob(s)
		j.queue, j.maxOpen = pj.TaskQueue, pj.MaxOpenJobs
		jobs = append(jobs, j)
	}
	if err := (Options{VideoJobs: specsOf(jobs)}).validate(); err != nil {
		return nil, fmt.Errorf("planning the jobs: %w", err)
	}
	return jobs, nil
}

// explicitJobs reports whether the run's options name the jobs of kind.
func (r *run) explicitJobs(kind MediaKind) bool {
	o := r.in.Options
	if o == nil {
		return false
	}
	switch kind {
	case MediaVideo:
		return len(o.VideoJobs) > 0
	case MediaAudio:
		return len(o.AudioJobs) > 0
	}
	return false
}

// explicitJobTimeout reports whether the run's options set JobTimeout.
func (r *run) explicitJobTimeout() bool { return r.in.Options != nil && r.in.Options.JobTimeout > 0 }

func specsOf(jobs []*jobRun) []JobSpec {
	out := make([]JobSpec, len(jobs))
	for i, j := range jobs {
		out[i] = j.spec
	}
	return out
}

// jobTimeout is the job's deadline, counted from its first submission.
func (r *run) jobTimeout(j *jobRun) time.Duration {
	if j.spec.Timeout > 0 {
		return j.spec.Timeout
	}
	return r.opts.JobTimeout
}

// pollBounds are the least and most pause between two polls of the job:
// the run's bounds, the floor raised to the job's poll interval.
func (r *run) pollBounds(j *jobRun) (minDelay, maxDelay time.Duration) {
	minDelay, maxDelay = r.opts.PollMinDelay, r.opts.PollMaxDelay
	if j.spec.PollInterval > minDelay {
		minDelay = j.spec.PollInterval
	}
	return minDelay, max(maxDelay, minDelay)
}

// pao is ao for a provider-facing activity of job j: on the provider's
// task queue when the plan gave one.
func (r *run) pao(ctx workflow.Context, j *jobRun, o workflow.ActivityOptions, format string, args ...any) workflow.Context {
	if j.queue != "" {
		o.TaskQueue = j.queue
	}
	return r.ao(ctx, o, format, args...)
}

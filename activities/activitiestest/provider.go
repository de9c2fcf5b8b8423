package activitiestest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"filesight/internal/provider"
)

// Plan scripts a provider's jobs.
type Plan struct {
	// FetchAfter and Duration are measured on the clock from submission:
	// the media is fetched after FetchAfter, the job ends after Duration.
	// Duration < 0 means never. A job that succeeds has fetched the media;
	// one that fails before FetchAfter never did (a failed download).
	FetchAfter time.Duration
	Duration   time.Duration
	// Final is the end state (default succeeded); JobError goes with failed.
	Final    provider.State
	JobError *provider.JobError
	// Analyses overrides per-analysis end states (default: Final, or
	// succeeded for a succeeded job).
	Analyses map[string]provider.State
	Result   *provider.Result
	// RetryAfter is sent with every status of a running job.
	RetryAfter time.Duration
	// SubmitErrors fail the first submissions, in order.
	SubmitErrors []error
	// Next scripts the jobs created after the first (a resubmission gets a
	// new job): Next[0] the second job, Next[1] the third, and so on; the
	// last one also serves every later job. Empty: every job follows this
	// plan. SubmitErrors and Next of the plans in Next are not used.
	Next []Plan
}

// planFor is the plan job n (1-based) follows.
func (p Plan) planFor(n int) Plan {
	if n <= 1 || len(p.Next) == 0 {
		return p
	}
	return p.Next[min(n-2, len(p.Next)-1)]
}

// Job is a fake job.
type Job struct {
	Ref        provider.JobRef
	Request    provider.JobRequest
	Submitted  time.Time
	Canceled   bool
	CanceledAt time.Time
}

// Provider is a fake ML provider.
type Provider struct {
	mu      sync.Mutex
	name    string
	clock   Clock
	plan    Plan
	jobs    []*Job
	calls   []Call
	submits int
	deleted map[provider.JobRef]bool // results deleted (ResultDeleter)
}

// NewProvider returns a fake provider named name following plan.
func NewProvider(name string, clock Clock, plan Plan) *Provider {
	if clock == nil {
		clock = time.Now
	}
	return &Provider{name: name, clock: clock, plan: plan}
}

func (p *Provider) Name() string { return p.name }

// SetPlan replaces the plan (for jobs not yet ended, and with its Next, for
// the jobs created after the first).
func (p *Provider) SetPlan(plan Plan) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.plan = plan
}

func (p *Provider) record(op string, err error) {
	p.calls = append(p.calls, Call{Op: op, At: p.clock(), Err: err})
}

// Calls returns the recorded calls of op ("" for all).
func (p *Provider) Calls(op string) []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return callsOf(p.calls, op)
}

// Jobs returns the jobs created.
func (p *Provider) Jobs() []Job {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Job
	for _, j := range p.jobs {
		out = append(out, *j)
	}
	return out
}

// JobID is the ID the nth (1-based) job gets.
func (p *Provider) JobID(n int) string { return fmt.Sprintf("%s-job-%d", p.name, n) }

func (p *Provider) Submit(ctx context.Context, req provider.JobRequest) (provider.JobRef, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.submits++
	if p.submits <= len(p.plan.SubmitErrors) {
		err := p.plan.SubmitErrors[p.submits-1]
		p.record("Submit", err)
		return provider.JobRef{}, err
	}
	p.record("Submit", nil)
	if req.MediaToken.IsZero() || req.MediaURL == "" {
		return provider.JobRef{}, &provider.Error{Op: "submit", StatusCode: 400, Code: "invalid_request", Message: "media_url and media_token are required"}
	}
	for _, j := range p.jobs {
		if j.Request.IdempotencyKey == req.IdempotencyKey {
			return j.Ref, nil
		}
	}
	j := &Job{Ref: provider.JobRef{Provider: p.name, ID: p.JobID(len(p.jobs) + 1)}, Request: req, Submitted: p.clock()}
	p.jobs = append(p.jobs, j)
	return j.Ref, nil
}

func (p *Provider) find(ref provider.JobRef) *Job {
	for _, j := range p.jobs {
		if j.Ref == ref {
			return j
		}
	}
	return nil
}

// planOf is the plan job j follows. p.mu held.
func (p *Provider) planOf(j *Job) Plan {
	return p.plan.planFor(slices.Index(p.jobs, j) + 1)
}

// status computes a job's status now. p.mu held.
func (p *Provider) status(j *Job) provider.JobStatus {
	plan := p.planOf(j)
	now := p.clock()
	elapsed := now.Sub(j.Submitted)
	st := provider.JobStatus{Ref: j.Ref, UpdatedAt: now}
	st.MediaFetched = elapsed >= plan.FetchAfter
	switch {
	case j.Canceled:
		st.State = provider.StateCanceled
	case plan.Duration >= 0 && elapsed >= plan.Duration:
		st.State = plan.Final
		if st.State == "" {
			st.State = provider.StateSucceeded
		}
		st.MediaFetched = st.MediaFetched || st.State == provider.StateSucceeded
		st.Progress = 1
		if st.State == provider.StateFailed {
			st.Error = plan.JobError
		}
	case st.MediaFetched:
		st.State = provider.StateRunning
		st.RetryAfter = plan.RetryAfter
		if plan.Duration > 0 {
			st.Progress = float64(elapsed) / float64(plan.Duration)
		}
	default:
		st.State = provider.StateQueued
		st.RetryAfter = plan.RetryAfter
	}
	for _, a := range j.Request.Analyses {
		as := provider.AnalysisState{Name: a, State: st.State}
		if st.State == provider.StateSucceeded {
			as.State = provider.StateSucceeded
		}
		if s, ok := plan.Analyses[a]; ok && st.State.Terminal() {
			as.State = s
		}
		st.Analyses = append(st.Analyses, as)
	}
	slices.SortFunc(st.Analyses, func(x, y provider.AnalysisState) int {
		if x.Name < y.Name {
			return -1
		}
		if x.Name > y.Name {
			return 1
		}
		return 0
	})
	return st
}

func (p *Provider) Status(ctx context.Context, ref provider.JobRef) (provider.JobStatus, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	j := p.find(ref)
	if j == nil {
		err := &provider.Error{Op: "status", StatusCode: 404, Code: "not_found", Message: "no such job"}
		p.record("Status", err)
		return provider.JobStatus{}, err
	}
	p.record("Status", nil)
	return p.status(j), nil
}

func (p *Provider) Result(ctx context.Context, ref provider.JobRef) (*provider.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.record("Result", nil)
	j := p.find(ref)
	if j == nil || p.status(j).State != provider.StateSucceeded {
		return nil, &provider.Error{Op: "result", StatusCode: 409, Code: "not_succeeded", Message: "job has no result"}
	}
	if p.deleted[ref] {
		return nil, &provider.Error{Op: "result", StatusCode: 410, Code: "result_deleted", Message: "the result was deleted"}
	}
	plan := p.planOf(j)
	if plan.Result == nil {
		return &provider.Result{}, nil
	}
	// A deep copy, as if decoded from JSON.
	b, _ := json.Marshal(plan.Result)
	var r provider.Result
	_ = json.Unmarshal(b, &r)
	return &r, nil
}

func (p *Provider) Cancel(ctx context.Context, ref provider.JobRef) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.record("Cancel", nil)
	j := p.find(ref)
	if j == nil {
		return &provider.Error{Op: "cancel", StatusCode: 404, Code: "not_found", Message: "no such job"}
	}
	if !p.status(j).State.Terminal() {
		j.Canceled, j.CanceledAt = true, p.clock()
	}
	return nil
}

// ResultDeleter is a fake provider that also implements
// provider.ResultDeleter, as mlengine does: after DeleteResult the job's
// Result answers 410 result_deleted. (A plain Provider keeps its results,
// as a provider without such an API does.)
type ResultDeleter struct{ *Provider }

var _ provider.ResultDeleter = ResultDeleter{}

// DeleteResult deletes a finished job's result: an unknown job is a 404, a
// running one a retryable 409; deleting again is fine.
func (d ResultDeleter) DeleteResult(ctx context.Context, ref provider.JobRef) error {
	p := d.Provider
	p.mu.Lock()
	defer p.mu.Unlock()
	j := p.find(ref)
	var err error
	switch {
	case j == nil:
		err = &provider.Error{Op: "delete result", StatusCode: 404, Code: "not_found", Message: "no such job"}
	case !p.status(j).State.Terminal():
		err = &provider.Error{Op: "delete result", StatusCode: 409, Code: "not_finished", Message: "job is running", Retryable: true}
	default:
		if p.deleted == nil {
			p.deleted = map[provider.JobRef]bool{}
		}
		p.deleted[ref] = true
	}
	p.record("DeleteResult", err)
	return err
}

// TalkResult is a small but complete result of a talk-like video.
func TalkResult() *provider.Result {
	words := []provider.Word{}
	t := 0.5
	for i, w := range []string{"welcome", "to", "the", "quarterly", "review", "today", "we", "look", "at", "temporal", "workflows",
		"my", "card", "is", "four", "one", "one", "one", "one", "one", "one", "one", "one", "one", "one", "one", "one", "one", "one", "one", "thanks"} {
		if i == 11 {
			t += 2 // a pause: new transcript entry
		}
		words = append(words, provider.Word{Word: w, Start: t, End: t + 0.4, Confidence: 0.9})
		t += 0.5
	}
	return &provider.Result{
		Media:      &provider.MediaInfo{Format: "mp4", Duration: 42.5, Width: 1280, Height: 720, HasVideo: true, HasAudio: true},
		Transcript: &provider.Transcript{Text: "welcome to the quarterly review", Words: words},
		Keywords: []provider.Keyword{
			{Text: "temporal workflows", Score: 3.5}, {Text: "quarterly review", Score: 2.1}, {Text: "4111 1111 1111 1111", Score: 1},
		},
		Scenes: []provider.Scene{{Start: 0, End: 12.2, Thumbnail: "scene-001.png"}, {Start: 12.2, End: 30}, {Start: 30, End: 42.5}},
		OCR: []provider.OCRText{
			{Text: "Quarterly Review", Start: 0, End: 12, Confidence: 91},
			{Text: "Card: 4111-1111-1111-1111", Start: 12.2, End: 30, Confidence: 88},
			{Text: "Quarterly  Review", Start: 30, End: 42, Confidence: 90},
		},
	}
}

// AudioResult is a result of an audio-only file.
func AudioResult() *provider.Result {
	r := TalkResult()
	r.Media = &provider.MediaInfo{Format: "mp3", Duration: 42.5, HasAudio: true}
	r.Scenes, r.OCR = nil, nil
	return r
}

package bench

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"filesight/internal/provider"
	"filesight/internal/provider/mlengineapi"
)

// simProvider is an ML provider for the system benchmarks: it speaks
// mlengine's HTTP API (internal/provider/mlengineapi), so the real worker
// program talks to it exactly as to mlengine, but it analyses nothing. A
// plan decides how each job behaves: finish at once (the orchestration
// figure measures everything but the analysis), run for a simulated time
// that advances with every status read (the history figure: a "2-hour"
// job in a minute), or run until told otherwise (the worker RSS figure).
// It never downloads the media: it reports the media fetched at the first
// status read, which lets the workflow revoke its read token as it would.
type simProvider struct {
	key string

	mu      sync.Mutex
	jobs    map[string]*simJob
	byKey   map[string]*simJob
	plans   map[string]jobPlan // by workflow_id label
	deflt   jobPlan
	submits atomic.Int64
	polls   atomic.Int64
}

type simJob struct {
	id, key   string
	labels    map[string]string
	analyses  []string
	created   time.Time
	polls     int
	submits   int
	canceled  bool
	finalized provider.State // set once the job has ended
}

// planKind is how a job behaves.
type planKind int

const (
	// planInstant: succeeded at the first status read.
	planInstant planKind = iota
	// planSimulated: running until Polls×Step of simulated time reach
	// Duration; every status read advances the job's clock by Step.
	planSimulated
	// planHold: running (media fetched) until the plan changes.
	planHold
)

// jobPlan is what a job does. RetryAfter is the real time the provider
// asks the caller to wait before the next status read.
type jobPlan struct {
	Kind       planKind
	Duration   time.Duration
	Step       time.Duration
	RetryAfter time.Duration
}

func newSimProvider(key string) *simProvider {
	return &simProvider{key: key, jobs: map[string]*simJob{}, byKey: map[string]*simJob{}, plans: map[string]jobPlan{},
		deflt: jobPlan{Kind: planInstant, RetryAfter: time.Second}}
}

// setDefault sets the plan of jobs whose workflow has no plan of its own;
// it applies to running jobs too at their next status read.
func (p *simProvider) setDefault(pl jobPlan) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.deflt = pl
}

// setPlan sets the plan of the jobs of one workflow.
func (p *simProvider) setPlan(workflowID string, pl jobPlan) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.plans[workflowID] = pl
}

// waiting counts jobs read at least n times and not ended.
func (p *simProvider) waiting(n int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := 0
	for _, j := range p.jobs {
		if j.polls >= n && j.finalized == "" {
			c++
		}
	}
	return c
}

// jobPolls is how often the jobs of a workflow were read.
func (p *simProvider) jobPolls(workflowID string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, j := range p.jobs {
		if j.labels["workflow_id"] == workflowID {
			n += j.polls
		}
	}
	return n
}

func (p *simProvider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+p.key)) != 1 {
		simError(w, http.StatusUnauthorized, "unauthorized", "missing or invalid API key")
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/jobs", p.submit)
	mux.HandleFunc("GET /v1/jobs/{id}", p.status)
	mux.HandleFunc("GET /v1/jobs/{id}/result", p.result)
	mux.HandleFunc("DELETE /v1/jobs/{id}", p.cancel)
	mux.ServeHTTP(w, r)
}

func simError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(mlengineapi.ErrorBody{Error: mlengineapi.APIError{Code: code, Message: msg}})
}

func simJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (p *simProvider) submit(w http.ResponseWriter, r *http.Request) {
	var req mlengineapi.SubmitRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		simError(w, http.StatusBadRequest, "invalid_request", "body is not a job request")
		return
	}
	p.submits.Add(1)
	key := r.Header.Get(mlengineapi.HeaderIdempotencyKey)
	p.mu.Lock()
	defer p.mu.Unlock()
	if j, ok := p.byKey[key]; ok && key != "" {
		j.submits++
		simJSON(w, http.StatusOK, mlengineapi.SubmitResponse{ID: j.id, Status: provider.StateQueued})
		return
	}
	j := &simJob{id: uuid.NewString(), key: key, labels: req.Labels, analyses: req.Analyses, created: time.Now(), submits: 1}
	p.jobs[j.id] = j
	if key != "" {
		p.byKey[key] = j
	}
	simJSON(w, http.StatusAccepted, mlengineapi.SubmitResponse{ID: j.id, Status: provider.StateQueued})
}

func (p *simProvider) job(w http.ResponseWriter, r *http.Request) *simJob {
	j := p.jobs[r.PathValue("id")]
	if j == nil {
		simError(w, http.StatusNotFound, "not_found", "no such job")
	}
	return j
}

func (p *simProvider) status(w http.ResponseWriter, r *http.Request) {
	p.polls.Add(1)
	p.mu.Lock()
	j := p.job(w, r)
	if j == nil {
		p.mu.Unlock()
		return
	}
	j.polls++
	pl, ok := p.plans[j.labels["workflow_id"]]
	if !ok {
		pl = p.deflt
	}
	state, progress := provider.StateRunning, 0.5
	switch {
	case j.canceled:
		state = provider.StateCanceled
	case j.finalized != "":
		state = j.finalized
	case pl.Kind == planInstant:
		state, progress = provider.StateSucceeded, 1
	case pl.Kind == planSimulated:
		elapsed := time.Duration(j.polls) * pl.Step
		progress = min(1, float64(elapsed)/float64(max(pl.Duration, 1)))
		if elapsed >= pl.Duration {
			state = provider.StateSucceeded
		}
	}
	if state.Terminal() {
		j.finalized = state
	}
	out := mlengineapi.Job{ID: j.id, Status: state, Progress: progress, MediaFetched: true, Labels: j.labels,
		IdempotencyKey: j.key, Submissions: j.submits, CreatedAt: j.created, UpdatedAt: time.Now(),
		Analyses: map[string]provider.State{}}
	for _, a := range j.analyses {
		out.Analyses[a] = state
	}
	p.mu.Unlock()
	if !state.Terminal() {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(pl.RetryAfter/time.Second))))
	}
	simJSON(w, http.StatusOK, out)
}

func (p *simProvider) result(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	j := p.job(w, r)
	var done bool
	if j != nil {
		done = j.finalized == provider.StateSucceeded
	}
	p.mu.Unlock()
	if j == nil {
		return
	}
	if !done {
		simError(w, http.StatusConflict, "not_finished", "the job has not succeeded")
		return
	}
	simJSON(w, http.StatusOK, simResult)
}

func (p *simProvider) cancel(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	j := p.job(w, r)
	if j == nil {
		return
	}
	if j.finalized == "" {
		j.canceled, j.finalized = true, provider.StateCanceled
	}
	simJSON(w, http.StatusOK, mlengineapi.Job{ID: j.id, Status: j.finalized, Labels: j.labels, IdempotencyKey: j.key,
		Submissions: j.submits, CreatedAt: j.created, UpdatedAt: time.Now(), Analyses: map[string]provider.State{}})
}

// simResult is every job's result: a short talk with every analysis, so
// that the worker builds every kind of card.
var simResult = provider.Result{
	Media: &provider.MediaInfo{Format: "mov,mp4,m4a,3gp,3g2,mj2", Duration: 30, Width: 1280, Height: 720, HasVideo: true, HasAudio: true},
	Transcript: &provider.Transcript{Text: "welcome to this short talk about better data", Words: []provider.Word{
		{Word: "welcome", Start: 0.5, End: 0.9, Confidence: 0.9}, {Word: "to", Start: 0.9, End: 1.0, Confidence: 0.9},
		{Word: "this", Start: 1.0, End: 1.2, Confidence: 0.9}, {Word: "short", Start: 1.2, End: 1.5, Confidence: 0.9},
		{Word: "talk", Start: 1.5, End: 1.8, Confidence: 0.9}, {Word: "about", Start: 1.8, End: 2.1, Confidence: 0.9},
		{Word: "better", Start: 2.1, End: 2.4, Confidence: 0.9}, {Word: "data", Start: 2.4, End: 2.9, Confidence: 0.9},
	}},
	Keywords: []provider.Keyword{{Text: "better data", Score: 2}, {Text: "talk", Score: 1}},
	Scenes:   []provider.Scene{{Start: 0, End: 10}, {Start: 10, End: 20}, {Start: 20, End: 30}},
	OCR:      []provider.OCRText{{Text: "BETTER DATA", Start: 0, End: 10, Confidence: 95}},
	Loudness: &provider.Loudness{IntegratedLUFS: -23, RangeLU: 5, TruePeakDBFS: -2},
	Silences: []provider.Span{{Start: 0, End: 0.5}},
}

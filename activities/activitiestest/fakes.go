// Package activitiestest holds in-memory fakes of the Box client and of an
// ML provider, for unit tests of the activities and of the workflow (with
// Temporal's test environment and its virtual clock). They enforce what the
// real services enforce where the workflow depends on it: token scopes,
// file restriction, revocation, Box's card schema, idempotent submission.
package activitiestest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"filesight/internal/box"
	"filesight/internal/provider"
	"filesight/internal/secret"
)

// Clock returns the current time; tests pass the test environment's Now.
type Clock func() time.Time

// Call is one recorded call.
type Call struct {
	Op  string
	At  time.Time
	Err error
	// Token is the fingerprint of the token revoked (Revoke calls).
	Token string
}

type fakeToken struct {
	value   secret.String
	fileID  string
	scopes  []string
	expires time.Time
	revoked bool
}

// Box is a fake Box API.
type Box struct {
	mu       sync.Mutex
	clock    Clock
	lifetime time.Duration
	files    map[string]box.File
	tokens   []*fakeToken
	cards    map[string][]box.Card
	writes   map[string]int
	failures map[string][]failure
	calls    []Call
	seq      int
}

type failure struct {
	nth int // 1-based call number of the op
	err error
}

// NewBox returns an empty fake Box whose tokens live for lifetime.
func NewBox(clock Clock, lifetime time.Duration) *Box {
	if clock == nil {
		clock = time.Now
	}
	return &Box{clock: clock, lifetime: lifetime, files: map[string]box.File{}, cards: map[string][]box.Card{},
		writes: map[string]int{}, failures: map[string][]failure{}}
}

// AddFile stores a file.
func (b *Box) AddFile(id, name string, size int64, versionID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ext := ""
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '.' {
			ext = name[i+1:]
			break
		}
	}
	b.files[id] = box.File{Type: "file", ID: id, Name: name, Size: size, Extension: ext,
		FileVersion: &box.FileVersion{Type: "file_version", ID: versionID}, ItemStatus: "active"}
}

// FailOn makes the nth call (1-based, counted per op) of op fail with err.
// Ops: Downscope, Revoke, GetFile, UpsertSkillsCards.
func (b *Box) FailOn(op string, nth int, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures[op] = append(b.failures[op], failure{nth: nth, err: err})
}

// call records a call and returns the injected failure, if any. b.mu held.
func (b *Box) call(op string) error {
	n := 1
	for _, c := range b.calls {
		if c.Op == op {
			n++
		}
	}
	var err error
	for _, f := range b.failures[op] {
		if f.nth == n {
			err = f.err
		}
	}
	b.calls = append(b.calls, Call{Op: op, At: b.clock(), Err: err})
	return err
}

// callsOf returns the calls of op among calls ("" for all), in order.
func callsOf(calls []Call, op string) []Call {
	var out []Call
	for _, c := range calls {
		if op == "" || c.Op == op {
			out = append(out, c)
		}
	}
	return out
}

// Calls returns the recorded calls of op ("" for all).
func (b *Box) Calls(op string) []Call {
	b.mu.Lock()
	defer b.mu.Unlock()
	return callsOf(b.calls, op)
}

func (b *Box) Downscope(ctx context.Context, fileID string, scopes ...string) (box.Token, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.call("Downscope"); err != nil {
		return box.Token{}, err
	}
	if _, ok := b.files[fileID]; !ok {
		// Box's answer to a token exchange for a missing file.
		return box.Token{}, &box.Error{StatusCode: http.StatusBadRequest, Code: box.CodeInvalidResource,
			Message: "The target resource is invalid.", Op: "POST /oauth2/token (token-exchange)"}
	}
	b.seq++
	t := &fakeToken{value: secret.String(fmt.Sprintf("fake-downscoped-%d-%s", b.seq, fileID)), fileID: fileID,
		scopes: slices.Clone(scopes), expires: b.clock().Add(b.lifetime)}
	b.tokens = append(b.tokens, t)
	return box.Token{AccessToken: t.value, ExpiresAt: t.expires, Scopes: t.scopes, FileID: fileID}, nil
}

func (b *Box) Revoke(ctx context.Context, token secret.String) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.call("Revoke")
	b.calls[len(b.calls)-1].Token = token.Fingerprint()
	if err != nil {
		return err
	}
	for _, t := range b.tokens {
		if t.value == token {
			t.revoked = true
		}
	}
	return nil
}

// authorize checks a token as Box does. b.mu held.
func (b *Box) authorize(op string, token secret.String, fileID, scope string) error {
	for _, t := range b.tokens {
		if t.value != token {
			continue
		}
		if t.revoked || !b.clock().Before(t.expires) {
			return &box.Error{StatusCode: http.StatusUnauthorized, Code: "invalid_token", Op: op}
		}
		if t.fileID != fileID || !slices.Contains(t.scopes, scope) {
			return &box.Error{StatusCode: http.StatusForbidden, Code: "insufficient_scope", Op: op}
		}
		return nil
	}
	return &box.Error{StatusCode: http.StatusUnauthorized, Code: "invalid_token", Op: op}
}

func (b *Box) GetFile(ctx context.Context, token secret.String, fileID string, fields ...string) (*box.File, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.call("GetFile"); err != nil {
		return nil, err
	}
	if err := b.authorize("GET /2.0/files/{id}", token, fileID, box.ScopeItemPreview); err != nil {
		return nil, err
	}
	f, ok := b.files[fileID]
	if !ok {
		return nil, &box.Error{StatusCode: http.StatusNotFound, Code: "not_found", Op: "GET /2.0/files/{id}"}
	}
	return &f, nil
}

func (b *Box) FileContentURL(fileID string) string {
	return "http://box.invalid/2.0/files/" + fileID + "/content"
}

func (b *Box) UpsertSkillsCards(ctx context.Context, token secret.String, fileID string, cards []box.Card) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.call("UpsertSkillsCards"); err != nil {
		return err
	}
	if err := b.authorize("PUT /2.0/files/{id}/metadata/global/boxSkillsCards", token, fileID, box.ScopeItemUpload); err != nil {
		return err
	}
	doc, err := json.Marshal(box.SkillsDocument{Cards: cards})
	if err != nil {
		return err
	}
	if err := box.ValidateSkillsCards(doc); err != nil {
		return fmt.Errorf("box: skills cards for file %s: %w", fileID, err)
	}
	b.cards[fileID] = slices.Clone(cards)
	b.writes[fileID]++
	return nil
}

// RevokedAt returns when the token with this fingerprint was first revoked
// successfully, and whether it was.
func (b *Box) RevokedAt(fingerprint string) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.calls {
		if c.Op == "Revoke" && c.Err == nil && c.Token == fingerprint {
			return c.At, true
		}
	}
	return time.Time{}, false
}

// Cards returns the file's current cards.
func (b *Box) Cards(fileID string) []box.Card {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.cards[fileID])
}

// Issued returns how many tokens were issued.
func (b *Box) Issued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.tokens)
}

// Unrevoked returns a description of every issued token not revoked.
func (b *Box) Unrevoked() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, t := range b.tokens {
		if !t.revoked {
			out = append(out, fmt.Sprintf("%s (file %s, scopes %v)", t.value.Fingerprint(), t.fileID, t.scopes))
		}
	}
	return out
}

// TokenValues returns every issued token's value (to prove none leaked).
func (b *Box) TokenValues() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, t := range b.tokens {
		out = append(out, t.value.Reveal())
	}
	return out
}

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

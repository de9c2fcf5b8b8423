package workflows_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"filesight/activities"
	"filesight/activities/activitiestest"
	"filesight/internal/box"
	"filesight/internal/provider"
	"filesight/workflows"
)

// The compensating and degraded paths of ProcessFile, each driven to its
// end, asserting what a person sees: the progress query, the status card on
// the file and the result's counters.

// tokenStates returns the progress query's token states, in issue order.
func tokenStates(p workflows.Progress) []activities.TokenState {
	var out []activities.TokenState
	for _, t := range p.Tokens {
		out = append(out, t.State)
	}
	return out
}

func countState(p workflows.Progress, s activities.TokenState) int {
	n := 0
	for _, t := range p.Tokens {
		if t.State == s {
			n++
		}
	}
	return n
}

// A revocation Box refuses for good (400) is reported as failed: in the
// progress query, in the warnings and in the result's counters. It is never
// counted as revoked, and the token stays live at Box.
func TestRevokeRefusedIsReportedAsFailed(t *testing.T) {
	h := newHarness(t, activitiestest.Plan{Duration: time.Minute, Result: activitiestest.TalkResult()})
	h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
	// The first revocation is the processing card's write token's.
	h.box.FailOn("Revoke", 1, &box.Error{StatusCode: http.StatusBadRequest, Code: "invalid_request", Op: "POST /oauth2/revoke"})
	res, err := h.run(input())
	if err != nil {
		t.Fatal(err)
	}
	// The analysis itself succeeded and says so.
	if res.Outcome != workflows.OutcomeSuccess {
		t.Fatalf("result %+v", res)
	}
	if st := statusCard(t, h.box.Cards(fileID)); st.Code != box.StatusSuccess {
		t.Errorf("status card %+v", st)
	}
	p := h.progress()
	if got := countState(p, activities.TokenRevokeFailed); got != 1 {
		t.Errorf("token states %v: want exactly one %s", tokenStates(p), activities.TokenRevokeFailed)
	}
	if res.TokensIssued != h.box.Issued() || res.TokensRevoked != res.TokensIssued-1 {
		t.Errorf("result counts %d issued / %d revoked; want %d / %d", res.TokensIssued, res.TokensRevoked, h.box.Issued(), h.box.Issued()-1)
	}
	if left := h.box.Unrevoked(); len(left) != 1 {
		t.Errorf("live tokens at Box: %v, want the one whose revocation failed", left)
	}
	var failed workflows.TokenProgress
	for _, tp := range p.Tokens {
		if tp.State == activities.TokenRevokeFailed {
			failed = tp
		}
	}
	if failed.Purpose != activities.PurposeWrite || len(p.Warnings) == 0 || !strings.Contains(strings.Join(p.Warnings, "\n"), "revoking write token "+failed.ID+" failed") {
		t.Errorf("failed token %+v, warnings %q", failed, p.Warnings)
	}
	// No second attempt at a refusal: a 400 does not pass on retry.
	if n := h.attempts["RevokeToken"]; n != h.box.Issued() {
		t.Errorf("%d revocation attempts for %d tokens", n, h.box.Issued())
	}
	if p.Stage != workflows.StageDone {
		t.Errorf("stage %s", p.Stage)
	}
}

// Box failing every revocation with 503: each revocation is retried, with
// backoff, until its token has expired (nothing left to revoke), and then
// the run goes on. Expired is not revoked: the query says expired, and the
// retries end within the tokens' lifetime.
func TestRevokeRetriedUntilTheTokenExpires(t *testing.T) {
	const lifetime = 15 * time.Minute
	h := newHarness(t, activitiestest.Plan{Duration: time.Minute, Result: activitiestest.TalkResult()}, withTokenLifetime(lifetime))
	h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
	for i := 1; i <= 500; i++ {
		h.box.FailOn("Revoke", i, &box.Error{StatusCode: http.StatusServiceUnavailable, Op: "POST /oauth2/revoke"})
	}
	start := h.env.Now()
	res, err := h.run(input())
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != workflows.OutcomeSuccess {
		t.Fatalf("result %+v", res)
	}
	p := h.progress()
	if got := countState(p, activities.TokenExpired); got != h.box.Issued() || countState(p, activities.TokenRevoked) != 0 {
		t.Errorf("token states %v: want all %d expired, none revoked", tokenStates(p), h.box.Issued())
	}
	// Expired tokens count as gone, as the result's contract says.
	if res.TokensIssued != h.box.Issued() || res.TokensRevoked != res.TokensIssued {
		t.Errorf("result counts %d issued / %d revoked", res.TokensIssued, res.TokensRevoked)
	}
	calls := len(h.box.Calls("Revoke"))
	if calls <= 2*h.box.Issued() {
		t.Errorf("%d revocation calls for %d tokens: want retries", calls, h.box.Issued())
	}
	// Each token's retries end once it has expired (plus the activity's
	// grace and one backoff); three tokens, revoked one after the other at
	// worst.
	if elapsed := h.env.Now().Sub(start); elapsed > 3*(lifetime+7*time.Minute) {
		t.Errorf("the run took %v of virtual time", elapsed)
	}
}

// flakyResults makes a provider's Result fail: errs[i] answers call i+1, and
// after the list, always errs' last entry when forever is set (else the
// real result).
type flakyResults struct {
	provider.Provider
	mu      sync.Mutex
	calls   int
	errs    []error
	forever bool
	now     func() time.Time // when set, the time of each call is kept
	at      []time.Time
}

func (f *flakyResults) Result(ctx context.Context, ref provider.JobRef) (*provider.Result, error) {
	f.mu.Lock()
	f.calls++
	n := f.calls
	if f.now != nil {
		f.at = append(f.at, f.now())
	}
	f.mu.Unlock()
	switch {
	case n <= len(f.errs):
		return nil, f.errs[n-1]
	case f.forever && len(f.errs) > 0:
		return nil, f.errs[len(f.errs)-1]
	}
	return f.Provider.Result(ctx, ref)
}

func (f *flakyResults) resultCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func TestResultsFetchFailsInWriteCards(t *testing.T) {
	unavailable := &provider.Error{Op: "result", StatusCode: http.StatusServiceUnavailable, Retryable: true, Message: "try later"}

	t.Run("transient: retried, then written", func(t *testing.T) {
		fr := &flakyResults{errs: []error{unavailable, unavailable}}
		h := newHarness(t, activitiestest.Plan{Duration: time.Minute, Result: activitiestest.TalkResult()},
			withWrappedProviders(func(p provider.Provider) provider.Provider { fr.Provider = p; return fr }))
		h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
		fr.now = h.env.Now
		res, err := h.run(input())
		if err != nil {
			t.Fatal(err)
		}
		// The write's retry policy: 2 s, then twice as long.
		if len(fr.at) != 3 || fr.at[1].Sub(fr.at[0]) != 2*time.Second || fr.at[2].Sub(fr.at[1]) != 4*time.Second {
			t.Errorf("result fetched at %v: want retries after 2 s and 4 s", fr.at)
		}
		if res.Outcome != workflows.OutcomeSuccess || fr.resultCalls() != 3 || h.attempts["WriteCards"] != 3 {
			t.Errorf("result %+v after %d result calls, %d WriteCards attempts; want success after 3", res, fr.resultCalls(), h.attempts["WriteCards"])
		}
		if st := statusCard(t, h.box.Cards(fileID)); st.Code != box.StatusSuccess {
			t.Errorf("status card %+v", st)
		}
		h.assertTokensClean(res)
	})

	t.Run("gone for good: the card names the job", func(t *testing.T) {
		gone := &provider.Error{Op: "result", StatusCode: http.StatusGone, Code: "result_deleted", Message: "the result was deleted"}
		fr := &flakyResults{errs: []error{gone}, forever: true}
		h := newHarness(t, activitiestest.Plan{Duration: time.Minute, Result: activitiestest.TalkResult()},
			withWrappedProviders(func(p provider.Provider) provider.Provider { fr.Provider = p; return fr }))
		h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
		res, err := h.run(input())
		if err != nil {
			t.Fatal(err)
		}
		cards := h.box.Cards(fileID)
		st := statusCard(t, cards)
		if res.Outcome != workflows.OutcomeFailed || len(cards) != 1 || st.Code == box.StatusSuccess || len(res.Failed) == 0 {
			t.Errorf("result %+v, cards %v, status %+v", res, cardTypes(cards), st)
		}
		// Not retried: a deleted result does not come back.
		if h.attempts["WriteCards"] != 1 {
			t.Errorf("%d WriteCards attempts", h.attempts["WriteCards"])
		}
		if p := h.progress(); p.Stage != workflows.StageFailed || p.Outcome != workflows.OutcomeFailed || len(p.Failed) == 0 {
			t.Errorf("progress stage %s outcome %s failed %v", p.Stage, p.Outcome, p.Failed)
		}
		h.assertTokensClean(res)
	})

	t.Run("unavailable until the write gives up", func(t *testing.T) {
		// Short-lived tokens, so that the write's schedule-to-close (the
		// token's lifetime less a minute) ends the retries before the test
		// environment's default of 10 attempts does.
		const lifetime = 3 * time.Minute
		fr := &flakyResults{errs: []error{unavailable}, forever: true}
		h := newHarness(t, activitiestest.Plan{Duration: time.Minute, Result: activitiestest.TalkResult()}, withTokenLifetime(lifetime),
			withWrappedProviders(func(p provider.Provider) provider.Provider { fr.Provider = p; return fr }))
		h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
		fr.now = h.env.Now
		_, err := h.run(input())
		if err == nil || !strings.Contains(err.Error(), "writing the cards") {
			t.Fatalf("workflow error %v, want the failed write", err)
		}
		if fr.resultCalls() < 3 {
			t.Errorf("%d result calls: want retries before giving up", fr.resultCalls())
		}
		// The write with one token gives up a minute before that token
		// expires, not after: its last attempt starts within the token's
		// lifetime less the margin, and not long before that.
		if span := fr.at[len(fr.at)-1].Sub(fr.at[0]); span > lifetime-time.Minute || span < (lifetime-time.Minute)/2 || len(fr.at) >= 10 {
			t.Errorf("%d result fetches over %v with %v tokens: want them to stop shortly before %v", len(fr.at), span, lifetime, lifetime-time.Minute)
		}
		// The file says the run failed (not "processing" forever), in a
		// fixed message that holds no token.
		st := statusCard(t, h.box.Cards(fileID))
		if st.Code != box.StatusPermanentFailure || !strings.HasPrefix(st.Message, "Processing failed") {
			t.Errorf("status card %+v", st)
		}
		for _, v := range h.box.TokenValues() {
			if strings.Contains(st.Message, v) {
				t.Errorf("status card holds a token: %q", st.Message)
			}
		}
		p := h.progress()
		if p.Stage != workflows.StageFailed || p.Outcome != workflows.OutcomeFailed {
			t.Errorf("progress stage %s outcome %s", p.Stage, p.Outcome)
		}
		h.assertTokensClean(nil)
	})
}

// lostSubmit creates the job at the provider and then loses the answer, the
// first time: what the workflow sees when the worker dies after the
// provider accepted the job and before the activity's completion reached
// Temporal (the activity is retried).
type lostSubmit struct {
	provider.Provider
	mu   sync.Mutex
	lost int
}

func (l *lostSubmit) Submit(ctx context.Context, req provider.JobRequest) (provider.JobRef, error) {
	ref, err := l.Provider.Submit(ctx, req)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && l.lost == 0 {
		l.lost++
		return provider.JobRef{}, errors.New("read tcp: connection reset by peer (worker gone before recording the job)")
	}
	return ref, err
}

// A worker that dies between the provider's submission and the recording
// of the job leaves one job at the provider, not two: the retry carries the
// same idempotency key and gets the same job back, which the run then
// follows to its end.
func TestWorkerDiesBetweenSubmitAndRecord(t *testing.T) {
	ls := &lostSubmit{}
	h := newHarness(t, activitiestest.Plan{Duration: time.Minute, Result: activitiestest.TalkResult()},
		withWrappedProviders(func(p provider.Provider) provider.Provider { ls.Provider = p; return ls }))
	h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
	res, err := h.run(input())
	if err != nil {
		t.Fatal(err)
	}
	subs := h.ml().Calls("Submit")
	jobs := h.ml().Jobs()
	if len(subs) != 2 || len(jobs) != 1 || jobs[0].Canceled {
		t.Fatalf("%d submissions, jobs %+v: want 2 submissions of one job, not cancelled", len(subs), jobs)
	}
	if res.Outcome != workflows.OutcomeSuccess {
		t.Fatalf("result %+v", res)
	}
	p := h.progress()
	if len(p.Jobs) != 1 || p.Jobs[0].JobID != jobs[0].Ref.ID || p.Jobs[0].State != activities.JobSucceeded {
		t.Errorf("progress jobs %+v, want the provider's one job %s succeeded", p.Jobs, jobs[0].Ref.ID)
	}
	if st := statusCard(t, h.box.Cards(fileID)); st.Code != box.StatusSuccess {
		t.Errorf("status card %+v", st)
	}
	h.assertTokensClean(res)
}

// statusRefused makes a provider's status calls fail for good (401) after
// the first one.
type statusRefused struct {
	provider.Provider
	mu    sync.Mutex
	calls int
}

func (s *statusRefused) Status(ctx context.Context, ref provider.JobRef) (provider.JobStatus, error) {
	s.mu.Lock()
	s.calls++
	n := s.calls
	s.mu.Unlock()
	if n > 1 {
		return provider.JobStatus{}, &provider.Error{Op: "status", StatusCode: http.StatusUnauthorized, Code: "unauthorized", Message: "API key revoked"}
	}
	return s.Provider.Status(ctx, ref)
}

// Polling that fails for good (the provider refuses our credentials) ends
// the job as failed, not as timed out, and stops it at the provider.
func TestPollRefusedEndsTheJob(t *testing.T) {
	sr := &statusRefused{}
	h := newHarness(t, activitiestest.Plan{FetchAfter: time.Minute, Duration: time.Hour, RetryAfter: 30 * time.Second},
		withWrappedProviders(func(p provider.Provider) provider.Provider { sr.Provider = p; return sr }))
	h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
	res, err := h.run(input())
	if err != nil {
		t.Fatal(err)
	}
	p := h.progress()
	if res.Outcome != workflows.OutcomeFailed || p.Jobs[0].State != activities.JobFailed || !strings.Contains(p.Jobs[0].Error, "API key revoked") {
		t.Fatalf("result %+v, job %+v", res, p.Jobs[0])
	}
	if jobs := h.ml().Jobs(); len(jobs) != 1 || !jobs[0].Canceled {
		t.Errorf("job not cancelled at the provider: %+v", jobs)
	}
	if st := statusCard(t, h.box.Cards(fileID)); st.Code != box.StatusPermanentFailure || strings.Contains(st.Message, "timed out") {
		t.Errorf("status card %+v", st)
	}
	h.assertTokensClean(res)
}

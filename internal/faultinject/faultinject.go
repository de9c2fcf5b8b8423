// Package faultinject holds the fault rules that localbox's and mlengine's
// admin APIs set for chaos tests: which requests to slow down or fail, how
// often, and a random source that a seed makes repeatable. Each server
// writes the failing answers in its own API's error format.
package faultinject

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Rule makes requests whose path starts with PathPrefix (and, if set,
// whose method is Method) slow or fail. For every matching request: wait
// LatencyMS, then answer 429 with probability Rate429, else ErrorStatus
// (default 500) with probability ErrorRate, else 202 "not ready yet" with
// probability NotReadyRate, else serve normally. With AfterHandler the
// request is served first and its answer replaced by the fault (a lost
// response). With Count > 0 the rule applies to that many more matching
// requests only. Which of these a server offers is its Policy.
type Rule struct {
	PathPrefix        string  `json:"path_prefix"`
	Method            string  `json:"method,omitempty"`
	ErrorRate         float64 `json:"error_rate"`
	ErrorStatus       int     `json:"error_status,omitempty"`
	Rate429           float64 `json:"rate_429"`
	NotReadyRate      float64 `json:"not_ready_rate,omitempty"`
	LatencyMS         int     `json:"latency_ms"`
	RetryAfterSeconds int     `json:"retry_after_seconds"`
	AfterHandler      bool    `json:"after_handler,omitempty"`
	Count             int     `json:"count,omitempty"`
}

// RetryAfter is the Retry-After, in seconds, of a fault's answer (at least 1).
func (r Rule) RetryAfter() int { return max(1, r.RetryAfterSeconds) }

// Status is the status of an injected failure (ErrorStatus, default 500).
func (r Rule) Status() int {
	if r.ErrorStatus == 0 {
		return http.StatusInternalServerError
	}
	return r.ErrorStatus
}

// Policy is what a server's fault rules may do. Its zero value allows 5xx
// failures and 429s only.
type Policy struct {
	// Exempt are path prefixes that cannot be faulted (the admin API,
	// health checks).
	Exempt []string
	// ClientErrors allows 4xx values of ErrorStatus.
	ClientErrors bool
	// NotReady allows NotReadyRate.
	NotReady bool
	// AfterHandler allows AfterHandler.
	AfterHandler bool
}

// Check says what is wrong with r under p.
func (p Policy) Check(r Rule) error {
	for name, v := range map[string]float64{"error_rate": r.ErrorRate, "rate_429": r.Rate429, "not_ready_rate": r.NotReadyRate} {
		if v < 0 || v > 1 {
			return fmt.Errorf("%s must be between 0 and 1", name)
		}
	}
	if r.NotReadyRate != 0 && !p.NotReady {
		return errors.New("not_ready_rate is not offered here")
	}
	if r.AfterHandler && !p.AfterHandler {
		return errors.New("after_handler is not offered here")
	}
	if r.ErrorRate+r.Rate429+r.NotReadyRate > 1.000001 {
		return errors.New("error_rate + rate_429 + not_ready_rate must not exceed 1")
	}
	if !strings.HasPrefix(r.PathPrefix, "/") {
		return errors.New("path_prefix must start with /")
	}
	for _, ex := range p.Exempt {
		if strings.HasPrefix(r.PathPrefix, strings.TrimSuffix(ex, "/")) {
			return fmt.Errorf("%s cannot be faulted", ex)
		}
	}
	lowest := 500
	if p.ClientErrors {
		lowest = 400
	}
	if r.ErrorStatus != 0 && (r.ErrorStatus < lowest || r.ErrorStatus > 599) {
		return fmt.Errorf("error_status must be a status from %d to 599 (429 has its own rate)", lowest)
	}
	if r.LatencyMS < 0 || r.LatencyMS > 600000 || r.RetryAfterSeconds < 0 || r.Count < 0 {
		return errors.New("latency_ms (≤ 600000), retry_after_seconds and count must not be negative")
	}
	return nil
}

// exempt reports whether p's rules never apply to path.
func (p Policy) exempt(path string) bool {
	for _, ex := range p.Exempt {
		if strings.HasPrefix(path, ex) {
			return true
		}
	}
	return false
}

// Outcome is what a matching rule does to one request.
type Outcome int

// The outcomes, in the order of Rule's probabilities.
const (
	Serve Outcome = iota
	TooManyRequests
	Fail
	NotReady
)

// Set is a server's active rules (in memory: a restart clears them) and
// their random source. Its methods are safe for concurrent use.
type Set struct {
	policy Policy
	mu     sync.Mutex
	seed   uint64
	rules  []Rule
	rng    *rand.Rand
}

// NewSet returns an empty set under policy.
func NewSet(policy Policy) *Set {
	return &Set{policy: policy, rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

// Replace checks rules under the set's policy and, when all pass, makes
// them the active rules. A non-zero seed makes the sequence of random
// draws repeatable (for one order of requests).
func (s *Set) Replace(rules []Rule, seed uint64) error {
	for i, r := range rules {
		if err := s.policy.Check(r); err != nil {
			return fmt.Errorf("rules[%d]: %w", i, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = append([]Rule(nil), rules...)
	s.seed = seed
	if seed != 0 {
		s.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	}
	return nil
}

// Rules returns a copy of the active rules and the seed.
func (s *Set) Rules() ([]Rule, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Rule{}, s.rules...), s.seed
}

// Match finds the first rule for req (consuming one of its Count) and
// draws its outcome. ok is false when no rule applies.
func (s *Set) Match(req *http.Request) (rule Rule, o Outcome, ok bool) {
	if s.policy.exempt(req.URL.Path) {
		return Rule{}, Serve, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.rules {
		r := &s.rules[i]
		if !strings.HasPrefix(req.URL.Path, r.PathPrefix) || (r.Method != "" && !strings.EqualFold(r.Method, req.Method)) {
			continue
		}
		rule = *r
		if r.Count > 0 {
			r.Count--
			if r.Count == 0 {
				s.rules = append(s.rules[:i], s.rules[i+1:]...)
			}
		}
		p := s.rng.Float64()
		switch {
		case p < rule.Rate429:
			o = TooManyRequests
		case p < rule.Rate429+rule.ErrorRate:
			o = Fail
		case p < rule.Rate429+rule.ErrorRate+rule.NotReadyRate:
			o = NotReady
		}
		return rule, o, true
	}
	return Rule{}, Serve, false
}

// Delay waits the rule's latency, or until ctx ends (its error).
func Delay(ctx context.Context, r Rule) error {
	if r.LatencyMS <= 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(r.LatencyMS) * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

package mlengine

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault injection (chaos tests, make chaos): an admin API under /_mlengine/,
// guarded by MLENGINE_ADMIN_KEY and disabled without it, sets rules that
// make API requests slow or fail, like localbox's /_localbox/faults. No
// rule exists until one is set, and rules live in memory only: a restart
// clears them.

// adminPrefix is the path prefix of the admin API.
const adminPrefix = "/_mlengine/"

// CodeInjectedFault is the error code of an injected 5xx answer.
const CodeInjectedFault = "injected_fault"

// FaultRule makes requests whose path starts with PathPrefix (and, if set,
// whose method is Method) slow or fail. For every matching request: wait
// LatencyMS, then answer 429 (rate_limit_exceeded, Retry-After) with
// probability Rate429, else ErrorStatus (default 500) with probability
// ErrorRate, else serve normally. With AfterHandler the request is served
// first and its answer replaced by the fault (a lost response: the job is
// created, the client sees a failure), which is how clients' idempotency is
// put to the test. With Count > 0 the rule applies to that many more
// matching requests only.
type FaultRule struct {
	PathPrefix        string  `json:"path_prefix"`
	Method            string  `json:"method,omitempty"`
	ErrorRate         float64 `json:"error_rate"`
	ErrorStatus       int     `json:"error_status,omitempty"`
	Rate429           float64 `json:"rate_429"`
	LatencyMS         int     `json:"latency_ms"`
	RetryAfterSeconds int     `json:"retry_after_seconds"`
	AfterHandler      bool    `json:"after_handler,omitempty"`
	Count             int     `json:"count,omitempty"`
}

// Faults is the body of GET and PUT /_mlengine/faults. A non-zero Seed
// makes the sequence of random draws reproducible (for one order of
// requests).
type Faults struct {
	Seed  uint64      `json:"seed,omitempty"`
	Rules []FaultRule `json:"rules"`
}

func (f *FaultRule) validate() error {
	for name, p := range map[string]float64{"error_rate": f.ErrorRate, "rate_429": f.Rate429} {
		if p < 0 || p > 1 {
			return fmt.Errorf("%s must be between 0 and 1", name)
		}
	}
	if f.ErrorRate+f.Rate429 > 1.000001 {
		return errors.New("error_rate + rate_429 must not exceed 1")
	}
	if !strings.HasPrefix(f.PathPrefix, "/") {
		return errors.New("path_prefix must start with /")
	}
	if strings.HasPrefix(f.PathPrefix, strings.TrimSuffix(adminPrefix, "/")) || f.PathPrefix == "/healthz" {
		return errors.New("the admin API and /healthz cannot be faulted")
	}
	if f.ErrorStatus != 0 && (f.ErrorStatus < 500 || f.ErrorStatus > 599) {
		return errors.New("error_status must be a 5xx status (429 has its own rate)")
	}
	if f.LatencyMS < 0 || f.LatencyMS > 600000 || f.RetryAfterSeconds < 0 || f.Count < 0 {
		return errors.New("latency_ms (≤ 600000), retry_after_seconds and count must not be negative")
	}
	return nil
}

// faultSet holds the active rules and their random source.
type faultSet struct {
	mu    sync.Mutex
	seed  uint64
	rules []FaultRule
	rng   *rand.Rand
}

func newFaultSet() *faultSet {
	return &faultSet{rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

func (fs *faultSet) set(f Faults) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.rules = append([]FaultRule(nil), f.Rules...)
	fs.seed = f.Seed
	if f.Seed != 0 {
		fs.rng = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
	}
}

func (fs *faultSet) get() Faults {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return Faults{Seed: fs.seed, Rules: append([]FaultRule{}, fs.rules...)}
}

// match returns the first rule for r (consuming one of its Count) and a
// random draw in [0, 1) for it.
func (fs *faultSet) match(r *http.Request) (FaultRule, float64, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i := range fs.rules {
		fr := &fs.rules[i]
		if !strings.HasPrefix(r.URL.Path, fr.PathPrefix) || (fr.Method != "" && !strings.EqualFold(fr.Method, r.Method)) {
			continue
		}
		rule := *fr
		if fr.Count > 0 {
			fr.Count--
			if fr.Count == 0 {
				fs.rules = append(fs.rules[:i], fs.rules[i+1:]...)
			}
		}
		return rule, fs.rng.Float64(), true
	}
	return FaultRule{}, 0, false
}

// injectFaults applies the fault rules to every request but the admin API
// and /healthz.
func (s *Server) injectFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, adminPrefix) || r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		rule, p, ok := s.faults.match(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if rule.LatencyMS > 0 {
			t := time.NewTimer(time.Duration(rule.LatencyMS) * time.Millisecond)
			select {
			case <-r.Context().Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		fail := p < rule.Rate429+rule.ErrorRate
		if !fail {
			next.ServeHTTP(w, r)
			return
		}
		if rule.AfterHandler {
			// Served for real; the answer is lost on the way back.
			next.ServeHTTP(discardWriter{}, r)
		}
		retryAfter := strconv.Itoa(max(1, rule.RetryAfterSeconds))
		if p < rule.Rate429 {
			w.Header().Set("Retry-After", retryAfter)
			writeError(w, http.StatusTooManyRequests, "rate_limit_exceeded", "injected fault: too many requests", true)
			return
		}
		status := rule.ErrorStatus
		if status == 0 {
			status = http.StatusInternalServerError
		}
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", retryAfter)
		}
		writeError(w, status, CodeInjectedFault, "injected fault (mlengine fault injection)", true)
	})
}

// discardWriter swallows a response (AfterHandler faults).
type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) WriteHeader(int)             {}

// adminOnly guards the admin API with MLENGINE_ADMIN_KEY (Authorization:
// Bearer). Without the key the admin API does not exist (404).
func (s *Server) adminOnly(next http.HandlerFunc) http.Handler {
	key := s.cfg.AdminKey.Reveal()
	want := []byte("Bearer " + key)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if key == "" {
			writeError(w, http.StatusNotFound, CodeNotFound, "the admin API is disabled (MLENGINE_ADMIN_KEY is not set)", false)
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mlengine-admin"`)
			writeError(w, http.StatusUnauthorized, CodeUnauthorized, "the admin API needs Authorization: Bearer <MLENGINE_ADMIN_KEY>", false)
			return
		}
		next(w, r)
	})
}

func (s *Server) getFaults(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.faults.get())
}

func (s *Server) putFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, "body is not a fault document: "+jsonProblem(err), false)
		return
	}
	for i := range f.Rules {
		if err := f.Rules[i].validate(); err != nil {
			writeError(w, http.StatusBadRequest, CodeInvalidRequest, fmt.Sprintf("rules[%d]: %v", i, err), false)
			return
		}
	}
	s.faults.set(f)
	s.log.Warn("fault injection rules set", "rules", len(f.Rules), "seed", f.Seed)
	writeJSON(w, http.StatusOK, s.faults.get())
}

func (s *Server) deleteFaults(w http.ResponseWriter, r *http.Request) {
	s.faults.set(Faults{})
	s.log.Warn("fault injection rules cleared")
	w.WriteHeader(http.StatusNoContent)
}

package mlengine

import (
	"crypto/subtle"
	"encoding/json"
	"filesight/internal/faultinject"
	"net/http"
	"strconv"
	"strings"
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

// FaultRule makes mlengine's API slow or fail (faultinject.Rule): 429s,
// 5xx answers, and with AfterHandler a lost response (the job is created,
// the client sees a failure), which is how clients' idempotency is put to
// the test.
type FaultRule = faultinject.Rule

// Faults is the body of GET and PUT /_mlengine/faults. A non-zero Seed
// makes the sequence of random draws reproducible (for one order of
// requests).
type Faults struct {
	Seed  uint64      `json:"seed,omitempty"`
	Rules []FaultRule `json:"rules"`
}

// faultPolicy is what mlengine's fault rules may do: 5xx, 429 and lost
// responses, never on the admin API or /healthz.
func faultPolicy() faultinject.Policy {
	return faultinject.Policy{Exempt: []string{strings.TrimSuffix(adminPrefix, "/"), "/healthz"}, AfterHandler: true}
}

// injectFaults applies the fault rules to every request but the admin API
// and /healthz.
func (s *Server) injectFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rule, outcome, ok := s.faults.Match(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if err := faultinject.Delay(r.Context(), rule); err != nil {
			return
		}
		if outcome != faultinject.TooManyRequests && outcome != faultinject.Fail {
			next.ServeHTTP(w, r)
			return
		}
		if rule.AfterHandler {
			// Served for real; the answer is lost on the way back.
			next.ServeHTTP(discardWriter{}, r)
		}
		retryAfter := strconv.Itoa(rule.RetryAfter())
		if outcome == faultinject.TooManyRequests {
			w.Header().Set("Retry-After", retryAfter)
			writeError(w, http.StatusTooManyRequests, "rate_limit_exceeded", "injected fault: too many requests", true)
			return
		}
		status := rule.Status()
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
	s.writeFaults(w)
}

// writeFaults answers with the active rules and seed.
func (s *Server) writeFaults(w http.ResponseWriter) {
	rules, seed := s.faults.Rules()
	writeJSON(w, http.StatusOK, Faults{Seed: seed, Rules: rules})
}

func (s *Server) putFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, "body is not a fault document: "+jsonProblem(err), false)
		return
	}
	if err := s.faults.Replace(f.Rules, f.Seed); err != nil {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, err.Error(), false)
		return
	}
	s.log.Warn("fault injection rules set", "rules", len(f.Rules), "seed", f.Seed)
	s.writeFaults(w)
}

func (s *Server) deleteFaults(w http.ResponseWriter, r *http.Request) {
	_ = s.faults.Replace(nil, 0) // no rule to refuse
	s.log.Warn("fault injection rules cleared")
	w.WriteHeader(http.StatusNoContent)
}

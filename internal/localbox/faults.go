package localbox

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// FaultRule injects failures into requests whose path starts with
// PathPrefix (and, if set, whose method is Method). For every matching
// request: wait LatencyMS, then answer 429 (rate_limit_exceeded, with
// Retry-After) with probability Rate429, else ErrorStatus (default 500)
// with probability ErrorRate, else 202 + Retry-After with probability
// NotReadyRate (downloads: "not ready yet"), else serve normally. With
// Count > 0 the rule applies to that many more matching requests only.
type FaultRule struct {
	PathPrefix        string  `json:"path_prefix"`
	Method            string  `json:"method,omitempty"`
	ErrorRate         float64 `json:"error_rate"`
	ErrorStatus       int     `json:"error_status,omitempty"`
	Rate429           float64 `json:"rate_429"`
	NotReadyRate      float64 `json:"not_ready_rate,omitempty"`
	LatencyMS         int     `json:"latency_ms"`
	RetryAfterSeconds int     `json:"retry_after_seconds"`
	Count             int     `json:"count,omitempty"`
}

func (f *FaultRule) validate() error {
	for name, p := range map[string]float64{"error_rate": f.ErrorRate, "rate_429": f.Rate429, "not_ready_rate": f.NotReadyRate} {
		if p < 0 || p > 1 {
			return fmt.Errorf("%s must be between 0 and 1", name)
		}
	}
	if f.ErrorRate+f.Rate429+f.NotReadyRate > 1.000001 {
		return fmt.Errorf("error_rate + rate_429 + not_ready_rate must not exceed 1")
	}
	if !strings.HasPrefix(f.PathPrefix, "/") {
		return fmt.Errorf("path_prefix must start with /")
	}
	if strings.HasPrefix(f.PathPrefix, "/_localbox") {
		return fmt.Errorf("the admin API cannot be faulted")
	}
	if f.ErrorStatus != 0 && (f.ErrorStatus < 400 || f.ErrorStatus > 599) {
		return fmt.Errorf("error_status must be a 4xx or 5xx status")
	}
	if f.LatencyMS < 0 || f.LatencyMS > 600000 || f.RetryAfterSeconds < 0 || f.Count < 0 {
		return fmt.Errorf("latency_ms (≤ 600000), retry_after_seconds and count must not be negative")
	}
	return nil
}

// faultSet holds the active rules (in memory: faults do not survive a restart).
type faultSet struct {
	mu    sync.Mutex
	rules []FaultRule
}

func (fs *faultSet) set(rules []FaultRule) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.rules = append([]FaultRule(nil), rules...)
}

func (fs *faultSet) list() []FaultRule {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]FaultRule{}, fs.rules...)
}

// match returns the first rule for r, consuming one of its Count.
func (fs *faultSet) match(r *http.Request) (FaultRule, bool) {
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
		return rule, true
	}
	return FaultRule{}, false
}

// injectFaults applies the fault rules to everything but the admin API.
func (s *Server) injectFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/_localbox/") || r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		rule, ok := s.faults.match(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if rule.LatencyMS > 0 {
			if err := sleepCtx(r.Context(), time.Duration(rule.LatencyMS)*time.Millisecond); err != nil {
				return
			}
		}
		retryAfter := max(1, rule.RetryAfterSeconds)
		p := rand.Float64()
		switch {
		case p < rule.Rate429:
			writeError(w, r, s.log, rateLimited(retryAfter))
		case p < rule.Rate429+rule.ErrorRate:
			status := rule.ErrorStatus
			if status == 0 {
				status = http.StatusInternalServerError
			}
			e := errf(status, faultCode(status), "Injected fault (localbox fault injection)")
			if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
				e.retryAfter = retryAfter
			}
			writeError(w, r, s.log, e)
		case p < rule.Rate429+rule.ErrorRate+rule.NotReadyRate:
			w.Header().Set("Retry-After", fmt.Sprint(retryAfter))
			w.WriteHeader(http.StatusAccepted)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func faultCode(status int) string {
	switch status {
	case http.StatusServiceUnavailable:
		return "unavailable"
	case http.StatusTooManyRequests:
		return "rate_limit_exceeded"
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		return "unavailable"
	}
	if status >= 500 {
		return "internal_server_error"
	}
	return strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_")
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

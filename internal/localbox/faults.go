package localbox

import (
	"fmt"
	"net/http"
	"strings"

	"filesight/internal/faultinject"
)

// FaultRule injects failures into localbox's API (faultinject.Rule): 429s,
// 4xx/5xx answers and 202 "not ready yet" (downloads), after a latency.
type FaultRule = faultinject.Rule

// faultPolicy is what localbox's fault rules may do: everything but
// AfterHandler, never on the admin API or /healthz.
func faultPolicy() faultinject.Policy {
	return faultinject.Policy{Exempt: []string{"/_localbox", "/healthz"}, ClientErrors: true, NotReady: true}
}

// injectFaults applies the fault rules to everything but the admin API.
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
		retryAfter := rule.RetryAfter()
		switch outcome {
		case faultinject.TooManyRequests:
			writeError(w, r, s.log, rateLimited(retryAfter))
		case faultinject.Fail:
			status := rule.Status()
			e := errf(status, faultCode(status), "Injected fault (localbox fault injection)")
			if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
				e.retryAfter = retryAfter
			}
			writeError(w, r, s.log, e)
		case faultinject.NotReady:
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

package provider

import (
	"net/http"
	"strconv"
	"time"
)

// RetryAfter reads a response's Retry-After header, as delay-seconds or an
// HTTP date (RFC 9110 §10.2.3). It returns 0 when the header is absent,
// malformed, negative or a date already past.
func RetryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

package provider

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        time.Duration
	}{
		{"absent", "", 0},
		{"seconds", "7", 7 * time.Second},
		{"zero", "0", 0},
		{"negative", "-3", 0},
		{"garbage", "soon", 0},
		{"past date", "Mon, 02 Jan 2006 15:04:05 GMT", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.value != "" {
				h.Set("Retry-After", tc.value)
			}
			if got := RetryAfter(h); got != tc.want {
				t.Fatalf("RetryAfter(%q) = %v, want %v", tc.value, got, tc.want)
			}
		})
	}
	t.Run("future date", func(t *testing.T) {
		h := http.Header{}
		h.Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
		if got := RetryAfter(h); got < 58*time.Minute || got > time.Hour {
			t.Fatalf("an HTTP date an hour ahead gave %v", got)
		}
	})
}

package provider

import (
	"strings"
	"testing"
	"time"
)

func TestChecks(t *testing.T) {
	for s, want := range map[string]bool{"https://x.example/a": true, "http://127.0.0.1:8": true, "ftp://x": false, "x.example": false, "/p": false, "": false} {
		if IsHTTPURL(s) != want {
			t.Errorf("IsHTTPURL(%q) != %t", s, want)
		}
	}
	errs := CheckPositive(Setting[time.Duration]{"A_TIMEOUT", 0}, Setting[time.Duration]{"B_TIMEOUT", time.Second}, Setting[time.Duration]{"C_TIMEOUT", -1})
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), "A_TIMEOUT") || !strings.Contains(errs[1].Error(), "C_TIMEOUT") {
		t.Errorf("CheckPositive: %v", errs)
	}
	if errs := CheckHTTPURLs(Setting[string]{"X_URL", "gpu:8000"}); len(errs) != 1 || !strings.Contains(errs[0].Error(), `X_URL must be an http(s) URL, not "gpu:8000"`) {
		t.Errorf("CheckHTTPURLs: %v", errs)
	}
	if CheckRef(JobRef{Provider: "a", ID: "1"}, "a") != nil || CheckRef(JobRef{ID: "1"}, "a") != nil ||
		CheckRef(JobRef{Provider: "b", ID: "1"}, "a") == nil || CheckRef(JobRef{Provider: "a"}, "a") == nil {
		t.Error("CheckRef")
	}
}

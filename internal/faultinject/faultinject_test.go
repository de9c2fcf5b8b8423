package faultinject

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestPolicyCheck(t *testing.T) {
	full := Policy{Exempt: []string{"/_admin", "/healthz"}, ClientErrors: true, NotReady: true, AfterHandler: true}
	for _, tt := range []struct {
		name   string
		policy Policy
		rule   Rule
		want   string // "" = accepted
	}{
		{"plain 5xx", Policy{}, Rule{PathPrefix: "/", ErrorRate: 0.5}, ""},
		{"rates add up", Policy{}, Rule{PathPrefix: "/", ErrorRate: 0.6, Rate429: 0.5}, "must not exceed 1"},
		{"negative rate", Policy{}, Rule{PathPrefix: "/", Rate429: -0.1}, "rate_429 must be between 0 and 1"},
		{"no slash", Policy{}, Rule{PathPrefix: "jobs"}, "path_prefix"},
		{"admin exempt", full, Rule{PathPrefix: "/_admin/faults"}, "/_admin cannot be faulted"},
		{"health exempt", full, Rule{PathPrefix: "/healthz"}, "/healthz cannot be faulted"},
		{"4xx refused by default", Policy{}, Rule{PathPrefix: "/", ErrorStatus: 404}, "from 500 to 599"},
		{"4xx offered", full, Rule{PathPrefix: "/", ErrorStatus: 404}, ""},
		{"600 refused", full, Rule{PathPrefix: "/", ErrorStatus: 600}, "from 400 to 599"},
		{"not ready not offered", Policy{}, Rule{PathPrefix: "/", NotReadyRate: 0.1}, "not_ready_rate is not offered"},
		{"not ready offered", full, Rule{PathPrefix: "/", NotReadyRate: 0.1}, ""},
		{"after handler not offered", Policy{}, Rule{PathPrefix: "/", AfterHandler: true}, "after_handler is not offered"},
		{"latency bound", Policy{}, Rule{PathPrefix: "/", LatencyMS: 600001}, "latency_ms"},
		{"negative count", Policy{}, Rule{PathPrefix: "/", Count: -1}, "count"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Check(tt.rule)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestMatchCountsExemptsAndDraws(t *testing.T) {
	s := NewSet(Policy{Exempt: []string{"/_admin"}})
	if err := s.Replace([]Rule{
		{PathPrefix: "/jobs", Method: "POST", ErrorRate: 1, Count: 2},
		{PathPrefix: "/", Rate429: 1},
	}, 7); err != nil {
		t.Fatal(err)
	}
	req := func(method, path string) (Rule, Outcome, bool) {
		return s.Match(httptest.NewRequest(method, path, nil))
	}
	if _, _, ok := req("GET", "/_admin/faults"); ok {
		t.Fatal("an exempt path matched")
	}
	for i := range 2 {
		if r, o, ok := req("POST", "/jobs/1"); !ok || o != Fail || r.PathPrefix != "/jobs" {
			t.Fatalf("POST %d: %v %v %v", i, r, o, ok)
		}
	}
	// The counted rule is used up: the catch-all answers 429 now.
	if r, o, ok := req("POST", "/jobs/1"); !ok || o != TooManyRequests || r.PathPrefix != "/" {
		t.Fatalf("after the count: %v %v %v", r, o, ok)
	}
	if rules, seed := s.Rules(); len(rules) != 1 || seed != 7 {
		t.Fatalf("rules %v seed %d", rules, seed)
	}
	if err := s.Replace([]Rule{{PathPrefix: "x"}}, 0); err == nil || !strings.Contains(err.Error(), "rules[0]") {
		t.Fatalf("bad rule: %v", err)
	}
	if rules, _ := s.Rules(); len(rules) != 1 {
		t.Fatal("a refused replacement changed the rules")
	}
}

// The same seed gives the same outcomes for the same requests; the
// outcomes follow the rule's probabilities.
func TestSeededDraws(t *testing.T) {
	rule := Rule{PathPrefix: "/", Rate429: 0.2, ErrorRate: 0.3, NotReadyRate: 0.1}
	run := func() []Outcome {
		s := NewSet(Policy{NotReady: true})
		if err := s.Replace([]Rule{rule}, 42); err != nil {
			t.Fatal(err)
		}
		var out []Outcome
		for range 2000 {
			_, o, _ := s.Match(httptest.NewRequest("GET", "/x", nil))
			out = append(out, o)
		}
		return out
	}
	a, b := run(), run()
	counts := map[Outcome]int{}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("draw %d differs between two runs with one seed", i)
		}
		counts[a[i]]++
	}
	for o, want := range map[Outcome]float64{TooManyRequests: 0.2, Fail: 0.3, NotReady: 0.1, Serve: 0.4} {
		if got := float64(counts[o]) / 2000; got < want-0.05 || got > want+0.05 {
			t.Errorf("outcome %d: share %.3f, want about %.1f", o, got, want)
		}
	}
}

func TestDelayStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Delay(ctx, Rule{LatencyMS: int(time.Hour / time.Millisecond)}); err == nil {
		t.Fatal("Delay ignored a cancelled context")
	}
	if err := Delay(context.Background(), Rule{}); err != nil {
		t.Fatal(err)
	}
	if (Rule{}).RetryAfter() != 1 || (Rule{}).Status() != 500 || (Rule{ErrorStatus: 503}).Status() != 503 {
		t.Fatal("defaults")
	}
}

package mlengine_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"filesight/internal/mlengine"
	"filesight/internal/mlengine/mlenginetest"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/secret"
)

const testAdminKey = "an-admin-key-for-the-fault-api-0123456789"

func withAdminKey(key string) mlengine.Option {
	return mlengine.WithConfig(func(c *mlengine.Config) { c.AdminKey = secret.String(key) })
}

// admin calls the admin API with the given key ("" sends none).
func admin(t *testing.T, ts *mlenginetest.Server, method, key string, body any) (int, http.Header, []byte) {
	t.Helper()
	auth := ""
	if key != "" {
		auth = "Bearer " + key
	}
	return call(t, ts, method, "/_mlengine/faults", body, map[string]string{"Authorization": auth})
}

func TestFaultAdminAPIIsOffWithoutAKeyAndGuardedWithOne(t *testing.T) {
	off := mlenginetest.Start(t, mlengine.WithAnalyzer(newFake(t, nil)))
	for _, key := range []string{"", off.APIKey, testAdminKey} {
		if code, _, body := admin(t, off, "GET", key, nil); code != http.StatusNotFound {
			t.Errorf("no MLENGINE_ADMIN_KEY, key %q: HTTP %d %s, want 404", key, code, body)
		}
	}
	on := mlenginetest.Start(t, mlengine.WithAnalyzer(newFake(t, nil)), withAdminKey(testAdminKey))
	for _, key := range []string{"", on.APIKey, "wrong"} {
		code, hdr, body := admin(t, on, "PUT", key, mlengine.Faults{Rules: []mlengine.FaultRule{{PathPrefix: "/v1", ErrorRate: 1}}})
		if code != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("key %q: HTTP %d %s, want 401", key, code, body)
		}
	}
	// Nothing was set by the refused calls: the API answers normally.
	if code, _, body := call(t, on, "GET", "/v1/jobs", nil, nil); code != http.StatusOK {
		t.Fatalf("GET /v1/jobs: HTTP %d %s", code, body)
	}
	if code, _, body := admin(t, on, "GET", testAdminKey, nil); code != http.StatusOK || decodeJSON[mlengine.Faults](t, body).Rules == nil ||
		len(decodeJSON[mlengine.Faults](t, body).Rules) != 0 {
		t.Fatalf("GET faults: HTTP %d %s, want no rules", code, body)
	}
}

func TestFaultRulesAreValidated(t *testing.T) {
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(newFake(t, nil)), withAdminKey(testAdminKey))
	for name, r := range map[string]mlengine.FaultRule{
		"rate above 1":        {PathPrefix: "/v1", ErrorRate: 1.5},
		"rates sum above 1":   {PathPrefix: "/v1", ErrorRate: 0.6, Rate429: 0.6},
		"relative prefix":     {PathPrefix: "v1", ErrorRate: 0.1},
		"the admin API":       {PathPrefix: "/_mlengine", ErrorRate: 1},
		"health":              {PathPrefix: "/healthz", ErrorRate: 1},
		"a 4xx status":        {PathPrefix: "/v1", ErrorRate: 1, ErrorStatus: 404},
		"negative latency":    {PathPrefix: "/v1", LatencyMS: -1},
		"latency over 10 min": {PathPrefix: "/v1", LatencyMS: 600001},
	} {
		if code, _, body := admin(t, ts, "PUT", testAdminKey, mlengine.Faults{Rules: []mlengine.FaultRule{r}}); code != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d %s, want 400", name, code, body)
		}
	}
	if code, _, body := admin(t, ts, "PUT", testAdminKey, `{"rules":[],"unknown":1}`); code != http.StatusBadRequest {
		t.Errorf("unknown member: HTTP %d %s, want 400", code, body)
	}
}

func TestFaultsFailSlowAndLoseAnswers(t *testing.T) {
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(newFake(t, nil)), withAdminKey(testAdminKey))
	req := mlengineapi.SubmitRequest{MediaURL: "http://127.0.0.1:1/media", Analyses: []string{"media"}}
	set := func(rules ...mlengine.FaultRule) {
		t.Helper()
		if code, _, body := admin(t, ts, "PUT", testAdminKey, mlengine.Faults{Seed: 42, Rules: rules}); code != http.StatusOK {
			t.Fatalf("PUT faults: HTTP %d %s", code, body)
		}
	}

	// A 503 before the handler: nothing is created, Retry-After is sent.
	set(mlengine.FaultRule{PathPrefix: "/v1/jobs", Method: "POST", ErrorRate: 1, ErrorStatus: 503, RetryAfterSeconds: 7, Count: 1})
	code, hdr, body := call(t, ts, "POST", "/v1/jobs", req, map[string]string{"Idempotency-Key": "before"})
	if eb := decodeJSON[mlengineapi.ErrorBody](t, body); code != 503 || hdr.Get("Retry-After") != "7" || eb.Error.Code != mlengine.CodeInjectedFault || !eb.Error.Retryable {
		t.Fatalf("injected 503: HTTP %d %v %s", code, hdr, body)
	}
	// Count 1 used it up: the same submission now goes through, as a new job.
	id := submit(t, ts, "before", req)

	// After the handler: the job is created, the answer lost; the retry
	// with the same key finds the same job (200, not 202).
	set(mlengine.FaultRule{PathPrefix: "/v1/jobs", Method: "POST", ErrorRate: 1, AfterHandler: true, Count: 1})
	if code, _, body := call(t, ts, "POST", "/v1/jobs", req, map[string]string{"Idempotency-Key": "after"}); code != 500 {
		t.Fatalf("lost answer: HTTP %d %s, want 500", code, body)
	}
	code, _, body = call(t, ts, "POST", "/v1/jobs", req, map[string]string{"Idempotency-Key": "after"})
	if code != http.StatusOK {
		t.Fatalf("retried submission: HTTP %d %s, want 200 (the job exists)", code, body)
	}
	again := decodeJSON[mlengineapi.SubmitResponse](t, body)
	if j := getJob(t, ts, again.ID); j.IdempotencyKey != "after" || j.Submissions != 2 {
		t.Fatalf("job after a lost answer: %+v", j)
	}

	// 429 with Retry-After, on GET only; other methods are untouched.
	set(mlengine.FaultRule{PathPrefix: "/v1/jobs/", Method: "GET", Rate429: 1, RetryAfterSeconds: 3})
	if code, hdr, body := call(t, ts, "GET", "/v1/jobs/"+id, nil, nil); code != 429 || hdr.Get("Retry-After") != "3" {
		t.Fatalf("injected 429: HTTP %d %v %s", code, hdr, body)
	}
	if code, _, _ := call(t, ts, "DELETE", "/v1/jobs/"+id, nil, nil); code != http.StatusOK && code != http.StatusAccepted {
		t.Fatalf("DELETE under a GET rule: HTTP %d", code)
	}
	// Health and the admin API are never faulted.
	set(mlengine.FaultRule{PathPrefix: "/", ErrorRate: 1})
	if resp, err := http.Get(ts.URL + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz under faults: %v %v", resp, err)
	}

	// Latency delays, then serves.
	set(mlengine.FaultRule{PathPrefix: "/v1/jobs", LatencyMS: 150})
	began := time.Now()
	if code, _, _ := call(t, ts, "GET", "/v1/jobs", nil, nil); code != http.StatusOK {
		t.Fatalf("GET under latency: HTTP %d", code)
	}
	if d := time.Since(began); d < 150*time.Millisecond {
		t.Fatalf("answered after %s, want at least 150ms", d)
	}

	// DELETE clears every rule.
	if code, _, _ := admin(t, ts, "DELETE", testAdminKey, nil); code != http.StatusNoContent {
		t.Fatalf("DELETE faults: HTTP %d", code)
	}
	if code, _, _ := call(t, ts, "GET", "/v1/jobs/"+id, nil, nil); code != http.StatusOK {
		t.Fatalf("after DELETE: HTTP %d", code)
	}
}

// A rate of 0.5 with a seed fails about half of the requests, and the same
// seed fails the same ones again.
func TestFaultRatesAreSeeded(t *testing.T) {
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(newFake(t, nil)), withAdminKey(testAdminKey))
	run := func() string {
		if code, _, body := admin(t, ts, "PUT", testAdminKey, mlengine.Faults{Seed: 7, Rules: []mlengine.FaultRule{{PathPrefix: "/v1/jobs", ErrorRate: 0.5}}}); code != 200 {
			t.Fatalf("PUT faults: HTTP %d %s", code, body)
		}
		var b strings.Builder
		for range 40 {
			if code, _, _ := call(t, ts, "GET", "/v1/jobs", nil, nil); code >= 500 {
				b.WriteByte('x')
			} else {
				b.WriteByte('.')
			}
		}
		return b.String()
	}
	first, second := run(), run()
	if first != second {
		t.Fatalf("same seed, different faults:\n%s\n%s", first, second)
	}
	if n := strings.Count(first, "x"); n < 10 || n > 30 {
		t.Fatalf("%d of 40 requests failed at rate 0.5: %s", n, first)
	}
}

package localbox_test

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"filesight/internal/localbox"
	"filesight/internal/localbox/localboxtest"
)

func TestAdminNeedsKey(t *testing.T) {
	ts := localboxtest.Start(t)
	for _, p := range []string{"/_localbox/tokens", "/_localbox/webhook-deliveries", "/_localbox/webhook-events", "/_localbox/faults", "/_localbox/nothing"} {
		getJSON(t, ts.URL+p, "").wantError(t, http.StatusUnauthorized, "unauthorized")
		getJSON(t, ts.URL+p, "wrong").wantError(t, http.StatusUnauthorized, "unauthorized")
		// An API token is not an admin key.
		getJSON(t, ts.URL+p, ts.ParentToken(t)).wantError(t, http.StatusUnauthorized, "unauthorized")
	}
	call(t, http.MethodPut, ts.URL+"/_localbox/faults", "", "application/json", strings.NewReader(`{"rules":[]}`)).
		wantError(t, http.StatusUnauthorized, "unauthorized")
	getJSON(t, ts.URL+"/_localbox/nothing", ts.AdminKey.Reveal()).wantError(t, http.StatusNotFound, "not_found")
	getJSON(t, ts.URL+"/_localbox/tokens?state=dead", ts.AdminKey.Reveal()).wantError(t, http.StatusBadRequest, "bad_request")

	off := localboxtest.Start(t, localboxtest.WithConfig(func(c *localbox.Config) { c.AdminKey = "" }))
	getJSON(t, off.URL+"/_localbox/tokens", "").wantError(t, http.StatusUnauthorized, "unauthorized")
	getJSON(t, off.URL+"/_localbox/tokens", "Bearer").wantError(t, http.StatusUnauthorized, "unauthorized")
}

func TestAdminTokensNeverShowTokens(t *testing.T) {
	ts := localboxtest.Start(t)
	f := ts.UploadFile(t, ts.CreateFolder(t, "0", "in"), "a", []byte("a"))
	parent := ts.ParentToken(t)
	read := accessToken(t, exchange(t, ts, parent, "item_preview item_download", ts.URL+"/2.0/files/"+f.ID))
	write := accessToken(t, exchange(t, ts, parent, "item_upload", ts.URL+"/2.0/files/"+f.ID))
	r := getJSON(t, ts.URL+"/_localbox/tokens?state=all", ts.AdminKey.Reveal()).wantStatus(t, http.StatusOK)
	for _, tok := range []string{parent, read, write} {
		if bytes.Contains(r.Body, []byte(tok)) {
			t.Fatal("the admin API shows a token")
		}
	}
	all := ts.Tokens(t, "all")
	if len(all) != 2 || r.json(t)["total_count"] != float64(2) {
		t.Fatalf("tokens = %s (the parent CCG tokens are not listed)", r.Body)
	}
	byHash := map[string]localbox.AdminToken{}
	for _, tk := range all {
		byHash[tk.SHA256Prefix] = tk
	}
	rt, ok := byHash[localbox.HashToken(read)[:localbox.TokenHashPrefix]]
	if !ok || strings.Join(rt.Scopes, " ") != "item_download item_preview" || rt.Resource != ts.URL+"/2.0/files/"+f.ID ||
		rt.ResourceID != f.ID || rt.ResourceType != "file" || rt.State != "live" || rt.RevokedAt != nil ||
		rt.ParentSHA256Prefix != localbox.HashToken(parent)[:localbox.TokenHashPrefix] || rt.IssuedAt == "" || rt.ExpiresAt == "" {
		t.Fatalf("read token entry = %+v", rt)
	}
	if ts.LiveTokens(t) != 2 {
		t.Fatal("want 2 live tokens")
	}

	// kind=all adds the app's own tokens: every token issued, for leak
	// checks that look for any of them by hash.
	getJSON(t, ts.URL+"/_localbox/tokens?kind=parents", ts.AdminKey.Reveal()).wantError(t, http.StatusBadRequest, "bad_request")
	r = getJSON(t, ts.URL+"/_localbox/tokens?state=all&kind=all", ts.AdminKey.Reveal()).wantStatus(t, http.StatusOK)
	var every struct {
		Entries []localbox.AdminToken `json:"entries"`
	}
	if err := jsonUnmarshal(r.Body, &every); err != nil {
		t.Fatal(err)
	}
	prefixes := map[string]string{}
	for _, tk := range every.Entries {
		prefixes[tk.SHA256Prefix] = tk.ParentSHA256Prefix
	}
	for name, tok := range map[string]string{"parent": parent, "read": read, "write": write} {
		if _, ok := prefixes[localbox.HashToken(tok)[:localbox.TokenHashPrefix]]; !ok {
			t.Errorf("kind=all does not list the %s token", name)
		}
	}
	if p, ok := prefixes[localbox.HashToken(parent)[:localbox.TokenHashPrefix]]; !ok || p != "" {
		t.Errorf("the app token's entry has parent %q", p)
	}
	if bytes.Contains(r.Body, []byte(parent)) {
		t.Fatal("the admin API shows a token")
	}
}

func TestFaultInjection(t *testing.T) {
	ts := localboxtest.Start(t)
	tok := ts.ParentToken(t)
	f := ts.UploadFile(t, "0", "a", []byte("abc"))

	// Every request under the prefix: 429 with Retry-After.
	ts.SetFaults(t, localbox.FaultRule{PathPrefix: "/2.0/files", Rate429: 1, RetryAfterSeconds: 7})
	r := getJSON(t, ts.URL+"/2.0/files/"+f.ID, tok)
	r.wantError(t, http.StatusTooManyRequests, "rate_limit_exceeded")
	if r.Header.Get("Retry-After") != "7" {
		t.Fatalf("Retry-After = %q", r.Header.Get("Retry-After"))
	}
	getJSON(t, ts.URL+"/2.0/folders/0", tok).wantStatus(t, http.StatusOK) // other prefixes unaffected
	var got localbox.Faults
	if err := jsonUnmarshal(getJSON(t, ts.URL+"/_localbox/faults", ts.AdminKey.Reveal()).wantStatus(t, http.StatusOK).Body, &got); err != nil ||
		len(got.Rules) != 1 || got.Rules[0].Rate429 != 1 {
		t.Fatalf("GET faults = %+v (%v)", got, err)
	}

	// Errors with a status, for a limited count, on one method.
	ts.SetFaults(t, localbox.FaultRule{PathPrefix: "/2.0/files/", Method: "GET", ErrorRate: 1, ErrorStatus: 503, Count: 2})
	for range 2 {
		r := getJSON(t, ts.URL+"/2.0/files/"+f.ID, tok)
		r.wantError(t, http.StatusServiceUnavailable, "unavailable")
		if r.Header.Get("Retry-After") == "" {
			t.Fatal("503 without Retry-After")
		}
	}
	getJSON(t, ts.URL+"/2.0/files/"+f.ID, tok).wantStatus(t, http.StatusOK) // count used up

	// 202 "not ready" for downloads.
	ts.SetFaults(t, localbox.FaultRule{PathPrefix: "/2.0/files/" + f.ID + "/content", NotReadyRate: 1, RetryAfterSeconds: 2})
	r = getJSON(t, ts.URL+"/2.0/files/"+f.ID+"/content", tok).wantStatus(t, http.StatusAccepted)
	if r.Header.Get("Retry-After") != "2" {
		t.Fatalf("Retry-After = %q", r.Header.Get("Retry-After"))
	}

	// Latency is added (a lower bound only; no upper bound is asserted).
	ts.SetFaults(t, localbox.FaultRule{PathPrefix: "/2.0/folders", LatencyMS: 150})
	start := time.Now()
	getJSON(t, ts.URL+"/2.0/folders/0", tok).wantStatus(t, http.StatusOK)
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Fatalf("request took %s with 150 ms injected", el)
	}

	// A fraction of requests.
	ts.SetFaults(t, localbox.FaultRule{PathPrefix: "/2.0/users", ErrorRate: 0.5})
	fails := 0
	for range 200 {
		if getJSON(t, ts.URL+"/2.0/users/me", tok).Status == http.StatusInternalServerError {
			fails++
		}
	}
	if fails < 40 || fails > 160 {
		t.Fatalf("%d of 200 requests failed at error_rate 0.5", fails)
	}

	for _, bad := range []string{
		`{"rules":[{"path_prefix":"/2.0","error_rate":1.5}]}`,
		`{"rules":[{"path_prefix":"/2.0","error_rate":0.6,"rate_429":0.6}]}`,
		`{"rules":[{"path_prefix":"2.0"}]}`,
		`{"rules":[{"path_prefix":"/_localbox","error_rate":1}]}`,
		`{"rules":[{"path_prefix":"/2.0","error_status":200}]}`,
		`{"rules":[{"path_prefix":"/2.0","surprise":1}]}`,
	} {
		call(t, http.MethodPut, ts.URL+"/_localbox/faults", ts.AdminKey.Reveal(), "application/json", strings.NewReader(bad)).
			wantError(t, http.StatusBadRequest, "bad_request")
	}
	ts.ClearFaults(t)
	getJSON(t, ts.URL+"/2.0/users/me", tok).wantStatus(t, http.StatusOK)
}

func TestRateLimitPerToken(t *testing.T) {
	ts := localboxtest.Start(t, localboxtest.WithRateLimit(0.5, 2))
	f := ts.UploadFile(t, "0", "a", []byte("a")) // uses its own fresh tokens
	tok := ts.ParentToken(t)
	getJSON(t, ts.URL+"/2.0/files/"+f.ID, tok).wantStatus(t, http.StatusOK)
	getJSON(t, ts.URL+"/2.0/files/"+f.ID, tok).wantStatus(t, http.StatusOK)
	r := getJSON(t, ts.URL+"/2.0/files/"+f.ID, tok)
	r.wantError(t, http.StatusTooManyRequests, "rate_limit_exceeded")
	ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 2 {
		t.Fatalf("Retry-After = %q, want 1-2 s at 0.5 requests/s", r.Header.Get("Retry-After"))
	}
	// Another token has its own bucket.
	getJSON(t, ts.URL+"/2.0/files/"+f.ID, ts.ParentToken(t)).wantStatus(t, http.StatusOK)
}

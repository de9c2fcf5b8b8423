package box

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"filesight/internal/config"
	"filesight/internal/secret"
	"filesight/internal/testutil"
)

func TestNewClientValidates(t *testing.T) {
	good := Config{APIURL: "https://api.box.com/", UploadURL: "https://upload.box.com/api", ClientID: "id", ClientSecret: "s", SubjectType: "user", SubjectID: "1"}
	c, err := NewClient(good)
	if err != nil {
		t.Fatal(err)
	}
	if c.APIURL() != "https://api.box.com" || c.FileContentURL("12 3") != "https://api.box.com/2.0/files/12%203/content" {
		t.Fatalf("urls: %s %s", c.APIURL(), c.FileContentURL("12 3"))
	}
	bad := Config{APIURL: "api.box.com", UploadURL: "https://x/?q=1", ClientSecret: "the-secret-value", SubjectType: "app"}
	_, err = NewClient(bad)
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"APIURL must be an absolute", "UploadURL must not have a query", "ClientID is required", "SubjectType must be", "SubjectID is required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "the-secret-value") {
		t.Error("config error shows the secret")
	}
}

func TestParentTokenCachedAndRefreshedAhead(t *testing.T) {
	f := newFakeBox(t)
	f.parentTTL = 400 // margin: min(5m, 100s) = 100s
	c := f.client(t, nil)
	clk := testutil.NewClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	c.now = clk.Now
	ctx := ctxT(t)

	t1, err := c.ParentToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if t2, _ := c.ParentToken(ctx); t2 != t1 {
			t.Fatal("cached token not reused")
		}
	}
	if f.ccgCount() != 1 {
		t.Fatalf("ccg calls = %d, want 1", f.ccgCount())
	}
	clk.Add(299 * time.Second) // 101 s left: still fresh
	if t2, _ := c.ParentToken(ctx); t2 != t1 || f.ccgCount() != 1 {
		t.Fatalf("refreshed too early (calls %d)", f.ccgCount())
	}
	clk.Add(2 * time.Second) // 99 s left: inside the margin
	t3, err := c.ParentToken(ctx)
	if err != nil || t3 == t1 || f.ccgCount() != 2 {
		t.Fatalf("not refreshed ahead of expiry: err %v, calls %d", err, f.ccgCount())
	}

	// A failing refresh while the cached token is still valid keeps it.
	clk.Add(301 * time.Second)
	f.with(func() {
		f.ccgHook = func(w http.ResponseWriter) bool { boxError(w, 503, "unavailable", "down"); return true }
	})
	if t4, err := c.ParentToken(ctx); err != nil || t4 != t3 {
		t.Fatalf("stale-but-valid token not used on refresh failure: %v", err)
	}
	// Once it has expired the failure surfaces, retryable.
	clk.Add(100 * time.Second)
	_, err = c.ParentToken(ctx)
	if e, ok := AsError(err); !ok || e.StatusCode != 503 || !e.Retryable() {
		t.Fatalf("expired + failing refresh: %v", err)
	}
}

func TestParentTokenReadsExpiresIn(t *testing.T) {
	f := newFakeBox(t)
	f.parentTTL = 8 // margin 2 s
	c := f.client(t, nil)
	clk := testutil.NewClock(time.Now())
	c.now = clk.Now
	ctx := ctxT(t)
	if _, err := c.ParentToken(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Add(7 * time.Second)
	if _, err := c.ParentToken(ctx); err != nil || f.ccgCount() != 2 {
		t.Fatalf("a short expires_in was not honoured (calls %d): %v", f.ccgCount(), err)
	}
	// An answer without expires_in is refused rather than guessed.
	f.with(func() { f.parentTTL = 0 })
	clk.Add(time.Hour)
	_, err := c.ParentToken(ctx)
	if e, ok := AsError(err); !ok || e.Code != "invalid_response" || !strings.Contains(e.Message, "expires_in") {
		t.Fatalf("missing expires_in: %v", err)
	}
}

func TestParentTokenConcurrentCallersShareOneRequest(t *testing.T) {
	f := newFakeBox(t)
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	f.ccgHook = func(w http.ResponseWriter) bool {
		entered <- struct{}{}
		f.mu.Unlock() // let other requests in while this one waits
		<-release
		f.mu.Lock()
		return false
	}
	c := f.client(t, nil)
	ctx := ctxT(t)
	var wg sync.WaitGroup
	toks := make([]secret.String, 8)
	errs := make([]error, 8)
	for i := range toks {
		wg.Go(func() { toks[i], errs[i] = c.ParentToken(ctx) })
	}
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("no CCG request arrived")
	}
	// A caller that gives up does not break the shared refresh.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.ParentToken(cctx); err == nil || !errors.Is(err, context.Canceled) || IsRetryable(err) {
		t.Fatalf("cancelled caller: %v", err)
	}
	close(release)
	wg.Wait()
	for i := range toks {
		if errs[i] != nil || toks[i] != toks[0] {
			t.Fatalf("caller %d: %v %v", i, errs[i], toks[i] == toks[0])
		}
	}
	if f.ccgCount() != 1 {
		t.Fatalf("ccg calls = %d, want 1", f.ccgCount())
	}
}

func TestParent401RefreshesOnceAndRetries(t *testing.T) {
	f := newFakeBox(t)
	var calls guarded[int]
	f.mux.HandleFunc("GET /2.0/files/{id}", func(w http.ResponseWriter, r *http.Request) {
		calls.set(calls.get() + 1)
		if !f.authorized(w, r) {
			return
		}
		writeJSON(w, 200, map[string]any{"type": "file", "id": r.PathValue("id"), "name": "a.mp4"})
	})
	c := f.client(t, nil)
	ctx := ctxT(t)
	if _, err := c.GetFile(ctx, "", "7"); err != nil {
		t.Fatal(err)
	}
	f.expireAll() // server-side revocation of the cached parent
	file, err := c.GetFile(ctx, "", "7")
	if err != nil || file.Name != "a.mp4" {
		t.Fatalf("not retried with a fresh parent: %v", err)
	}
	if f.ccgCount() != 2 || calls.get() != 3 {
		t.Fatalf("ccg calls %d (want 2), file calls %d (want 3)", f.ccgCount(), calls.get())
	}
	// A server that refuses every token: one refresh, then the 401 surfaces.
	f.mux.HandleFunc("GET /2.0/folders/{id}/items", func(w http.ResponseWriter, r *http.Request) {
		boxError(w, 401, "unauthorized", "nope")
	})
	_, err = c.ListFolderItems(ctx, "", "0")
	if e, ok := AsError(err); !ok || e.StatusCode != 401 || e.Retryable() || f.ccgCount() != 3 {
		t.Fatalf("want one refresh then a non-retryable 401; err %v, ccg calls %d", err, f.ccgCount())
	}
	// A 401 to an explicit (downscoped) token is not retried and does not
	// touch the parent cache.
	_, err = c.GetFile(ctx, "child-token-unknown", "7")
	if !IsStatus(err, 401) || f.ccgCount() != 3 {
		t.Fatalf("explicit token: %v, ccg calls %d", err, f.ccgCount())
	}
}

func TestDownscope(t *testing.T) {
	f := newFakeBox(t)
	c := f.client(t, nil)
	ctx := ctxT(t)
	before := time.Now()
	tok, err := c.Downscope(ctx, "123", ScopeItemPreview, ScopeItemDownload)
	if err != nil {
		t.Fatal(err)
	}
	if tok.FileID != "123" || strings.Join(tok.Scopes, " ") != "item_preview item_download" || tok.AccessToken.IsZero() {
		t.Fatalf("token: %v", tok)
	}
	if d := tok.ExpiresAt.Sub(before); d < 899*time.Second || d > 901*time.Second {
		t.Fatalf("expiry not read from expires_in=900: %s", d)
	}
	var ex map[string]string
	var lastParent string
	f.with(func() { ex, lastParent = f.exchanges[0], f.lastParent })
	want := map[string]string{
		"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": lastParent,
		"subject_token_type": "urn:ietf:params:oauth:token-type:access_token", "scope": "item_preview item_download",
		"resource": f.srv.URL + "/2.0/files/123",
	}
	for k, v := range want {
		if ex[k] != v {
			t.Errorf("exchange form %s = %q, want %q", k, ex[k], v)
		}
	}
	// JSON round trip keeps the value (it travels in encrypted payloads).
	b, _ := json.Marshal(tok)
	var back Token
	if err := json.Unmarshal(b, &back); err != nil || back.AccessToken != tok.AccessToken || !back.ExpiresAt.Equal(tok.ExpiresAt) {
		t.Fatalf("round trip: %v %s", err, b)
	}
	if tok.Expired(time.Now(), time.Minute) || !tok.Expired(tok.ExpiresAt, 0) {
		t.Fatal("Expired wrong")
	}

	// A scope the parent lacks: 401 from Box, not retryable.
	f.with(func() { f.parentScp = []string{ScopeItemPreview} })
	_, err = c.Downscope(ctx, "123", ScopeItemUpload)
	if e, ok := AsError(err); !ok || e.StatusCode != 401 || e.Code != "invalid_scope" || e.Retryable() {
		t.Fatalf("excess scope: %v", err)
	}
	// A parent revoked behind our back is refreshed once.
	f.expireAll()
	calls := f.ccgCount()
	if _, err := c.Downscope(ctx, "9", ScopeItemPreview); err != nil || f.ccgCount() != calls+1 {
		t.Fatalf("revoked parent not refreshed: %v (ccg %d→%d)", err, calls, f.ccgCount())
	}
	// A child issued already expired (parent at its end): the parent is
	// refreshed and the exchange tried once more before giving up.
	f.with(func() { f.childTTL = 0; f.parentScp = []string{ScopeItemPreview} })
	calls = f.ccgCount()
	var nex int
	f.with(func() { nex = len(f.exchanges) })
	_, err = c.Downscope(ctx, "9", ScopeItemPreview)
	f.with(func() { nex = len(f.exchanges) - nex })
	if e, ok := AsError(err); !ok || e.Code != "invalid_response" || f.ccgCount() != calls+1 || nex != 2 {
		t.Fatalf("expired child: %v (ccg %d→%d, exchanges %d)", err, calls, f.ccgCount(), nex)
	}
	for _, bad := range [][]string{nil, {""}, {"a b"}} {
		if _, err := c.Downscope(ctx, "9", bad...); err == nil {
			t.Errorf("scopes %q accepted", bad)
		}
	}
	if _, err := c.Downscope(ctx, "", ScopeItemPreview); err == nil {
		t.Error("empty file id accepted")
	}
}

// Box answers a token exchange for a file that does not exist (deleted, or
// an unknown ID) with 400 {"error":"invalid_resource","error_description":
// "The target resource is invalid."}, not with 404. The client reports it
// as a not-found error, not retryable, without refreshing the parent.
func TestDownscopeMissingFile(t *testing.T) {
	f := newFakeBox(t)
	f.with(func() { f.missing["404404"] = true })
	c := f.client(t, nil)
	ctx := ctxT(t)
	if _, err := c.ParentToken(ctx); err != nil {
		t.Fatal(err)
	}
	ccg := f.ccgCount()
	_, err := c.Downscope(ctx, "404404", ScopeItemPreview, ScopeItemDownload)
	e, ok := AsError(err)
	if !ok || !e.NotFound() || e.Retryable() || e.StatusCode != 400 || e.Code != CodeInvalidResource {
		t.Fatalf("missing file: %#v", err)
	}
	if !strings.Contains(err.Error(), "HTTP 400 invalid_resource: The target resource is invalid.") {
		t.Fatalf("error text: %s", err)
	}
	var n int
	f.with(func() { n = len(f.exchanges) })
	if n != 1 || f.ccgCount() != ccg {
		t.Fatalf("%d exchanges, %d parent requests: a missing file is not a reason to retry", n, f.ccgCount()-ccg)
	}

	// Other 400 answers of the token endpoint are not "not found".
	for _, code := range []string{"invalid_request", "invalid_grant", "invalid_scope", "invalid_target"} {
		if (&Error{StatusCode: 400, Code: code}).NotFound() {
			t.Errorf("400 %s reported as not found", code)
		}
	}
}

func TestRevoke(t *testing.T) {
	f := newFakeBox(t)
	c := f.client(t, nil)
	ctx := ctxT(t)
	tok, err := c.Downscope(ctx, "1", ScopeItemPreview)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Revoke(ctx, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	revoked := func() []string {
		f.mu.Lock()
		defer f.mu.Unlock()
		return append([]string(nil), f.revoked...)
	}
	if r := revoked(); len(r) != 1 || r[0] != tok.AccessToken.Reveal() {
		t.Fatalf("revoked %d tokens", len(r))
	}
	if err := c.Revoke(ctx, ""); err != nil || len(revoked()) != 1 {
		t.Fatalf("empty token: %v, %d requests", err, len(revoked()))
	}
	parent, _ := c.ParentToken(ctx)
	if err := c.Revoke(ctx, parent); !errors.Is(err, ErrParentRevoke) || len(revoked()) != 1 {
		t.Fatalf("parent revoke: %v", err)
	}
	// RFC 7009 servers may say invalid_token for an unknown token: success.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 400, map[string]string{"error": "invalid_token", "error_description": "gone"})
	}))
	defer srv.Close()
	c2, _ := NewClient(Config{APIURL: srv.URL, UploadURL: srv.URL, ClientID: "i", ClientSecret: "s", SubjectType: "user", SubjectID: "1"})
	if err := c2.Revoke(ctx, "whatever"); err != nil {
		t.Fatalf("invalid_token answer: %v", err)
	}
}

func TestErrorClassification(t *testing.T) {
	f := newFakeBox(t)
	f.mux.HandleFunc("GET /2.0/files/{id}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("id") {
		case "500":
			boxError(w, 500, "internal_server_error", "boom")
		case "503":
			w.Header().Set("Retry-After", "7")
			boxError(w, 503, "unavailable", "later")
		case "429":
			w.Header().Set("Retry-After", "12")
			boxError(w, 429, "rate_limit_exceeded", "Request rate limit exceeded")
		case "429date":
			w.Header().Set("Retry-After", time.Now().Add(30*time.Second).UTC().Format(http.TimeFormat))
			boxError(w, 429, "rate_limit_exceeded", "slow down")
		case "403":
			boxError(w, 403, "insufficient_scope", "The request requires higher privileges")
		case "404":
			boxError(w, 404, "not_found", "Not Found")
		case "400":
			boxError(w, 400, "bad_request", "bad")
		case "plain":
			w.Header().Set("box-request-id", "from-header")
			http.Error(w, "upstream exploded", 502)
		case "garbage":
			w.Write([]byte("not json"))
		}
	})
	c := f.client(t, nil)
	ctx := ctxT(t)
	tests := []struct {
		id         string
		status     int
		code       string
		retryable  bool
		retryAfter time.Duration
		requestID  string
	}{
		{"500", 500, "internal_server_error", true, 0, "req-internal_server_error"},
		{"503", 503, "unavailable", true, 7 * time.Second, "req-unavailable"},
		{"429", 429, "rate_limit_exceeded", true, 12 * time.Second, "req-rate_limit_exceeded"},
		{"403", 403, "insufficient_scope", false, 0, "req-insufficient_scope"},
		{"404", 404, "not_found", false, 0, "req-not_found"},
		{"400", 400, "bad_request", false, 0, "req-bad_request"},
		{"plain", 502, "internal_server_error", true, 0, "from-header"},
		{"garbage", 200, "invalid_response", false, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			_, err := c.GetFile(ctx, "", tt.id)
			e, ok := AsError(err)
			if !ok {
				t.Fatalf("not a *Error: %v", err)
			}
			if e.StatusCode != tt.status || e.Code != tt.code || e.Retryable() != tt.retryable || e.RetryAfter != tt.retryAfter || e.RequestID != tt.requestID {
				t.Fatalf("got %+v (retryable %v)", e, e.Retryable())
			}
			if e.Op != "GET /2.0/files/{id}" || !strings.Contains(e.Error(), e.Op) {
				t.Fatalf("op missing: %q", e.Error())
			}
		})
	}
	_, err := c.GetFile(ctx, "", "429date")
	if e, _ := AsError(err); e == nil || e.RetryAfter < 25*time.Second || e.RetryAfter > 31*time.Second {
		t.Fatalf("HTTP-date Retry-After: %+v", e)
	}
	_, err = c.GetFile(ctx, "", "404")
	if e, _ := AsError(err); !e.NotFound() || !IsStatus(err, 404) || IsRetryable(err) {
		t.Fatal("404 helpers")
	}
	if !strings.Contains(err.Error(), "HTTP 404 not_found: Not Found [request_id req-not_found]") {
		t.Fatalf("error text: %s", err)
	}

	// Network errors: a closed server, retryable, no URL in the text.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	cd, _ := NewClient(Config{APIURL: deadURL, UploadURL: deadURL, ClientID: "i", ClientSecret: "s", SubjectType: "user", SubjectID: "1"})
	_, err = cd.GetFile(ctx, "tok", "1")
	e, ok := AsError(err)
	if !ok || e.StatusCode != 0 || !e.Retryable() || strings.Contains(err.Error(), "/2.0/files/1") {
		t.Fatalf("network error: %v", err)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Fatalf("cause not kept: %#v", e.Err)
	}
	// A cancelled context is not retryable.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = c.GetFile(cctx, "tok", "1")
	if !errors.Is(err, context.Canceled) || IsRetryable(err) {
		t.Fatalf("cancelled: %v", err)
	}
	if IsRetryable(errors.New("plain")) || IsRetryable(nil) {
		t.Fatal("non-*Error retryable")
	}
}

func TestNetworkErrorDropsURL(t *testing.T) {
	const tok = "tok-in-query-SECRET"
	uerr := &url.Error{Op: "Get", URL: "http://h/2.0/files/1/content?access_token=" + tok, Err: io.ErrUnexpectedEOF}
	e := networkError("GET /x", fmt.Errorf("wrapped: %w", uerr))
	if strings.Contains(e.Error(), tok) || !errors.Is(e, io.ErrUnexpectedEOF) {
		t.Fatalf("%q", e.Error())
	}
}

// TestSecretsNeverLeak drives failing calls of every kind with a server
// that echoes the credentials it receives, and checks that no token or
// client secret appears in any error string or in debug-level logs.
func TestSecretsNeverLeak(t *testing.T) {
	f := newFakeBox(t)
	echo := func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		msg := "bad token " + r.Header.Get("Authorization") + " form " + r.PostForm.Encode()
		w.Header().Set("box-request-id", r.Header.Get("Authorization"))
		boxError(w, 403, "insufficient_scope "+r.Header.Get("Authorization"), msg)
	}
	for _, p := range []string{"GET /2.0/files/{id}", "GET /2.0/files/{id}/content", "POST /api/2.0/files/content",
		"POST /2.0/files/{id}/metadata/{scope}/{template}", "GET /2.0/webhooks", "POST /2.0/folders"} {
		f.mux.HandleFunc(p, echo)
	}
	log, logs := newLogger()
	c := f.client(t, log)
	ctx := ctxT(t)
	child, err := c.Downscope(ctx, "1", ScopeItemPreview)
	if err != nil {
		t.Fatal(err)
	}
	parent, _ := c.ParentToken(ctx)
	var errs []error
	collect := func(_ any, err error) { errs = append(errs, err) }
	for _, tok := range []secret.String{"", child.AccessToken} {
		collect(c.GetFile(ctx, tok, "1"))
		collect(c.Download(ctx, tok, "1", io.Discard))
		collect(c.UploadFile(ctx, tok, "0", "a.txt", strings.NewReader("x")))
		errs = append(errs, c.UpsertMetadata(ctx, tok, "1", "enterprise", "t", map[string]any{"a": 1}))
		collect(c.ListWebhooks(ctx, tok))
		collect(c.CreateFolder(ctx, tok, "0", "f"))
	}
	// OAuth failures on a server that echoes forms (client secret, subject token).
	const echoParent = "echo-parent-SECRET"
	echoSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.URL.Path == "/oauth2/token" && r.PostForm.Get("grant_type") == "client_credentials" && r.PostForm.Get("box_subject_id") == "ok" {
			writeJSON(w, 200, map[string]any{"access_token": echoParent, "expires_in": 3600})
			return
		}
		echo(w, r)
	}))
	defer echoSrv.Close()
	e1, _ := NewClient(Config{APIURL: echoSrv.URL, UploadURL: echoSrv.URL, ClientID: "x", ClientSecret: testClientSecret, SubjectType: "user", SubjectID: "ok", Logger: log})
	collect(e1.Downscope(ctx, "1", ScopeItemUpload))
	collect(e1.GetFile(ctx, "", "1"))
	errs = append(errs, e1.Revoke(ctx, "some-child-SECRET"))
	e2, _ := NewClient(Config{APIURL: echoSrv.URL, UploadURL: echoSrv.URL, ClientID: "x", ClientSecret: testClientSecret, SubjectType: "user", SubjectID: "1", Logger: log})
	collect(e2.ParentToken(ctx))

	secrets := []string{parent.Reveal(), child.AccessToken.Reveal(), testClientSecret, echoParent, "some-child-SECRET"}
	var nonNil int
	for _, err := range errs {
		if err == nil {
			continue
		}
		nonNil++
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), s) {
				t.Errorf("secret in error: %s", err)
			}
		}
	}
	if nonNil < 16 {
		t.Fatalf("only %d calls failed; the test is not exercising failures", nonNil)
	}
	out := logs.String()
	if !strings.Contains(out, "insufficient_scope") || !strings.Contains(out, "parent token issued") {
		t.Fatalf("logs do not show the failures, so the check proves nothing:\n%s", out)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("secret (fingerprint %s) in logs", secret.String(s).Fingerprint())
		}
	}
	// The Token type itself never prints its value.
	log.Info("token", "tok", child, "str", child.String(), "v", fmt.Sprintf("%v %+v", child, child))
	if strings.Contains(logs.String(), child.AccessToken.Reveal()) {
		t.Error("Token printed its value")
	}
}

func TestDownload(t *testing.T) {
	f := newFakeBox(t)
	content := bytes.Repeat([]byte("0123456789"), 100_000)
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			t.Error("Authorization forwarded to the download host")
		}
		w.Write(content)
	}))
	defer cdn.Close()
	f.mux.HandleFunc("GET /2.0/files/{id}/content", func(w http.ResponseWriter, r *http.Request) {
		if !f.authorized(w, r) {
			return
		}
		switch r.PathValue("id") {
		case "ready":
			w.Header().Set("Content-Length", fmt.Sprint(len(content)))
			w.Write(content)
		case "redirect":
			http.Redirect(w, r, cdn.URL+"/dl/abc", http.StatusFound)
		case "notready":
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(202)
		case "short":
			w.Header().Set("Content-Length", "100")
			w.Write([]byte("only a bit"))
		}
	})
	c := f.client(t, nil)
	ctx := ctxT(t)
	for _, id := range []string{"ready", "redirect"} {
		var buf bytes.Buffer
		n, err := c.Download(ctx, "", id, &buf)
		if err != nil || n != int64(len(content)) || !bytes.Equal(buf.Bytes(), content) {
			t.Fatalf("%s: n=%d err=%v", id, n, err)
		}
	}
	_, err := c.Download(ctx, "", "notready", io.Discard)
	if e, ok := AsError(err); !ok || e.StatusCode != 202 || e.Code != CodeNotReady || e.RetryAfter != 5*time.Second || !e.Retryable() {
		t.Fatalf("202: %v", err)
	}
	_, err = c.Download(ctx, "", "short", io.Discard)
	if !IsRetryable(err) {
		t.Fatalf("truncated body: %v", err)
	}
	werr := errors.New("disk full")
	_, err = c.Download(ctx, "", "ready", failingWriter{werr})
	if _, isBox := AsError(err); isBox || !errors.Is(err, werr) {
		t.Fatalf("writer failure: %v", err)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// TestUploadStreams proves the multipart body is streamed: the server reads
// the attributes part and the first bytes of the file while the content
// reader has not finished yet (a buffering client would deadlock here).
func TestUploadStreams(t *testing.T) {
	f := newFakeBox(t)
	gotFirst := make(chan struct{})
	type upload struct {
		attrs   map[string]any
		content []byte
	}
	var got guarded[upload]
	f.mux.HandleFunc("POST /api/2.0/files/content", func(w http.ResponseWriter, r *http.Request) {
		if !f.authorized(w, r) {
			return
		}
		mr, err := r.MultipartReader()
		if err != nil {
			boxError(w, 400, "bad_request", err.Error())
			return
		}
		p, err := mr.NextPart()
		if err != nil || p.FormName() != "attributes" {
			boxError(w, 400, "metadata_after_file_contents", "attributes must come first")
			return
		}
		var attrs map[string]any
		_ = json.NewDecoder(p).Decode(&attrs)
		p, err = mr.NextPart()
		if err != nil || p.FormName() != "file" || p.FileName() != "talk \"1\".mp4" {
			boxError(w, 400, "bad_request", "no file part")
			return
		}
		first := make([]byte, 5)
		if _, err := io.ReadFull(p, first); err != nil {
			boxError(w, 400, "bad_request", err.Error())
			return
		}
		close(gotFirst)
		rest, _ := io.ReadAll(p)
		content := append(first, rest...)
		got.set(upload{attrs, content})
		writeJSON(w, 201, map[string]any{"total_count": 1, "entries": []any{map[string]any{
			"type": "file", "id": "55", "name": attrs["name"], "size": len(content),
			"file_version": map[string]any{"type": "file_version", "id": "555", "sha1": "abc"}}}})
	})
	c := f.client(t, nil)
	ctx := ctxT(t)
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte("first"))
		select {
		case <-gotFirst:
			pw.Write([]byte(" and the rest"))
			pw.Close()
		case <-ctx.Done():
			pw.CloseWithError(errors.New("server never saw the first bytes: body is buffered"))
		}
	}()
	file, err := c.UploadFile(ctx, "", "0", `talk "1".mp4`, pr)
	if err != nil {
		t.Fatal(err)
	}
	up := got.get()
	if file.ID != "55" || file.VersionID() != "555" || string(up.content) != "first and the rest" {
		t.Fatalf("file %+v content %q", file, up.content)
	}
	if up.attrs["name"] != `talk "1".mp4` || up.attrs["parent"].(map[string]any)["id"] != "0" {
		t.Fatalf("attributes %v", up.attrs)
	}
}

func TestUploadVersionAndParent401(t *testing.T) {
	f := newFakeBox(t)
	var got guarded[[2]string] // attributes, content
	attrs := func() string { return got.get()[0] }
	body := func() string { return got.get()[1] }
	f.mux.HandleFunc("POST /api/2.0/files/{id}/content", func(w http.ResponseWriter, r *http.Request) {
		if !f.authorized(w, r) {
			return
		}
		_ = r.ParseMultipartForm(1 << 20)
		var content string
		if fh, _, err := r.FormFile("file"); err == nil {
			b, _ := io.ReadAll(fh)
			content = string(b)
		}
		got.set([2]string{r.FormValue("attributes"), content})
		writeJSON(w, 200, map[string]any{"total_count": 1, "entries": []any{map[string]any{"type": "file", "id": r.PathValue("id"), "file_version": map[string]any{"type": "file_version", "id": "v2"}}}})
	})
	c := f.client(t, nil)
	ctx := ctxT(t)
	file, err := c.UploadVersion(ctx, "", "77", "", strings.NewReader("v2 content"))
	if err != nil || file.VersionID() != "v2" || attrs() != `{}` || body() != "v2 content" {
		t.Fatalf("%v %+v attrs=%s body=%q", err, file, attrs(), body())
	}
	if _, err := c.UploadVersion(ctx, "", "77", "new.mp4", strings.NewReader("v3")); err != nil || attrs() != `{"name":"new.mp4"}` {
		t.Fatalf("rename: %v %s", err, attrs())
	}
	// The streamed body cannot be replayed: a 401 to the parent is returned,
	// marked retryable, and the next call uses a fresh parent.
	f.expireAll()
	_, err = c.UploadVersion(ctx, "", "77", "", strings.NewReader("v4"))
	if !IsStatus(err, 401) || !IsRetryable(err) {
		t.Fatalf("401 on upload: %v", err)
	}
	if _, err := c.UploadVersion(ctx, "", "77", "", strings.NewReader("v4")); err != nil || body() != "v4" || f.ccgCount() != 2 {
		t.Fatalf("retry after 401: %v (ccg %d)", err, f.ccgCount())
	}
}

func TestFoldersAndPagination(t *testing.T) {
	f := newFakeBox(t)
	var createdG guarded[map[string]any]
	f.mux.HandleFunc("POST /2.0/folders", func(w http.ResponseWriter, r *http.Request) {
		var created map[string]any
		_ = json.NewDecoder(r.Body).Decode(&created)
		createdG.set(created)
		if r.Header.Get("Content-Type") != "application/json" {
			boxError(w, 400, "bad_request", "content type")
			return
		}
		if created["name"] == "dup" {
			boxError(w, 409, "item_name_in_use", "Item with the same name already exists")
			return
		}
		writeJSON(w, 201, map[string]any{"type": "folder", "id": "900", "name": created["name"]})
	})
	// Folder "m": three marker pages. Folder "o": offset pagination only.
	f.mux.HandleFunc("GET /2.0/folders/{id}/items", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		item := func(i int) map[string]any {
			return map[string]any{"type": "file", "id": fmt.Sprint(i), "name": fmt.Sprintf("f%d", i)}
		}
		switch r.PathValue("id") {
		case "m":
			if q.Get("usemarker") != "true" || q.Get("limit") != "1000" {
				boxError(w, 400, "bad_request", "want marker paging")
				return
			}
			switch q.Get("marker") {
			case "":
				writeJSON(w, 200, map[string]any{"entries": []any{item(1), item(2)}, "next_marker": "p2", "limit": 2})
			case "p2":
				writeJSON(w, 200, map[string]any{"entries": []any{item(3)}, "next_marker": "p3"})
			case "p3":
				writeJSON(w, 200, map[string]any{"entries": []any{item(4)}, "next_marker": nil})
			}
		case "o":
			off := q.Get("offset")
			switch off {
			case "", "0":
				writeJSON(w, 200, map[string]any{"entries": []any{item(1), item(2)}, "total_count": 3, "offset": 0})
			case "2":
				writeJSON(w, 200, map[string]any{"entries": []any{item(3)}, "total_count": 3, "offset": 2})
			default:
				boxError(w, 400, "bad_request", "offset "+off)
			}
		}
	})
	c := f.client(t, nil)
	ctx := ctxT(t)
	fo, err := c.CreateFolder(ctx, "", "0", "media")
	created := createdG.get()
	if err != nil || fo.ID != "900" || created["parent"].(map[string]any)["id"] != "0" {
		t.Fatalf("%v %+v %v", err, fo, created)
	}
	_, err = c.CreateFolder(ctx, "", "0", "dup")
	if e, ok := AsError(err); !ok || e.StatusCode != 409 || e.Code != "item_name_in_use" || e.Retryable() {
		t.Fatalf("dup: %v", err)
	}
	for id, want := range map[string]int{"m": 4, "o": 3} {
		items, err := c.ListFolderItems(ctx, "", id)
		if err != nil || len(items) != want || items[want-1].ID != fmt.Sprint(want) || items[0].Type != "file" {
			t.Fatalf("folder %s: %v %+v", id, err, items)
		}
	}
}

func TestUpsertMetadata(t *testing.T) {
	f := newFakeBox(t)
	type instance = map[string]any
	store := map[string]instance{}
	var mu sync.Mutex
	var puts [][]PatchOp
	var gets int
	forbidRead := false
	f.mux.HandleFunc("/2.0/files/{id}/metadata/{scope}/{template}", func(w http.ResponseWriter, r *http.Request) {
		if !f.authorized(w, r) {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		key := r.PathValue("id") + "/" + r.PathValue("scope") + "/" + r.PathValue("template")
		switch r.Method {
		case http.MethodPost:
			if _, ok := store[key]; ok {
				boxError(w, 409, "tuple_already_exists", "A resource with this value already exists")
				return
			}
			var doc instance
			_ = json.NewDecoder(r.Body).Decode(&doc)
			store[key] = doc
			writeJSON(w, 201, doc)
		case http.MethodGet:
			gets++
			if forbidRead {
				boxError(w, 403, "insufficient_scope", "read not allowed")
				return
			}
			doc, ok := store[key]
			if !ok {
				boxError(w, 404, "instance_not_found", "no instance")
				return
			}
			out := instance{"$id": "x", "$version": 1}
			for k, v := range doc {
				out[k] = v
			}
			writeJSON(w, 200, out)
		case http.MethodPut:
			if r.Header.Get("Content-Type") != "application/json-patch+json" {
				boxError(w, 400, "bad_request", "content type")
				return
			}
			var ops []PatchOp
			_ = json.NewDecoder(r.Body).Decode(&ops)
			puts = append(puts, ops)
			doc := store[key]
			for _, op := range ops {
				k := PointerUnescape(strings.TrimPrefix(op.Path, "/"))
				_, exists := doc[k]
				if op.Op == PatchReplace && !exists {
					boxError(w, 400, "bad_request", "replace of missing key "+k)
					return
				}
				doc[k] = op.Value
			}
			writeJSON(w, 200, doc)
		case http.MethodDelete:
			if _, ok := store[key]; !ok {
				boxError(w, 404, "instance_not_found", "no instance")
				return
			}
			delete(store, key)
			w.WriteHeader(204)
		}
	})
	f.mux.HandleFunc("GET /2.0/files/{id}/metadata", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		var entries []any
		for k, v := range store {
			if strings.HasPrefix(k, r.PathValue("id")+"/") {
				entries = append(entries, v)
			}
		}
		writeJSON(w, 200, map[string]any{"entries": entries, "limit": 100})
	})
	c := f.client(t, nil)
	ctx := ctxT(t)
	locked := func(fn func()) {
		mu.Lock()
		defer mu.Unlock()
		fn()
	}
	stored := func(key string) (doc instance) {
		locked(func() { doc = maps.Clone(store[key]) })
		return doc
	}
	patches := func() (p [][]PatchOp, g int) {
		locked(func() { p, g = slices.Clone(puts), gets })
		return
	}

	// Create, then upsert again with a new and a changed key.
	if err := c.UpsertMetadata(ctx, "", "1", "enterprise_42", "media", map[string]any{"kind": "video", "$id": "ignored"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := stored("1/enterprise_42/media")["$id"]; ok {
		t.Fatal("$ key sent")
	}
	if err := c.UpsertMetadata(ctx, "", "1", "enterprise_42", "media", map[string]any{"kind": "audio", "dur": 12}); err != nil {
		t.Fatal(err)
	}
	if p, g := patches(); len(p) != 1 || g != 1 || p[0][0].Op != PatchAdd || p[0][0].Path != "/dur" || p[0][1].Op != PatchReplace || p[0][1].Path != "/kind" {
		t.Fatalf("patch %+v gets %d", p, g)
	}
	var got map[string]any
	if err := c.GetMetadata(ctx, "", "1", "enterprise_42", "media", &got); err != nil || got["kind"] != "audio" || got["dur"] != 12.0 {
		t.Fatalf("get: %v %v", err, got)
	}
	// Same upsert again: idempotent.
	if err := c.UpsertMetadata(ctx, "", "1", "enterprise_42", "media", map[string]any{"kind": "audio", "dur": 12}); err != nil || len(stored("1/enterprise_42/media")) != 2 {
		t.Fatalf("repeat: %v %v", err, stored("1/enterprise_42/media"))
	}
	// A write-only token cannot read: every key is added (add sets existing members too).
	locked(func() { forbidRead = true })
	if err := c.UpsertMetadata(ctx, "", "1", "enterprise_42", "media", map[string]any{"kind": "image", "new": true}); err != nil ||
		stored("1/enterprise_42/media")["kind"] != "image" || stored("1/enterprise_42/media")["new"] != true {
		t.Fatalf("forbidden read: %v %v", err, stored("1/enterprise_42/media"))
	}
	if p, _ := patches(); p[len(p)-1][0].Op != PatchAdd || p[len(p)-1][1].Op != PatchAdd {
		t.Fatalf("forbidden read patch: %+v", p[len(p)-1])
	}
	locked(func() { forbidRead = false })

	// Skills cards: created, then replaced (no read, no duplication).
	cards := sampleCards()
	if err := c.UpsertSkillsCards(ctx, "", "1", cards[:1]); err != nil {
		t.Fatal(err)
	}
	locked(func() { gets, puts = 0, nil })
	for range 2 {
		if err := c.UpsertSkillsCards(ctx, "", "1", cards); err != nil {
			t.Fatal(err)
		}
	}
	if p, g := patches(); g != 0 || len(p) != 2 || len(p[1]) != 1 || p[1][0].Op != PatchReplace || p[1][0].Path != "/cards" {
		t.Fatalf("skills patch %+v gets %d", p, g)
	}
	doc, err := c.GetSkillsCards(ctx, "", "1")
	if err != nil || len(doc.Cards) != len(cards) || doc.Cards[3].Status.Code != StatusProcessing || doc.ID != "x" {
		t.Fatalf("skills doc: %v %+v", err, doc)
	}
	// Invalid cards are refused locally.
	bad := NewStatusCard(CardMeta{SkillID: "s", InvocationID: "i"}, "finished", "")
	p0, _ := patches()
	err = c.UpsertSkillsCards(ctx, "", "1", []Card{bad})
	var se *SchemaError
	if p1, _ := patches(); !errors.As(err, &se) || se.Problems[0].Path != "cards[0].status.code" || len(p1) != len(p0) {
		t.Fatalf("invalid card: %v", err)
	}

	list, err := c.ListMetadata(ctx, "", "1")
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %v %d", err, len(list))
	}
	if err := c.DeleteMetadata(ctx, "", "1", SkillsScope, SkillsTemplate); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteMetadata(ctx, "", "1", SkillsScope, SkillsTemplate); !IsStatus(err, 404) {
		t.Fatalf("second delete: %v", err)
	}
	// Other 409s are not turned into patches.
	f.mux.HandleFunc("POST /2.0/files/{id}/metadata/conflict/{template}", func(w http.ResponseWriter, r *http.Request) {
		boxError(w, 409, "conflict", "something else")
	})
	if err := c.UpsertMetadata(ctx, "", "1", "conflict", "t", map[string]any{"a": 1}); !IsStatus(err, 409) {
		t.Fatalf("other conflict: %v", err)
	}
}

func TestWebhookCRUD(t *testing.T) {
	f := newFakeBox(t)
	var bodyG guarded[map[string]any]
	f.mux.HandleFunc("POST /2.0/webhooks", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		bodyG.set(body)
		writeJSON(w, 201, map[string]any{"id": "w1", "type": "webhook", "target": body["target"], "address": body["address"], "triggers": body["triggers"]})
	})
	f.mux.HandleFunc("GET /2.0/webhooks", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("marker") == "" {
			writeJSON(w, 200, map[string]any{"entries": []any{map[string]any{"id": "w1", "type": "webhook", "target": map[string]any{"id": "0", "type": "folder"}}}, "next_marker": "n"})
			return
		}
		writeJSON(w, 200, map[string]any{"entries": []any{map[string]any{"id": "w2", "type": "webhook"}}, "next_marker": ""})
	})
	var deleted guarded[string]
	f.mux.HandleFunc("DELETE /2.0/webhooks/{id}", func(w http.ResponseWriter, r *http.Request) {
		deleted.set(r.PathValue("id"))
		w.WriteHeader(204)
	})
	c := f.client(t, nil)
	ctx := ctxT(t)
	wh, err := c.CreateWebhook(ctx, "", "folder", "0", "https://example.com/hook", "FILE.UPLOADED")
	if err != nil || wh.ID != "w1" || wh.Target.Type != "folder" || wh.Triggers[0] != "FILE.UPLOADED" {
		t.Fatalf("%v %+v", err, wh)
	}
	body := bodyG.get()
	if body["address"] != "https://example.com/hook" || body["target"].(map[string]any)["id"] != "0" {
		t.Fatalf("body %v", body)
	}
	list, err := c.ListWebhooks(ctx, "")
	if err != nil || len(list) != 2 || list[1].ID != "w2" {
		t.Fatalf("%v %+v", err, list)
	}
	if err := c.DeleteWebhook(ctx, "", "w1"); err != nil || deleted.get() != "w1" {
		t.Fatalf("%v %s", err, deleted.get())
	}
	for _, args := range [][]string{{"user", "1", "https://x/"}, {"file", "", "https://x/"}, {"file", "1", "not a url"}, {"file", "1", "https://x/", ""}} {
		if _, err := c.CreateWebhook(ctx, "", args[0], args[1], args[2]); err == nil {
			t.Errorf("accepted %q", args)
		}
	}
}

func TestEnvConfig(t *testing.T) {
	dir := t.TempDir()
	secretFile := dir + "/secret"
	if err := os.WriteFile(secretFile, []byte("from-file-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var ec EnvConfig
	err := config.LoadFrom(context.Background(), &ec, config.MapLookuper(map[string]string{
		"BOX_API_URL": "http://127.0.0.1:8700", "BOX_UPLOAD_URL": "http://127.0.0.1:8700/api",
		"BOX_CLIENT_ID": "cid", "BOX_CLIENT_SECRET_FILE": secretFile, "BOX_SUBJECT_ID": "1000001",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if ec.ClientSecret.Reveal() != "from-file-secret" || ec.SubjectType != "enterprise" || ec.UploadURL != "http://127.0.0.1:8700/api" {
		t.Fatalf("%+v", ec)
	}
	var defaults EnvConfig
	if err := config.LoadFrom(context.Background(), &defaults, config.MapLookuper(nil)); err != nil {
		t.Fatal(err)
	}
	if defaults.APIURL != DefaultAPIURL || defaults.UploadURL != DefaultUploadURL {
		t.Fatalf("defaults: %+v", defaults)
	}
	// The caller's HTTP client is used but not modified.
	hc := &http.Client{Timeout: time.Minute}
	c, err := NewClient(ec.Config(hc, nil))
	if err != nil {
		t.Fatal(err)
	}
	if hc.CheckRedirect != nil || c.hc == hc || c.hc.Timeout != time.Minute || c.hc.CheckRedirect == nil {
		t.Fatal("HTTP client handling")
	}
}

// TestErrorRedactedBeforeTruncation: Box's message is redacted, then cut
// to 500 bytes. A token that straddles the cut used to lose its end to the
// truncation, no longer match, and leave its first bytes in the message.
func TestErrorRedactedBeforeTruncation(t *testing.T) {
	const tok = "straddling-token-0123456789abcdefghijklmnop"
	for _, pad := range []int{480, 490, 499, 500, 470} {
		msg := strings.Repeat("é", pad/2) + strings.Repeat("x", pad%2) + tok + " and more"
		resp := &http.Response{StatusCode: 403, Header: http.Header{}}
		body, _ := json.Marshal(map[string]any{"type": "error", "status": 403, "code": "insufficient_scope", "message": msg, "request_id": tok})
		e := responseError("GET /2.0/files/{id}", resp, body, tok)
		for i := 6; i <= len(tok); i++ {
			if strings.Contains(e.Error(), tok[:i]) {
				t.Fatalf("pad %d: %d bytes of the token left in %q", pad, i, e.Error())
			}
		}
		if len(e.Message) > 500+len("…") || !utf8.ValidString(e.Message) {
			t.Fatalf("pad %d: message of %d bytes, valid UTF-8 %v", pad, len(e.Message), utf8.ValidString(e.Message))
		}
	}
}

// TestOversizedAnswerRefused: a JSON answer larger than the client reads
// is a non-retryable invalid_response, not a truncated (and so retried)
// network read.
func TestOversizedAnswerRefused(t *testing.T) {
	f := newFakeBox(t)
	f.mux.HandleFunc("GET /2.0/files/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"type":"file","id":"1","name":"`)
		chunk := strings.Repeat("n", 1<<20)
		for range maxJSONBody>>20 + 1 {
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
		_, _ = io.WriteString(w, `"}`)
	})
	c := f.client(t, nil)
	// 64 MiB through loopback: allow a busy machine more than ctxT's 20 s.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, err := c.GetFile(ctx, "", "1")
	e, ok := AsError(err)
	if !ok || e.Code != "invalid_response" || e.Retryable() || !strings.Contains(e.Message, "larger than") {
		t.Fatalf("oversized answer: %v", err)
	}
}

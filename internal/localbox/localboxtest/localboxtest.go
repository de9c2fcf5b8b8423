// Package localboxtest starts a real localbox for tests of any package: a
// real server on a 127.0.0.1 listener, its data in a temporary directory,
// random credentials, and helpers that talk to it over HTTP like any
// client. It is never linked into a program.
package localboxtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"filesight/internal/freeport"
	"filesight/internal/localbox"
	"filesight/internal/secret"
)

// Server is a real localbox on a real 127.0.0.1 listener with its data in
// a temporary directory and random credentials.
type Server struct {
	// URL is the base URL (= the public URL): the Box API base
	// (URL+"/2.0/...") and the token endpoint (URL+"/oauth2/token").
	URL string
	// UploadURL is URL+"/api", the base for uploads (UploadURL+"/2.0/files/content").
	UploadURL           string
	ClientID            string
	ClientSecret        secret.String
	EnterpriseID        string
	AdminKey            secret.String
	WebhookPrimaryKey   secret.String
	WebhookSecondaryKey secret.String
	// Config is the configuration the server runs with.
	Config localbox.Config

	mu     sync.Mutex
	srv    *localbox.Server
	cancel context.CancelFunc
	done   chan error
	addr   string
	log    *slog.Logger
}

// Option changes how Start starts localbox.
type Option func(*testOptions)

type testOptions struct {
	cfg *localbox.Config
	log *slog.Logger
}

// WithTokenTTL sets LOCALBOX_TOKEN_TTL.
func WithTokenTTL(d time.Duration) Option { return func(o *testOptions) { o.cfg.TokenTTL = d } }

// WithRetryDelays sets LOCALBOX_WEBHOOK_RETRY_DELAYS.
func WithRetryDelays(d ...time.Duration) Option {
	return func(o *testOptions) { o.cfg.WebhookRetryDelays = d }
}

// WithRateLimit sets LOCALBOX_RATE_LIMIT and LOCALBOX_RATE_BURST.
func WithRateLimit(perSecond float64, burst int) Option {
	return func(o *testOptions) { o.cfg.RateLimit, o.cfg.RateBurst = perSecond, burst }
}

// WithConfig lets a test change anything else in the configuration.
func WithConfig(f func(*localbox.Config)) Option { return func(o *testOptions) { f(o.cfg) } }

// WithLogger sends localbox's log to l. By default the log is discarded,
// unless LOCALBOX_TEST_LOG is set (then it goes to stderr at debug level).
func WithLogger(l *slog.Logger) Option { return func(o *testOptions) { o.log = l } }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Start starts localbox on 127.0.0.1 (a free port below the ephemeral range) with its data in
// t.TempDir() and random credentials, and closes it when the test ends.
// Webhook retries default to 50ms, 100ms, 200ms (4 attempts) so tests stay
// fast; pass options to change that.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	ln, err := freeport.Listen() // the same port again after Restart
	if err != nil {
		t.Fatalf("localbox: listening: %v", err)
	}
	addr := ln.Addr().String()
	cfg := localbox.Config{
		Addr:                addr,
		DataDir:             t.TempDir(),
		PublicURL:           "http://" + addr,
		ClientID:            "localbox-client-" + randomHex(8),
		ClientSecret:        secret.String(randomHex(16)),
		EnterpriseID:        "1000001",
		WebhookPrimaryKey:   secret.String(randomHex(16)),
		WebhookSecondaryKey: secret.String(randomHex(16)),
		AdminKey:            secret.String(randomHex(16)),
		TokenTTL:            time.Hour,
		WebhookRetryDelays:  []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond},
		WebhookTimeout:      5 * time.Second,
		WebhookConcurrency:  4,
		MaxUploadBytes:      16 << 30,
		MaxJSONBytes:        16 << 20,
	}
	to := testOptions{cfg: &cfg, log: testLog()}
	for _, o := range opts {
		o(&to)
	}
	if err := cfg.Validate(); err != nil {
		_ = ln.Close()
		t.Fatalf("localbox: %v", err)
	}
	ts := &Server{
		URL: cfg.PublicURL, UploadURL: cfg.PublicURL + "/api",
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, EnterpriseID: cfg.EnterpriseID,
		AdminKey: cfg.AdminKey, WebhookPrimaryKey: cfg.WebhookPrimaryKey, WebhookSecondaryKey: cfg.WebhookSecondaryKey,
		Config: cfg, addr: addr, log: to.log,
	}
	if err := ts.start(ln); err != nil {
		t.Fatalf("localbox: %v", err)
	}
	t.Cleanup(ts.Close)
	return ts
}

func (ts *Server) start(ln net.Listener) error {
	srv, err := localbox.New(context.Background(), ts.Config, ts.log)
	if err != nil {
		_ = ln.Close()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	ts.mu.Lock()
	ts.srv, ts.cancel, ts.done = srv, cancel, done
	ts.mu.Unlock()
	return nil
}

func testLog() *slog.Logger {
	if os.Getenv("LOCALBOX_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// Server returns the running server.
func (ts *Server) Server() *localbox.Server {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.srv
}

// Close stops the server (pending webhook deliveries stay queued on disk).
func (ts *Server) Close() {
	ts.mu.Lock()
	srv, cancel, done := ts.srv, ts.cancel, ts.done
	ts.srv = nil
	ts.mu.Unlock()
	if srv == nil {
		return
	}
	cancel()
	<-done
	_ = srv.Close()
}

// Restart stops the server and starts it again on the same address and data
// directory.
func (ts *Server) Restart(t testing.TB) {
	t.Helper()
	ts.Close()
	var (
		ln  net.Listener
		err error
	)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ln, err = net.Listen("tcp", ts.addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the port is released asynchronously; retry binding
	}
	if err != nil {
		t.Fatalf("localbox: re-listening on %s: %v", ts.addr, err)
	}
	if err := ts.start(ln); err != nil {
		t.Fatalf("localbox: restarting: %v", err)
	}
}

// --- small helpers for tests (all over HTTP, like any client) ---

// ParentToken returns a fresh CCG token (enterprise subject).
func (ts *Server) ParentToken(t testing.TB) string {
	t.Helper()
	form := url.Values{
		"grant_type": {"client_credentials"}, "client_id": {ts.ClientID}, "client_secret": {ts.ClientSecret.Reveal()},
		"box_subject_type": {"enterprise"}, "box_subject_id": {ts.EnterpriseID},
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	ts.do(t, http.MethodPost, ts.URL+"/oauth2/token", "", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), http.StatusOK, &out)
	return out.AccessToken
}

// DownscopedToken exchanges a parent token for one restricted to a file.
func (ts *Server) DownscopedToken(t testing.TB, fileID string, scopes ...string) string {
	t.Helper()
	form := url.Values{
		"grant_type": {localbox.GrantTokenExchange}, "subject_token": {ts.ParentToken(t)}, "subject_token_type": {localbox.TokenTypeAccessToken},
		"scope": {strings.Join(scopes, " ")}, "resource": {ts.URL + "/2.0/files/" + fileID},
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	ts.do(t, http.MethodPost, ts.URL+"/oauth2/token", "", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), http.StatusOK, &out)
	return out.AccessToken
}

// CreateFolder creates a folder and returns its ID.
func (ts *Server) CreateFolder(t testing.TB, parentID, name string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"name": name, "parent": map[string]string{"id": parentID}})
	var out struct {
		ID string `json:"id"`
	}
	ts.do(t, http.MethodPost, ts.URL+"/2.0/folders", ts.ParentToken(t), "application/json", bytes.NewReader(body), http.StatusCreated, &out)
	return out.ID
}

// UploadedFile is what UploadFile and UploadVersion return.
type UploadedFile struct {
	ID        string
	VersionID string
	SHA1      string
}

// UploadFile uploads content as a new file and returns its IDs.
func (ts *Server) UploadFile(t testing.TB, parentID, name string, content []byte) UploadedFile {
	t.Helper()
	attrs, _ := json.Marshal(map[string]any{"name": name, "parent": map[string]string{"id": parentID}})
	return ts.upload(t, ts.UploadURL+"/2.0/files/content", attrs, content, http.StatusCreated)
}

// UploadVersion uploads content as a new version of a file.
func (ts *Server) UploadVersion(t testing.TB, fileID string, content []byte) UploadedFile {
	t.Helper()
	return ts.upload(t, ts.UploadURL+"/2.0/files/"+fileID+"/content", []byte(`{}`), content, http.StatusOK)
}

func (ts *Server) upload(t testing.TB, u string, attrs, content []byte, want int) UploadedFile {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("attributes", string(attrs))
	fw, _ := mw.CreateFormFile("file", "upload.bin")
	_, _ = fw.Write(content)
	_ = mw.Close()
	var out struct {
		Entries []struct {
			ID          string `json:"id"`
			SHA1        string `json:"sha1"`
			FileVersion struct {
				ID string `json:"id"`
			} `json:"file_version"`
		} `json:"entries"`
	}
	ts.do(t, http.MethodPost, u, ts.ParentToken(t), mw.FormDataContentType(), &buf, want, &out)
	if len(out.Entries) != 1 {
		t.Fatalf("localbox: upload answered %d entries", len(out.Entries))
	}
	e := out.Entries[0]
	return UploadedFile{ID: e.ID, VersionID: e.FileVersion.ID, SHA1: e.SHA1}
}

// CreateWebhook creates a FILE.UPLOADED webhook on a folder; returns its ID.
func (ts *Server) CreateWebhook(t testing.TB, folderID, address string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"target": map[string]string{"id": folderID, "type": "folder"}, "address": address, "triggers": []string{"FILE.UPLOADED"},
	})
	var out struct {
		ID string `json:"id"`
	}
	ts.do(t, http.MethodPost, ts.URL+"/2.0/webhooks", ts.ParentToken(t), "application/json", bytes.NewReader(body), http.StatusCreated, &out)
	return out.ID
}

// Tokens lists downscoped tokens through the admin API (state "live" or "all").
func (ts *Server) Tokens(t testing.TB, state string) []localbox.AdminToken {
	t.Helper()
	var out struct {
		TotalCount int                   `json:"total_count"`
		Entries    []localbox.AdminToken `json:"entries"`
	}
	ts.do(t, http.MethodGet, ts.URL+"/_localbox/tokens?state="+url.QueryEscape(state), ts.AdminKey.Reveal(), "", nil, http.StatusOK, &out)
	return out.Entries
}

// LiveTokens counts the downscoped tokens that are neither expired nor revoked.
func (ts *Server) LiveTokens(t testing.TB) int {
	t.Helper()
	return len(ts.Tokens(t, "live"))
}

// Deliveries lists webhook delivery attempts through the admin API.
func (ts *Server) Deliveries(t testing.TB) []localbox.Delivery {
	t.Helper()
	var out struct {
		Entries []localbox.Delivery `json:"entries"`
	}
	ts.do(t, http.MethodGet, ts.URL+"/_localbox/webhook-deliveries", ts.AdminKey.Reveal(), "", nil, http.StatusOK, &out)
	return out.Entries
}

// SetFaults replaces the fault injection rules.
func (ts *Server) SetFaults(t testing.TB, rules ...localbox.FaultRule) {
	t.Helper()
	body, _ := json.Marshal(localbox.Faults{Rules: rules})
	ts.do(t, http.MethodPut, ts.URL+"/_localbox/faults", ts.AdminKey.Reveal(), "application/json", bytes.NewReader(body), http.StatusOK, nil)
}

// ClearFaults removes every fault injection rule.
func (ts *Server) ClearFaults(t testing.TB) {
	t.Helper()
	ts.do(t, http.MethodDelete, ts.URL+"/_localbox/faults", ts.AdminKey.Reveal(), "", nil, http.StatusNoContent, nil)
}

// IssuedTokenHashes lists the SHA-256 prefixes (hex) of every token the
// localbox at baseURL ever issued, the app's own and the downscoped ones,
// live or not (GET /_localbox/tokens?state=all&kind=all): what a test
// looks for when it checks that no token is readable somewhere.
func IssuedTokenHashes(t testing.TB, baseURL string, adminKey secret.String) []string {
	t.Helper()
	var out struct {
		Entries []localbox.AdminToken `json:"entries"`
	}
	request(t, http.MethodGet, strings.TrimRight(baseURL, "/")+"/_localbox/tokens?state=all&kind=all", adminKey.Reveal(), "", nil, http.StatusOK, &out)
	hashes := make([]string, len(out.Entries))
	for i, e := range out.Entries {
		hashes[i] = e.SHA256Prefix
	}
	return hashes
}

func (ts *Server) do(t testing.TB, method, u, token, contentType string, body io.Reader, want int, out any) {
	t.Helper()
	request(t, method, u, token, contentType, body, want, out)
}

func request(t testing.TB, method, u, token, contentType string, body io.Reader, want int, out any) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatalf("localbox: %v", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("localbox: %s %s: %v", method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("localbox: %s %s: status %d, want %d: %s", method, req.URL.Path, resp.StatusCode, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("localbox: %s %s: decoding %s: %v", method, req.URL.Path, raw, err)
		}
	}
}

package box

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"filesight/internal/testutil"
)

// fakeBox is an httptest server answering the OAuth2 endpoints the way Box
// documents them (CCG, token exchange, revoke), plus whatever handlers a
// test registers on mux. It records token requests. The real behavioural
// checks against a full server are in localbox_integration_test.go.
type fakeBox struct {
	t   *testing.T
	srv *httptest.Server
	mux *http.ServeMux

	mu         sync.Mutex
	ccgCalls   int
	exchanges  []map[string]string // forms of token-exchange calls
	revoked    []string
	parentTTL  int      // expires_in for parent tokens
	childTTL   int      // expires_in for child tokens
	parentScp  []string // scopes the parent may delegate
	valid      map[string]bool
	missing    map[string]bool // file IDs that do not exist (deleted, or never were)
	lastParent string
	ccgHook    func(w http.ResponseWriter) bool // answer a CCG call instead (return true)
}

const (
	testClientID     = "client-id-1"
	testClientSecret = "client-secret-VALUE-9d1f"
)

func newFakeBox(t *testing.T) *fakeBox {
	t.Helper()
	f := &fakeBox{t: t, mux: http.NewServeMux(), parentTTL: 3600, childTTL: 900,
		parentScp: []string{ScopeItemPreview, ScopeItemDownload, ScopeItemUpload}, valid: map[string]bool{}, missing: map[string]bool{}}
	f.mux.HandleFunc("POST /oauth2/token", f.token)
	f.mux.HandleFunc("POST /oauth2/revoke", f.revoke)
	f.srv = httptest.NewServer(f.mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeBox) client(t *testing.T, log *slog.Logger) *Client {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c, err := NewClient(Config{
		APIURL: f.srv.URL, UploadURL: f.srv.URL + "/api", ClientID: testClientID, ClientSecret: testClientSecret,
		SubjectType: "enterprise", SubjectID: "42", Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func boxError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("box-request-id", "hdr-req-"+code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "error", "status": status, "code": code, "message": msg, "request_id": "req-" + code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeBox) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		boxError(w, 400, "invalid_request", err.Error())
		return
	}
	form := map[string]string{}
	for k := range r.PostForm {
		form[k] = r.PostForm.Get(k)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch form["grant_type"] {
	case "client_credentials":
		f.ccgCalls++
		if f.ccgHook != nil && f.ccgHook(w) {
			return
		}
		if form["client_id"] != testClientID || form["client_secret"] != testClientSecret ||
			form["box_subject_type"] != "enterprise" || form["box_subject_id"] != "42" {
			writeJSON(w, 400, map[string]string{"error": "invalid_client", "error_description": "The client credentials are invalid"})
			return
		}
		tok := fmt.Sprintf("parent-token-%d-SECRET", f.ccgCalls)
		f.valid[tok] = true
		f.lastParent = tok
		writeJSON(w, 200, map[string]any{"access_token": tok, "expires_in": f.parentTTL, "token_type": "bearer", "restricted_to": []any{}})
	case "urn:ietf:params:oauth:grant-type:token-exchange":
		f.exchanges = append(f.exchanges, form)
		if !f.valid[form["subject_token"]] || !strings.HasPrefix(form["subject_token"], "parent-") {
			writeJSON(w, 401, map[string]string{"error": "invalid_grant", "error_description": "Invalid subject token"})
			return
		}
		if id := form["resource"][strings.LastIndex(form["resource"], "/")+1:]; f.missing[id] {
			// Box's answer for a resource the subject cannot reach.
			writeJSON(w, 400, map[string]string{"error": "invalid_resource", "error_description": "The target resource is invalid."})
			return
		}
		scopes := strings.Fields(form["scope"])
		var restricted []any
		for _, s := range scopes {
			ok := false
			for _, p := range f.parentScp {
				ok = ok || p == s
			}
			if !ok {
				writeJSON(w, 401, map[string]string{"error": "invalid_scope", "error_description": "The requested scope exceeds the scope granted"})
				return
			}
			id := form["resource"][strings.LastIndex(form["resource"], "/")+1:]
			restricted = append(restricted, map[string]any{"scope": s, "object": map[string]any{"type": "file", "id": id}})
		}
		tok := fmt.Sprintf("child-token-%d-SECRET", len(f.exchanges))
		f.valid[tok] = true
		writeJSON(w, 200, map[string]any{"access_token": tok, "expires_in": f.childTTL, "token_type": "bearer",
			"restricted_to": restricted, "issued_token_type": "urn:ietf:params:oauth:token-type:access_token"})
	default:
		writeJSON(w, 400, map[string]string{"error": "unsupported_grant_type"})
	}
}

func (f *fakeBox) revoke(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	if r.PostForm.Get("client_id") != testClientID || r.PostForm.Get("client_secret") != testClientSecret {
		writeJSON(w, 401, map[string]string{"error": "invalid_client"})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	tok := r.PostForm.Get("token")
	f.revoked = append(f.revoked, tok)
	delete(f.valid, tok)
	w.WriteHeader(200)
}

// authorized checks the bearer token; on failure it answers 401 and returns false.
func (f *fakeBox) authorized(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	valid := ok && f.valid[tok]
	f.mu.Unlock()
	if !valid {
		boxError(w, 401, "unauthorized", "Unauthorized")
	}
	return valid
}

// expireAll makes every token the fake issued invalid (as after a server-side expiry).
func (f *fakeBox) expireAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.valid = map[string]bool{}
}

func newLogger() (*slog.Logger, *testutil.SyncBuffer) {
	lb := &testutil.SyncBuffer{}
	return slog.New(slog.NewJSONHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// guarded is a value shared between a handler and the test, behind a mutex
// (the race detector does not see ordering through sockets).
type guarded[T any] struct {
	mu sync.Mutex
	v  T
}

func (g *guarded[T]) set(v T) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.v = v
}

func (g *guarded[T]) get() T {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.v
}

// with runs fn holding the fake's lock, for tests changing its settings.
func (f *fakeBox) with(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

func (f *fakeBox) ccgCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ccgCalls
}

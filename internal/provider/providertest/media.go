// Package providertest holds test helpers shared by the provider adapters'
// tests: a media server that, like Box's download endpoint, serves a file
// only to a valid read token (as a bearer header or as the access_token
// query parameter). It is never linked into a program.
package providertest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"filesight/internal/secret"
)

// Media is a running media server.
type Media struct {
	// URL is the file's content URL, as activities build it
	// ({base}/2.0/files/{id}/content).
	URL string
	// Token is the read token it accepts.
	Token secret.String

	mu      sync.Mutex
	content []byte
	revoked bool
	fetches int
}

// StartMedia serves content at /2.0/files/1234/content to token.
func StartMedia(t testing.TB, token string, content []byte) *Media {
	m := &Media{Token: secret.String(token), content: content}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2.0/files/1234/content", m.serve)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	m.URL = srv.URL + "/2.0/files/1234/content"
	return m
}

func (m *Media) serve(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tok := r.URL.Query().Get("access_token")
	if h, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		tok = h
	}
	if m.revoked || tok != m.Token.Reveal() {
		// Box's error envelope for a bad, expired or revoked token.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]any{"type": "error", "status": 401, "code": "unauthorized", "message": "Unauthorized"})
		return
	}
	m.fetches++
	// Box names the file in Content-Disposition.
	w.Header().Set("Content-Disposition", `attachment; filename="Quarterly review.mp3"`)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(m.content)))
	_, _ = w.Write(m.content)
}

// Revoke makes the token invalid from now on.
func (m *Media) Revoke() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.revoked = true
}

// Fetches counts the successful downloads.
func (m *Media) Fetches() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fetches
}

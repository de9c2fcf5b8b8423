// Package vaulttest runs a real vault service (internal/vault/vaultserver)
// on an httptest server for the tests of other packages. It is never linked
// into a program.
package vaulttest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/http/httptest"
	"testing"

	"filesight/internal/secret"
	"filesight/internal/vault"
	"filesight/internal/vault/vaultclient"
	"filesight/internal/vault/vaultserver"
)

// Server is a vault service with fresh keys and credentials in a temporary
// directory, stopped when the test ends.
type Server struct {
	URL           string
	Config        vaultserver.Config
	Tokenizer     secret.String // secret of the tokenize credential "worker"
	Detokenizer   secret.String // secret of the detokenize credential "auditor"
	Service       *vaultserver.Server
	HTTP          *httptest.Server
	EncryptionKey secret.String // "k1:base64" entry of the one encryption key
}

// Options adjust NewServer.
type Options struct {
	// Logger receives the service's log (default: discarded).
	Logger *slog.Logger
	// DataDir is used instead of a fresh temporary directory.
	DataDir string
}

// Secret returns n random bytes as URL-safe base64 (n ≥ 24 gives ≥ 32 characters).
func Secret(t testing.TB, n int) secret.String {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return secret.String(base64.RawURLEncoding.EncodeToString(b))
}

// Key returns an "id:base64" AES-256 key entry for VAULT_ENCRYPTION_KEYS.
func Key(t testing.TB, id string) secret.String {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return secret.String(id + ":" + base64.StdEncoding.EncodeToString(b))
}

// NewServer starts a vault service.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{Tokenizer: Secret(t, 32), Detokenizer: Secret(t, 32), EncryptionKey: Key(t, "k1")}
	dir := opts.DataDir
	if dir == "" {
		dir = t.TempDir()
	}
	s.Config = vaultserver.Config{
		DataDir:               dir,
		EncryptionKeys:        s.EncryptionKey,
		TokenKey:              Secret(t, 32),
		TokenizeCredentials:   "worker:" + s.Tokenizer,
		DetokenizeCredentials: "auditor:" + s.Detokenizer,
	}
	srv, err := vaultserver.New(context.Background(), s.Config, opts.Logger)
	if err != nil {
		t.Fatal(err)
	}
	s.Service = srv
	s.HTTP = httptest.NewServer(srv.Handler())
	s.URL = s.HTTP.URL
	t.Cleanup(func() {
		s.HTTP.Close()
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// Client returns a client with the tokenize credential (what a worker holds).
func (s *Server) Client(t testing.TB) *vaultclient.Client { return s.client(t, s.Tokenizer) }

// AdminClient returns a client with the detokenize credential.
func (s *Server) AdminClient(t testing.TB) *vaultclient.Client { return s.client(t, s.Detokenizer) }

func (s *Server) client(t testing.TB, cred secret.String) *vaultclient.Client {
	t.Helper()
	c, err := vaultclient.New(vaultclient.Config{URL: s.URL, Credential: cred})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Redactor returns a Redactor that tokenizes through the service.
func (s *Server) Redactor(t testing.TB, opts vault.RedactorOptions) *vault.Redactor {
	return vault.NewRedactor(s.Client(t), opts)
}

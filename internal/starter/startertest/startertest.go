// Package startertest serves the starter's real HTTP handlers for tests of
// any package. It is never linked into a program.
package startertest

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http/httptest"
	"testing"

	"filesight/internal/box"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/secret"
	"filesight/internal/starter"
)

// Server is a real starter HTTP server on a 127.0.0.1 listener, for
// integration tests (localbox can deliver webhooks to
// URL+"/webhooks/box", mlengine can call back to URL+"/callbacks/mlengine").
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:41234.
	URL string
	// WebhookPrimaryKey and WebhookSecondaryKey verify Box webhooks: give
	// them to localbox (LOCALBOX_WEBHOOK_*_KEY).
	WebhookPrimaryKey, WebhookSecondaryKey secret.String
	// CallbackKey verifies mlengine callbacks: give it to mlengine
	// (MLENGINE_CALLBACK_KEY).
	CallbackKey secret.String
	Service     *starter.Service
}

func randomKey(t testing.TB) secret.String {
	t.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return secret.String(hex.EncodeToString(b))
}

// Start serves the starter's API over tc (a client.Client of a real
// dev server, typically testenv's) with fresh random keys; it stops when the
// test ends. opts.Logger, when nil, discards.
func Start(t testing.TB, tc starter.TemporalClient, opts starter.Options) *Server {
	t.Helper()
	ts := &Server{WebhookPrimaryKey: randomKey(t), WebhookSecondaryKey: randomKey(t), CallbackKey: randomKey(t)}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ts.Service = starter.NewService(tc, opts)
	h, err := starter.NewHandler(starter.HandlerConfig{
		Service:       ts.Service,
		BoxVerifier:   box.NewWebhookVerifier(ts.WebhookPrimaryKey, ts.WebhookSecondaryKey),
		ParseBoxEvent: starter.ParseBoxEvent,
		Callbacks:     map[string]starter.CallbackProvider{mlengineapi.DefaultName: starter.MLEngineCallbacks(ts.CallbackKey, "")},
		Logger:        opts.Logger,
	})
	if err != nil {
		t.Fatalf("starter test server: %v", err)
	}
	srv := httptest.NewServer(h) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	ts.URL = srv.URL
	return ts
}

package starter

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"filesight/internal/box"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/secret"
	"filesight/internal/signature"
)

// TestServer is a real starter HTTP server on a 127.0.0.1 listener, for
// other packages' integration tests (localbox can deliver webhooks to
// URL+"/webhooks/box", mlengine can call back to URL+"/callbacks/mlengine").
type TestServer struct {
	// URL is the base URL, e.g. http://127.0.0.1:41234.
	URL string
	// WebhookPrimaryKey and WebhookSecondaryKey verify Box webhooks: give
	// them to localbox (LOCALBOX_WEBHOOK_*_KEY).
	WebhookPrimaryKey, WebhookSecondaryKey secret.String
	// CallbackKey verifies mlengine callbacks: give it to mlengine
	// (MLENGINE_CALLBACK_KEY).
	CallbackKey secret.String
	Service     *Service
}

func randomKey(t testing.TB) secret.String {
	t.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return secret.String(hex.EncodeToString(b))
}

// StartForTest serves the starter's API over tc (a client.Client of a real
// dev server, typically testenv's) with fresh random keys; it stops when the
// test ends. opts.Logger, when nil, discards.
func StartForTest(t testing.TB, tc TemporalClient, opts Options) *TestServer {
	t.Helper()
	ts := &TestServer{WebhookPrimaryKey: randomKey(t), WebhookSecondaryKey: randomKey(t), CallbackKey: randomKey(t)}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ts.Service = NewService(tc, opts)
	cbv := signature.NewVerifier([]byte(ts.CallbackKey.Reveal()), nil)
	h, err := NewHandler(HandlerConfig{
		Service:       ts.Service,
		BoxVerifier:   box.NewWebhookVerifier(ts.WebhookPrimaryKey, ts.WebhookSecondaryKey),
		ParseBoxEvent: ParseBoxEvent,
		Callbacks: map[string]CallbackProvider{mlengineapi.DefaultName: {Verifier: VerifierFunc(func(h http.Header, body []byte) error {
			return mlengineapi.VerifyCallback(cbv, h, body)
		})}},
		Logger: opts.Logger,
	})
	if err != nil {
		t.Fatalf("starter test server: %v", err)
	}
	srv := httptest.NewServer(h) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	ts.URL = srv.URL
	return ts
}

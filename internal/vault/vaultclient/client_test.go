package vaultclient_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filesight/internal/provider"
	"filesight/internal/secret"
	"filesight/internal/vault"
	"filesight/internal/vault/vaultclient"
	"filesight/internal/vault/vaulttest"
)

var ctx = context.Background()

// counted serves a real vault through a handler that counts tokenize calls.
func counted(t *testing.T) (*vaulttest.Server, *atomic.Int32, string) {
	s := vaulttest.NewServer(t, vaulttest.Options{})
	var n atomic.Int32
	h := s.Service.Handler()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == vault.PathTokenize {
			n.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	return s, &n, hs.URL
}

func TestTokenizeSplitsLargeBatches(t *testing.T) {
	s, n, url := counted(t)
	c, err := vaultclient.New(vaultclient.Config{URL: url + "/", Credential: s.Tokenizer})
	if err != nil {
		t.Fatal(err)
	}
	items := make([]vault.Item, vault.MaxTokenizeItems+5)
	for i := range items {
		items[i] = vault.Item{Kind: vault.KindEmail, Value: secret.String(fmt.Sprintf("user%d@example.com", i))}
	}
	toks, err := c.Tokenize(ctx, items)
	if err != nil || len(toks) != len(items) || n.Load() != 2 {
		t.Fatalf("%d tokens in %d calls: %v", len(toks), n.Load(), err)
	}
	if toks[0] == toks[1] || toks[vault.MaxTokenizeItems] == toks[0] {
		t.Error("distinct values share a token")
	}
}

func TestRedactorMakesOneCallPerCardDocument(t *testing.T) {
	s, n, url := counted(t)
	r, err := vaultclient.NewRedactor(vaultclient.Config{URL: url, Credential: s.Tokenizer}, vault.RedactorOptions{CardFormat: vault.FormatLast4})
	if err != nil {
		t.Fatal(err)
	}
	words := strings.Fields("my card is four two four two four two four two four two four two four two four two and my mail is jane dot doe")
	res := &provider.Result{
		Transcript: &provider.Transcript{Words: make([]provider.Word, len(words))},
		OCR: []provider.OCRText{
			{Text: "Pay with 4242 4242 4242 4242"}, {Text: "Contact jane.doe@example.com"},
			{Text: "IBAN GB82 WEST 1234 5698 7654 32"}, {Text: "call +44 20 7946 0958"}, {Text: "SSN 536-90-4399"},
		},
		Keywords: []provider.Keyword{{Text: "jane"}, {Text: "contact"}, {Text: "west"}},
	}
	for i, w := range words {
		res.Transcript.Words[i] = provider.Word{Word: w, Start: float64(i)}
	}
	out, found, err := r.RedactResult(ctx, res)
	if err != nil {
		t.Fatal(err)
	}
	if n.Load() != 1 || len(found) != 6 {
		t.Fatalf("%d tokenize calls, findings %v", n.Load(), found)
	}
	if !strings.HasSuffix(found[0].Token, ":4242]") || out.Transcript.Words[3].Word != found[0].Token {
		t.Errorf("spoken and shown card differ: %v / %s", found, out.Transcript.Words[3].Word)
	}
	if len(out.Keywords) != 1 || out.Keywords[0].Text != "contact" {
		t.Errorf("keywords %+v", out.Keywords)
	}
	// The people holding the detokenize credential get the values back.
	var toks []string
	for _, f := range found {
		toks = append(toks, f.Token)
	}
	back, err := s.AdminClient(t).Detokenize(ctx, toks, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"4242424242424242", "jane.doe@example.com", "GB82WEST12345698765432", "+442079460958", "536904399", "4242424242424242"}
	for i, b := range back {
		if b.Value.Reveal() != want[i] {
			t.Errorf("token %d: %q, want %q", i, b.Value.Reveal(), want[i])
		}
	}
}

func TestErrors(t *testing.T) {
	var status atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch status.Load() {
		case 503:
			w.Header().Set("Retry-After", "7")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(503)
			fmt.Fprint(w, `{"error":{"code":"unavailable","message":"the vault could not store the values; try again","retryable":true}}`)
		case 502:
			w.WriteHeader(502)
			fmt.Fprint(w, "<html>bad gateway</html>")
		default:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"tokens":["[card:00000000000000000000]"]}`)
		}
	}))
	defer hs.Close()
	c, err := vaultclient.New(vaultclient.Config{URL: hs.URL, Credential: "worker-secret-0123456789abcdef0123"})
	if err != nil {
		t.Fatal(err)
	}
	status.Store(503)
	_, err = c.Tokenize(ctx, []vault.Item{{Kind: vault.KindCard, Value: "4242424242424242"}})
	var ve *vaultclient.Error
	if !errors.As(err, &ve) || !ve.Retryable || ve.RetryAfter != 7*time.Second || ve.Code != "unavailable" || ve.StatusCode != 503 {
		t.Fatalf("%#v", err)
	}
	status.Store(502)
	_, err = c.Tokenize(ctx, []vault.Item{{Kind: vault.KindCard, Value: "4242424242424242"}})
	if !errors.As(err, &ve) || !ve.Retryable || ve.StatusCode != 502 || ve.Code != "unknown" {
		t.Fatalf("%#v", err)
	}
	// A response with the wrong number of tokens is an error, not a short list.
	status.Store(200)
	if _, err := c.Tokenize(ctx, []vault.Item{{Kind: vault.KindCard, Value: "4242424242424242"}, {Kind: vault.KindSSN, Value: "536904399"}}); err == nil {
		t.Fatal("1 token for 2 items accepted")
	}
	hs.Close()
	_, err = c.Tokenize(ctx, []vault.Item{{Kind: vault.KindCard, Value: "4242424242424242"}})
	if !errors.As(err, &ve) || !ve.Retryable || ve.StatusCode != 0 {
		t.Fatalf("%#v", err)
	}
	if msg := err.Error(); strings.Contains(msg, "4242") || strings.Contains(msg, "worker-secret") {
		t.Errorf("error shows a value or the credential: %s", msg)
	}
	if s := fmt.Sprintf("%v %+v %#v", c, c, c); strings.Contains(s, "worker-secret") {
		t.Errorf("formatting shows the credential: %s", s)
	}
}

func TestConfig(t *testing.T) {
	for _, cfg := range []vaultclient.Config{
		{URL: "", Credential: "x"},
		{URL: "ftp://vault", Credential: "x"},
		{URL: "http://", Credential: "x"},
		{URL: "http://127.0.0.1:8720"},
	} {
		if _, err := vaultclient.New(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		} else if !strings.Contains(err.Error(), "FILESIGHT_VAULT_") {
			t.Errorf("error does not name the variable: %v", err)
		}
	}
}

// CheckTokenize tells a tokenize credential from a detokenize credential and
// from an unknown one, and a vault that cannot be asked from all three.
func TestCheckTokenize(t *testing.T) {
	s := vaulttest.NewServer(t, vaulttest.Options{})
	if err := s.Client(t).CheckTokenize(ctx); err != nil {
		t.Fatalf("tokenize credential: %v", err)
	}
	var e *vaultclient.Error
	if err := s.AdminClient(t).CheckTokenize(ctx); !errors.As(err, &e) || e.StatusCode != http.StatusForbidden {
		t.Fatalf("detokenize credential: %v", err)
	}
	unknown, err := vaultclient.New(vaultclient.Config{URL: s.URL, Credential: vaulttest.Secret(t, 32)})
	if err != nil {
		t.Fatal(err)
	}
	if err := unknown.CheckTokenize(ctx); !errors.As(err, &e) || e.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unknown credential: %v", err)
	}
	// Nothing was stored, and no check shows up as a detokenize attempt.
	ks, err := s.AdminClient(t).Keys(ctx)
	if err != nil || ks.Values["k1"] != 0 {
		t.Fatalf("values stored by the checks: %+v %v", ks, err)
	}
	page, err := s.AdminClient(t).Audit(ctx, vaultclient.AuditQuery{Action: "detokenize"})
	if err != nil || len(page.Events) != 0 {
		t.Fatalf("audit after the checks: %+v %v", page, err)
	}
	s.HTTP.Close()
	if err := s.Client(t).CheckTokenize(ctx); !errors.As(err, &e) || e.StatusCode != 0 || !e.Retryable {
		t.Fatalf("vault down: %v", err)
	}
}

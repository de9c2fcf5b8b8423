package vaultserver_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	_ "modernc.org/sqlite"

	"filesight/internal/secret"
	"filesight/internal/testutil"
	"filesight/internal/vault"
	"filesight/internal/vault/vaultclient"
	"filesight/internal/vault/vaultserver"
	"filesight/internal/vault/vaulttest"
)

var ctx = context.Background()

// values are what the tests tokenize; none may appear in logs, audit rows
// or the database files.
var values = []vault.Item{
	{Kind: vault.KindCard, Value: "4242424242424242"},
	{Kind: vault.KindCard, Value: "4242 4242 4242 4242", Format: vault.FormatLast4},
	{Kind: vault.KindSSN, Value: "536-90-4399"},
	{Kind: vault.KindIBAN, Value: "GB82 WEST 1234 5698 7654 32"},
	{Kind: vault.KindEmail, Value: "jane.doe@example.com"},
	{Kind: vault.KindPhone, Value: "+44 20 7946 0958"},
}

// plaintexts are the forms of the values a leak could show.
var plaintexts = []string{"4242424242424242", "4242 4242 4242 4242", "536904399", "536-90-4399",
	"GB82WEST12345698765432", "GB82 WEST", "jane.doe@example.com", "jane.doe", "+442079460958", "7946 0958"}

func newServer(t *testing.T, logs io.Writer) *vaulttest.Server {
	t.Helper()
	var log *slog.Logger
	if logs != nil {
		log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return vaulttest.NewServer(t, vaulttest.Options{Logger: log})
}

func TestTokenizeDetokenizeRoundTrip(t *testing.T) {
	s := newServer(t, nil)
	worker, admin := s.Client(t), s.AdminClient(t)
	toks, err := worker.Tokenize(ctx, values)
	if err != nil {
		t.Fatal(err)
	}
	// Deterministic: equal values (written differently) match, across calls.
	again, err := worker.Tokenize(ctx, []vault.Item{{Kind: vault.KindCard, Value: "4242-4242-4242-4242"}})
	if err != nil || again[0] != toks[0] {
		t.Fatalf("same card, tokens %s and %v (%v)", toks[0], again, err)
	}
	if !strings.HasPrefix(toks[1], toks[0][:len(toks[0])-1]) || !strings.HasSuffix(toks[1], ":4242]") {
		t.Errorf("last4 token %s of opaque %s", toks[1], toks[0])
	}
	for i, tok := range toks {
		if _, err := vault.ParseToken(tok); err != nil || !strings.HasPrefix(tok, "["+string(values[i].Kind)+":") {
			t.Errorf("token %d %q: %v", i, tok, err)
		}
	}
	res, err := admin.Detokenize(ctx, toks, "ticket SEC-1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"4242424242424242", "4242424242424242", "536904399", "GB82WEST12345698765432", "jane.doe@example.com", "+442079460958"}
	for i, r := range res {
		if r.Result != vault.ResultOK || r.Value.Reveal() != want[i] || r.Kind != values[i].Kind || r.Token != toks[i] {
			t.Errorf("result %d: %+v (value %q)", i, r, r.Value.Reveal())
		}
	}
	// Unknown, forged (last four that do not match) and wrong-kind tokens are not found.
	forged := strings.TrimSuffix(toks[1], ":4242]") + ":1111]"
	wrongKind := "[ssn:" + strings.TrimPrefix(toks[0], "[card:")
	unknown := "[card:00000000000000000000]"
	res, err = admin.Detokenize(ctx, []string{forged, wrongKind, unknown}, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Result != vault.ResultNotFound || r.Value != "" {
			t.Errorf("%+v", r)
		}
	}
	// Keys: everything under the one key.
	ks, err := admin.Keys(ctx)
	if err != nil || ks.Active != "k1" || ks.Values["k1"] != 5 {
		t.Errorf("keys %+v %v", ks, err)
	}
}

func TestCredentials(t *testing.T) {
	s := newServer(t, nil)
	toks, err := s.Client(t).Tokenize(ctx, values[:1])
	if err != nil {
		t.Fatal(err)
	}
	other, _ := vaultclient.New(vaultclient.Config{URL: s.URL, Credential: vaulttest.Secret(t, 32)})
	tests := []struct {
		name   string
		client *vaultclient.Client
		call   func(*vaultclient.Client) error
		status int
	}{
		{"detokenize without credential", nil, func(c *vaultclient.Client) error { _, err := c.Detokenize(ctx, toks, ""); return err }, 401},
		{"detokenize with an unknown credential", other, func(c *vaultclient.Client) error { _, err := c.Detokenize(ctx, toks, ""); return err }, 401},
		{"detokenize with the worker's credential", s.Client(t), func(c *vaultclient.Client) error { _, err := c.Detokenize(ctx, toks, ""); return err }, 403},
		{"audit with the worker's credential", s.Client(t), func(c *vaultclient.Client) error { _, err := c.Audit(ctx, vaultclient.AuditQuery{}); return err }, 403},
		{"reencrypt with the worker's credential", s.Client(t), func(c *vaultclient.Client) error { _, err := c.Reencrypt(ctx); return err }, 403},
		{"tokenize with the detokenize credential", s.AdminClient(t), func(c *vaultclient.Client) error { _, err := c.Tokenize(ctx, values[:1]); return err }, 403},
		{"tokenize with an unknown credential", other, func(c *vaultclient.Client) error { _, err := c.Tokenize(ctx, values[:1]); return err }, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.client == nil {
				req, _ := http.NewRequest(http.MethodPost, s.URL+vault.PathDetokenize, strings.NewReader(`{"tokens":["`+toks[0]+`"]}`))
				req.Header.Set("Content-Type", "application/json")
				resp, rerr := http.DefaultClient.Do(req)
				if rerr != nil {
					t.Fatal(rerr)
				}
				resp.Body.Close()
				if resp.StatusCode != tt.status || resp.Header.Get("WWW-Authenticate") == "" {
					t.Fatalf("status %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
				}
				return
			}
			err = tt.call(tt.client)
			var ve *vaultclient.Error
			if !errors.As(err, &ve) || ve.StatusCode != tt.status || ve.Retryable {
				t.Fatalf("error %v, want status %d", err, tt.status)
			}
		})
	}
	// Refused detokenize and admin calls are in the audit log, tokenize ones are not.
	page, err := s.AdminClient(t).Audit(ctx, vaultclient.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]int{}
	for _, e := range page.Events {
		results[e.Action+" "+e.Result+" "+e.Actor]++
	}
	for k, n := range map[string]int{"detokenize unauthorized ": 2, "detokenize forbidden worker": 1, "audit.list forbidden worker": 1, "reencrypt forbidden worker": 1} {
		if results[k] != n {
			t.Errorf("audit has %d × %q, want %d (all: %v)", results[k], k, n, results)
		}
	}
}

func TestDetokenizeIsAudited(t *testing.T) {
	var logs testutil.SyncBuffer
	s := newServer(t, &logs)
	toks, err := s.Client(t).Tokenize(ctx, values)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AdminClient(t).Detokenize(ctx, append(toks[:2:2], "[email:00000000000000000000]"), "chargeback 7781"); err != nil {
		t.Fatal(err)
	}
	page, err := s.AdminClient(t).Audit(ctx, vaultclient.AuditQuery{Action: "detokenize"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 3 {
		t.Fatalf("events %+v", page.Events)
	}
	// Newest first: the unknown token, then the two cards.
	for i, want := range []struct{ token, result string }{{"[email:00000000000000000000]", "not_found"}, {toks[1], "ok"}, {toks[0], "ok"}} {
		e := page.Events[i]
		if e.Actor != "auditor" || e.Token != want.token || e.Result != want.result || e.Reason != "chargeback 7781" ||
			!strings.HasPrefix(e.Remote, "127.0.0.1:") || e.Time.IsZero() {
			t.Errorf("event %d: %+v", i, e)
		}
	}
	// Filter by token, and page through.
	byToken, err := s.AdminClient(t).Audit(ctx, vaultclient.AuditQuery{Token: toks[0]})
	if err != nil || len(byToken.Events) != 1 || byToken.Events[0].Token != toks[0] {
		t.Errorf("by token: %+v %v", byToken, err)
	}
	first, err := s.AdminClient(t).Audit(ctx, vaultclient.AuditQuery{Limit: 2})
	if err != nil || len(first.Events) != 2 || first.NextBefore == 0 {
		t.Fatalf("first page %+v %v", first, err)
	}
	second, err := s.AdminClient(t).Audit(ctx, vaultclient.AuditQuery{Limit: 2, Before: first.NextBefore})
	if err != nil || len(second.Events) == 0 || second.Events[0].ID >= first.Events[1].ID {
		t.Errorf("second page %+v %v", second, err)
	}
	// Reading the audit log is itself audited.
	lists, _ := s.AdminClient(t).Audit(ctx, vaultclient.AuditQuery{Action: "audit.list"})
	if len(lists.Events) < 4 {
		t.Errorf("audit.list events %+v", lists.Events)
	}
	if !strings.Contains(logs.String(), `"msg":"detokenize"`) || !strings.Contains(logs.String(), `"actor":"auditor"`) {
		t.Errorf("log lacks the detokenize line:\n%s", logs.String())
	}
}

// TestNoValueInLogsAuditOrFiles runs every endpoint, failures included, and
// then looks for the values everywhere the vault writes.
func TestNoValueInLogsAuditOrFiles(t *testing.T) {
	var logs testutil.SyncBuffer
	s := newServer(t, &logs)
	worker, admin := s.Client(t), s.AdminClient(t)
	toks, err := worker.Tokenize(ctx, values)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Detokenize(ctx, toks, "review"); err != nil {
		t.Fatal(err)
	}
	// Failures that carry values: a value in place of a token, a value as
	// the reason, a value of the wrong shape.
	for _, call := range []func() error{
		func() error { _, err := admin.Detokenize(ctx, []string{"4242424242424242"}, ""); return err },
		func() error { _, err := admin.Detokenize(ctx, toks[:1], "card 4242 4242 4242 4242"); return err },
		func() error {
			_, err := worker.Tokenize(ctx, []vault.Item{{Kind: vault.KindSSN, Value: "536-90-4399-1"}})
			return err
		},
		func() error { _, err := worker.Detokenize(ctx, toks, ""); return err },
	} {
		err := call()
		var ve *vaultclient.Error
		if !errors.As(err, &ve) || ve.StatusCode/100 != 4 {
			t.Errorf("want a 4xx, got %v", err)
		} else if leaks(ve.Message) != "" {
			t.Errorf("error message repeats %q: %s", leaks(ve.Message), ve.Message)
		}
	}
	if _, err := admin.Audit(ctx, vaultclient.AuditQuery{Limit: 1000}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Reencrypt(ctx); err != nil {
		t.Fatal(err)
	}
	if l := leaks(logs.String()); l != "" {
		t.Errorf("the log contains %q:\n%s", l, logs.String())
	}
	for _, sec := range []secret.String{s.Tokenizer, s.Detokenizer, s.Config.TokenKey} {
		if strings.Contains(logs.String(), sec.Reveal()) {
			t.Error("the log contains a secret")
		}
	}
	// Every audit column of every row.
	db, err := sql.Open("sqlite", filepath.Join(s.Config.DataDir, "vault.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT * FROM audit")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var cols [9]any
		ptrs := make([]any, len(cols))
		for i := range cols {
			ptrs[i] = &cols[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		n++
		if l := leaks(fmt.Sprint(cols)); l != "" {
			t.Errorf("audit row %v contains %q", cols, l)
		}
	}
	rows.Close()
	if n < 6 {
		t.Errorf("only %d audit rows", n)
	}
	// The database files hold ciphertext only.
	entries, _ := os.ReadDir(s.Config.DataDir)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(s.Config.DataDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if l := leaks(string(b)); l != "" {
			t.Errorf("%s contains %q in plain text", e.Name(), l)
		}
	}
}

func leaks(s string) string {
	for _, p := range plaintexts {
		if strings.Contains(s, p) {
			return p
		}
	}
	return ""
}

func TestBadRequests(t *testing.T) {
	s := newServer(t, nil)
	do := func(method, path, ctype, body string, cred secret.String) (int, vault.APIError) {
		req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		req.Header.Set("Authorization", "Bearer "+cred.Reveal())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var eb vault.ErrorBody
		_ = json.NewDecoder(resp.Body).Decode(&eb)
		return resp.StatusCode, eb.Error
	}
	w, a := s.Tokenizer, s.Detokenizer
	many := `{"items":[` + strings.Repeat(`{"kind":"email","value":"a@b.io"},`, vault.MaxTokenizeItems) + `{"kind":"email","value":"a@b.io"}]}`
	tests := []struct {
		name, method, path, ctype, body string
		cred                            secret.String
		status                          int
		inMessage                       string
	}{
		{"not JSON", "POST", vault.PathTokenize, "text/plain", `{}`, w, 415, "Content-Type"},
		{"malformed", "POST", vault.PathTokenize, "application/json", `{"items":[`, w, 400, "malformed JSON"},
		{"unknown field", "POST", vault.PathTokenize, "application/json", `{"values":[]}`, w, 400, `unknown field "values"`},
		{"two values", "POST", vault.PathTokenize, "application/json", `{"items":[]} {}`, w, 400, "more than one"},
		{"empty", "POST", vault.PathTokenize, "application/json", `{"items":[]}`, w, 400, "items is empty"},
		{"too many", "POST", vault.PathTokenize, "application/json", many, w, 400, "at most 1000"},
		{"too large", "POST", vault.PathTokenize, "application/json", `{"items":[{"kind":"email","value":"` + strings.Repeat("a", 2<<20) + `"}]}`, w, 413, "larger than"},
		{"unknown kind", "POST", vault.PathTokenize, "application/json", `{"items":[{"kind":"pin","value":"1234"}]}`, w, 400, "items[0].kind"},
		{"last4 for an IBAN", "POST", vault.PathTokenize, "application/json", `{"items":[{"kind":"iban","value":"GB82WEST12345698765432","format":"last4"}]}`, w, 400, "cards only"},
		{"unknown format", "POST", vault.PathTokenize, "application/json", `{"items":[{"kind":"card","value":"4242424242424242","format":"fpe"}]}`, w, 400, "items[0].format"},
		{"card shape", "POST", vault.PathTokenize, "application/json", `{"items":[{"kind":"email","value":"a@b.io"},{"kind":"card","value":"42"}]}`, w, 400, "items[1].value: a card number is 12 to 19 digits"},
		{"GET tokenize", "GET", vault.PathTokenize, "", "", w, 405, "POST only"},
		{"no tokens", "POST", vault.PathDetokenize, "application/json", `{"tokens":[]}`, a, 400, "tokens is empty"},
		{"too many tokens", "POST", vault.PathDetokenize, "application/json", `{"tokens":[` + strings.Repeat(`"x",`, vault.MaxDetokenizeTokens) + `"x"]}`, a, 400, "at most 100"},
		{"not a token", "POST", vault.PathDetokenize, "application/json", `{"tokens":["[card:123]"]}`, a, 400, "tokens[0]: not a vault token"},
		{"long reason", "POST", vault.PathDetokenize, "application/json", `{"tokens":["[card:00000000000000000000]"],"reason":"` + strings.Repeat("r", 201) + `"}`, a, 400, "reason is longer"},
		{"bad limit", "GET", vault.PathAudit + "?limit=0", "", "", a, 400, "limit must be"},
		{"bad before", "GET", vault.PathAudit + "?before=x", "", "", a, 400, "before must be"},
		{"bad token filter", "GET", vault.PathAudit + "?token=1234", "", "", a, 400, "token: not a vault token"},
		{"unknown parameter", "GET", vault.PathAudit + "?since=1", "", "", a, 400, `unknown query parameter "since"`},
		{"unknown path", "GET", "/v2/tokenize", "", "", a, 404, "no such endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, e := do(tt.method, tt.path, tt.ctype, tt.body, tt.cred)
			if status != tt.status || !strings.Contains(e.Message, tt.inMessage) || e.Code == "" {
				t.Errorf("status %d %+v, want %d with %q", status, e, tt.status, tt.inMessage)
			}
		})
	}
	if status, _ := do("GET", vault.PathHealth, "", "", ""); status != 200 {
		t.Errorf("healthz %d", status)
	}
}

func TestConcurrentTokenizeOfTheSameValues(t *testing.T) {
	s := newServer(t, nil)
	c := s.Client(t)
	var wg sync.WaitGroup
	results := make([][]string, 8)
	errs := make([]error, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = c.Tokenize(ctx, values)
		}()
	}
	wg.Wait()
	for i := range results {
		if errs[i] != nil || strings.Join(results[i], ",") != strings.Join(results[0], ",") {
			t.Fatalf("call %d: %v %v", i, results[i], errs[i])
		}
	}
	ks, err := s.AdminClient(t).Keys(ctx)
	if err != nil || ks.Values["k1"] != 5 {
		t.Errorf("stored %+v %v", ks, err)
	}
}

func TestKeyRotation(t *testing.T) {
	dir := t.TempDir()
	s1 := vaulttest.NewServer(t, vaulttest.Options{DataDir: dir})
	old, err := s1.Client(t).Tokenize(ctx, values[:3]) // two distinct values: a card (twice) and an SSN
	if err != nil {
		t.Fatal(err)
	}
	cfg := s1.Config
	s1.HTTP.Close()
	if err := s1.Service.Close(); err != nil {
		t.Fatal(err)
	}

	// Append k2: it encrypts new values, k1 still decrypts old ones.
	k2 := vaulttest.Key(t, "k2")
	cfg.EncryptionKeys = cfg.EncryptionKeys + "," + k2
	srv, base := start(t, cfg)
	admin, _ := vaultclient.New(vaultclient.Config{URL: base, Credential: s1.Detokenizer})
	worker, _ := vaultclient.New(vaultclient.Config{URL: base, Credential: s1.Tokenizer})
	res, err := admin.Detokenize(ctx, old, "")
	if err != nil || res[0].Result != vault.ResultOK || res[2].Value.Reveal() != "536904399" {
		t.Fatalf("old values after adding k2: %+v %v", res, err)
	}
	again, err := worker.Tokenize(ctx, values)
	if err != nil || again[0] != old[0] {
		t.Fatalf("tokens changed with the encryption key: %v %v", again, err)
	}
	ks, _ := admin.Keys(ctx)
	if ks.Active != "k2" || ks.Values["k1"] != 2 || ks.Values["k2"] != 3 {
		t.Errorf("keys after adding k2: %+v", ks)
	}
	// Re-encrypt: nothing is left under k1.
	rr, err := admin.Reencrypt(ctx)
	if err != nil || rr.Reencrypted != 2 || rr.Keys.Values["k1"] != 0 || rr.Keys.Values["k2"] != 5 {
		t.Fatalf("reencrypt %+v %v", rr, err)
	}
	srv.Close()

	// k1 can now go.
	cfg.EncryptionKeys = k2
	srv, base = start(t, cfg)
	admin, _ = vaultclient.New(vaultclient.Config{URL: base, Credential: s1.Detokenizer})
	res, err = admin.Detokenize(ctx, old, "")
	if err != nil || res[1].Result != vault.ResultOK {
		t.Fatalf("after dropping k1: %+v %v", res, err)
	}
	srv.Close()

	// Dropping a key that still protects values is refused at start.
	cfg.EncryptionKeys = vaulttest.Key(t, "k3")
	_, err = vaultserver.New(ctx, cfg, nil)
	if err == nil || !strings.Contains(err.Error(), `VAULT_ENCRYPTION_KEYS: 5 stored values are encrypted with key "k2"`) {
		t.Fatalf("start without k2: %v", err)
	}
}

// running is a vault started on an existing configuration.
type running struct {
	srv  *vaultserver.Server
	stop func()
}

func (r running) Close() { r.stop() }

func start(t *testing.T, cfg vaultserver.Config) (running, string) {
	t.Helper()
	srv, err := vaultserver.New(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	return running{srv: srv, stop: func() {
		hs.Close()
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	}}, hs.URL
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	good := vaulttest.NewServer(t, vaulttest.Options{}).Config
	short := secret.String("too-short")
	tests := []struct {
		name   string
		change func(*vaultserver.Config)
		want   string
	}{
		{"short token key", func(c *vaultserver.Config) { c.TokenKey = short }, "VAULT_TOKEN_KEY is 9 bytes; at least 32"},
		{"short tokenize secret", func(c *vaultserver.Config) { c.TokenizeCredentials = "worker:" + short }, `VAULT_TOKENIZE_CREDENTIALS: the secret of "worker" is 9 bytes; at least 32`},
		{"short detokenize secret", func(c *vaultserver.Config) { c.DetokenizeCredentials = "ops:" + short }, `VAULT_DETOKENIZE_CREDENTIALS: the secret of "ops" is 9 bytes`},
		{"no name", func(c *vaultserver.Config) { c.DetokenizeCredentials = secret.String(strings.Repeat("x", 40)) }, "VAULT_DETOKENIZE_CREDENTIALS: entry 1: want name:secret"},
		{"same secret", func(c *vaultserver.Config) {
			c.DetokenizeCredentials = "ops:" + secret.String(strings.TrimPrefix(c.TokenizeCredentials.Reveal(), "worker:"))
		}, "have the same secret"},
		{"short AES key", func(c *vaultserver.Config) { c.EncryptionKeys = "k1:AAAA" }, `VAULT_ENCRYPTION_KEYS: key "k1" is 3 bytes; AES-256 needs exactly 32`},
		{"not base64", func(c *vaultserver.Config) { c.EncryptionKeys = "k1:***" }, `VAULT_ENCRYPTION_KEYS: key "k1" is not base64`},
		{"duplicate key", func(c *vaultserver.Config) { c.EncryptionKeys = c.EncryptionKeys + "," + c.EncryptionKeys }, `key ID "k1" appears twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			cfg.DataDir = t.TempDir()
			tt.change(&cfg)
			_, err := vaultserver.New(ctx, cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			for _, sec := range []string{short.Reveal(), good.TokenKey.Reveal(), strings.TrimPrefix(good.TokenizeCredentials.Reveal(), "worker:")} {
				if strings.Contains(err.Error(), sec) {
					t.Errorf("the error shows a secret: %v", err)
				}
			}
		})
	}
}

func TestServerFormattingHidesSecrets(t *testing.T) {
	s := newServer(t, nil)
	c := s.Client(t)
	var b bytes.Buffer
	fmt.Fprintf(&b, "%v %+v %#v %v %+v %#v", s.Service, s.Service, s.Service, c, c, c)
	for _, sec := range []secret.String{s.Tokenizer, s.Detokenizer, s.Config.TokenKey} {
		if strings.Contains(b.String(), sec.Reveal()) {
			t.Errorf("formatting shows a secret: %s", b.String())
		}
	}
}

package activities_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"filesight/activities"
	"filesight/activities/activitiestest"
	"filesight/internal/box"
	"filesight/internal/codec/codectest"
	"filesight/internal/provider"
	"filesight/internal/secret"
	"filesight/internal/tokenseal"
	"filesight/internal/tokenseal/tokensealtest"
	"filesight/internal/vault"
)

// What the activities hand to Temporal — IssueToken's result and the
// inputs of every activity that uses a token — is what anyone holding the
// payload codec reads. None of it may contain a token value; the workers
// still use the tokens.
func TestTokensTravelSealed(t *testing.T) {
	f := newFixture(t, activitiestest.Plan{Duration: time.Minute})
	ctx := context.Background()
	read, err := f.acts.IssueToken(ctx, activities.IssueTokenInput{FileID: "42", Purpose: activities.PurposeRead, Scopes: []string{box.ScopeItemPreview, box.ScopeItemDownload}})
	if err != nil {
		t.Fatal(err)
	}
	write, err := f.acts.IssueToken(ctx, activities.IssueTokenInput{FileID: "42", Purpose: activities.PurposeWrite, Scopes: []string{box.ScopeItemUpload}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := f.acts.DescribeFile(ctx, activities.DescribeFileInput{FileID: "42", Token: read})
	if err != nil || !info.Found {
		t.Fatalf("describe: %+v %v", info, err)
	}
	submit := activities.SubmitJobInput{Provider: "mlengine", IdempotencyKey: "k", FileID: "42", ReadToken: read, Analyses: []string{provider.AnalysisTranscript}}
	if _, err := f.acts.SubmitJob(ctx, submit); err != nil {
		t.Fatal(err)
	}
	status := activities.WriteStatusInput{FileID: "42", Token: write, InvocationID: "file-42-v7", Code: box.StatusProcessing, Message: "working"}
	if err := f.acts.WriteStatus(ctx, status); err != nil {
		t.Fatal(err)
	}
	cards := activities.WriteCardsInput{FileID: "42", Token: write, InvocationID: "file-42-v7"}
	if _, err := f.acts.WriteCards(ctx, cards); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []activities.Token{read, write} {
		if _, err := f.acts.RevokeToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if live := f.box.Unrevoked(); len(live) != 0 {
		t.Fatalf("tokens left live: %v", live)
	}
	history, err := json.Marshal([]any{read, write, activities.DescribeFileInput{FileID: "42", Token: read}, submit, status, cards})
	if err != nil {
		t.Fatal(err)
	}
	values := f.box.TokenValues()
	if len(values) != 2 {
		t.Fatalf("Box issued %d tokens, want 2", len(values))
	}
	for _, v := range values {
		if strings.Contains(string(history), v) {
			t.Fatalf("a token value is readable in what the activities hand to Temporal: %s", history)
		}
	}
	if strings.Contains(string(history), `"access_token"`) || !strings.Contains(string(history), `"sealed":"`+tokenseal.Prefix) {
		t.Errorf("tokens are not in their sealed form: %s", history)
	}
}

// Any worker with the sealing keys uses and revokes a token another
// worker issued (several workers, a crash between issue and use); a
// worker without the key that sealed it fails retryably (so that a worker
// with it takes the retry); a sealed value that was altered, moved to
// another file or purpose, or does not match the token's fingerprint fails
// for good; a token already expired is reported without opening it.
func TestSealedTokensAcrossWorkers(t *testing.T) {
	k1, k2 := codectest.NewKey(t, "seal-1"), codectest.NewKey(t, "seal-2")
	issuer := newFixture(t, activitiestest.Plan{})
	issuer.sealer = tokensealtest.New(t, k1, k2)
	other := func(s *tokenseal.Sealer) *activities.Activities {
		vt, _ := vault.New("activities-test-vault-key-000")
		a, err := activities.New(issuer.box, []provider.Provider{issuer.prov}, vt, s, activities.Options{
			Now: func() time.Time { return issuer.now }, Logger: slog.New(slog.NewJSONHandler(issuer.logs, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	issuer.acts = other(issuer.sealer)
	ctx := context.Background()
	issue := func(purpose activities.TokenPurpose) activities.Token {
		tok, err := issuer.acts.IssueToken(ctx, activities.IssueTokenInput{FileID: "42", Purpose: purpose, Scopes: []string{box.ScopeItemPreview}})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	peer := other(tokensealtest.New(t, k1, k2))
	tok := issue(activities.PurposeRead)
	if _, err := peer.DescribeFile(ctx, activities.DescribeFileInput{FileID: "42", Token: tok}); err != nil {
		t.Fatalf("a peer worker cannot use the token: %v", err)
	}
	if res, err := peer.RevokeToken(ctx, tok); err != nil || res.State != activities.TokenRevoked {
		t.Fatalf("a peer worker cannot revoke the token: %+v %v", res, err)
	}

	stale := other(tokensealtest.New(t, k1)) // lacks seal-2, which sealed it
	tok = issue(activities.PurposeRead)
	_, err := stale.RevokeToken(ctx, tok)
	if app := appErr(t, err); app.Type() != string(activities.ErrTypeSealedToken) || app.NonRetryable() {
		t.Errorf("a worker without the key: %v (non-retryable %v), want a retryable SealedToken", err, app.NonRetryable())
	}

	altered := func(change func(*activities.Token)) activities.Token {
		c := tok
		change(&c)
		return c
	}
	other2 := tokensealtest.New(t, k2) // same key ID, seal-2, but it is k2: opens
	for name, bad := range map[string]activities.Token{
		"ciphertext altered": altered(func(c *activities.Token) {
			b, i := []byte(c.Sealed), len(c.Sealed)-3
			if b[i] == 'A' {
				b[i] = 'B'
			} else {
				b[i] = 'A'
			}
			c.Sealed = string(b)
		}),
		"moved to another file":    altered(func(c *activities.Token) { c.FileID = "43" }),
		"moved to another purpose": altered(func(c *activities.Token) { c.Purpose = activities.PurposeWrite }),
		"fingerprint changed":      altered(func(c *activities.Token) { c.ID = "000000000000" }),
		"sealed by a stranger": altered(func(c *activities.Token) {
			stranger := tokensealtest.New(t, codectest.NewKey(t, "seal-2"))
			c.Sealed, _ = stranger.Seal(secret.String("a-forged-token-value-000000"), "box-token/42/read")
		}),
		"no value": altered(func(c *activities.Token) { c.Sealed = "" }),
	} {
		_, err := other(other2).RevokeToken(ctx, bad)
		if app := appErr(t, err); !app.NonRetryable() {
			t.Errorf("%s: %v is retryable", name, err)
		}
	}
	if _, err := peer.RevokeToken(ctx, tok); err != nil {
		t.Fatalf("the untouched token: %v", err)
	}

	tok = issue(activities.PurposeWrite)
	issuer.now = issuer.now.Add(2 * time.Hour)
	if res, err := stale.RevokeToken(ctx, tok); err != nil || res.State != activities.TokenExpired {
		t.Errorf("an expired token: %+v %v", res, err)
	}
	for _, v := range issuer.box.TokenValues() {
		if strings.Contains(issuer.logs.String(), v) {
			t.Fatal("a token value was logged")
		}
	}
}

// Runs recorded before tokens were sealed carry them in clear
// ("access_token"): they decode, work and are revoked; they are never
// written back in that form by IssueToken.
func TestLegacyClearTokens(t *testing.T) {
	f := newFixture(t, activitiestest.Plan{})
	ctx := context.Background()
	issued, err := f.acts.IssueToken(ctx, activities.IssueTokenInput{FileID: "42", Purpose: activities.PurposeRead, Scopes: []string{box.ScopeItemPreview}})
	if err != nil {
		t.Fatal(err)
	}
	value, err := f.sealer.Open(issued.Sealed, "box-token/42/read")
	if err != nil {
		t.Fatal(err)
	}
	old := []byte(`{"id":"` + issued.ID + `","purpose":"read","file_id":"42","scopes":["item_preview"],"expires_at":"` +
		issued.ExpiresAt.Format(time.RFC3339Nano) + `","access_token":"` + value.Reveal() + `"}`)
	var tok activities.Token
	if err := json.Unmarshal(old, &tok); err != nil || tok.LegacyAccessToken != value || tok.Sealed != "" {
		t.Fatalf("a recorded clear token does not decode: %v", err)
	}
	if _, err := f.acts.DescribeFile(ctx, activities.DescribeFileInput{FileID: "42", Token: tok}); err != nil {
		t.Fatal(err)
	}
	if res, err := f.acts.RevokeToken(ctx, tok); err != nil || res.State != activities.TokenRevoked || len(f.box.Unrevoked()) != 0 {
		t.Fatalf("revoke: %+v %v", res, err)
	}
}

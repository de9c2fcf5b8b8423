package box_test

// These tests run the client against a real localbox (in process, on a real
// 127.0.0.1 listener, over HTTP). They live in package box_test so that
// localbox may import internal/box without an import cycle.

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filesight/internal/box"
	"filesight/internal/localbox"
	"filesight/internal/localbox/localboxtest"
	"filesight/internal/secret"
	"filesight/internal/signature"
	"filesight/internal/testutil"
)

// env is one localbox plus a client for it, with the client's debug log
// captured and every secret the test sees remembered, so that the test can
// end by checking none of them was logged.
type env struct {
	t       *testing.T
	ts      *localboxtest.Server
	c       *box.Client
	logs    *testutil.SyncBuffer
	mu      sync.Mutex
	secrets []string
}

func newEnv(t *testing.T, opts ...localboxtest.Option) *env {
	t.Helper()
	ts := localboxtest.Start(t, opts...)
	logs := &testutil.SyncBuffer{}
	c, err := box.NewClient(box.Config{
		APIURL: ts.URL, UploadURL: ts.UploadURL, ClientID: ts.ClientID, ClientSecret: ts.ClientSecret,
		SubjectType: "enterprise", SubjectID: ts.EnterpriseID,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ts: ts, c: c, logs: logs}
	e.remember(ts.ClientSecret, ts.WebhookPrimaryKey, ts.WebhookSecondaryKey, ts.AdminKey)
	t.Cleanup(e.checkLogs)
	return e
}

func (e *env) remember(ss ...secret.String) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range ss {
		if !s.IsZero() {
			e.secrets = append(e.secrets, s.Reveal())
		}
	}
}

func (e *env) parent(ctx context.Context) secret.String {
	e.t.Helper()
	p, err := e.c.ParentToken(ctx)
	if err != nil {
		e.t.Fatalf("parent token: %v", err)
	}
	e.remember(p)
	return p
}

func (e *env) downscope(ctx context.Context, fileID string, scopes ...string) box.Token {
	e.t.Helper()
	tok, err := e.c.Downscope(ctx, fileID, scopes...)
	if err != nil {
		e.t.Fatalf("downscope %s %v: %v", fileID, scopes, err)
	}
	e.remember(tok.AccessToken)
	return tok
}

func (e *env) checkLogs() {
	out := e.logs.String()
	if !strings.Contains(out, "box call") {
		e.t.Errorf("no request was logged; the leak check proves nothing")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.secrets {
		if strings.Contains(out, s) {
			e.t.Errorf("a secret (fingerprint %s) appears in the client's logs", secret.String(s).Fingerprint())
		}
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantErr checks that err is a *box.Error with the given status (any of
// them) and retryability, and that its text shows no secret of e.
func (e *env) wantErr(err error, retryable bool, statuses ...int) *box.Error {
	e.t.Helper()
	be, ok := box.AsError(err)
	if !ok {
		e.t.Fatalf("want a *box.Error with status %v, got %v", statuses, err)
	}
	if !slices.Contains(statuses, be.StatusCode) || be.Retryable() != retryable {
		e.t.Fatalf("want status %v retryable=%v, got %d retryable=%v: %v", statuses, retryable, be.StatusCode, be.Retryable(), err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.secrets {
		if strings.Contains(err.Error(), s) {
			e.t.Fatalf("a secret appears in the error %q", err)
		}
	}
	return be
}

func sha1hex(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

func TestLocalboxFilesFoldersAndTokenRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, ctx := e.c, ctxFor(t)

	folder, err := c.CreateFolder(ctx, "", "0", "media")
	if err != nil || folder.ID == "" || folder.Name != "media" || folder.Type != "folder" {
		t.Fatalf("create folder: %v %+v", err, folder)
	}
	_, err = c.CreateFolder(ctx, "", "0", "media")
	e.wantErr(err, false, http.StatusConflict)

	contentA := bytes.Repeat([]byte("filesight "), 50_000)
	a, err := c.UploadFile(ctx, "", folder.ID, "a.bin", bytes.NewReader(contentA))
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "a.bin" || a.Size != int64(len(contentA)) || a.SHA1 != sha1hex(contentA) || a.VersionID() == "" {
		t.Fatalf("uploaded file: %+v", a)
	}
	b, err := c.UploadFile(ctx, "", folder.ID, "b.bin", strings.NewReader("bee"))
	if err != nil {
		t.Fatal(err)
	}
	items, err := c.ListFolderItems(ctx, "", folder.ID)
	if err != nil || len(items) != 2 {
		t.Fatalf("list: %v %+v", err, items)
	}
	ids := []string{items[0].ID, items[1].ID}
	if !slices.Contains(ids, a.ID) || !slices.Contains(ids, b.ID) || items[0].Type != "file" {
		t.Fatalf("listed %+v", items)
	}

	// A read token for file A: info and content of A, nothing of B, no writes.
	read := e.downscope(ctx, a.ID, box.ScopeItemPreview, box.ScopeItemDownload)
	if !slices.Contains(read.Scopes, box.ScopeItemPreview) || !slices.Contains(read.Scopes, box.ScopeItemDownload) || read.FileID != a.ID {
		t.Fatalf("token: %v", read)
	}
	if d := time.Until(read.ExpiresAt); d < 50*time.Minute || d > 61*time.Minute {
		t.Fatalf("expiry not read from the answer: %s", d)
	}
	info, err := c.GetFile(ctx, read.AccessToken, a.ID, "name", "size", "sha1", "file_version", "parent", "extension")
	if err != nil || info.Name != "a.bin" || info.Parent == nil || info.Parent.ID != folder.ID || info.VersionID() != a.VersionID() {
		t.Fatalf("file info: %v %+v", err, info)
	}
	var buf bytes.Buffer
	n, err := c.Download(ctx, read.AccessToken, a.ID, &buf)
	if err != nil || n != int64(len(contentA)) || !bytes.Equal(buf.Bytes(), contentA) {
		t.Fatalf("download: %v n=%d", err, n)
	}
	_, err = c.GetFile(ctx, read.AccessToken, b.ID)
	e.wantErr(err, false, http.StatusNotFound, http.StatusForbidden)
	_, err = c.Download(ctx, read.AccessToken, b.ID, io.Discard)
	e.wantErr(err, false, http.StatusNotFound, http.StatusForbidden)
	_, err = c.UploadVersion(ctx, read.AccessToken, a.ID, "", strings.NewReader("nope"))
	be := e.wantErr(err, false, http.StatusForbidden)
	if be.Code != "insufficient_scope" || be.RequestID == "" {
		t.Fatalf("scope error: %+v", be)
	}
	_, err = c.ListWebhooks(ctx, read.AccessToken)
	e.wantErr(err, false, http.StatusForbidden)

	// A preview-only token cannot download.
	preview := e.downscope(ctx, a.ID, box.ScopeItemPreview)
	_, err = c.Download(ctx, preview.AccessToken, a.ID, io.Discard)
	e.wantErr(err, false, http.StatusForbidden)

	// The content URL with access_token in the query (for services that take a URL).
	resp, err := http.Get(c.FileContentURL(a.ID) + "?" + url.Values{"access_token": {read.AccessToken.Reveal()}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, contentA) {
		t.Fatalf("content URL with access_token: %d", resp.StatusCode)
	}

	// A write token: a new version, but no reading.
	write := e.downscope(ctx, a.ID, box.ScopeItemUpload)
	v2, err := c.UploadVersion(ctx, write.AccessToken, a.ID, "", strings.NewReader("version two"))
	if err != nil || v2.ID != a.ID || v2.VersionID() == "" || v2.VersionID() == a.VersionID() {
		t.Fatalf("new version: %v %+v", err, v2)
	}
	_, err = c.GetFile(ctx, write.AccessToken, a.ID)
	e.wantErr(err, false, http.StatusForbidden)
	buf.Reset()
	if _, err := c.Download(ctx, read.AccessToken, a.ID, &buf); err != nil || buf.String() != "version two" {
		t.Fatalf("download after new version: %v %q", err, buf.String())
	}

	// Scopes that cannot be delegated (a file that does not exist: see
	// TestLocalboxTokenExchangeForMissingFile).
	_, err = c.Downscope(ctx, a.ID, "manage_webhook")
	e.wantErr(err, false, http.StatusBadRequest, http.StatusUnauthorized)

	// Revocation: the token stops working; revoking again is fine; the
	// parent is never revoked.
	live := e.ts.LiveTokens(t)
	if err := c.Revoke(ctx, read.AccessToken); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetFile(ctx, read.AccessToken, a.ID)
	e.wantErr(err, false, http.StatusUnauthorized)
	if err := c.Revoke(ctx, read.AccessToken); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	if got := e.ts.LiveTokens(t); got != live-1 {
		t.Fatalf("live tokens %d → %d, want one fewer", live, got)
	}
	if err := c.Revoke(ctx, e.parent(ctx)); !errors.Is(err, box.ErrParentRevoke) {
		t.Fatalf("parent revoke: %v", err)
	}
	// A downscoped token's value never shows in the admin API either.
	for _, at := range e.ts.Tokens(t, "all") {
		if strings.Contains(at.ID+at.SHA256Prefix, write.AccessToken.Reveal()) {
			t.Fatal("admin API shows a token")
		}
	}
}

// localbox answers a token exchange for a file that was deleted, or never
// existed, as Box does (400 invalid_resource), and the client reports that
// as not found.
func TestLocalboxTokenExchangeForMissingFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, ctx := e.c, ctxFor(t)
	folder, err := c.CreateFolder(ctx, "", "0", "media")
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.UploadFile(ctx, "", folder.ID, "gone.mp4", strings.NewReader("soon deleted"))
	if err != nil {
		t.Fatal(err)
	}
	e.downscope(ctx, f.ID, box.ScopeItemPreview, box.ScopeItemDownload)
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, c.APIURL()+"/2.0/files/"+f.ID, nil)
	req.Header.Set("Authorization", "Bearer "+e.parent(ctx).Reveal())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: HTTP %d", resp.StatusCode)
	}

	for _, id := range []string{f.ID, "999999"} {
		_, err := c.Downscope(ctx, id, box.ScopeItemPreview, box.ScopeItemDownload)
		be := e.wantErr(err, false, http.StatusBadRequest)
		if !be.NotFound() || be.Code != box.CodeInvalidResource || be.Message != "The target resource is invalid." {
			t.Fatalf("file %s: %+v, want Box's invalid_resource answer reported as not found", id, be)
		}
	}
}

func TestLocalboxParentTokenRevokedIsRefreshed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, ctx := e.c, ctxFor(t)
	f, err := c.UploadFile(ctx, "", "0", "x.txt", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	p1 := e.parent(ctx)
	// Revoke the cached parent behind the client's back (an admin, a rotation).
	form := url.Values{"client_id": {e.ts.ClientID}, "client_secret": {e.ts.ClientSecret.Reveal()}, "token": {p1.Reveal()}}
	resp, err := http.PostForm(e.ts.URL+"/oauth2/revoke", form)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("out-of-band revoke: %v", err)
	}
	resp.Body.Close()
	got, err := c.GetFile(ctx, "", f.ID)
	if err != nil || got.ID != f.ID {
		t.Fatalf("call after parent revocation: %v", err)
	}
	if p2 := e.parent(ctx); p2 == p1 {
		t.Fatal("parent not replaced")
	}
	// Token exchange with a revoked parent is refreshed the same way.
	e.remember(e.parent(ctx))
	p3 := e.parent(ctx)
	resp, _ = http.PostForm(e.ts.URL+"/oauth2/revoke", url.Values{"client_id": {e.ts.ClientID}, "client_secret": {e.ts.ClientSecret.Reveal()}, "token": {p3.Reveal()}})
	resp.Body.Close()
	e.downscope(ctx, f.ID, box.ScopeItemPreview)
	if e.parent(ctx) == p3 {
		t.Fatal("parent not replaced after a refused token exchange")
	}
	// Wrong client credentials: a non-retryable OAuth error.
	bad, _ := box.NewClient(box.Config{APIURL: e.ts.URL, UploadURL: e.ts.UploadURL, ClientID: e.ts.ClientID, ClientSecret: "wrong-secret",
		SubjectType: "enterprise", SubjectID: e.ts.EnterpriseID, Logger: slog.New(slog.DiscardHandler)})
	_, err = bad.ParentToken(ctx)
	be := e.wantErr(err, false, http.StatusBadRequest, http.StatusUnauthorized)
	if be.Code != "invalid_client" {
		t.Fatalf("bad credentials: %+v", be)
	}
}

func TestLocalboxTokenExpiry(t *testing.T) {
	t.Parallel()
	const ttl = 2 * time.Second
	e := newEnv(t, localboxtest.WithTokenTTL(ttl))
	c, ctx := e.c, ctxFor(t)
	f, err := c.UploadFile(ctx, "", "0", "x.txt", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	p1 := e.parent(ctx)
	tok := e.downscope(ctx, f.ID, box.ScopeItemPreview)
	if d := time.Until(tok.ExpiresAt); d > ttl || d <= 0 {
		t.Fatalf("token lifetime %s, want ≤ %s (read from expires_in)", d, ttl)
	}
	if _, err := c.GetFile(ctx, tok.AccessToken, f.ID); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 15*time.Second, "the server to refuse the expired token", func() bool {
		_, err = c.GetFile(ctx, tok.AccessToken, f.ID)
		return err != nil
	})
	e.wantErr(err, false, http.StatusUnauthorized)
	if !tok.Expired(time.Now(), 0) {
		t.Fatal("server refused the token before Token.ExpiresAt")
	}
	// The client's own calls go on working: the parent was refreshed ahead of expiry.
	if _, err := c.GetFile(ctx, "", f.ID); err != nil {
		t.Fatalf("parent call after expiry: %v", err)
	}
	if e.parent(ctx) == p1 {
		t.Fatal("parent token not refreshed")
	}
	var expired bool
	for _, at := range e.ts.Tokens(t, "all") {
		expired = expired || at.State == "expired"
	}
	if !expired {
		t.Fatal("localbox does not list the expired token")
	}
}

func TestLocalboxMetadataUpsert(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, ctx := e.c, ctxFor(t)
	f, err := c.UploadFile(ctx, "", "0", "talk.mp4", strings.NewReader("not really a video"))
	if err != nil {
		t.Fatal(err)
	}
	write := e.downscope(ctx, f.ID, box.ScopeItemUpload)

	// global/properties: create, then 409 → read → patch (replace + add).
	if err := c.UpsertMetadata(ctx, "", f.ID, "global", "properties", map[string]any{"stage": "queued"}); err != nil {
		t.Fatal(err)
	}
	if err := c.UpsertMetadata(ctx, "", f.ID, "global", "properties", map[string]any{"stage": "done", "kind": "video"}); err != nil {
		t.Fatalf("upsert on existing instance: %v", err)
	}
	var props map[string]any
	if err := c.GetMetadata(ctx, "", f.ID, "global", "properties", &props); err != nil || props["stage"] != "done" || props["kind"] != "video" || props["$template"] != "properties" {
		t.Fatalf("properties: %v %v", err, props)
	}
	// With a write-only token the read is refused; the patch still applies.
	if err := c.UpsertMetadata(ctx, write.AccessToken, f.ID, "global", "properties", map[string]any{"stage": "again", "extra": "1"}); err != nil {
		t.Fatalf("write-only upsert: %v", err)
	}
	props = nil
	if err := c.GetMetadata(ctx, "", f.ID, "global", "properties", &props); err != nil || props["stage"] != "again" || props["extra"] != "1" || props["kind"] != "video" {
		t.Fatalf("properties after write-only upsert: %v %v", err, props)
	}

	// Skills cards with the write token: create, replace, repeat — never duplicated.
	m := box.CardMeta{SkillID: "filesight", InvocationID: "file-" + f.ID + "-v" + f.VersionID(), Title: "Status"}
	first := []box.Card{box.NewStatusCard(m, box.StatusProcessing, "Working on it")}
	if err := c.UpsertSkillsCards(ctx, write.AccessToken, f.ID, first); err != nil {
		t.Fatal(err)
	}
	final := []box.Card{
		box.NewKeywordCard(box.CardMeta{SkillID: "filesight", InvocationID: m.InvocationID, Title: "Topics"}, "temporal", "workflow"),
		box.NewTranscriptCard(m, 65, []box.CardEntry{{Text: "hello there", Appears: []box.Appearance{box.At(0)}}, {Text: "general", Appears: []box.Appearance{box.At(3)}}}),
		box.NewTimelineCard(m, 65, []box.CardEntry{{Text: "Scene 1", ImageURL: "https://example.com/s1.png", Appears: []box.Appearance{box.Span(0, 12)}}}),
		box.NewStatusCard(m, box.StatusSuccess, ""),
	}
	for range 2 {
		if err := c.UpsertSkillsCards(ctx, write.AccessToken, f.ID, final); err != nil {
			t.Fatalf("replace cards: %v", err)
		}
	}
	doc, err := c.GetSkillsCards(ctx, "", f.ID)
	if err != nil || len(doc.Cards) != len(final) || doc.Cards[0].SkillCardType != box.CardTypeKeyword || doc.Cards[1].Entries[1].Text != "general" ||
		*doc.Cards[2].Entries[0].Appears[0].End != 12 || doc.Cards[3].Status.Code != box.StatusSuccess || doc.Template != box.SkillsTemplate {
		t.Fatalf("cards: %v %+v", err, doc)
	}
	// localbox validates cards too: a document that skips the client's check is refused.
	err = c.UpsertMetadata(ctx, write.AccessToken, f.ID, box.SkillsScope, box.SkillsTemplate, map[string]any{"cards": []any{map[string]any{"type": "skill_card"}}})
	be := e.wantErr(err, false, http.StatusBadRequest)
	if be.Code != "schema_validation_failed" {
		t.Fatalf("invalid cards: %+v", be)
	}
	list, err := c.ListMetadata(ctx, "", f.ID)
	if err != nil || len(list) != 2 {
		t.Fatalf("list metadata: %v %v", err, list)
	}
	// A read token on another file cannot write here.
	other, err := c.UploadFile(ctx, "", "0", "other.mp4", strings.NewReader("o"))
	if err != nil {
		t.Fatal(err)
	}
	otherWrite := e.downscope(ctx, other.ID, box.ScopeItemUpload)
	err = c.UpsertSkillsCards(ctx, otherWrite.AccessToken, f.ID, final)
	e.wantErr(err, false, http.StatusNotFound, http.StatusForbidden)

	if err := c.DeleteMetadata(ctx, write.AccessToken, f.ID, box.SkillsScope, box.SkillsTemplate); err != nil {
		t.Fatal(err)
	}
	err = c.DeleteMetadata(ctx, "", f.ID, box.SkillsScope, box.SkillsTemplate)
	e.wantErr(err, false, http.StatusNotFound)
	_, err = c.GetSkillsCards(ctx, "", f.ID)
	e.wantErr(err, false, http.StatusNotFound)
}

// delivery is one webhook request the receiver got.
type delivery struct {
	header http.Header
	body   []byte
}

func TestLocalboxWebhooksVerifiedByClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, ctx := e.c, ctxFor(t)
	got := make(chan delivery, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		got <- delivery{r.Header.Clone(), b}
		w.WriteHeader(http.StatusOK)
	}))
	defer recv.Close()

	folder, err := c.CreateFolder(ctx, "", "0", "inbox")
	if err != nil {
		t.Fatal(err)
	}
	wh, err := c.CreateWebhook(ctx, "", "folder", folder.ID, recv.URL+"/box/webhook", "FILE.UPLOADED")
	if err != nil || wh.ID == "" || wh.Target.ID != folder.ID || wh.Address != recv.URL+"/box/webhook" {
		t.Fatalf("create webhook: %v %+v", err, wh)
	}
	f, err := c.UploadFile(ctx, "", folder.ID, "talk.mp4", strings.NewReader("content"))
	if err != nil {
		t.Fatal(err)
	}
	var d delivery
	select {
	case d = <-got:
	case <-time.After(15 * time.Second):
		t.Fatal("no webhook delivery within 15 s")
	}
	v := box.NewWebhookVerifier(e.ts.WebhookPrimaryKey, e.ts.WebhookSecondaryKey)
	if err := v.Verify(d.header, d.body); err != nil {
		t.Fatalf("client's verifier refuses localbox's delivery: %v", err)
	}
	// Only the secondary key (primary being rotated) still verifies; wrong keys do not.
	if err := box.NewWebhookVerifier("", e.ts.WebhookSecondaryKey).Verify(d.header, d.body); err != nil {
		t.Fatalf("secondary key: %v", err)
	}
	if err := box.NewWebhookVerifier("wrong", "").Verify(d.header, d.body); !errors.Is(err, signature.ErrMismatch) {
		t.Fatalf("wrong key: %v", err)
	}
	if err := v.Verify(d.header, append(d.body, ' ')); !errors.Is(err, signature.ErrMismatch) {
		t.Fatalf("modified body: %v", err)
	}
	if d.header.Get(box.HeaderDeliveryID) == "" {
		t.Fatal("no BOX-DELIVERY-ID")
	}
	ev, err := box.ParseWebhookEvent(d.body)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Trigger != "FILE.UPLOADED" || ev.Source.ID != f.ID || ev.Source.VersionID() != f.VersionID() || ev.Webhook.ID != wh.ID {
		t.Fatalf("event: %+v", ev)
	}

	// Webhook management needs the app's own token.
	tok := e.downscope(ctx, f.ID, box.ScopeItemPreview)
	_, err = c.CreateWebhook(ctx, tok.AccessToken, "file", f.ID, recv.URL, "FILE.UPLOADED")
	e.wantErr(err, false, http.StatusForbidden)

	list, err := c.ListWebhooks(ctx, "")
	if err != nil || !slices.ContainsFunc(list, func(w box.Webhook) bool { return w.ID == wh.ID }) {
		t.Fatalf("list webhooks: %v %+v", err, list)
	}
	if err := c.DeleteWebhook(ctx, "", wh.ID); err != nil {
		t.Fatal(err)
	}
	list, err = c.ListWebhooks(ctx, "")
	if err != nil || slices.ContainsFunc(list, func(w box.Webhook) bool { return w.ID == wh.ID }) {
		t.Fatalf("webhook not deleted: %v %+v", err, list)
	}
	err = c.DeleteWebhook(ctx, "", wh.ID)
	e.wantErr(err, false, http.StatusNotFound)
}

func TestLocalboxFaultsAreClassified(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, ctx := e.c, ctxFor(t)
	f, err := c.UploadFile(ctx, "", "0", "x.txt", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	e.parent(ctx)

	// 429 with Retry-After, once.
	e.ts.SetFaults(t, localbox.FaultRule{PathPrefix: "/2.0/files/" + f.ID, Method: "GET", Rate429: 1, RetryAfterSeconds: 7, Count: 1})
	_, err = c.GetFile(ctx, "", f.ID)
	be := e.wantErr(err, true, http.StatusTooManyRequests)
	if be.RetryAfter != 7*time.Second || be.Code != "rate_limit_exceeded" {
		t.Fatalf("429: %+v", be)
	}
	if _, err := c.GetFile(ctx, "", f.ID); err != nil {
		t.Fatalf("after the fault: %v", err)
	}

	// 503 and 500: retryable.
	for _, status := range []int{503, 500} {
		e.ts.SetFaults(t, localbox.FaultRule{PathPrefix: "/2.0/files/", ErrorRate: 1, ErrorStatus: status, Count: 1})
		_, err = c.GetFile(ctx, "", f.ID)
		e.wantErr(err, true, status)
	}

	// Download not ready: 202 + Retry-After.
	e.ts.SetFaults(t, localbox.FaultRule{PathPrefix: "/2.0/files/" + f.ID + "/content", NotReadyRate: 1, RetryAfterSeconds: 3, Count: 1})
	_, err = c.Download(ctx, "", f.ID, io.Discard)
	be = e.wantErr(err, true, http.StatusAccepted)
	if be.Code != box.CodeNotReady || be.RetryAfter != 3*time.Second {
		t.Fatalf("202: %+v", be)
	}
	var buf bytes.Buffer
	if _, err := c.Download(ctx, "", f.ID, &buf); err != nil || buf.String() != "payload" {
		t.Fatalf("download after 202: %v", err)
	}

	// The token endpoint failing: the downscope fails retryably.
	e.ts.SetFaults(t, localbox.FaultRule{PathPrefix: "/oauth2/token", ErrorRate: 1, ErrorStatus: 503, Count: 1})
	_, err = c.Downscope(ctx, f.ID, box.ScopeItemPreview)
	e.wantErr(err, true, http.StatusServiceUnavailable)

	// Uploads: a 429 on the upload host.
	e.ts.SetFaults(t, localbox.FaultRule{PathPrefix: "/api/2.0/files/content", Rate429: 1, RetryAfterSeconds: 2, Count: 1})
	_, err = c.UploadFile(ctx, "", "0", "y.txt", strings.NewReader("y"))
	if be := e.wantErr(err, true, http.StatusTooManyRequests); be.RetryAfter != 2*time.Second {
		t.Fatalf("upload 429: %+v", be)
	}
	e.ts.ClearFaults(t)
	if _, err := c.UploadFile(ctx, "", "0", "y.txt", strings.NewReader("y")); err != nil {
		t.Fatalf("upload after the fault: %v", err)
	}

	// localbox's own rate limiter answers the same way.
	e2 := newEnv(t, localboxtest.WithRateLimit(1, 1))
	var rl *box.Error
	for i := 0; i < 5 && rl == nil; i++ {
		_, err = e2.c.ListFolderItems(ctx, "", "0")
		rl, _ = box.AsError(err)
	}
	if rl == nil {
		t.Fatal("rate limiter never answered 429")
	}
	if be := e2.wantErr(rl, true, http.StatusTooManyRequests); be.RetryAfter <= 0 {
		t.Fatalf("rate limiter 429 without Retry-After: %+v", be)
	}
}

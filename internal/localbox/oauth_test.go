package localbox_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"filesight/internal/localbox"
	"filesight/internal/localbox/localboxtest"

	"filesight/internal/testutil"
)

func ccgForm(ts *localboxtest.Server) url.Values {
	return url.Values{
		"grant_type": {"client_credentials"}, "client_id": {ts.ClientID}, "client_secret": {ts.ClientSecret.Reveal()},
		"box_subject_type": {"enterprise"}, "box_subject_id": {ts.EnterpriseID},
	}
}

func TestClientCredentialsGrant(t *testing.T) {
	ts := localboxtest.Start(t, localboxtest.WithTokenTTL(90*time.Second))
	r := postForm(t, ts.URL+"/oauth2/token", ccgForm(ts)).wantStatus(t, http.StatusOK)
	m := r.json(t)
	if m["token_type"] != "bearer" || m["expires_in"] != float64(90) || len(str(m, "access_token")) != 32 {
		t.Fatalf("CCG answer = %s", r.Body)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", r.Header.Get("Cache-Control"))
	}
	tok := str(m, "access_token")
	me := getJSON(t, ts.URL+"/2.0/users/me", tok).wantStatus(t, http.StatusOK).json(t)
	if me["type"] != "user" || str(me, "id") == "" {
		t.Fatalf("users/me = %v", me)
	}

	// The service user may also be the subject.
	f := ccgForm(ts)
	f.Set("box_subject_type", "user")
	f.Set("box_subject_id", str(me, "id"))
	accessToken(t, postForm(t, ts.URL+"/oauth2/token", f))

	// HTTP Basic client authentication works too.
	f = ccgForm(ts)
	f.Del("client_id")
	f.Del("client_secret")
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/oauth2/token", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(ts.ClientID, ts.ClientSecret.Reveal())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("basic auth: status %d", res.StatusCode)
	}

	for name, tc := range map[string]struct {
		edit      func(url.Values)
		status    int
		wantError string
	}{
		"wrong secret":     {func(v url.Values) { v.Set("client_secret", "nope") }, 400, "invalid_client"},
		"wrong client":     {func(v url.Values) { v.Set("client_id", "nope") }, 400, "invalid_client"},
		"wrong enterprise": {func(v url.Values) { v.Set("box_subject_id", "42") }, 400, "invalid_grant"},
		"unknown user":     {func(v url.Values) { v.Set("box_subject_type", "user"); v.Set("box_subject_id", "42") }, 400, "invalid_grant"},
		"no subject type":  {func(v url.Values) { v.Del("box_subject_type") }, 400, "invalid_request"},
		"bad grant":        {func(v url.Values) { v.Set("grant_type", "password") }, 400, "unsupported_grant_type"},
		"no grant":         {func(v url.Values) { v.Del("grant_type") }, 400, "invalid_request"},
	} {
		t.Run(name, func(t *testing.T) {
			f := ccgForm(ts)
			tc.edit(f)
			r := postForm(t, ts.URL+"/oauth2/token", f).wantStatus(t, tc.status)
			m := r.json(t)
			if m["error"] != tc.wantError || str(m, "error_description") == "" {
				t.Fatalf("answer = %s, want error %q", r.Body, tc.wantError)
			}
			if bytes.Contains(r.Body, []byte(ts.ClientSecret.Reveal())) {
				t.Fatal("the answer contains the client secret")
			}
		})
	}

	// Not a form: refused.
	call(t, http.MethodPost, ts.URL+"/oauth2/token", "", "application/json", strings.NewReader(`{}`)).wantStatus(t, http.StatusBadRequest)
}

func TestTokenExchange(t *testing.T) {
	ts := localboxtest.Start(t)
	folder := ts.CreateFolder(t, "0", "in")
	a := ts.UploadFile(t, folder, "a.wav", []byte("aaa"))
	parent := ts.ParentToken(t)

	r := exchange(t, ts, parent, "item_preview item_download", ts.URL+"/2.0/files/"+a.ID).wantStatus(t, http.StatusOK)
	m := r.json(t)
	if m["token_type"] != "bearer" || m["issued_token_type"] != localbox.TokenTypeAccessToken {
		t.Fatalf("exchange answer = %s", r.Body)
	}
	if ei, _ := m["expires_in"].(float64); ei < 3500 || ei > 3600 {
		t.Fatalf("expires_in = %v, want about 3600", m["expires_in"])
	}
	rt, _ := m["restricted_to"].([]any)
	if len(rt) != 2 {
		t.Fatalf("restricted_to = %v, want two entries", m["restricted_to"])
	}
	scopes := map[string]bool{}
	for _, e := range rt {
		em := e.(map[string]any)
		scopes[str(em, "scope")] = true
		if str(em, "object", "type") != "file" || str(em, "object", "id") != a.ID || str(em, "object", "file_version", "id") != a.VersionID {
			t.Fatalf("restricted_to entry %v does not name file %s", em, a.ID)
		}
	}
	if !scopes["item_preview"] || !scopes["item_download"] {
		t.Fatalf("restricted_to scopes = %v", scopes)
	}
	child := str(m, "access_token")

	// The api base form of the resource URL and api.box.com are accepted.
	accessToken(t, exchange(t, ts, parent, "item_preview", ts.UploadURL+"/2.0/files/"+a.ID))
	accessToken(t, exchange(t, ts, parent, "item_preview", "https://api.box.com/2.0/files/"+a.ID))
	// A folder resource.
	accessToken(t, exchange(t, ts, parent, "item_upload", ts.URL+"/2.0/folders/"+folder))
	// No resource: scopes only.
	accessToken(t, exchange(t, ts, parent, "item_preview", ""))

	// A downscoped token can be narrowed further, on its own file only.
	narrow := accessToken(t, exchange(t, ts, child, "item_preview", ""))
	getJSON(t, ts.URL+"/2.0/files/"+a.ID, narrow).wantStatus(t, http.StatusOK)
	call(t, http.MethodGet, ts.URL+"/2.0/files/"+a.ID+"/content", narrow, "", nil).wantError(t, http.StatusForbidden, "insufficient_scope")

	for name, tc := range map[string]struct {
		subject, scope, resource string
		status                   int
		err                      string
	}{
		"scope the subject lacks":   {child, "item_upload", "", 401, "invalid_scope"},
		"another file than subject": {child, "item_preview", ts.URL + "/2.0/files/" + ts.UploadFile(t, folder, "b", []byte("b")).ID, 401, "invalid_grant"},
		"unknown scope":             {parent, "item_everything", "", 400, "invalid_scope"},
		"no scope":                  {parent, "", "", 400, "invalid_scope"},
		"unknown file":              {parent, "item_preview", ts.URL + "/2.0/files/220000999999", 400, "invalid_resource"},
		"unknown folder":            {parent, "item_upload", ts.URL + "/2.0/folders/220000999999", 400, "invalid_resource"},
		"foreign host":              {parent, "item_preview", "https://evil.example/2.0/files/" + a.ID, 400, "invalid_resource"},
		"not an item URL":           {parent, "item_preview", ts.URL + "/2.0/users/me", 400, "invalid_resource"},
		"bad subject":               {"not-a-token", "item_preview", "", 400, "invalid_grant"},
	} {
		t.Run(name, func(t *testing.T) {
			r := exchange(t, ts, tc.subject, tc.scope, tc.resource).wantStatus(t, tc.status)
			if e := r.json(t)["error"]; e != tc.err {
				t.Fatalf("error = %v, want %s (%s)", e, tc.err, r.Body)
			}
		})
	}

	// subject_token_type is checked.
	f := url.Values{"grant_type": {localbox.GrantTokenExchange}, "subject_token": {parent}, "subject_token_type": {"urn:x"}, "scope": {"item_preview"}}
	postForm(t, ts.URL+"/oauth2/token", f).wantStatus(t, http.StatusBadRequest)
}

// A token exchange for a file that was deleted (or never existed) gets Box's
// answer for a resource the subject cannot reach: 400 invalid_resource with
// Box's fixed description, naming nothing about the item.
func TestTokenExchangeForDeletedFile(t *testing.T) {
	ts := localboxtest.Start(t)
	folder := ts.CreateFolder(t, "0", "in")
	a := ts.UploadFile(t, folder, "a.mp4", []byte("a"))
	parent := ts.ParentToken(t)
	resource := ts.URL + "/2.0/files/" + a.ID
	accessToken(t, exchange(t, ts, parent, "item_preview item_download", resource))

	call(t, http.MethodDelete, resource, parent, "", nil).wantStatus(t, http.StatusNoContent)
	r := exchange(t, ts, parent, "item_preview item_download", resource).wantStatus(t, http.StatusBadRequest)
	m := r.json(t)
	if len(m) != 2 || m["error"] != "invalid_resource" || m["error_description"] != "The target resource is invalid." {
		t.Fatalf("answer %s, want Box's invalid_resource answer", r.Body)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", r.Header.Get("Cache-Control"))
	}
}

func TestRevoke(t *testing.T) {
	ts := localboxtest.Start(t)
	folder := ts.CreateFolder(t, "0", "in")
	a := ts.UploadFile(t, folder, "a", []byte("a"))
	child := ts.DownscopedToken(t, a.ID, "item_preview")
	getJSON(t, ts.URL+"/2.0/files/"+a.ID, child).wantStatus(t, http.StatusOK)
	if n := ts.LiveTokens(t); n != 1 {
		t.Fatalf("live tokens = %d, want 1", n)
	}

	revoke := func(form url.Values) *resp { return postForm(t, ts.URL+"/oauth2/revoke", form) }
	// Without client credentials: refused, token still valid.
	revoke(url.Values{"token": {child}}).wantStatus(t, http.StatusBadRequest)
	getJSON(t, ts.URL+"/2.0/files/"+a.ID, child).wantStatus(t, http.StatusOK)

	creds := url.Values{"client_id": {ts.ClientID}, "client_secret": {ts.ClientSecret.Reveal()}}
	withToken := func(tok string) url.Values {
		v := url.Values{}
		for k, x := range creds {
			v[k] = x
		}
		v.Set("token", tok)
		return v
	}
	revoke(withToken(child)).wantStatus(t, http.StatusOK)
	r := getJSON(t, ts.URL+"/2.0/files/"+a.ID, child)
	r.wantError(t, http.StatusUnauthorized, "unauthorized")
	if !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
	}
	// Revoking twice, or an unknown token, is fine (RFC 7009).
	revoke(withToken(child)).wantStatus(t, http.StatusOK)
	revoke(withToken("unknown")).wantStatus(t, http.StatusOK)
	revoke(creds).wantStatus(t, http.StatusBadRequest)

	if n := ts.LiveTokens(t); n != 0 {
		t.Fatalf("live tokens after revoke = %d, want 0", n)
	}
	all := ts.Tokens(t, "all")
	if len(all) != 1 || all[0].State != "revoked" || all[0].RevokedAt == nil {
		t.Fatalf("all tokens = %+v, want the one revoked token", all)
	}

	// Revoking a parent revokes what was exchanged from it.
	parent := ts.ParentToken(t)
	c2 := accessToken(t, exchange(t, ts, parent, "item_preview", ts.URL+"/2.0/files/"+a.ID))
	c3 := accessToken(t, exchange(t, ts, c2, "item_preview", ""))
	revoke(withToken(parent)).wantStatus(t, http.StatusOK)
	for _, tok := range []string{parent, c2, c3} {
		getJSON(t, ts.URL+"/2.0/files/"+a.ID, tok).wantError(t, http.StatusUnauthorized, "unauthorized")
	}
}

func TestTokenExpiry(t *testing.T) {
	ts := localboxtest.Start(t, localboxtest.WithTokenTTL(time.Second))
	folder := ts.CreateFolder(t, "0", "in")
	a := ts.UploadFile(t, folder, "a", []byte("a"))
	parent := ts.ParentToken(t)
	r := exchange(t, ts, parent, "item_preview", ts.URL+"/2.0/files/"+a.ID).wantStatus(t, http.StatusOK)
	if ei := r.json(t)["expires_in"].(float64); ei > 1 {
		t.Fatalf("expires_in = %v, want ≤ 1 (TTL 1s)", ei)
	}
	child := accessToken(t, r)
	testutil.WaitFor(t, 5*time.Second, "the tokens to expire", func() bool {
		return getJSON(t, ts.URL+"/2.0/files/"+a.ID, child).Status == http.StatusUnauthorized
	})
	getJSON(t, ts.URL+"/2.0/files/"+a.ID, child).wantError(t, http.StatusUnauthorized, "unauthorized")
	getJSON(t, ts.URL+"/2.0/folders/0", parent).wantError(t, http.StatusUnauthorized, "unauthorized")
	// An expired subject cannot be exchanged.
	exchange(t, ts, parent, "item_preview", "").wantStatus(t, http.StatusBadRequest)
	if n := ts.LiveTokens(t); n != 0 {
		t.Fatalf("live tokens = %d after expiry", n)
	}
	if all := ts.Tokens(t, "all"); len(all) != 1 || all[0].State != "expired" {
		t.Fatalf("all tokens = %+v", all)
	}
}

func TestMissingAndMalformedTokens(t *testing.T) {
	ts := localboxtest.Start(t)
	getJSON(t, ts.URL+"/2.0/folders/0", "").wantError(t, http.StatusUnauthorized, "unauthorized")
	getJSON(t, ts.URL+"/2.0/folders/0", "garbage").wantError(t, http.StatusUnauthorized, "unauthorized")
	call(t, http.MethodGet, ts.URL+"/2.0/folders/0", "", "", nil, header("Authorization", "Basic abc")).wantError(t, http.StatusUnauthorized, "unauthorized")
	// The access_token query parameter is only for downloads.
	getJSON(t, ts.URL+"/2.0/folders/0?access_token="+ts.ParentToken(t), "").wantError(t, http.StatusUnauthorized, "unauthorized")
}

// TestSecretsStayOutOfLogs runs a session and checks the log for every
// secret it handled.
func TestSecretsStayOutOfLogs(t *testing.T) {
	var buf testutil.SyncBuffer
	ts := localboxtest.Start(t, localboxtest.WithLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	folder := ts.CreateFolder(t, "0", "in")
	a := ts.UploadFile(t, folder, "a", []byte("abc"))
	child := ts.DownscopedToken(t, a.ID, "item_download")
	call(t, http.MethodGet, ts.URL+"/2.0/files/"+a.ID+"/content?access_token="+child, "", "", nil).wantStatus(t, http.StatusOK)
	getJSON(t, ts.URL+"/2.0/files/"+a.ID, child).wantStatus(t, http.StatusForbidden)
	f := ccgForm(ts)
	f.Set("client_secret", "wrong-"+ts.ClientSecret.Reveal())
	postForm(t, ts.URL+"/oauth2/token", f).wantStatus(t, http.StatusBadRequest)
	ts.Close()
	logs := buf.String()
	if !strings.Contains(logs, "/content") {
		t.Fatalf("the log misses the requests: %s", logs)
	}
	for name, s := range map[string]string{"child token": child, "client secret": ts.ClientSecret.Reveal(),
		"admin key": ts.AdminKey.Reveal(), "webhook key": ts.WebhookPrimaryKey.Reveal()} {
		if strings.Contains(logs, s) {
			t.Errorf("the log contains the %s", name)
		}
	}
}

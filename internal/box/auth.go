package box

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"filesight/internal/secret"
)

// Downscoped-token scopes used by filesight.
const (
	ScopeItemPreview  = "item_preview"  // file info
	ScopeItemDownload = "item_download" // file content
	ScopeItemUpload   = "item_upload"   // writes, metadata included
)

const (
	grantClientCredentials = "client_credentials"
	grantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAccessToken   = "urn:ietf:params:oauth:token-type:access_token"

	opToken    = "POST /oauth2/token"
	opRevoke   = "POST /oauth2/revoke"
	opCCG      = opToken + " (client_credentials)"
	opExchange = opToken + " (token-exchange)"

	// parentFetchTimeout bounds one CCG request; it runs detached from the
	// caller's context so that one caller giving up does not fail the others
	// waiting for the same refresh.
	parentFetchTimeout = time.Minute
)

// Token is a downscoped access token. It marshals to JSON with its value
// (it travels between activities inside encrypted Temporal payloads); fmt
// and slog print it redacted.
type Token struct {
	AccessToken secret.String `json:"access_token"`
	ExpiresAt   time.Time     `json:"expires_at"`
	Scopes      []string      `json:"scopes"`
	FileID      string        `json:"file_id"`
}

// Expired reports whether the token has expired at now, or will within margin.
func (t Token) Expired(now time.Time, margin time.Duration) bool {
	return t.AccessToken.IsZero() || !now.Add(margin).Before(t.ExpiresAt)
}

// String describes the token without its value.
func (t Token) String() string {
	return fmt.Sprintf("box token %s for file %s scopes [%s] expires %s",
		t.AccessToken.Fingerprint(), t.FileID, strings.Join(t.Scopes, " "), t.ExpiresAt.UTC().Format(time.RFC3339))
}

// LogValue implements slog.LogValuer without the token's value.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("fingerprint", t.AccessToken.Fingerprint()),
		slog.String("file_id", t.FileID),
		slog.String("scopes", strings.Join(t.Scopes, " ")),
		slog.Time("expires_at", t.ExpiresAt),
	)
}

// tokenAnswer is Box's AccessToken schema.
type tokenAnswer struct {
	AccessToken     secret.String `json:"access_token"`
	ExpiresIn       int64         `json:"expires_in"`
	TokenType       string        `json:"token_type"`
	IssuedTokenType string        `json:"issued_token_type"`
	RestrictedTo    []struct {
		Scope  string `json:"scope"`
		Object struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"object"`
	} `json:"restricted_to"`
}

// errNoExpiry marks a token answer without a positive expires_in.
var errNoExpiry = errors.New("answer has no positive expires_in")

func (c *Client) tokenRequest(ctx context.Context, op string, form url.Values, out *tokenAnswer, secrets ...string) error {
	r := request{
		op: op, method: http.MethodPost, url: c.cfg.APIURL + "/oauth2/token", noAuth: true,
		body: []byte(form.Encode()), ctype: "application/x-www-form-urlencoded",
		accept: []int{http.StatusOK}, secrets: secrets,
	}
	if err := c.doJSON(ctx, r, out); err != nil {
		return err
	}
	if out.AccessToken.IsZero() {
		return &Error{StatusCode: http.StatusOK, Op: op, Code: "invalid_response", Message: "answer has no access_token"}
	}
	if out.ExpiresIn <= 0 {
		return &Error{StatusCode: http.StatusOK, Op: op, Code: "invalid_response", Message: errNoExpiry.Error(), Err: errNoExpiry}
	}
	return nil
}

// refreshMargin is how long before expiry a cached parent token is replaced:
// a quarter of its lifetime, at most 5 minutes.
func refreshMargin(lifetime time.Duration) time.Duration {
	return min(5*time.Minute, lifetime/4)
}

// ParentToken returns the service's own (CCG) access token, from the cache
// while it is fresh, otherwise from POST /oauth2/token. Concurrent callers
// share one refresh. If a refresh fails while the cached token has not yet
// expired, the cached token is returned.
func (c *Client) ParentToken(ctx context.Context) (secret.String, error) {
	p := &c.auth
	p.mu.Lock()
	if !p.tok.IsZero() && c.now().Before(p.refresh) {
		tok := p.tok
		p.mu.Unlock()
		return tok, nil
	}
	f := p.inflight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		p.inflight = f
		go c.fetchParent(context.WithoutCancel(ctx), f)
	}
	stale, staleExp := p.tok, p.exp
	p.mu.Unlock()

	select {
	case <-f.done:
	case <-ctx.Done():
		return "", &Error{Op: opCCG, Err: ctx.Err()}
	}
	if f.err != nil {
		if !stale.IsZero() && c.now().Before(staleExp) {
			c.log.WarnContext(ctx, "box: parent token refresh failed; using the cached token until it expires",
				"error", f.err.Error(), "expires_at", staleExp)
			return stale, nil
		}
		return "", f.err
	}
	return f.tok, nil
}

func (c *Client) fetchParent(ctx context.Context, f *flight) {
	ctx, cancel := context.WithTimeout(ctx, parentFetchTimeout)
	defer cancel()
	form := url.Values{
		"grant_type":       {grantClientCredentials},
		"client_id":        {c.cfg.ClientID},
		"client_secret":    {c.cfg.ClientSecret.Reveal()},
		"box_subject_type": {c.cfg.SubjectType},
		"box_subject_id":   {c.cfg.SubjectID},
	}
	var ans tokenAnswer
	issued := c.now()
	err := c.tokenRequest(ctx, opCCG, form, &ans)

	p := &c.auth
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight = nil
	f.err = err
	if err == nil {
		lifetime := time.Duration(ans.ExpiresIn) * time.Second
		f.tok, f.exp = ans.AccessToken, issued.Add(lifetime)
		p.tok, p.exp, p.refresh = f.tok, f.exp, f.exp.Add(-refreshMargin(lifetime))
		c.log.InfoContext(ctx, "box: parent token issued", "fingerprint", f.tok.Fingerprint(),
			"subject_type", c.cfg.SubjectType, "expires_in", lifetime)
	} else {
		c.log.WarnContext(ctx, "box: parent token request failed", "error", err.Error())
	}
	close(f.done)
}

// Downscope exchanges the parent token for a token restricted to one file and
// the given scopes (e.g. ScopeItemPreview, ScopeItemDownload). Its expiry is
// read from the answer. Asking for a scope the parent lacks fails with a
// non-retryable *Error; so does a file that does not exist (or that the
// parent's user cannot see), with an *Error whose NotFound is true (Box
// answers 400 invalid_resource there, not 404).
func (c *Client) Downscope(ctx context.Context, fileID string, scopes ...string) (Token, error) {
	if err := requireID(opExchange, "file ID", fileID); err != nil {
		return Token{}, err
	}
	if len(scopes) == 0 {
		return Token{}, fmt.Errorf("box: %s: at least one scope is required", opExchange)
	}
	for _, s := range scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			return Token{}, fmt.Errorf("box: %s: invalid scope %q", opExchange, s)
		}
	}
	for attempt := 0; ; attempt++ {
		parent, err := c.ParentToken(ctx)
		if err != nil {
			return Token{}, err
		}
		form := url.Values{
			"grant_type":         {grantTokenExchange},
			"subject_token":      {parent.Reveal()},
			"subject_token_type": {tokenTypeAccessToken},
			"scope":              {strings.Join(scopes, " ")},
			"resource":           {c.FileResourceURL(fileID)},
		}
		var ans tokenAnswer
		issued := c.now()
		err = c.tokenRequest(ctx, opExchange, form, &ans, parent.Reveal())
		if err != nil {
			// A refused subject token may be a parent revoked or expired
			// early: refresh it once. (A scope the parent lacks is refused
			// the same way; the second refusal is returned.) A token issued
			// already expired means the parent is at its end (a child never
			// outlives its parent): refresh once too.
			if e, ok := AsError(err); ok && attempt == 0 && (e.StatusCode == http.StatusUnauthorized ||
				(e.StatusCode == http.StatusBadRequest && e.Code == "invalid_grant") || errors.Is(err, errNoExpiry)) {
				c.auth.invalidate(parent)
				continue
			}
			return Token{}, err
		}
		t := Token{
			AccessToken: ans.AccessToken,
			ExpiresAt:   issued.Add(time.Duration(ans.ExpiresIn) * time.Second),
			FileID:      fileID,
		}
		for _, r := range ans.RestrictedTo {
			if r.Scope != "" && !slices.Contains(t.Scopes, r.Scope) {
				t.Scopes = append(t.Scopes, r.Scope)
			}
		}
		if len(t.Scopes) == 0 {
			t.Scopes = slices.Clone(scopes)
		}
		c.log.DebugContext(ctx, "box: downscoped token issued", "token", t)
		return t, nil
	}
}

// ErrParentRevoke is returned by Revoke for the parent token: on Box,
// revoking every token of a webhook's owner deletes its webhooks.
var ErrParentRevoke = errors.New("box: refusing to revoke the parent token; revoke only downscoped tokens")

// Revoke revokes a downscoped token (POST /oauth2/revoke). Revoking a token
// that is already revoked or expired succeeds, as does revoking "" (nothing
// to do). Refuses the cached parent token (ErrParentRevoke).
func (c *Client) Revoke(ctx context.Context, token secret.String) error {
	if token.IsZero() {
		return nil
	}
	c.auth.mu.Lock()
	isParent := token == c.auth.tok
	c.auth.mu.Unlock()
	if isParent {
		return ErrParentRevoke
	}
	form := url.Values{
		"client_id":     {c.cfg.ClientID},
		"client_secret": {c.cfg.ClientSecret.Reveal()},
		"token":         {token.Reveal()},
	}
	r := request{
		op: opRevoke, method: http.MethodPost, url: c.cfg.APIURL + "/oauth2/revoke", noAuth: true,
		body: []byte(form.Encode()), ctype: "application/x-www-form-urlencoded",
		accept: []int{http.StatusOK, http.StatusNoContent}, secrets: []string{token.Reveal()},
	}
	err := c.doJSON(ctx, r, nil)
	if e, ok := AsError(err); ok && e.StatusCode == http.StatusBadRequest && e.Code == "invalid_token" {
		// RFC 7009 §2.2: an invalid token is not an error for revocation.
		err = nil
	}
	if err == nil {
		c.log.DebugContext(ctx, "box: token revoked", "fingerprint", token.Fingerprint())
	}
	return err
}

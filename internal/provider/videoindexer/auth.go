package videoindexer

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"filesight/internal/provider"
	"filesight/internal/provider/httpjson"
	"filesight/internal/secret"
)

// Token lifetimes when an answer does not say: Video Indexer's account
// tokens last an hour (its FAQ); a token is renewed refreshMargin before
// it expires, so a call never starts with a token about to lapse.
const (
	defaultTokenLifetime = time.Hour
	refreshMargin        = 5 * time.Minute
)

type cachedToken struct {
	value   secret.String
	expires time.Time
}

func (t cachedToken) valid(now time.Time) bool {
	return !t.value.IsZero() && now.Add(refreshMargin).Before(t.expires)
}

// tokens obtains and caches the two tokens: Entra ID → ARM, then ARM's
// generateAccessToken → Video Indexer account token (Contributor, Account
// scope: uploading needs write access).
type tokens struct {
	cfg Config
	api *httpjson.Client
	now func() time.Time

	mu  sync.Mutex
	arm cachedToken
	vi  cachedToken
}

// account returns a valid account access token, renewing what is needed.
func (t *tokens) account(ctx context.Context) (secret.String, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.vi.valid(t.now()) {
		return t.vi.value, nil
	}
	arm, err := t.armToken(ctx)
	if err != nil {
		return "", err
	}
	u := t.cfg.ARMURL + "/subscriptions/" + url.PathEscape(t.cfg.SubscriptionID) + "/resourceGroups/" + url.PathEscape(t.cfg.ResourceGroup) +
		"/providers/Microsoft.VideoIndexer/accounts/" + url.PathEscape(t.cfg.AccountName) + "/generateAccessToken?api-version=" + url.QueryEscape(t.cfg.ARMAPIVersion)
	resp, err := t.api.Do(ctx, httpjson.Request{Op: "auth", Method: http.MethodPost, URL: u,
		Header: http.Header{"Authorization": {"Bearer " + arm.Reveal()}},
		JSON:   GenerateAccessTokenRequest{PermissionType: "Contributor", Scope: "Account"}, Secrets: []secret.String{arm}})
	if err != nil {
		if httpjson.IsStatus(err, http.StatusUnauthorized) {
			t.arm = cachedToken{} // perhaps revoked early: get a new one next time
		}
		return "", authError(err, "generating a Video Indexer account token")
	}
	var gr GenerateAccessTokenResponse
	if err := resp.Decode("auth", &gr); err != nil {
		return "", err
	}
	if gr.AccessToken == "" {
		return "", &provider.Error{Op: "auth", StatusCode: resp.StatusCode, Retryable: true, Message: "Azure Resource Manager: answer carries no accessToken"}
	}
	t.vi = cachedToken{value: secret.String(gr.AccessToken), expires: jwtExpiry(gr.AccessToken, t.now().Add(defaultTokenLifetime))}
	return t.vi.value, nil
}

// armToken returns a valid ARM token (caller holds mu).
func (t *tokens) armToken(ctx context.Context) (secret.String, error) {
	if t.arm.valid(t.now()) {
		return t.arm.value, nil
	}
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {t.cfg.ClientID},
		"client_secret": {t.cfg.ClientSecret.Reveal()},
		"scope":         {strings.TrimRight(t.cfg.ARMURL, "/") + "/.default"},
	}
	u := t.cfg.AuthorityURL + "/" + url.PathEscape(t.cfg.TenantID) + "/oauth2/v2.0/token"
	resp, err := t.api.Do(ctx, httpjson.Request{Op: "auth", Method: http.MethodPost, URL: u,
		Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, Body: strings.NewReader(form.Encode())})
	if err != nil {
		return "", authError(err, "obtaining an Azure Resource Manager token from Microsoft Entra ID")
	}
	var et EntraToken
	if err := resp.Decode("auth", &et); err != nil {
		return "", err
	}
	if et.AccessToken == "" {
		return "", &provider.Error{Op: "auth", StatusCode: resp.StatusCode, Retryable: true, Message: "Microsoft Entra ID: answer carries no access_token"}
	}
	life := defaultTokenLifetime
	if s, err := et.ExpiresIn.Int64(); err == nil && s > 0 {
		life = time.Duration(s) * time.Second
	}
	t.arm = cachedToken{value: secret.String(et.AccessToken), expires: t.now().Add(life)}
	return t.arm.value, nil
}

// invalidate drops the account token (after a 401 from the data plane).
func (t *tokens) invalidate() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.vi = cachedToken{}
}

// authError prefixes what was being done. A refusal of our credentials
// (400 invalid_client from Entra, 401/403 from ARM) is reported as 401/403
// so the activities classify it as a provider authentication failure.
func authError(err error, doing string) error {
	pe, ok := provider.AsError(err)
	if !ok {
		return err
	}
	pe.Message = doing + ": " + pe.Message
	if pe.StatusCode == http.StatusBadRequest && strings.HasPrefix(pe.Code, "invalid_") || pe.Code == "unauthorized_client" {
		pe.StatusCode = http.StatusUnauthorized
	}
	return pe
}

// jwtExpiry reads the exp claim of a JWT without verifying it (the token
// is ours to use, not to trust); fallback when it cannot.
func jwtExpiry(tok string, fallback time.Time) time.Time {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return fallback
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return fallback
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(b, &claims) != nil || claims.Exp <= 0 {
		return fallback
	}
	return time.Unix(claims.Exp, 0)
}

package codec_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"filesight/internal/codec"
	"filesight/internal/codec/codectest"
	"filesight/internal/config"
	"filesight/internal/oidc"
	"filesight/internal/oidc/oidctest"
	"filesight/internal/testutil"
)

const uiAudience = "temporal-ui"

// The production setting: the Temporal UI, behind single sign-on, forwards
// the user's access token (codec.passAccessToken). The codec server checks
// it against the identity provider's keys, fetched over HTTP from a
// provider started here with locally generated key pairs.
func TestHTTPHandlerAccessTokens(t *testing.T) {
	rk, ek := oidctest.NewRSAKey(t, "rsa-2026", 2048), oidctest.NewECKey(t, "ec-2026")
	idp := oidctest.Start(t, rk, ek)
	verifier, err := codec.ServerConfig{OIDCIssuer: idp.Issuer, OIDCAudience: uiAudience, OIDCJWKSURL: idp.JWKSURL, OIDCClockSkew: 30 * time.Second}.AccessTokenVerifier()
	if err != nil || verifier == nil {
		t.Fatalf("verifier: %v", err)
	}
	kr := codectest.NewKeyring(t)
	var logs testutil.SyncBuffer
	const devToken = "codec-dev-token-0123456789abcdef"
	serve := func(opts codec.HTTPOptions) *httptest.Server {
		opts.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
		srv := httptest.NewServer(codec.NewHTTPHandler(codec.Codecs(kr, codec.Options{Compress: true}), opts))
		t.Cleanup(srv.Close)
		return srv
	}
	both := serve(codec.HTTPOptions{Token: devToken, AccessTokens: verifier})
	oidcOnly := serve(codec.HTTPOptions{AccessTokens: verifier})

	enc, err := codec.NewDataConverter(kr, codec.Options{Compress: true}).ToPayloads(input{FileID: "42"})
	if err != nil {
		t.Fatal(err)
	}
	post := func(srv *httptest.Server, path, auth string) (int, string) {
		status, body := codectest.Post(context.Background(), t, srv.URL+path, auth, "default", enc.GetPayloads())
		return status, string(body)
	}

	now := time.Now()
	alice := idp.Token(t, ek, uiAudience, "alice@example.com", now)
	expired := ek.Sign(t, idp.Claims(uiAudience, "alice@example.com", now.Add(-2*time.Hour), time.Hour), nil)
	otherAud := idp.Token(t, rk, "another-api", "alice@example.com", now)
	foreign := oidctest.NewRSAKey(t, "rsa-2026", 2048).Sign(t, idp.Claims(uiAudience, "mallory", now, time.Hour), nil)
	for _, tc := range []struct {
		name       string
		srv        *httptest.Server
		path, auth string
		want       int
	}{
		{"UI access token, ES256", oidcOnly, "/decode", "Bearer " + alice, 200},
		{"UI access token, RS256", oidcOnly, "/decode", "Bearer " + idp.Token(t, rk, uiAudience, "bob@example.com", now), 200},
		{"scheme in lower case", oidcOnly, "/decode", "bearer " + alice, 200},
		{"expired", oidcOnly, "/decode", "Bearer " + expired, 401},
		{"for another audience", oidcOnly, "/decode", "Bearer " + otherAud, 401},
		{"altered", oidcOnly, "/decode", "Bearer " + oidctest.Tamper(alice), 401},
		{"signed by another key", oidcOnly, "/decode", "Bearer " + foreign, 401},
		{"no token", oidcOnly, "/decode", "", 401},
		{"the dev token, not configured", oidcOnly, "/decode", "Bearer " + devToken, 401},
		{"a path segment, no token configured", oidcOnly, "/" + devToken + "/decode", "", 401},
		{"dev token beside OIDC", both, "/decode", "Bearer " + devToken, 200},
		{"dev path token beside OIDC", both, "/" + devToken + "/decode", "", 200},
		{"access token beside the dev token", both, "/decode", "Bearer " + alice, 200},
		{"wrong token beside both", both, "/decode", "Bearer not-a-jwt-and-not-the-token", 401},
	} {
		status, resp := post(tc.srv, tc.path, tc.auth)
		if status != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.name, status, tc.want)
		}
		if tc.want == 200 && !strings.Contains(resp, "payloads") {
			t.Errorf("%s: answer %s", tc.name, resp)
		}
	}
	out := logs.String()
	if !strings.Contains(out, `"subject":"alice@example.com"`) || !strings.Contains(out, "access token not accepted") {
		t.Errorf("the log lacks the audit line or the refusals:\n%s", out)
	}
	for _, tok := range []string{alice, expired, otherAud, foreign, devToken} {
		if strings.Contains(out, tok) {
			t.Fatal("a token was logged")
		}
	}

	// The identity provider's keys unreachable: 503 (try again), not 401.
	down := oidctest.Start(t, ek)
	down.Fail(http.StatusBadGateway)
	dv, err := oidc.NewVerifier(oidc.Config{Issuer: down.Issuer, Audience: uiAudience, JWKSURL: down.JWKSURL})
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := post(serve(codec.HTTPOptions{AccessTokens: dv}), "/decode", "Bearer "+down.Token(t, ek, uiAudience, "a", now)); status != http.StatusServiceUnavailable {
		t.Errorf("JWKS down: HTTP %d, want 503", status)
	}
}

func TestServerConfigAuth(t *testing.T) {
	load := func(env map[string]string) (codec.ServerConfig, error) {
		var c codec.ServerConfig
		err := config.LoadFrom(context.Background(), &c, config.MapLookuper(env))
		return c, err
	}
	oidcEnv := map[string]string{"CODEC_OIDC_ISSUER": "https://login.example.com/", "CODEC_OIDC_AUDIENCE": "api://temporal-ui",
		"CODEC_OIDC_JWKS_URL": "https://login.example.com/.well-known/jwks.json"}
	c, err := load(oidcEnv)
	if err != nil {
		t.Fatalf("OIDC alone: %v", err)
	}
	if v, err := c.AccessTokenVerifier(); err != nil || v == nil || c.OIDCClockSkew != 30*time.Second {
		t.Fatalf("verifier %v %v, skew %s", v, err, c.OIDCClockSkew)
	}
	c, err = load(map[string]string{"CODEC_AUTH_TOKEN": "codec-dev-token-0123456789abcdef"})
	if err != nil {
		t.Fatalf("the dev token alone: %v", err)
	}
	if v, err := c.AccessTokenVerifier(); v != nil || err != nil {
		t.Fatalf("no OIDC configured, verifier %v %v", v, err)
	}
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"nothing":         {map[string]string{}, "CODEC_OIDC_ISSUER"},
		"short token":     {map[string]string{"CODEC_AUTH_TOKEN": "short"}, "CODEC_AUTH_TOKEN"},
		"no audience":     {map[string]string{"CODEC_OIDC_ISSUER": oidcEnv["CODEC_OIDC_ISSUER"], "CODEC_OIDC_JWKS_URL": oidcEnv["CODEC_OIDC_JWKS_URL"]}, "audience"},
		"JWKS over http":  {map[string]string{"CODEC_OIDC_ISSUER": "x", "CODEC_OIDC_AUDIENCE": "a", "CODEC_OIDC_JWKS_URL": "http://login.example.com/jwks"}, "https"},
		"skew of an hour": {map[string]string{"CODEC_OIDC_ISSUER": "x", "CODEC_OIDC_AUDIENCE": "a", "CODEC_OIDC_JWKS_URL": oidcEnv["CODEC_OIDC_JWKS_URL"], "CODEC_OIDC_CLOCK_SKEW": "1h"}, "skew"},
	} {
		if _, err := load(tc.env); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %q", name, err, tc.want)
		}
	}
}

package oidc_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"filesight/internal/oidc"
	"filesight/internal/oidc/oidctest"
	"filesight/internal/testutil"
)

const audience = "temporal-ui-api"

func newVerifier(t *testing.T, p *oidctest.Provider, c *testutil.Clock, change ...func(*oidc.Config)) *oidc.Verifier {
	t.Helper()
	cfg := oidc.Config{Issuer: p.Issuer, Audience: audience, JWKSURL: p.JWKSURL, Now: c.Now}
	for _, f := range change {
		f(&cfg)
	}
	v, err := oidc.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifyRS256AndES256(t *testing.T) {
	rk, ek := oidctest.NewRSAKey(t, "rsa-1", 2048), oidctest.NewECKey(t, "ec-1")
	p := oidctest.Start(t, rk, ek)
	c := testutil.NewClock(time.Unix(1_800_000_000, 0))
	v := newVerifier(t, p, c)
	ctx := context.Background()
	for _, k := range []*oidctest.Key{rk, ek} {
		got, err := v.Verify(ctx, p.Token(t, k, audience, "alice@example.com", c.Now()))
		if err != nil {
			t.Fatalf("%s: %v", k.Alg, err)
		}
		if got.Subject != "alice@example.com" || got.Issuer != p.Issuer || got.KeyID != k.ID || !got.ExpiresAt.Equal(c.Now().Add(time.Hour)) {
			t.Errorf("%s: claims %+v", k.Alg, got)
		}
	}
	// aud as a list, fractional dates.
	claims := p.Claims("other", "bob", c.Now(), time.Hour)
	claims["aud"] = []string{"other", audience}
	claims["exp"] = float64(c.Now().Add(time.Minute).Unix()) + 0.5
	if _, err := v.Verify(ctx, ek.Sign(t, claims, nil)); err != nil {
		t.Errorf("aud list: %v", err)
	}
	if p.Fetches() != 1 {
		t.Errorf("%d JWKS fetches, want 1 (cached)", p.Fetches())
	}
}

func TestVerifyRefusesBadTokens(t *testing.T) {
	rk, ek := oidctest.NewRSAKey(t, "rsa-1", 2048), oidctest.NewECKey(t, "ec-1")
	p := oidctest.Start(t, rk, ek)
	c := testutil.NewClock(time.Unix(1_800_000_000, 0))
	v := newVerifier(t, p, c, func(cfg *oidc.Config) { cfg.ClockSkew = 30 * time.Second })
	ctx := context.Background()
	now := c.Now()
	claims := func(change func(map[string]any)) map[string]any {
		m := p.Claims(audience, "alice", now, time.Hour)
		change(m)
		return m
	}
	stranger := oidctest.NewRSAKey(t, "rsa-1", 2048) // same kid, not the provider's key
	good := p.Token(t, rk, audience, "alice", now)
	parts := strings.Split(good, ".")
	// HS256 "signed" with the RSA public key as the secret: the classic
	// algorithm confusion.
	hsHeader := oidctest.Encode(t, map[string]any{"alg": "HS256", "kid": "rsa-1"})
	mac := hmac.New(sha256.New, []byte(rk.JWK()["n"].(string)))
	mac.Write([]byte(hsHeader + "." + parts[1]))
	hs := hsHeader + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))

	for name, tok := range map[string]string{
		"wrong issuer":            rk.Sign(t, claims(func(m map[string]any) { m["iss"] = "https://evil.example/" }), nil),
		"wrong audience":          rk.Sign(t, claims(func(m map[string]any) { m["aud"] = "someone-else" }), nil),
		"no audience":             rk.Sign(t, claims(func(m map[string]any) { delete(m, "aud") }), nil),
		"audience not a string":   rk.Sign(t, claims(func(m map[string]any) { m["aud"] = 42 }), nil),
		"expired beyond skew":     rk.Sign(t, claims(func(m map[string]any) { m["exp"] = now.Add(-31 * time.Second).Unix() }), nil),
		"no exp":                  rk.Sign(t, claims(func(m map[string]any) { delete(m, "exp") }), nil),
		"exp not a number":        rk.Sign(t, claims(func(m map[string]any) { m["exp"] = "tomorrow" }), nil),
		"not yet valid":           rk.Sign(t, claims(func(m map[string]any) { m["nbf"] = now.Add(time.Minute).Unix() }), nil),
		"issued in the future":    rk.Sign(t, claims(func(m map[string]any) { m["iat"] = now.Add(time.Minute).Unix() }), nil),
		"alg none":                oidctest.Encode(t, map[string]any{"alg": "none"}) + "." + parts[1] + ".",
		"alg HS256 (confusion)":   hs,
		"RS256 header, EC kid":    ek.Sign(t, p.Claims(audience, "alice", now, time.Hour), map[string]any{"alg": "RS256"}),
		"signed by a stranger":    stranger.Sign(t, p.Claims(audience, "alice", now, time.Hour), nil),
		"claims altered":          oidctest.Tamper(good),
		"signature cut":           parts[0] + "." + parts[1] + "." + parts[2][:20],
		"two parts":               parts[0] + "." + parts[1],
		"crit header":             rk.Sign(t, p.Claims(audience, "alice", now, time.Hour), map[string]any{"crit": []string{"exp"}}),
		"header not JSON":         base64.RawURLEncoding.EncodeToString([]byte("{")) + "." + parts[1] + "." + parts[2],
		"too long":                good + strings.Repeat("A", oidc.MaxTokenBytes),
		"unknown key ID":          rk.Sign(t, p.Claims(audience, "alice", now, time.Hour), map[string]any{"kid": "rsa-9"}),
		"not a JWT":               "opaque-access-token-0123456789",
		"empty":                   "",
		"no kid, unpublished key": oidctest.NewECKey(t, "").Sign(t, p.Claims(audience, "alice", now, time.Hour), map[string]any{"kid": nil}),
	} {
		got, err := v.Verify(ctx, tok)
		if !errors.Is(err, oidc.ErrInvalidToken) || got != nil {
			t.Errorf("%s: %+v, %v; want ErrInvalidToken", name, got, err)
			continue
		}
		if tok != "" && strings.Contains(err.Error(), tok) {
			t.Errorf("%s: the error shows the token", name)
		}
	}
	// Within the skew: accepted.
	for name, tok := range map[string]string{
		"expired within skew":   rk.Sign(t, claims(func(m map[string]any) { m["exp"] = now.Add(-20 * time.Second).Unix() }), nil),
		"nbf within skew":       rk.Sign(t, claims(func(m map[string]any) { m["nbf"] = now.Add(20 * time.Second).Unix() }), nil),
		"no kid, one RSA key":   rk.Sign(t, p.Claims(audience, "alice", now, time.Hour), map[string]any{"kid": nil}),
		"no typ":                rk.Sign(t, p.Claims(audience, "alice", now, time.Hour), map[string]any{"typ": nil}),
		"no nbf, no iat":        rk.Sign(t, claims(func(m map[string]any) { delete(m, "nbf"); delete(m, "iat") }), nil),
		"the good one, for ref": good,
	} {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// The identity provider rotates its keys: a token with a new key ID makes
// the verifier fetch the keys once; forged key IDs do not make it fetch
// more than once per MinRefresh; the cache expires after CacheTTL; a
// retired key stops working once the keys are fetched again.
func TestKeyRotation(t *testing.T) {
	old, next := oidctest.NewECKey(t, "2026-11"), oidctest.NewECKey(t, "2026-12")
	p := oidctest.Start(t, old)
	c := testutil.NewClock(time.Unix(1_800_000_000, 0))
	v := newVerifier(t, p, c, func(cfg *oidc.Config) { cfg.MinRefresh = time.Minute; cfg.CacheTTL = time.Hour })
	ctx := context.Background()
	if _, err := v.Verify(ctx, p.Token(t, old, audience, "a", c.Now())); err != nil {
		t.Fatal(err)
	}
	c.Add(2 * time.Minute)
	p.SetKeys(old, next)
	if _, err := v.Verify(ctx, p.Token(t, next, audience, "a", c.Now())); err != nil {
		t.Fatalf("a token signed with the new key: %v", err)
	}
	if p.Fetches() != 2 {
		t.Fatalf("%d fetches, want 2 (one refresh for the new key ID)", p.Fetches())
	}
	// Without a key ID, two keys of the algorithm are one too many.
	if _, err := v.Verify(ctx, next.Sign(t, p.Claims(audience, "a", c.Now(), time.Hour), map[string]any{"kid": nil})); !errors.Is(err, oidc.ErrInvalidToken) {
		t.Fatalf("no key ID, two ES256 keys: %v", err)
	}
	for i := range 5 {
		forged := next.Sign(t, p.Claims(audience, "a", c.Now(), time.Hour), map[string]any{"kid": "forged-" + string(rune('a'+i))})
		if _, err := v.Verify(ctx, forged); !errors.Is(err, oidc.ErrInvalidToken) {
			t.Fatalf("forged key ID: %v", err)
		}
	}
	if p.Fetches() != 2 {
		t.Fatalf("forged key IDs made %d fetches within MinRefresh", p.Fetches()-2)
	}
	// The provider retires the old key; after the cache's lifetime the
	// verifier follows.
	p.SetKeys(next)
	if _, err := v.Verify(ctx, p.Token(t, old, audience, "a", c.Now())); err != nil {
		t.Fatalf("the old key before the cache expired: %v", err)
	}
	c.Add(time.Hour)
	if _, err := v.Verify(ctx, p.Token(t, old, audience, "a", c.Now())); !errors.Is(err, oidc.ErrInvalidToken) {
		t.Fatalf("a retired key after the cache expired: %v", err)
	}
	if _, err := v.Verify(ctx, p.Token(t, next, audience, "a", c.Now())); err != nil {
		t.Fatal(err)
	}
}

// The JWKS endpoint failing is not the token's fault (not
// ErrInvalidToken: the codec server answers 503, not 401); an old cache
// outlives a failed refresh; an oversized or empty key set is refused.
func TestJWKSFailures(t *testing.T) {
	k := oidctest.NewRSAKey(t, "k", 2048)
	ctx := context.Background()
	c := testutil.NewClock(time.Unix(1_800_000_000, 0))

	p := oidctest.Start(t, k)
	p.Fail(http.StatusInternalServerError)
	v := newVerifier(t, p, c, func(cfg *oidc.Config) { cfg.MinRefresh = time.Minute })
	if _, err := v.Verify(ctx, p.Token(t, k, audience, "a", c.Now())); err == nil || errors.Is(err, oidc.ErrInvalidToken) {
		t.Fatalf("JWKS down: %v", err)
	}
	if _, err := v.Verify(ctx, p.Token(t, k, audience, "a", c.Now())); err == nil || p.Fetches() != 1 {
		t.Fatalf("retried at once: %v, %d fetches", err, p.Fetches())
	}
	p.Fail(0)
	c.Add(time.Minute)
	if _, err := v.Verify(ctx, p.Token(t, k, audience, "a", c.Now())); err != nil {
		t.Fatalf("JWKS back: %v", err)
	}
	p.Fail(http.StatusBadGateway)
	c.Add(2 * time.Hour)
	if _, err := v.Verify(ctx, p.Token(t, k, audience, "a", c.Now())); err != nil {
		t.Fatalf("a failed refresh dropped the cached keys: %v", err)
	}

	for name, body := range map[string]string{
		"too large":    `{"keys":[],"pad":"` + strings.Repeat("x", 300<<10) + `"}`,
		"not JSON":     `<html>`,
		"no keys":      `{"keys":[]}`,
		"only enc key": `{"keys":[{"kty":"RSA","kid":"k","use":"enc","n":"` + k.JWK()["n"].(string) + `","e":"AQAB"}]}`,
		"weak RSA key": `{"keys":[` + jwkJSON(t, oidctest.NewRSAKey(t, "k", 1024)) + `]}`,
	} {
		p := oidctest.Start(t, k)
		p.ServeRaw([]byte(body))
		v := newVerifier(t, p, c)
		if _, err := v.Verify(ctx, p.Token(t, k, audience, "a", c.Now())); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func jwkJSON(t *testing.T, k *oidctest.Key) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(oidctest.Encode(t, k.JWK()))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestConfigValidate(t *testing.T) {
	ok := oidc.Config{Issuer: "https://id.example/", Audience: "a", JWKSURL: "https://id.example/jwks"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*oidc.Config){
		"no issuer":        func(c *oidc.Config) { c.Issuer = "" },
		"no audience":      func(c *oidc.Config) { c.Audience = "" },
		"http JWKS":        func(c *oidc.Config) { c.JWKSURL = "http://id.example/jwks" },
		"not a URL":        func(c *oidc.Config) { c.JWKSURL = "id.example" },
		"skew too large":   func(c *oidc.Config) { c.ClockSkew = time.Hour },
		"negative skew":    func(c *oidc.Config) { c.ClockSkew = -time.Second },
		"ftp JWKS":         func(c *oidc.Config) { c.JWKSURL = "ftp://id.example/jwks" },
		"http to a lookup": func(c *oidc.Config) { c.JWKSURL = "http://localhost.example/jwks" },
	} {
		c := ok
		change(&c)
		if _, err := oidc.NewVerifier(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, u := range []string{"http://127.0.0.1:9/jwks", "http://localhost:9/jwks", "http://[::1]:9/jwks"} {
		c := ok
		c.JWKSURL = u
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}

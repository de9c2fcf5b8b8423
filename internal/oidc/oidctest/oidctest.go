// Package oidctest is a small identity provider for tests: locally
// generated RSA and ECDSA key pairs, their JWKS served over HTTP on
// 127.0.0.1, and signed access tokens. It is never linked into a program.
package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Key is a signing key of the provider.
type Key struct {
	ID  string
	Alg string // RS256 or ES256
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
}

// NewRSAKey generates an RS256 key of bits bits.
func NewRSAKey(t testing.TB, id string, bits int) *Key {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return &Key{ID: id, Alg: "RS256", rsa: k}
}

// NewECKey generates an ES256 (P-256) key.
func NewECKey(t testing.TB, id string) *Key {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &Key{ID: id, Alg: "ES256", ec: k}
}

// JWK is the key's public half as a JSON Web Key.
func (k *Key) JWK() map[string]any {
	b64 := base64.RawURLEncoding.EncodeToString
	if k.rsa != nil {
		return map[string]any{"kty": "RSA", "kid": k.ID, "use": "sig", "alg": "RS256",
			"n": b64(k.rsa.N.Bytes()), "e": b64(big.NewInt(int64(k.rsa.E)).Bytes())}
	}
	pad := func(b []byte) []byte { return append(make([]byte, 32-len(b)), b...) }
	return map[string]any{"kty": "EC", "kid": k.ID, "use": "sig", "alg": "ES256", "crv": "P-256",
		"x": b64(pad(k.ec.X.Bytes())), "y": b64(pad(k.ec.Y.Bytes()))}
}

// Sign returns a compact JWS of claims with header fields alg and kid of
// the key, plus any in extraHeader (which may override them).
func (k *Key) Sign(t testing.TB, claims map[string]any, extraHeader map[string]any) string {
	t.Helper()
	h := map[string]any{"alg": k.Alg, "kid": k.ID, "typ": "at+jwt"}
	for n, v := range extraHeader {
		if v == nil {
			delete(h, n)
		} else {
			h[n] = v
		}
	}
	signing := Encode(t, h) + "." + Encode(t, claims)
	digest := sha256.Sum256([]byte(signing))
	var sig []byte
	var err error
	if k.rsa != nil {
		sig, err = rsa.SignPKCS1v15(rand.Reader, k.rsa, crypto.SHA256, digest[:])
	} else {
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, k.ec, digest[:])
		if err == nil {
			sig = append(append(make([]byte, 0, 64), pad32(r)...), pad32(s)...)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func pad32(n *big.Int) []byte {
	b := n.Bytes()
	return append(make([]byte, 32-len(b)), b...)
}

// Encode is the base64url of v's JSON: a JWT part.
func Encode(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Provider serves a JWKS at JWKSURL and issues tokens for Issuer.
type Provider struct {
	// Issuer is the iss of its tokens; JWKSURL serves its keys.
	Issuer, JWKSURL string

	mu      sync.Mutex
	keys    []*Key
	status  int    // answer status (0: 200)
	raw     []byte // answer body instead of the key set, when set
	fetches atomic.Int32
}

// Start serves the keys' JWKS on 127.0.0.1 until the test ends.
func Start(t testing.TB, keys ...*Key) *Provider {
	t.Helper()
	p := &Provider{keys: keys}
	srv := httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(srv.Close)
	p.Issuer, p.JWKSURL = srv.URL+"/", srv.URL+"/.well-known/jwks.json"
	return p
}

func (p *Provider) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/.well-known/jwks.json" {
		http.NotFound(w, r)
		return
	}
	p.fetches.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.status != 0 {
		w.WriteHeader(p.status)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	if p.raw != nil {
		_, _ = w.Write(p.raw)
		return
	}
	set := map[string]any{"keys": []any{}}
	for _, k := range p.keys {
		set["keys"] = append(set["keys"].([]any), k.JWK())
	}
	_ = json.NewEncoder(w).Encode(set)
}

// SetKeys replaces the published keys (a rotation at the provider).
func (p *Provider) SetKeys(keys ...*Key) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys, p.raw, p.status = keys, nil, 0
}

// Fail makes the JWKS endpoint answer status (0: serve again).
func (p *Provider) Fail(status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status = status
}

// ServeRaw makes the JWKS endpoint answer body instead of the key set.
func (p *Provider) ServeRaw(body []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.raw = body
}

// Fetches counts the JWKS requests so far.
func (p *Provider) Fetches() int { return int(p.fetches.Load()) }

// Claims are a token's claims for audience, valid from now for life.
func (p *Provider) Claims(audience, subject string, now time.Time, life time.Duration) map[string]any {
	return map[string]any{"iss": p.Issuer, "sub": subject, "aud": audience,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(life).Unix(), "scope": "openid profile"}
}

// Token is a token signed with k for audience and subject, valid for an
// hour from now.
func (p *Provider) Token(t testing.TB, k *Key, audience, subject string, now time.Time) string {
	t.Helper()
	return k.Sign(t, p.Claims(audience, subject, now, time.Hour), nil)
}

// Tamper flips one character of a token's claims part.
func Tamper(token string) string {
	parts := strings.Split(token, ".")
	c := []byte(parts[1])
	if c[len(c)/2] == 'A' {
		c[len(c)/2] = 'B'
	} else {
		c[len(c)/2] = 'A'
	}
	parts[1] = string(c)
	return strings.Join(parts, ".")
}

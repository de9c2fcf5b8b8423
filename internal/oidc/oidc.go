// Package oidc verifies OAuth 2.0 / OpenID Connect access tokens that are
// JWTs (RFC 7519, RFC 9068) signed with RS256 or ES256, against an issuer,
// an audience and the issuer's published keys (a JWKS, RFC 7517).
//
// It is what the codec server uses to authorise the Temporal UI's users:
// with codec.passAccessToken the UI forwards the signed-in user's access
// token to the codec endpoint, and only a token the configured identity
// provider signed for the configured audience, within its lifetime, is
// accepted.
//
// Keys are fetched from the JWKS URL and cached; a token naming a key ID
// (kid) the cache does not have triggers one refresh (at most one per
// MinRefresh), which is how key rotation at the identity provider is
// followed without a restart. Only the two asymmetric algorithms are
// accepted, each only with a key of its own type: "none", HMAC and
// algorithm/key confusion are refused.
package oidc

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Algorithms accepted in a token's header.
const (
	RS256 = "RS256"
	ES256 = "ES256"
)

// Defaults of Config.
const (
	DefaultClockSkew    = 30 * time.Second
	DefaultCacheTTL     = time.Hour
	DefaultMinRefresh   = 30 * time.Second
	DefaultMaxJWKSBytes = 256 << 10
	// MaxTokenBytes bounds the size of a token (a header, claims and a
	// signature are a few kilobytes at most).
	MaxTokenBytes = 16 << 10
	// minRSABits is the smallest RSA key accepted.
	minRSABits = 2048
)

// ErrInvalidToken is wrapped by every error about the token itself
// (malformed, bad signature, wrong issuer or audience, expired, unknown
// key): the caller answers 401. Other errors (the JWKS could not be
// fetched) are the verifier's.
var ErrInvalidToken = errors.New("invalid access token")

// Config says whose tokens to accept.
type Config struct {
	// Issuer is the exact "iss" claim required (the identity provider's
	// issuer URL).
	Issuer string
	// Audience must be one of the token's "aud" values (the API audience
	// the identity provider issues the UI's access tokens for, or the UI's
	// client ID when the UI forwards ID tokens).
	Audience string
	// JWKSURL is where the issuer publishes its signing keys (the
	// jwks_uri of its discovery document). https, or http to a loopback
	// address.
	JWKSURL string
	// ClockSkew is tolerated on exp, nbf and iat (default 30 s, at most
	// 5 min).
	ClockSkew time.Duration
	// CacheTTL is how long fetched keys are used before they are fetched
	// again (default 1 h).
	CacheTTL time.Duration
	// MinRefresh is the least time between two fetches that a token with
	// an unknown key ID triggers (default 30 s), so that forged key IDs
	// cannot make the verifier hammer the identity provider.
	MinRefresh time.Duration
	// MaxJWKSBytes bounds the JWKS document (default 256 KiB).
	MaxJWKSBytes int64
	// HTTPClient fetches the JWKS (default: a client with a 10 s timeout
	// that follows no redirect).
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Validate checks the settings; messages name the field.
func (c Config) Validate() error {
	var errs []error
	if c.Issuer == "" {
		errs = append(errs, errors.New("issuer is required"))
	}
	if c.Audience == "" {
		errs = append(errs, errors.New("audience is required"))
	}
	if err := checkURL(c.JWKSURL); err != nil {
		errs = append(errs, fmt.Errorf("JWKS URL: %w", err))
	}
	if c.ClockSkew < 0 || c.ClockSkew > 5*time.Minute {
		errs = append(errs, fmt.Errorf("clock skew %s: want 0 to 5m", c.ClockSkew))
	}
	return errors.Join(errs...)
}

// checkURL accepts https URLs, and http ones to a loopback address (a
// local identity provider, tests).
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not a URL", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return fmt.Errorf("%q: keys must be fetched over https (http only to a loopback address)", s)
	}
	return fmt.Errorf("%q is not an http(s) URL", s)
}

// Claims are the verified token's registered claims.
type Claims struct {
	Issuer    string
	Subject   string
	Audience  []string
	ExpiresAt time.Time
	NotBefore time.Time
	IssuedAt  time.Time
	// KeyID is the key that signed the token.
	KeyID string
}

// Verifier verifies tokens; it is safe for concurrent use.
type Verifier struct {
	cfg Config

	mu          sync.Mutex
	keys        map[string]publicKey // by kid
	fetchedAt   time.Time            // the last successful fetch; zero: none yet
	lastAttempt time.Time            // the last fetch, successful or not
}

type publicKey struct {
	alg string // RS256 or ES256
	key crypto.PublicKey
}

// NewVerifier returns a verifier for cfg; keys are fetched on first use.
func NewVerifier(cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = DefaultClockSkew
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.MinRefresh <= 0 {
		cfg.MinRefresh = DefaultMinRefresh
	}
	if cfg.MaxJWKSBytes <= 0 {
		cfg.MaxJWKSBytes = DefaultMaxJWKSBytes
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{
			Timeout: 10 * time.Second,
			// The JWKS URL is configured; a redirect elsewhere is not
			// followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Verifier{cfg: cfg}, nil
}

// header is a JWS protected header.
type header struct {
	Alg  string `json:"alg"`
	Kid  string `json:"kid"`
	Typ  string `json:"typ"`
	Crit []any  `json:"crit"`
}

// claims are the registered claims as they are encoded.
type claims struct {
	Iss string          `json:"iss"`
	Sub string          `json:"sub"`
	Aud json.RawMessage `json:"aud"`
	Exp *json.Number    `json:"exp"`
	Nbf *json.Number    `json:"nbf"`
	Iat *json.Number    `json:"iat"`
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidToken, fmt.Sprintf(format, args...))
}

// Verify checks token's signature, issuer, audience and lifetime and
// returns its claims. Errors about the token wrap ErrInvalidToken; none
// contains the token.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if len(token) > MaxTokenBytes {
		return nil, invalid("longer than %d bytes", MaxTokenBytes)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, invalid("not a signed JWT (want three dot-separated parts)")
	}
	var h header
	if err := decodePart(parts[0], &h); err != nil {
		return nil, invalid("header: %v", err)
	}
	if h.Alg != RS256 && h.Alg != ES256 {
		return nil, invalid("algorithm %q is not accepted (want RS256 or ES256)", h.Alg)
	}
	if len(h.Crit) > 0 {
		return nil, invalid("critical header extensions are not supported")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, invalid("signature is not base64url")
	}
	key, err := v.key(ctx, h.Kid, h.Alg)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := checkSignature(key, digest[:], sig); err != nil {
		return nil, err
	}
	var c claims
	if err := decodePart(parts[1], &c); err != nil {
		return nil, invalid("claims: %v", err)
	}
	return v.checkClaims(c, h.Kid)
}

func decodePart(part string, out any) error {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return errors.New("not base64url")
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(out); err != nil {
		return errors.New("not a JSON object")
	}
	return nil
}

func checkSignature(k publicKey, digest, sig []byte) error {
	switch pub := k.key.(type) {
	case *rsa.PublicKey:
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig) != nil {
			return invalid("bad signature")
		}
	case *ecdsa.PublicKey:
		// JWS encodes an ES256 signature as R||S, 32 bytes each (RFC 7518).
		if len(sig) != 64 {
			return invalid("bad signature")
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(pub, digest, r, s) {
			return invalid("bad signature")
		}
	default:
		return invalid("bad signature")
	}
	return nil
}

func (v *Verifier) checkClaims(c claims, kid string) (*Claims, error) {
	out := &Claims{Issuer: c.Iss, Subject: c.Sub, KeyID: kid}
	if c.Iss != v.cfg.Issuer {
		return nil, invalid("issuer %q is not the configured issuer", c.Iss)
	}
	switch aud := bytes.TrimSpace(c.Aud); {
	case len(aud) > 0 && aud[0] == '"':
		var one string
		if json.Unmarshal(aud, &one) != nil {
			return nil, invalid("aud is not a string or a list of strings")
		}
		out.Audience = []string{one}
	case len(aud) > 0 && aud[0] == '[':
		if json.Unmarshal(aud, &out.Audience) != nil {
			return nil, invalid("aud is not a string or a list of strings")
		}
	}
	if !slices.Contains(out.Audience, v.cfg.Audience) {
		return nil, invalid("the token is not for this audience")
	}
	now, skew := v.cfg.Now(), v.cfg.ClockSkew
	var err error
	if out.ExpiresAt, err = numericDate(c.Exp); err != nil || c.Exp == nil {
		return nil, invalid("exp is missing or not a number")
	}
	if !now.Before(out.ExpiresAt.Add(skew)) {
		return nil, invalid("expired at %s", out.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if out.NotBefore, err = numericDate(c.Nbf); err != nil {
		return nil, invalid("nbf is not a number")
	}
	if c.Nbf != nil && now.Add(skew).Before(out.NotBefore) {
		return nil, invalid("not valid before %s", out.NotBefore.UTC().Format(time.RFC3339))
	}
	if out.IssuedAt, err = numericDate(c.Iat); err != nil {
		return nil, invalid("iat is not a number")
	}
	if c.Iat != nil && now.Add(skew).Before(out.IssuedAt) {
		return nil, invalid("issued in the future (%s)", out.IssuedAt.UTC().Format(time.RFC3339))
	}
	return out, nil
}

// numericDate reads a JWT NumericDate (seconds since the epoch, possibly
// fractional); nil is the zero time.
func numericDate(n *json.Number) (time.Time, error) {
	if n == nil {
		return time.Time{}, nil
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1e11 {
		return time.Time{}, errors.New("bad NumericDate")
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
}

// key finds the key a token names, fetching the JWKS when the cache is
// empty or old, or (at most once per MinRefresh) when it lacks the key.
func (v *Verifier) key(ctx context.Context, kid, alg string) (publicKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.cfg.Now()
	mayFetch := v.lastAttempt.IsZero() || now.Sub(v.lastAttempt) >= v.cfg.MinRefresh
	if v.keys == nil || now.Sub(v.fetchedAt) >= v.cfg.CacheTTL {
		if !mayFetch && v.keys == nil {
			return publicKey{}, errors.New("oidc: the JWKS could not be fetched; trying again shortly")
		}
		if mayFetch {
			mayFetch = false
			if err := v.refresh(ctx); err != nil && v.keys == nil {
				return publicKey{}, err
			}
			// A failed refresh of an old cache keeps the keys it had
			// (tried again after MinRefresh): the identity provider
			// being briefly down must not lock everyone out.
		}
	}
	k, ok := v.lookup(kid, alg)
	if !ok && mayFetch {
		if err := v.refresh(ctx); err != nil {
			return publicKey{}, err
		}
		k, ok = v.lookup(kid, alg)
	}
	if !ok {
		return publicKey{}, invalid("no %s key with ID %q at the issuer", alg, kid)
	}
	return k, nil
}

// lookup finds the key by ID; a token without a key ID matches the only
// key of its algorithm, if there is exactly one.
func (v *Verifier) lookup(kid, alg string) (publicKey, bool) {
	if kid != "" {
		k, ok := v.keys[kid]
		return k, ok && k.alg == alg
	}
	var found []publicKey
	for _, k := range v.keys {
		if k.alg == alg {
			found = append(found, k)
		}
	}
	if len(found) != 1 {
		return publicKey{}, false
	}
	return found[0], true
}

// jwk is one JSON Web Key, as much of it as RS256 and ES256 need.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// refresh fetches the JWKS and replaces the cache. Called with v.mu held.
func (v *Verifier) refresh(ctx context.Context) error {
	v.lastAttempt = v.cfg.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return fmt.Errorf("oidc: JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("oidc: fetching the JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("oidc: fetching the JWKS: HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, v.cfg.MaxJWKSBytes+1))
	if err != nil {
		return fmt.Errorf("oidc: reading the JWKS: %w", err)
	}
	if int64(len(body)) > v.cfg.MaxJWKSBytes {
		return fmt.Errorf("oidc: the JWKS is larger than %d bytes", v.cfg.MaxJWKSBytes)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return fmt.Errorf("oidc: the JWKS is not a JSON key set: %w", err)
	}
	keys := map[string]publicKey{}
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		pk, err := parseKey(k)
		if err != nil {
			continue // a key of another type, or unusable: not ours to use
		}
		keys[k.Kid] = pk
	}
	if len(keys) == 0 {
		return errors.New("oidc: the JWKS holds no RS256 or ES256 signing key")
	}
	v.keys, v.fetchedAt = keys, v.lastAttempt
	return nil
}

func parseKey(k jwk) (publicKey, error) {
	b64 := base64.RawURLEncoding
	switch k.Kty {
	case "RSA":
		if k.Alg != "" && k.Alg != RS256 {
			return publicKey{}, errors.New("not an RS256 key")
		}
		n, err1 := b64.DecodeString(k.N)
		e, err2 := b64.DecodeString(k.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			return publicKey{}, errors.New("bad RSA key")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() < minRSABits || pub.E < 3 || pub.E%2 == 0 {
			return publicKey{}, errors.New("weak RSA key")
		}
		return publicKey{alg: RS256, key: pub}, nil
	case "EC":
		if (k.Alg != "" && k.Alg != ES256) || k.Crv != "P-256" {
			return publicKey{}, errors.New("not an ES256 key")
		}
		x, err1 := b64.DecodeString(k.X)
		y, err2 := b64.DecodeString(k.Y)
		if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			return publicKey{}, errors.New("bad EC key")
		}
		// The uncompressed point form; parsing checks it is on the curve.
		point := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			return publicKey{}, errors.New("EC key not on P-256")
		}
		return publicKey{alg: ES256, key: pub}, nil
	}
	return publicKey{}, errors.New("unsupported key type")
}

package codec

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"filesight/internal/oidc"
	"filesight/internal/secret"
)

// Config is the payload-encryption setting shared by every program.
type Config struct {
	// Keys is "id:base64key[,id:base64key...]", the last one encrypting.
	Keys     secret.String `env:"FILESIGHT_CODEC_KEYS, required"`
	Compress bool          `env:"FILESIGHT_CODEC_COMPRESS, default=true"`
	// AllowPlain accepts payloads that are not encrypted: only while
	// migrating histories written before encryption.
	AllowPlain bool `env:"FILESIGHT_CODEC_ALLOW_PLAIN, default=false"`
	// MaxDecodedBytes bounds what the payloads of one decode may inflate to.
	MaxDecodedBytes int64 `env:"FILESIGHT_CODEC_MAX_DECODED_BYTES, default=16777216"`
}

// Options are the data converter's codec options: plain payloads refused
// unless AllowPlain.
func (c Config) Options() Options {
	o := Options{Compress: c.Compress, MaxDecodedBytes: c.MaxDecodedBytes}
	if c.AllowPlain {
		o.Plain = AcceptPlain
	}
	return o
}

// ServerOptions are the codec server's codec options: uncompressed plain
// payloads are returned as they are (its callers already hold them in
// clear), compressed ones refused unless AllowPlain.
func (c Config) ServerOptions() Options {
	o := c.Options()
	if !c.AllowPlain {
		o.Plain = ReturnPlain
	}
	return o
}

// Keyring parses Keys; errors name the variable and never the key material.
func (c Config) Keyring() (*Keyring, error) {
	keys, err := ParseKeys(c.Keys)
	if err != nil {
		return nil, fmt.Errorf("FILESIGHT_CODEC_KEYS: %w", err)
	}
	kr, err := NewKeyring(keys...)
	if err != nil {
		return nil, fmt.Errorf("FILESIGHT_CODEC_KEYS: %w", err)
	}
	return kr, nil
}

// ServerConfig is the codec HTTP server's setting. Callers authenticate
// with the shared bearer CODEC_AUTH_TOKEN (development, the CLI, scripts),
// or — in production, behind the Temporal UI's single sign-on — with the
// user's access token that the UI forwards, verified against the
// CODEC_OIDC_* identity provider. At least one of the two must be set.
type ServerConfig struct {
	Addr  string        `env:"CODEC_ADDR, default=127.0.0.1:8081"`
	Token secret.String `env:"CODEC_AUTH_TOKEN"`
	// AllowedOrigins is the Temporal UI origin(s), comma separated.
	AllowedOrigins []string `env:"CODEC_CORS_ORIGINS, default=http://127.0.0.1:8233,http://localhost:8233"`

	// OIDCIssuer, OIDCAudience and OIDCJWKSURL enable access tokens: the
	// issuer's exact "iss", an "aud" the tokens must name, and its JWKS.
	OIDCIssuer   string `env:"CODEC_OIDC_ISSUER"`
	OIDCAudience string `env:"CODEC_OIDC_AUDIENCE"`
	OIDCJWKSURL  string `env:"CODEC_OIDC_JWKS_URL"`
	// OIDCClockSkew is tolerated on the tokens' exp, nbf and iat.
	OIDCClockSkew time.Duration `env:"CODEC_OIDC_CLOCK_SKEW, default=30s"`
}

// OIDCEnabled reports whether any CODEC_OIDC_* identity setting is given.
func (c ServerConfig) OIDCEnabled() bool {
	return c.OIDCIssuer != "" || c.OIDCAudience != "" || c.OIDCJWKSURL != ""
}

// oidcConfig is the access-token verifier's configuration.
func (c ServerConfig) oidcConfig() oidc.Config {
	return oidc.Config{Issuer: c.OIDCIssuer, Audience: c.OIDCAudience, JWKSURL: c.OIDCJWKSURL, ClockSkew: c.OIDCClockSkew}
}

// AccessTokenVerifier returns the verifier of the UI's forwarded access
// tokens, or nil when CODEC_OIDC_* is not set.
func (c ServerConfig) AccessTokenVerifier() (*oidc.Verifier, error) {
	if !c.OIDCEnabled() {
		return nil, nil
	}
	v, err := oidc.NewVerifier(c.oidcConfig())
	if err != nil {
		return nil, fmt.Errorf("CODEC_OIDC_*: %w", err)
	}
	return v, nil
}

// Validate rejects a token too short to be a credential, an incomplete
// identity provider setting, and a server no one could authenticate to.
func (c ServerConfig) Validate() error {
	if c.Token.IsZero() && !c.OIDCEnabled() {
		return errors.New("set CODEC_AUTH_TOKEN (a shared bearer) or CODEC_OIDC_ISSUER, CODEC_OIDC_AUDIENCE and CODEC_OIDC_JWKS_URL (the Temporal UI's forwarded access tokens)")
	}
	if err := secret.CheckShared("CODEC_AUTH_TOKEN", c.Token); err != nil {
		return err
	}
	if c.OIDCEnabled() {
		if err := c.oidcConfig().Validate(); err != nil {
			return fmt.Errorf("CODEC_OIDC_ISSUER, CODEC_OIDC_AUDIENCE, CODEC_OIDC_JWKS_URL, CODEC_OIDC_CLOCK_SKEW: %w", err)
		}
	}
	for _, o := range c.AllowedOrigins {
		if !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			return fmt.Errorf("CODEC_CORS_ORIGINS: %q is not an http(s) origin", o)
		}
	}
	return nil
}

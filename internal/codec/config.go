package codec

import (
	"errors"
	"fmt"
	"strings"

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

// ServerConfig is the codec HTTP server's setting.
type ServerConfig struct {
	Addr  string        `env:"CODEC_ADDR, default=127.0.0.1:8081"`
	Token secret.String `env:"CODEC_AUTH_TOKEN, required"`
	// AllowedOrigins is the Temporal UI origin(s), comma separated.
	AllowedOrigins []string `env:"CODEC_CORS_ORIGINS, default=http://127.0.0.1:8233,http://localhost:8233"`
}

// Validate rejects a token too short to be a credential.
func (c ServerConfig) Validate() error {
	if c.Token.IsZero() {
		return errors.New("CODEC_AUTH_TOKEN is required")
	}
	if err := secret.CheckShared("CODEC_AUTH_TOKEN", c.Token); err != nil {
		return err
	}
	for _, o := range c.AllowedOrigins {
		if !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			return fmt.Errorf("CODEC_CORS_ORIGINS: %q is not an http(s) origin", o)
		}
	}
	return nil
}

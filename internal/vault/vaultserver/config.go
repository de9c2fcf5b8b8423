package vaultserver

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	"filesight/internal/config"
	"filesight/internal/secret"
)

// MinSecretLen is the shortest token key and credential accepted, in bytes.
const MinSecretLen = 32

// Config configures the vault service. Fields with an env tag are read by
// Main from the environment (each may also be given as NAME_FILE); the
// others are knobs for tests and embedders whose zero value is the default.
type Config struct {
	// Addr is the listen address.
	Addr string `env:"VAULT_ADDR, default=127.0.0.1:8720"`
	// DataDir holds the SQLite database vault.db.
	DataDir string `env:"VAULT_DATA_DIR, default=var/vault"`
	// EncryptionKeys are the AES-256 keys that seal stored values,
	// "id:base64key[,id:base64key…]" with 32-byte keys: the last one
	// encrypts, all of them decrypt (rotation: append a key, restart,
	// re-encrypt, then drop the old key).
	EncryptionKeys secret.String `env:"VAULT_ENCRYPTION_KEYS, required"`
	// TokenKey is the HMAC key tokens are derived from (at least 32 bytes).
	// Changing it gives equal values new tokens; see docs/vault.md.
	TokenKey secret.String `env:"VAULT_TOKEN_KEY, required"`
	// TokenizeCredentials may tokenize: "name:secret[,name:secret…]". The
	// name appears in logs; workers hold one of the secrets.
	TokenizeCredentials secret.String `env:"VAULT_TOKENIZE_CREDENTIALS, required"`
	// DetokenizeCredentials may detokenize, read the audit log and manage
	// keys: "name:secret[,name:secret…]". The name is the "who" of the audit.
	DetokenizeCredentials secret.String `env:"VAULT_DETOKENIZE_CREDENTIALS, required"`
	// MaxBodyBytes bounds a request body (413 beyond it).
	MaxBodyBytes int64 `env:"VAULT_MAX_BODY_BYTES, default=1048576"`
	// LogLevel is used by the program's slog handler.
	LogLevel slog.Level `env:"VAULT_LOG_LEVEL, default=info"`

	// ShutdownTimeout bounds the drain of in-flight requests (default 10s).
	ShutdownTimeout time.Duration
	// DeniedAuditPerMinute caps how many refused requests a minute are
	// written to the audit log (default 60); the rest are only counted in
	// the log, so that a flood of bad credentials cannot fill the disk.
	DeniedAuditPerMinute int
}

func loadConfig(ctx context.Context, l envconfig.Lookuper) (Config, error) {
	var cfg Config
	if err := config.LoadFrom(ctx, &cfg, l); err != nil {
		return Config{}, fmt.Errorf("vault: %w", err)
	}
	return cfg, nil
}

// credential is one named secret.
type credential struct {
	name   string
	secret []byte
}

// role is what a credential may do.
type role int

const (
	roleNone role = iota
	roleTokenize
	roleDetokenize
)

// settings is a validated Config.
type settings struct {
	Config
	keys     *keyring
	tokenKey []byte
	creds    map[role][]credential
}

var credentialName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// parseCredentials reads "name:secret[,…]"; errors name the variable and
// the credential, never a secret.
func parseCredentials(variable string, s secret.String) ([]credential, error) {
	var out []credential
	seen := map[string]bool{}
	for i, part := range strings.Split(s.Reveal(), ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, sec, ok := strings.Cut(part, ":")
		if !ok || !credentialName.MatchString(name) {
			return nil, fmt.Errorf("%s: entry %d: want name:secret with a name of letters, digits and . _ @ - (at most 64)", variable, i+1)
		}
		if len(sec) < MinSecretLen {
			return nil, fmt.Errorf("%s: the secret of %q is %d bytes; at least %d are required", variable, name, len(sec), MinSecretLen)
		}
		if seen[name] {
			return nil, fmt.Errorf("%s: the name %q appears twice", variable, name)
		}
		seen[name] = true
		out = append(out, credential{name: name, secret: []byte(sec)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no credential given (want name:secret)", variable)
	}
	return out, nil
}

// validate checks the configuration and parses its secrets; every error
// names the variable at fault.
func (c Config) validate() (settings, error) {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8720"
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.DeniedAuditPerMinute <= 0 {
		c.DeniedAuditPerMinute = 60
	}
	s := settings{Config: c, creds: map[role][]credential{}}
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("VAULT_DATA_DIR is empty"))
	}
	var err error
	if s.keys, err = parseKeyring(c.EncryptionKeys); err != nil {
		errs = append(errs, fmt.Errorf("VAULT_ENCRYPTION_KEYS: %w", err))
	}
	if n := len(c.TokenKey.Reveal()); n < MinSecretLen {
		errs = append(errs, fmt.Errorf("VAULT_TOKEN_KEY is %d bytes; at least %d are required", n, MinSecretLen))
	}
	s.tokenKey = []byte(c.TokenKey.Reveal())
	tok, err := parseCredentials("VAULT_TOKENIZE_CREDENTIALS", c.TokenizeCredentials)
	errs = append(errs, err)
	detok, err := parseCredentials("VAULT_DETOKENIZE_CREDENTIALS", c.DetokenizeCredentials)
	errs = append(errs, err)
	for _, t := range tok {
		for _, d := range detok {
			if subtle.ConstantTimeCompare(t.secret, d.secret) == 1 {
				errs = append(errs, fmt.Errorf("VAULT_TOKENIZE_CREDENTIALS %q and VAULT_DETOKENIZE_CREDENTIALS %q have the same secret; a worker's credential must not detokenize", t.name, d.name))
			}
		}
	}
	for _, cr := range append(append([]credential{}, tok...), detok...) {
		if subtle.ConstantTimeCompare(cr.secret, s.tokenKey) == 1 {
			errs = append(errs, fmt.Errorf("the credential %q is the VAULT_TOKEN_KEY; use separate secrets", cr.name))
		}
	}
	s.creds[roleTokenize], s.creds[roleDetokenize] = tok, detok
	if err := errors.Join(errs...); err != nil {
		return settings{}, fmt.Errorf("vault config: %w", err)
	}
	return s, nil
}

// decodeKey reads standard or URL base64, padded or not.
func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

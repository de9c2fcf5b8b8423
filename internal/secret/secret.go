// Package secret holds credential types that refuse to show themselves in
// logs, error strings and fmt output.
//
// A Token still marshals to JSON as its value, because tokens must travel
// between activities (inside encrypted Temporal payloads) and over HTTP; what
// it prevents is the accidental leak through %v, %s, slog or an error message.
//
// One gap fmt leaves open: it cannot call methods on an unexported struct
// field, so %v of a struct holding a String in an unexported field prints the
// raw value. Types that keep a String unexported (clients, servers) implement
// String/GoString themselves, and tests check their formatting.
package secret

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
)

// Redacted is what every formatting path prints instead of a secret value.
const Redacted = "[REDACTED]"

// String is a secret string: a token, a client secret, an API key.
type String string

// Reveal returns the raw value. Call it only where the value is put on the
// wire (an Authorization header, a form field).
func (s String) Reveal() string { return string(s) }

// IsZero reports whether the secret is empty.
func (s String) IsZero() bool { return s == "" }

// String implements fmt.Stringer with a redacted value.
func (s String) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString keeps %#v from printing the value.
func (s String) GoString() string { return s.String() }

// Format covers every verb (%v, %s, %q, %x, %d ...), so no verb prints the value.
func (s String) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(s.String())) }

// LogValue implements slog.LogValuer.
func (s String) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Fingerprint is a short, non-reversible identifier of the value (the first
// 12 hex digits of its SHA-256) that is safe to log and to compare.
func (s String) Fingerprint() string {
	if s == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}

// MinSharedBytes is the shortest shared secret the programs accept: API
// keys, signing keys of webhooks and callbacks, admin keys and bearer
// tokens that two parties agree on. 32 bytes (256 bits) is the key size of
// HMAC-SHA256, which signs most of them.
const MinSharedBytes = 32

// CheckShared returns an error naming variable when s is set but shorter
// than MinSharedBytes (an empty s is the caller's to require or not). The
// error never holds the value.
func CheckShared(variable string, s String) error {
	if s.IsZero() || len(s.Reveal()) >= MinSharedBytes {
		return nil
	}
	return fmt.Errorf("%s is too short: a shared secret must be at least %d bytes "+
		"(generate one with `openssl rand -base64 32`)", variable, MinSharedBytes)
}

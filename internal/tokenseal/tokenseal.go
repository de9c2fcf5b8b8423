// Package tokenseal seals credential values (downscoped Box tokens) so that
// they can travel through Temporal workflow history without anyone who reads
// that history being able to use them.
//
// History is protected at rest by the payload codec (internal/codec), but
// whoever may decode payloads — the Temporal UI through the codec server,
// the temporal CLI, an exported history — would otherwise read every token
// in clear. A sealed value is AES-256-GCM ciphertext under a key that only
// the workers hold (FILESIGHT_TOKEN_SEAL_KEYS, separate from the codec
// keys): the UI and the CLI show it, but only a worker can open it. Any
// worker with the keys can open what any other sealed, so a token issued by
// one worker is used and revoked by another, also after a crash.
//
// Keys rotate like the codec's: a list "id:base64key,...", the last one
// seals, every one opens. A sealed value names its key, so values sealed
// before a rotation open as long as their key stays in the list (a token
// lives about an hour; see SECURITY.md for the procedure).
package tokenseal

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"filesight/internal/codec"
	"filesight/internal/secret"
)

// Prefix starts every sealed value: the format's name and version.
const Prefix = "fsseal1."

// ErrUnknownKey: the value was sealed under a key this sealer lacks (a
// worker whose key list is behind the others', or a key removed too early).
// Another worker may be able to open it.
var ErrUnknownKey = codec.ErrUnknownKey

// ErrInvalid: the value is malformed, tampered with, sealed under another
// key with the same ID, or sealed for another label. No worker can open it.
var ErrInvalid = errors.New("not a valid sealed value")

// Config is the workers' sealing key setting (every variable also as
// NAME_FILE).
type Config struct {
	// Keys is "id:base64key[,id:base64key...]" (AES-256: 32 bytes each),
	// the last one sealing. They must differ from the codec keys.
	Keys secret.String `env:"FILESIGHT_TOKEN_SEAL_KEYS, required"`
}

// Sealer parses Keys; errors name the variable and never the key material.
func (c Config) Sealer() (*Sealer, error) {
	keys, err := c.keys()
	if err != nil {
		return nil, err
	}
	s, err := New(keys...)
	if err != nil {
		return nil, fmt.Errorf("FILESIGHT_TOKEN_SEAL_KEYS: %w", err)
	}
	return s, nil
}

func (c Config) keys() ([]codec.Key, error) {
	keys, err := codec.ParseKeys(c.Keys)
	if err != nil {
		return nil, fmt.Errorf("FILESIGHT_TOKEN_SEAL_KEYS: %w", err)
	}
	return keys, nil
}

// CheckSeparate refuses sealing keys that are also payload codec keys
// (codecKeys in FILESIGHT_CODEC_KEYS form): whoever may decode history must
// not be able to open what is sealed in it.
func (c Config) CheckSeparate(codecKeys secret.String) error {
	seal, err := c.keys()
	if err != nil {
		return err
	}
	payload, err := codec.ParseKeys(codecKeys)
	if err != nil {
		return nil // reported as FILESIGHT_CODEC_KEYS's own error
	}
	for _, s := range seal {
		for _, p := range payload {
			if bytes.Equal(s.Secret, p.Secret) {
				return fmt.Errorf("FILESIGHT_TOKEN_SEAL_KEYS: key %q is also codec key %q; token sealing needs keys of its own", s.ID, p.ID)
			}
		}
	}
	return nil
}

// Sealer seals and opens values. It is safe for concurrent use.
type Sealer struct{ kr *codec.Keyring }

// New returns a sealer over keys, the last one sealing (codec.ParseKeys
// reads them from their text form).
func New(keys ...codec.Key) (*Sealer, error) {
	kr, err := codec.NewKeyring(keys...)
	if err != nil {
		return nil, err
	}
	return &Sealer{kr: kr}, nil
}

// ActiveKeyID names the key new values are sealed with.
func (s *Sealer) ActiveKeyID() string { return s.kr.ActiveKeyID() }

// String describes the sealer without key material.
func (s *Sealer) String() string { return "tokenseal.Sealer{active: " + s.kr.ActiveKeyID() + "}" }

// GoString is String, for %#v.
func (s *Sealer) GoString() string { return s.String() }

// Seal returns value sealed for label ("fsseal1.<key id>.<base64url>").
// The label says what the value is for (for a Box token: its file and
// purpose); Open needs the same label, so a sealed value cannot be passed
// off as another.
func (s *Sealer) Seal(value secret.String, label string) (string, error) {
	if value.IsZero() {
		return "", errors.New("tokenseal: nothing to seal")
	}
	keyID, sealed, err := s.kr.Seal([]byte(value.Reveal()), []byte(label))
	if err != nil {
		return "", fmt.Errorf("tokenseal: %w", err)
	}
	return Prefix + keyID + "." + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Open returns the value sealed for label. Errors wrap ErrUnknownKey or
// ErrInvalid and never contain the value.
func (s *Sealer) Open(sealed, label string) (secret.String, error) {
	rest, ok := strings.CutPrefix(sealed, Prefix)
	i := strings.LastIndexByte(rest, '.')
	if !ok || i <= 0 {
		return "", fmt.Errorf("tokenseal: %w: not in the %s<key>.<data> form", ErrInvalid, Prefix)
	}
	keyID, data := rest[:i], rest[i+1:]
	raw, err := base64.RawURLEncoding.DecodeString(data)
	if err != nil {
		return "", fmt.Errorf("tokenseal: %w: data is not base64url", ErrInvalid)
	}
	plain, err := s.kr.Open(keyID, raw, []byte(label))
	switch {
	case errors.Is(err, codec.ErrUnknownKey):
		return "", fmt.Errorf("tokenseal: sealed under key %q, which this worker does not have: %w", keyID, ErrUnknownKey)
	case err != nil:
		return "", fmt.Errorf("tokenseal: key %q: %w (tampered, another key of that name, or another label)", keyID, ErrInvalid)
	}
	return secret.String(plain), nil
}

// Package codectest makes payload-encryption keys and keyrings for tests
// (the one test keyring helper of filesight) and calls a codec server as
// the Temporal UI does. It is never linked into a program.
package codectest

import (
	"encoding/base64"
	"strings"
	"testing"

	"filesight/internal/codec"
	"filesight/internal/secret"
)

// NewKey returns a fresh random AES-256 key named id.
func NewKey(t testing.TB, id string) codec.Key {
	t.Helper()
	s, err := codec.NewKeyString(id)
	if err != nil {
		t.Fatalf("codectest: %v", err)
	}
	keys, err := codec.ParseKeys(s)
	if err != nil || len(keys) != 1 {
		t.Fatalf("codectest: key %q: %v", id, err)
	}
	return keys[0]
}

// NewKeyring returns the keyring of keys, the last one encrypting; with no
// keys, a keyring of one fresh random key named "test".
func NewKeyring(t testing.TB, keys ...codec.Key) *codec.Keyring {
	t.Helper()
	if len(keys) == 0 {
		keys = []codec.Key{NewKey(t, "test")}
	}
	kr, err := codec.NewKeyring(keys...)
	if err != nil {
		t.Fatalf("codectest: %v", err)
	}
	return kr
}

// ParseKeyring returns the keyring of keys given as FILESIGHT_CODEC_KEYS
// material ("id:base64key,..."), for tests that hand the same keys to
// another process.
func ParseKeyring(t testing.TB, keys secret.String) *codec.Keyring {
	t.Helper()
	parsed, err := codec.ParseKeys(keys)
	if err != nil {
		t.Fatalf("codectest: %v", err)
	}
	return NewKeyring(t, parsed...)
}

// KeysString renders keys as FILESIGHT_CODEC_KEYS does
// ("id:base64key,..."), to configure a program with them.
func KeysString(keys ...codec.Key) secret.String {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k.ID + ":" + base64.StdEncoding.EncodeToString(k.Secret)
	}
	return secret.String(strings.Join(parts, ","))
}

package vaultserver

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"filesight/internal/secret"
)

// keyring holds the AES-256-GCM keys of stored values by ID; the active key
// seals, every key opens.
type keyring struct {
	aeads  map[string]cipher.AEAD
	order  []string
	active string
}

// parseKeyring reads "id:base64key[,…]" (32-byte keys); the last is active.
// Errors name the key ID, never key material.
func parseKeyring(s secret.String) (*keyring, error) {
	kr := &keyring{aeads: map[string]cipher.AEAD{}}
	for i, part := range strings.Split(s.Reveal(), ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, b64, ok := strings.Cut(part, ":")
		if !ok || id == "" || strings.ContainsAny(id, " \t") || len(id) > 64 {
			return nil, fmt.Errorf("entry %d: want id:base64key with an ID of at most 64 characters and no spaces", i+1)
		}
		if _, dup := kr.aeads[id]; dup {
			return nil, fmt.Errorf("key ID %q appears twice", id)
		}
		raw, err := decodeKey(b64)
		if err != nil {
			return nil, fmt.Errorf("key %q is not base64", id)
		}
		if len(raw) != 32 {
			return nil, fmt.Errorf("key %q is %d bytes; AES-256 needs exactly 32 (e.g. head -c 32 /dev/urandom | base64)", id, len(raw))
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", id, err)
		}
		kr.aeads[id] = aead
		kr.order = append(kr.order, id)
		kr.active = id
	}
	if kr.active == "" {
		return nil, errors.New("no key given (want id:base64key)")
	}
	return kr, nil
}

// seal encrypts plaintext with the active key: nonce || ciphertext. aad
// binds the ciphertext to its row.
func (kr *keyring) seal(plaintext, aad []byte) ([]byte, error) {
	aead := kr.aeads[kr.active]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("generating a nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, plaintext, aad), nil
}

// open decrypts what seal returned under keyID.
func (kr *keyring) open(keyID string, sealed, aad []byte) ([]byte, error) {
	aead, ok := kr.aeads[keyID]
	if !ok {
		return nil, fmt.Errorf("key %q is not configured", keyID)
	}
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("sealed value too short")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], aad)
	if err != nil {
		return nil, fmt.Errorf("decrypting with key %q: authentication failed", keyID)
	}
	return plain, nil
}

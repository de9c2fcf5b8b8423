package codec

import (
	"crypto/rand"
	"errors"
	"fmt"
)

// ErrUnknownKey is returned by Open for a key ID the keyring lacks.
var ErrUnknownKey = errors.New("unknown key ID")

// ErrNotAuthentic is returned by Open when the sealed bytes fail
// authentication: tampered, truncated, sealed under another key or with
// other associated data.
var ErrNotAuthentic = errors.New("sealed value failed authentication (tampered, or wrong key)")

// Seal encrypts plain with the active key and a random 96-bit nonce. The
// key ID and ad are authenticated (not encrypted): Open needs both, so a
// sealed value cannot be relabelled or moved to another use. It returns
// the key ID and nonce||ciphertext.
func (kr *Keyring) Seal(plain, ad []byte) (keyID string, sealed []byte, err error) {
	aead := kr.keys[kr.active]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", nil, fmt.Errorf("codec: nonce: %w", err)
	}
	return kr.active, aead.Seal(nonce, nonce, plain, sealAD(kr.active, ad)), nil
}

// Open reverses Seal with the key named keyID; errors wrap ErrUnknownKey
// or ErrNotAuthentic and never contain key material or plaintext.
func (kr *Keyring) Open(keyID string, sealed, ad []byte) ([]byte, error) {
	aead, ok := kr.keys[keyID]
	if !ok {
		return nil, fmt.Errorf("codec: key %q: %w", keyID, ErrUnknownKey)
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("codec: key %q: truncated: %w", keyID, ErrNotAuthentic)
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], sealAD(keyID, ad))
	if err != nil {
		return nil, fmt.Errorf("codec: key %q: %w", keyID, ErrNotAuthentic)
	}
	return plain, nil
}

// sealAD is the associated data of Seal: the key ID, a separator no key
// ID contains, and the caller's data. It differs from a payload's (the key
// ID alone), so neither can be passed off as the other.
func sealAD(keyID string, ad []byte) []byte {
	out := make([]byte, 0, len(keyID)+1+len(ad))
	out = append(out, keyID...)
	out = append(out, 0)
	return append(out, ad...)
}

// Package codec encrypts every Temporal payload that filesight writes, so the
// Temporal server (and anyone reading its database or history exports) sees
// ciphertext only. One constructor, NewDataConverter, is shared by the worker,
// the starter, the replayer and tests; the HTTP handler lets the Temporal UI
// and CLI decrypt for users holding the codec token.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"filesight/internal/secret"
)

const (
	// EncodingEncrypted is the metadata "encoding" of an encrypted payload.
	EncodingEncrypted = "binary/encrypted"
	// MetadataKeyID names the key that encrypted a payload.
	MetadataKeyID = "encryption-key-id"
	// KeySize is the AES-256 key length in bytes.
	KeySize = 32
)

// Key is one named AES-256 key.
type Key struct {
	ID     string
	Secret []byte
}

// Keyring holds the keys that can decrypt, and the one that encrypts.
type Keyring struct {
	keys   map[string]cipher.AEAD
	active string
}

// NewKeyring builds a keyring; the last key is the active (encrypting) one,
// the others only decrypt, so a key rotates by appending a new one.
func NewKeyring(keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("codec: at least one key is required")
	}
	kr := &Keyring{keys: make(map[string]cipher.AEAD, len(keys))}
	for _, k := range keys {
		if k.ID == "" || strings.ContainsAny(k.ID, ":, ") {
			return nil, fmt.Errorf("codec: key ID %q must be non-empty and free of ':', ',' and spaces", k.ID)
		}
		if len(k.Secret) != KeySize {
			return nil, fmt.Errorf("codec: key %q is %d bytes, want %d (AES-256)", k.ID, len(k.Secret), KeySize)
		}
		if _, dup := kr.keys[k.ID]; dup {
			return nil, fmt.Errorf("codec: key ID %q appears twice", k.ID)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("codec: key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("codec: key %q: %w", k.ID, err)
		}
		kr.keys[k.ID] = aead
		kr.active = k.ID
	}
	return kr, nil
}

// ActiveKeyID is the ID of the key new payloads are encrypted with.
func (kr *Keyring) ActiveKeyID() string { return kr.active }

// ParseKeys reads "id1:base64key1,id2:base64key2" (standard or URL base64);
// the last entry is the active key. The error never contains key material.
func ParseKeys(s secret.String) ([]Key, error) {
	var keys []Key
	for i, part := range strings.Split(strings.TrimSpace(s.Reveal()), ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, b64, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("codec key entry %d: want id:base64key", i+1)
		}
		raw, err := decodeB64(b64)
		if err != nil {
			return nil, fmt.Errorf("codec key %q: not base64", id)
		}
		keys = append(keys, Key{ID: id, Secret: raw})
	}
	if len(keys) == 0 {
		return nil, errors.New("no codec keys given")
	}
	return keys, nil
}

func decodeB64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("invalid base64")
}

// NewKeyString returns a fresh "id:base64key" entry for ParseKeys.
func NewKeyString(id string) (secret.String, error) {
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating codec key: %w", err)
	}
	return secret.String(id + ":" + base64.StdEncoding.EncodeToString(b)), nil
}

// Codec is an AES-256-GCM converter.PayloadCodec. Each payload is the
// serialized original payload, sealed with a random 96-bit nonce; the key ID
// is authenticated as additional data, so relabelling a payload fails.
type Codec struct{ kr *Keyring }

var _ converter.PayloadCodec = (*Codec)(nil)

// NewCodec returns the encrypting codec over kr.
func NewCodec(kr *Keyring) *Codec { return &Codec{kr: kr} }

// Encode encrypts every payload with the active key.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.kr.keys[c.kr.active]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("codec: serializing payload: %w", err)
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("codec: nonce: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(EncodingEncrypted),
				MetadataKeyID:              []byte(c.kr.active),
			},
			Data: aead.Seal(nonce, nonce, plain, []byte(c.kr.active)),
		}
	}
	return out, nil
}

// Decode decrypts encrypted payloads with the key they name and passes any
// other payload through unchanged.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != EncodingEncrypted {
			out[i] = p
			continue
		}
		keyID := string(p.GetMetadata()[MetadataKeyID])
		aead, ok := c.kr.keys[keyID]
		if !ok {
			return nil, fmt.Errorf("codec: payload encrypted with unknown key ID %q", keyID)
		}
		data := p.GetData()
		if len(data) < aead.NonceSize()+aead.Overhead() {
			return nil, fmt.Errorf("codec: payload for key ID %q is truncated", keyID)
		}
		plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], []byte(keyID))
		if err != nil {
			return nil, fmt.Errorf("codec: payload for key ID %q failed authentication (tampered, or wrong key)", keyID)
		}
		var orig commonpb.Payload
		if err := proto.Unmarshal(plain, &orig); err != nil {
			return nil, fmt.Errorf("codec: payload for key ID %q: decrypted bytes are not a payload: %w", keyID, err)
		}
		out[i] = &orig
	}
	return out, nil
}

// Options choose the codec chain.
type Options struct {
	// Compress zlib-compresses payloads before encryption (only when smaller).
	Compress bool
}

// Codecs returns the codec chain in converter order: encryption outermost,
// so compression happens before encryption (ciphertext does not compress).
func Codecs(kr *Keyring, opts Options) []converter.PayloadCodec {
	cs := []converter.PayloadCodec{NewCodec(kr)}
	if opts.Compress {
		cs = append(cs, converter.NewZlibCodec(converter.ZlibCodecOptions{}))
	}
	return cs
}

// NewDataConverter is the one data converter of every filesight program.
func NewDataConverter(kr *Keyring, opts Options) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), Codecs(kr, opts)...)
}

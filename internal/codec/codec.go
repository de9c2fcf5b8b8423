// Package codec encrypts every Temporal payload that filesight writes, so the
// Temporal server (and anyone reading its database or history exports) sees
// ciphertext only. One constructor, NewDataConverter, is shared by the worker,
// the starter, the replayer and tests; the HTTP handler lets the Temporal UI
// and CLI decrypt for users holding the codec token.
package codec

import (
	"bytes"
	"compress/zlib"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

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

// PlainPolicy says what decoding does with a payload that is not
// encrypted.
type PlainPolicy string

const (
	// RefusePlain (the zero value) fails the decode: only encrypted
	// payloads are trusted. Anyone who can reach the Temporal frontend can
	// write a plain payload (a signal, say) without holding a codec key.
	RefusePlain PlainPolicy = ""
	// ReturnPlain hands an uncompressed plain payload back as it is and
	// refuses a compressed one. It is the codec server's policy: its callers
	// (the Temporal UI and CLI) already hold such payloads in clear, for
	// example the details Temporal itself writes when it cancels an activity
	// that never started, and returning them costs nothing.
	ReturnPlain PlainPolicy = "return"
	// AcceptPlain decodes plain payloads too, compressed ones within
	// Options.MaxDecodedBytes: only to read histories written before
	// encryption (FILESIGHT_CODEC_ALLOW_PLAIN=true).
	AcceptPlain PlainPolicy = "accept"
)

// EncodingZlib is the metadata "encoding" of a zlib-compressed payload.
const EncodingZlib = "binary/zlib"

// DefaultMaxDecodedBytes bounds what one Decode call may inflate to: eight
// times Temporal's default 2 MB payload limit.
const DefaultMaxDecodedBytes = 16 << 20

// ErrPlainPayload is wrapped by the error of a decode that met a payload
// that is not encrypted.
var ErrPlainPayload = errors.New("payload is not encrypted")

// ErrTooLarge is wrapped by the error of a decode whose payloads inflate
// past Options.MaxDecodedBytes.
var ErrTooLarge = errors.New("payload inflates past the limit")

// Codec is an AES-256-GCM converter.PayloadCodec. Each payload is the
// serialized original payload, sealed with a random 96-bit nonce; the key ID
// is authenticated as additional data, so relabelling a payload fails.
type Codec struct {
	kr    *Keyring
	plain PlainPolicy
}

var _ converter.PayloadCodec = (*Codec)(nil)

// NewCodec returns the encrypting codec over kr. It refuses to decode
// payloads that are not encrypted (RefusePlain).
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

// Decode decrypts encrypted payloads with the key they name. What it does
// with any other payload is the codec's PlainPolicy: by default it fails.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if enc := string(p.GetMetadata()[converter.MetadataEncoding]); enc != EncodingEncrypted {
			if err := c.checkPlain(enc); err != nil {
				return nil, err
			}
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

// checkPlain applies the plain-payload policy to a payload of encoding enc.
func (c *Codec) checkPlain(enc string) error {
	switch {
	case c.plain == AcceptPlain:
		return nil
	case c.plain == ReturnPlain && enc != EncodingZlib:
		return nil
	case c.plain == ReturnPlain:
		return fmt.Errorf("codec: refusing a compressed payload that is not encrypted (encoding %q): %w", truncateEncoding(enc), ErrPlainPayload)
	}
	return fmt.Errorf("codec: refusing a payload that is not encrypted (encoding %q); only encrypted payloads are accepted "+
		"(FILESIGHT_CODEC_ALLOW_PLAIN=true accepts plain ones while migrating histories written before encryption): %w",
		truncateEncoding(enc), ErrPlainPayload)
}

// truncateEncoding keeps an encoding name from an untrusted payload short
// in messages.
func truncateEncoding(enc string) string {
	if len(enc) > 40 {
		return enc[:40] + "…"
	}
	return enc
}

// Options choose the codec chain. The zero value encrypts without
// compressing, refuses plain payloads and bounds decompression at
// DefaultMaxDecodedBytes.
type Options struct {
	// Compress zlib-compresses payloads before encryption (only when smaller).
	// Compressed payloads are decoded whatever its value.
	Compress bool
	// Plain is what decoding does with a payload that is not encrypted.
	Plain PlainPolicy
	// MaxDecodedBytes bounds the bytes the payloads of one Decode call may
	// inflate to; zero or less means DefaultMaxDecodedBytes.
	MaxDecodedBytes int64
}

// Codecs returns the codec chain in converter order: encryption outermost,
// so compression happens before encryption (ciphertext does not compress),
// and decryption before the bounded decompression.
func Codecs(kr *Keyring, opts Options) []converter.PayloadCodec {
	limit := opts.MaxDecodedBytes
	if limit <= 0 {
		limit = DefaultMaxDecodedBytes
	}
	return []converter.PayloadCodec{
		&Codec{kr: kr, plain: opts.Plain},
		&zlibCodec{compress: opts.Compress, limit: limit},
	}
}

// minCompressSize is the smallest serialized payload Encode compresses.
// Below it zlib saves a few bytes at best (sealed tokens, IDs and small
// results hardly compress), while a compressor costs a large allocation
// to set up; a CPU profile of the worker had about a third of its time in
// compressing small payloads and in collecting the compressors.
const minCompressSize = 512

// zlibCodec compresses payloads with zlib (the Temporal SDK's format,
// encoding "binary/zlib") and decompresses them with a hard limit on the
// bytes the payloads of one Decode call may inflate to: a few kilobytes of
// zlib can stand for gigabytes.
type zlibCodec struct {
	compress bool
	limit    int64
	// writers and readers keep zlib compressors and decompressors for
	// reuse (Reset): each holds hundreds of kilobytes of tables.
	writers sync.Pool // *zlib.Writer
	readers sync.Pool // io.ReadCloser that is a zlib.Resetter
}

// Encode compresses each payload of at least minCompressSize bytes when
// that makes it smaller (and when compression is enabled).
func (z *zlibCodec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	if !z.compress {
		return payloads, nil
	}
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		raw, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("codec: serializing payload: %w", err)
		}
		if len(raw) < minCompressSize {
			out[i] = p
			continue
		}
		var buf bytes.Buffer
		if err := z.deflate(&buf, raw); err != nil {
			return nil, fmt.Errorf("codec: compressing payload: %w", err)
		}
		if buf.Len() >= len(raw) {
			out[i] = p
			continue
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{converter.MetadataEncoding: []byte(EncodingZlib)},
			Data:     buf.Bytes(),
		}
	}
	return out, nil
}

// deflate writes raw to buf zlib-compressed, with a pooled compressor.
func (z *zlibCodec) deflate(buf *bytes.Buffer, raw []byte) error {
	w, ok := z.writers.Get().(*zlib.Writer)
	if ok {
		w.Reset(buf)
	} else {
		w = zlib.NewWriter(buf)
	}
	_, err := w.Write(raw)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		z.writers.Put(w) // a writer that failed is not reused
	}
	return err
}

// inflater returns a zlib reader of data, pooled when it can be.
func (z *zlibCodec) inflater(data []byte) (io.ReadCloser, error) {
	if r, ok := z.readers.Get().(io.ReadCloser); ok {
		if err := r.(zlib.Resetter).Reset(bytes.NewReader(data), nil); err != nil {
			return nil, err
		}
		return r, nil
	}
	return zlib.NewReader(bytes.NewReader(data))
}

// Decode decompresses "binary/zlib" payloads, reading at most the limit
// (plus one byte, to tell "exactly the limit" from "more") across all of
// them; other payloads pass unchanged.
func (z *zlibCodec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	budget := z.limit
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != EncodingZlib {
			out[i] = p
			continue
		}
		r, err := z.inflater(p.GetData())
		if err != nil {
			return nil, fmt.Errorf("codec: compressed payload is not zlib data: %w", err)
		}
		raw, err := readAtMost(r, budget)
		if errors.Is(err, ErrTooLarge) {
			return nil, fmt.Errorf("codec: refusing payloads that inflate past %d bytes (FILESIGHT_CODEC_MAX_DECODED_BYTES): %w", z.limit, ErrTooLarge)
		}
		if err == nil {
			err = r.Close()
		}
		if err != nil {
			return nil, fmt.Errorf("codec: decompressing payload: %w", err)
		}
		z.readers.Put(r) // only a reader that read a whole stream is reused
		budget -= int64(len(raw))
		var orig commonpb.Payload
		if err := proto.Unmarshal(raw, &orig); err != nil {
			return nil, fmt.Errorf("codec: decompressed bytes are not a payload: %w", err)
		}
		out[i] = &orig
	}
	return out, nil
}

// NewDataConverter is the one data converter of every filesight program.
func NewDataConverter(kr *Keyring, opts Options) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), Codecs(kr, opts)...)
}

// readAtMost reads r to its end, failing with ErrTooLarge as soon as it
// yields more than limit bytes. Its buffer doubles as it fills but never
// grows past limit+1 bytes, so a refused read costs at most about twice
// the limit in allocations.
func readAtMost(r io.Reader, limit int64) ([]byte, error) {
	buf := make([]byte, 0, min(limit+1, 64<<10))
	for {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(2*int64(cap(buf)), limit+1))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, ErrTooLarge
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

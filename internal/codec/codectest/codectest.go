// Package codectest makes payload-encryption keys and keyrings for tests
// (the one test keyring helper of filesight) and calls a codec server as
// the Temporal UI does. It is never linked into a program.
package codectest

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/binary"
	"hash/adler32"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protowire"

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

// ZlibBomb returns a plain (unencrypted) "binary/zlib" payload of about
// inflated/1000 bytes that inflates to inflated bytes (rounded up to whole
// MiB): a valid serialized payload whose data is zeros, under a correct
// zlib checksum. It is built from repeated compressed blocks, so even a
// multi-gigabyte bomb takes milliseconds to make.
func ZlibBomb(t testing.TB, inflated int64) *commonpb.Payload {
	t.Helper()
	const chunk = 1 << 20
	chunks := max(2, (inflated+chunk-1)/chunk)
	total := chunks * chunk
	// The serialized payload: field 2 (data) as bytes, then zeros.
	var prefix []byte
	for n := 1; ; n++ {
		prefix = protowire.AppendVarint([]byte{0x12}, uint64(total-1-int64(n)))
		if len(prefix) == 1+n {
			break
		}
	}
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, chunk)
	var blocks [][]byte
	for i := range 3 {
		start := buf.Len()
		in := zeros
		if i == 0 {
			in = append(bytes.Clone(prefix), zeros[len(prefix):]...)
		}
		if _, err := w.Write(in); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, bytes.Clone(buf.Bytes()[start:]))
	}
	if !bytes.Equal(blocks[1], blocks[2]) {
		t.Fatal("codectest: compressed blocks of zeros differ; cannot build the bomb")
	}
	out := []byte{0x78, 0xda} // zlib header, best compression
	out = append(out, blocks[0]...)
	for range chunks - 1 {
		out = append(out, blocks[1]...)
	}
	out = append(out, 0x01, 0x00, 0x00, 0xff, 0xff) // final, empty stored block
	// Adler-32 of the prefix, then of total-len(prefix) zeros: a zero byte
	// leaves a as it is and adds a to b.
	const mod = 65521
	sum := adler32.Checksum(prefix)
	a, b := uint64(sum&0xffff), uint64(sum>>16)
	b = (b + a*(uint64(total-int64(len(prefix)))%mod)) % mod
	out = binary.BigEndian.AppendUint32(out, uint32(b<<16|a))
	return &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte(codec.EncodingZlib)}, Data: out}
}

package codectest_test

import (
	"bytes"
	"compress/zlib"
	"io"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/proto"

	"filesight/internal/codec"
	"filesight/internal/codec/codectest"
)

func TestKeysRoundTrip(t *testing.T) {
	a, b := codectest.NewKey(t, "a"), codectest.NewKey(t, "b")
	keys, err := codec.ParseKeys(codectest.KeysString(a, b))
	if err != nil || len(keys) != 2 || keys[0].ID != "a" || string(keys[1].Secret) != string(b.Secret) {
		t.Fatalf("parsed %v, %v", keys, err)
	}
	if kr := codectest.NewKeyring(t, a, b); kr.ActiveKeyID() != "b" {
		t.Errorf("active key %s, want b", kr.ActiveKeyID())
	}
	if kr := codectest.ParseKeyring(t, codectest.KeysString(a, b)); kr.ActiveKeyID() != "b" {
		t.Errorf("parsed keyring's active key %s, want b", kr.ActiveKeyID())
	}
	if kr := codectest.NewKeyring(t); kr.ActiveKeyID() != "test" {
		t.Errorf("default keyring's key %s", kr.ActiveKeyID())
	}
}

// TestZlibBombIsValid inflates a small bomb completely: a valid zlib
// stream (checksum included) holding a serialized payload of zeros.
func TestZlibBombIsValid(t *testing.T) {
	p := codectest.ZlibBomb(t, 3<<20)
	if string(p.Metadata["encoding"]) != codec.EncodingZlib || len(p.Data) > 8<<10 {
		t.Fatalf("bomb: encoding %q, %d bytes", p.Metadata["encoding"], len(p.Data))
	}
	r, err := zlib.NewReader(bytes.NewReader(p.Data))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("inflating: %v", err)
	}
	if len(raw) != 3<<20 {
		t.Fatalf("inflated to %d bytes, want %d", len(raw), 3<<20)
	}
	var inner commonpb.Payload
	if err := proto.Unmarshal(raw, &inner); err != nil || len(inner.Data) < 3<<20-8 || bytes.Count(inner.Data, []byte{0}) != len(inner.Data) {
		t.Fatalf("inflated bytes are not a payload of zeros: %d bytes, %v", len(inner.Data), err)
	}
}

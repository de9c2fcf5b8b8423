package codec_test

import (
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"filesight/internal/codec"
	"filesight/internal/codec/codectest"
	"filesight/internal/secret"
)

// A key entry's error names the entry (counted from 1), never its key.
func TestKeyErrorNamesTheEntry(t *testing.T) {
	good, _ := codec.NewKeyString("k1")
	_, err := codec.ParseKeys(good + ",nokey")
	if err == nil || !strings.Contains(err.Error(), "entry 2") {
		t.Fatalf("error %v, want it to name entry 2", err)
	}
	if strings.Contains(err.Error(), strings.SplitN(good.Reveal(), ":", 2)[1]) {
		t.Fatalf("error holds key material: %v", err)
	}
	if _, err := codec.ParseKeys(secret.String("nokey")); err == nil || !strings.Contains(err.Error(), "entry 1") {
		t.Fatalf("error %v, want it to name entry 1", err)
	}
}

// Payloads of every size round-trip, down to an empty one (whose
// serialization is zero bytes, shorter than the AEAD's overhead).
func TestEmptyAndTinyPayloads(t *testing.T) {
	c := codec.NewCodec(codectest.NewKeyring(t, codectest.NewKey(t, "k1")))
	in := []*commonpb.Payload{{}, {Data: []byte("x")}, {Metadata: map[string][]byte{"a": nil}}}
	enc, err := c.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if !proto.Equal(in[i], out[i]) {
			t.Errorf("payload %d: %v, want %v", i, out[i], in[i])
		}
	}
}

// A refused payload's encoding is quoted in the error up to 40 bytes.
func TestRefusedEncodingIsQuotedShort(t *testing.T) {
	c := codec.NewCodec(codectest.NewKeyring(t, codectest.NewKey(t, "k1")))
	for _, tc := range []struct {
		enc, want string
	}{
		{strings.Repeat("e", 40), `"` + strings.Repeat("e", 40) + `"`},
		{strings.Repeat("e", 41), `"` + strings.Repeat("e", 40) + `…"`},
	} {
		_, err := c.Decode([]*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte(tc.enc)}}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("encoding of %d bytes: %v, want %s in it", len(tc.enc), err, tc.want)
		}
	}
}

// MaxDecodedBytes is exact: payloads that inflate to exactly the limit are
// decoded, one byte more is refused.
func TestMaxDecodedBytesIsExact(t *testing.T) {
	kr := codectest.NewKeyring(t, codectest.NewKey(t, "k1"))
	value := strings.Repeat("z", 4000)
	inner, err := converter.GetDefaultDataConverter().ToPayload(value)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := proto.Marshal(inner)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(raw)) // what the compressed payload inflates to
	for _, tc := range []struct {
		limit int64
		ok    bool
	}{{n, true}, {n - 1, false}} {
		dc := codec.NewDataConverter(kr, codec.Options{Compress: true, MaxDecodedBytes: tc.limit})
		p, err := dc.ToPayload(value)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		err = dc.FromPayload(p, &got)
		if (err == nil) != tc.ok || (err == nil && got != value) {
			t.Errorf("limit %d for a payload inflating to %d bytes: %v", tc.limit, n, err)
		}
	}
}

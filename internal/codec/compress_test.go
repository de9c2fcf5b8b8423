package codec_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"runtime"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"filesight/internal/codec"
	"filesight/internal/codec/codectest"
)

// compressor is the compression stage of the chain (after encryption).
func compressor(t testing.TB) converter.PayloadCodec {
	t.Helper()
	return codec.Codecs(codectest.NewKeyring(t, codectest.NewKey(t, "k1")), codec.Options{Compress: true})[1]
}

func payload(data []byte) *commonpb.Payload {
	return &commonpb.Payload{Metadata: map[string][]byte{converter.MetadataEncoding: []byte("json/plain")}, Data: data}
}

func TestCompressionOnlyWhereItPays(t *testing.T) {
	noise := make([]byte, 4096)
	rand.Read(noise)
	for _, tc := range []struct {
		name       string
		data       []byte
		compressed bool
	}{
		{"small, compressible", []byte(strings.Repeat("a", 300)), false},
		{"large, compressible", []byte(strings.Repeat(`{"word":"filesight","start":1.5},`, 200)), true},
		{"large, random", noise, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := compressor(t)
			in := payload(tc.data)
			enc, err := c.Encode([]*commonpb.Payload{in})
			if err != nil {
				t.Fatal(err)
			}
			got := string(enc[0].GetMetadata()[converter.MetadataEncoding]) == codec.EncodingZlib
			if got != tc.compressed {
				t.Fatalf("compressed = %v, want %v (%d bytes in, %d out)", got, tc.compressed, len(tc.data), len(enc[0].GetData()))
			}
			dec, err := c.Decode(enc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(dec[0].GetData(), tc.data) {
				t.Fatal("payload changed in the round trip")
			}
		})
	}
}

// The compressors and decompressors are reused: many different payloads
// in a row each come back as they were, and encoding one costs far less
// memory than a new compressor (hundreds of kilobytes of tables), which a
// CPU profile of the worker showed dominating its allocations.
func TestCompressorsAreReused(t *testing.T) {
	c := compressor(t)
	payloads := make([]*commonpb.Payload, 50)
	for i := range payloads {
		payloads[i] = payload([]byte(strings.Repeat(fmt.Sprintf(`{"n":%d,"text":"card %d"},`, i, i*7), 40+i)))
	}
	for round := range 3 {
		for i, p := range payloads {
			enc, err := c.Encode([]*commonpb.Payload{p})
			if err != nil {
				t.Fatal(err)
			}
			dec, err := c.Decode(enc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(dec[0].GetData(), p.GetData()) {
				t.Fatalf("round %d, payload %d changed in the round trip", round, i)
			}
		}
	}

	const runs = 200
	p := []*commonpb.Payload{payloads[len(payloads)-1]}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		enc, err := c.Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Decode(enc); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	// A new zlib writer alone allocates about 800 KiB; a garbage
	// collection may empty the pools now and then.
	if perRun := (after.TotalAlloc - before.TotalAlloc) / runs; perRun > 160<<10 {
		t.Errorf("an encode and decode allocated %d KiB on average, want the compressors reused (< 160 KiB)", perRun>>10)
	}
}

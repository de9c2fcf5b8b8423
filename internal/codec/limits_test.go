package codec_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"filesight/internal/codec"
	"filesight/internal/codec/codectest"
	"filesight/internal/config"
	"filesight/internal/testutil"
)

// maxBombMemory is what decoding a bomb may cost at most: the 16 MiB
// default limit, the buffer growth to reach it, the request itself and
// what the rest of the test binary allocates meanwhile. A bomb that is
// inflated costs gigabytes.
const maxBombMemory = 96 << 20

// loadConfig reads codec.Config from env the way the programs do.
func loadConfig(t *testing.T, env map[string]string) codec.Config {
	t.Helper()
	env["FILESIGHT_CODEC_KEYS"] = codectest.KeysString(codectest.NewKey(t, "k1")).Reveal()
	var c codec.Config
	if err := config.LoadFrom(context.Background(), &c, config.MapLookuper(env)); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConfigDefaults(t *testing.T) {
	c := loadConfig(t, map[string]string{})
	if c.AllowPlain || c.MaxDecodedBytes != codec.DefaultMaxDecodedBytes || !c.Compress {
		t.Fatalf("defaults: %+v", c)
	}
	if o := c.Options(); o.Plain != codec.RefusePlain || o.MaxDecodedBytes != codec.DefaultMaxDecodedBytes {
		t.Fatalf("data converter options: %+v", o)
	}
	if o := c.ServerOptions(); o.Plain != codec.ReturnPlain {
		t.Fatalf("codec server options: %+v", o)
	}
	c = loadConfig(t, map[string]string{"FILESIGHT_CODEC_ALLOW_PLAIN": "true", "FILESIGHT_CODEC_MAX_DECODED_BYTES": "1048576"})
	if o := c.Options(); o.Plain != codec.AcceptPlain || o.MaxDecodedBytes != 1<<20 {
		t.Fatalf("migration options: %+v", o)
	}
	if o := c.ServerOptions(); o.Plain != codec.AcceptPlain {
		t.Fatalf("migration codec server options: %+v", o)
	}
}

// TestPlainPayloadsRefused: a payload that is not encrypted (a signal sent
// by anyone who can reach Temporal, without a codec key) is refused by
// default, with an error that says why and how to migrate old histories.
func TestPlainPayloadsRefused(t *testing.T) {
	kr := codectest.NewKeyring(t)
	plain, err := converter.GetDefaultDataConverter().ToPayload(42)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	err = codec.NewDataConverter(kr, codec.Options{Compress: true}).FromPayload(plain, &n)
	if !errors.Is(err, codec.ErrPlainPayload) || !strings.Contains(err.Error(), `"json/plain"`) ||
		!strings.Contains(err.Error(), "FILESIGHT_CODEC_ALLOW_PLAIN") {
		t.Fatalf("plain payload: %v", err)
	}
	if err := codec.NewDataConverter(kr, codec.Options{Plain: codec.AcceptPlain}).FromPayload(plain, &n); err != nil || n != 42 {
		t.Fatalf("migration mode: %d, %v", n, err)
	}
	// Encrypted payloads, compressed or not, still round-trip.
	for _, compress := range []bool{false, true} {
		dc := codec.NewDataConverter(kr, codec.Options{Compress: compress})
		p, err := dc.ToPayload(strings.Repeat("compressible ", 1000))
		if err != nil {
			t.Fatal(err)
		}
		var s string
		if err := dc.FromPayload(p, &s); err != nil || len(s) != 13000 {
			t.Fatalf("compress=%v: %d bytes, %v", compress, len(s), err)
		}
	}
}

// TestPlainZlibBombInASignal decodes what a worker receiving a signal
// decodes: a 2 MB plain zlib payload that inflates to 2 GiB. By default it
// is refused before anything is inflated; in migration mode (plain
// payloads accepted) decompression stops at the limit. Either way memory
// stays bounded.
func TestPlainZlibBombInASignal(t *testing.T) {
	kr := codectest.NewKeyring(t)
	bomb := &commonpb.Payloads{Payloads: []*commonpb.Payload{codectest.ZlibBomb(t, 2<<30)}}
	t.Logf("bomb: %d bytes of zlib inflating to 2 GiB", len(bomb.Payloads[0].Data))
	var got []byte
	for _, tc := range []struct {
		name  string
		opts  codec.Options
		want  error
		words string
	}{
		{"default", codec.Options{Compress: true}, codec.ErrPlainPayload, "not encrypted"},
		{"plain accepted", codec.Options{Compress: true, Plain: codec.AcceptPlain}, codec.ErrTooLarge, "inflate past 16777216 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dc := codec.NewDataConverter(kr, tc.opts)
			var err error
			mem := testutil.MeasureMemory(func() { err = dc.FromPayloads(bomb, &got) })
			t.Logf("memory while refusing a 2 GiB zlib bomb: %s", mem)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.words) {
				t.Fatalf("error %v, want %v (%q)", err, tc.want, tc.words)
			}
			if mem.Allocated > maxBombMemory {
				t.Fatalf("decoding the bomb allocated %d bytes, want at most %d", mem.Allocated, maxBombMemory)
			}
		})
	}
}

// TestDecompressionLimitCoversACall: the limit bounds every payload of one
// decode together, and a payload just under it decodes.
func TestDecompressionLimitCoversACall(t *testing.T) {
	kr := codectest.NewKeyring(t)
	opts := codec.Options{Compress: true, MaxDecodedBytes: 4 << 20}
	dc := codec.NewDataConverter(kr, opts)
	three, err := dc.ToPayloads(strings.Repeat("a", 3<<20))
	if err != nil {
		t.Fatal(err)
	}
	var s string
	if err := dc.FromPayloads(three, &s); err != nil || len(s) != 3<<20 {
		t.Fatalf("3 MiB under a 4 MiB limit: %d bytes, %v", len(s), err)
	}
	two, err := dc.ToPayloads(strings.Repeat("b", 3<<20), strings.Repeat("c", 3<<20))
	if err != nil {
		t.Fatal(err)
	}
	var s1, s2 string
	if err := dc.FromPayloads(two, &s1, &s2); !errors.Is(err, codec.ErrTooLarge) {
		t.Fatalf("two 3 MiB payloads under a 4 MiB limit: %v", err)
	}
}

// TestDecodeEndpointRefusesBombs posts to /decode a 3.5 MB request whose
// payload would inflate to 2.5 GiB, plain and encrypted: a clear 400 each
// time, with memory bounded. Plain payloads that are not compressed come
// back as they are (the UI and CLI already hold them in clear).
func TestDecodeEndpointRefusesBombs(t *testing.T) {
	kr := codectest.NewKeyring(t)
	const token = "codec-token-0123456789-0123456789"
	plainBomb := codectest.ZlibBomb(t, 5<<29)
	sealed, err := codec.NewCodec(kr).Encode([]*commonpb.Payload{plainBomb})
	if err != nil {
		t.Fatal(err)
	}
	plainJSON, err := converter.GetDefaultDataConverter().ToPayload("ACTIVITY_ID_NOT_STARTED")
	if err != nil {
		t.Fatal(err)
	}
	strict := loadConfig(t, map[string]string{})
	migrating := loadConfig(t, map[string]string{"FILESIGHT_CODEC_ALLOW_PLAIN": "true"})
	for _, tc := range []struct {
		name    string
		cfg     codec.Config
		payload *commonpb.Payload
		status  int
		words   string
	}{
		{"plain bomb", strict, plainBomb, 400, "refusing a compressed payload that is not encrypted"},
		{"encrypted bomb", strict, sealed[0], 400, "inflate past 16777216 bytes"},
		{"plain bomb while migrating", migrating, plainBomb, 400, "inflate past 16777216 bytes"},
		{"plain JSON", strict, plainJSON, 200, base64.StdEncoding.EncodeToString(plainJSON.Data)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(codec.NewHTTPHandler(codec.Codecs(kr, tc.cfg.ServerOptions()), codec.HTTPOptions{Token: token}))
			defer srv.Close()
			body, err := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{tc.payload}})
			if err != nil {
				t.Fatal(err)
			}
			var (
				status int
				answer []byte
			)
			mem := testutil.MeasureMemory(func() {
				req, _ := http.NewRequest("POST", srv.URL+"/decode", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				status = resp.StatusCode
				answer, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			})
			t.Logf("POST /decode with %d bytes: %d %.120s; %s", len(body), status, answer, mem)
			if status != tc.status || !strings.Contains(string(answer), tc.words) {
				t.Fatalf("answer %d %s, want %d containing %q", status, answer, tc.status, tc.words)
			}
			if mem.Allocated > maxBombMemory {
				t.Fatalf("the request allocated %d bytes, want at most %d", mem.Allocated, maxBombMemory)
			}
		})
	}
}

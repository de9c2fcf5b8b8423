package codec_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"filesight/internal/codec"
	"filesight/internal/codec/codectest"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"filesight/internal/config"
	"filesight/internal/secret"
)

type input struct {
	FileID string
	Note   string
}

func TestRoundTripEncryptsAndRestores(t *testing.T) {
	for _, compress := range []bool{false, true} {
		dc := codec.NewDataConverter(codectest.NewKeyring(t, codectest.NewKey(t, "k1")), codec.Options{Compress: compress})
		in := input{FileID: "123", Note: strings.Repeat("very compressible ", 200)}
		p, err := dc.ToPayload(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(p.Metadata[converter.MetadataEncoding]); got != codec.EncodingEncrypted {
			t.Fatalf("encoding = %q", got)
		}
		if string(p.Metadata[codec.MetadataKeyID]) != "k1" {
			t.Fatalf("key id = %q", p.Metadata[codec.MetadataKeyID])
		}
		if bytes.Contains(p.Data, []byte("compressible")) || bytes.Contains(p.Data, []byte("123")) {
			t.Fatal("plaintext visible in payload")
		}
		if compress && len(p.Data) > 1000 {
			t.Fatalf("compression did not happen before encryption: %d bytes", len(p.Data))
		}
		var out input
		if err := dc.FromPayload(p, &out); err != nil {
			t.Fatal(err)
		}
		if out != in {
			t.Fatalf("round trip: %+v", out)
		}
	}
}

func TestRotation(t *testing.T) {
	old, nw := codectest.NewKey(t, "2026-01"), codectest.NewKey(t, "2026-11")
	oldDC := codec.NewDataConverter(codectest.NewKeyring(t, old), codec.Options{})
	p, err := oldDC.ToPayload("written with the old key")
	if err != nil {
		t.Fatal(err)
	}
	rotated := codec.NewDataConverter(codectest.NewKeyring(t, old, nw), codec.Options{})
	var s string
	if err := rotated.FromPayload(p, &s); err != nil || s != "written with the old key" {
		t.Fatalf("old payload after rotation: %q %v", s, err)
	}
	p2, err := rotated.ToPayload("new")
	if err != nil {
		t.Fatal(err)
	}
	if string(p2.Metadata[codec.MetadataKeyID]) != "2026-11" {
		t.Fatalf("rotation must encrypt with the newest key, got %q", p2.Metadata[codec.MetadataKeyID])
	}
	// The old keyring alone cannot read payloads of the new key: the error names the key.
	err = oldDC.FromPayload(p2, &s)
	if err == nil || !strings.Contains(err.Error(), `"2026-11"`) {
		t.Fatalf("unknown key error = %v", err)
	}
}

func TestTamperAndRelabelDetected(t *testing.T) {
	k1, k2 := codectest.NewKey(t, "a"), codectest.NewKey(t, "b")
	c := codec.NewCodec(codectest.NewKeyring(t, k1, k2))
	enc, err := c.Encode([]*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`"x"`)}})
	if err != nil {
		t.Fatal(err)
	}
	flip := func(p *commonpb.Payload) *commonpb.Payload {
		q := &commonpb.Payload{Metadata: map[string][]byte{}, Data: bytes.Clone(p.Data)}
		for k, v := range p.Metadata {
			q.Metadata[k] = v
		}
		return q
	}
	tampered := flip(enc[0])
	tampered.Data[len(tampered.Data)-1] ^= 1
	relabelled := flip(enc[0])
	relabelled.Metadata[codec.MetadataKeyID] = []byte("a")
	truncated := flip(enc[0])
	truncated.Data = truncated.Data[:5]
	for name, p := range map[string]*commonpb.Payload{"tampered": tampered, "relabelled": relabelled, "truncated": truncated} {
		if _, err := c.Decode([]*commonpb.Payload{p}); err == nil || !strings.Contains(err.Error(), "key ID") {
			t.Errorf("%s: want an error naming the key ID, got %v", name, err)
		}
	}
	// Unencrypted payloads pass through only when plain payloads are
	// accepted (migrating old histories); by default they are refused.
	plain := &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`1`)}
	accepting := codec.Codecs(codectest.NewKeyring(t, k1, k2), codec.Options{Plain: codec.AcceptPlain})[0]
	out, err := accepting.Decode([]*commonpb.Payload{plain})
	if err != nil || out[0] != plain {
		t.Fatal("unencrypted payloads must pass through")
	}
	if _, err := c.Decode([]*commonpb.Payload{plain}); !errors.Is(err, codec.ErrPlainPayload) {
		t.Fatalf("the default codec decoded a plain payload: %v", err)
	}
}

func TestKeyParsing(t *testing.T) {
	bad := []string{"", "nokey", "id:!!!", "id:AAAA", " :" + strings.Repeat("A", 44)}
	for _, s := range bad {
		keys, err := codec.ParseKeys(secret.String(s))
		if err == nil {
			_, err = codec.NewKeyring(keys...)
		}
		if err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	s, _ := codec.NewKeyString("dup")
	keys, err := codec.ParseKeys(s + "," + s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := codec.NewKeyring(keys...); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("duplicate id: %v", err)
	}
	cfg := codec.Config{Keys: secret.String("k:" + strings.Repeat("Q", 10))}
	_, err = cfg.Keyring()
	if err == nil || !strings.Contains(err.Error(), "FILESIGHT_CODEC_KEYS") || strings.Contains(err.Error(), "QQQQ") {
		t.Fatalf("config error must name the variable and hide the key: %v", err)
	}
	var missing codec.Config
	err = config.LoadFrom(context.Background(), &missing, config.MapLookuper(nil))
	if err == nil || !strings.Contains(err.Error(), "FILESIGHT_CODEC_KEYS") {
		t.Fatalf("missing keys: %v", err)
	}
}

func TestHTTPHandler(t *testing.T) {
	kr := codectest.NewKeyring(t, codectest.NewKey(t, "k1"))
	const token = "codec-token-0123456789"
	h := codec.NewHTTPHandler(codec.Codecs(kr, codec.Options{Compress: true}), codec.HTTPOptions{Token: token, AllowedOrigins: []string{"http://127.0.0.1:8233"}})
	srv := httptest.NewServer(h)
	defer srv.Close()

	enc, err := codec.NewDataConverter(kr, codec.Options{Compress: true}).ToPayloads(input{FileID: "42"})
	if err != nil {
		t.Fatal(err)
	}
	body, err := protojson.Marshal(enc)
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, auth, origin string) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Namespace", "default")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for _, tc := range []struct {
		name, method, path, auth, origin string
		want                             int
	}{
		{"no token", "POST", "/decode", "", "", 401},
		{"wrong token", "POST", "/decode", "Bearer nope", "", 401},
		{"wrong scheme", "POST", "/decode", "Basic " + token, "", 401},
		{"wrong path token", "POST", "/nope/decode", "", "", 401},
		{"bearer", "POST", "/decode", "Bearer " + token, "", 200},
		{"path token", "POST", "/" + token + "/decode", "", "", 200},
		{"preflight", "OPTIONS", "/decode", "", "http://127.0.0.1:8233", 204},
		{"preflight foreign origin", "OPTIONS", "/decode", "", "http://evil.example", 403},
		{"get", "GET", "/decode", "Bearer " + token, "", 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := do(tc.method, tc.path, tc.auth, tc.origin)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	resp := do("OPTIONS", "/decode", "", "http://127.0.0.1:8233")
	if resp.Header.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:8233" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "X-Namespace") {
		t.Fatalf("CORS headers: %v", resp.Header)
	}
	resp = do("POST", "/decode", "Bearer "+token, "http://127.0.0.1:8233")
	var decoded commonpb.Payloads
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	if err := protojson.Unmarshal(buf.Bytes(), &decoded); err != nil {
		t.Fatalf("decode response: %v: %s", err, buf.String())
	}
	if len(decoded.Payloads) != 1 || !strings.Contains(string(decoded.Payloads[0].Data), `"FileID":"42"`) {
		t.Fatalf("decoded payload: %s", buf.String())
	}
}

// A request whose path is the token alone (with a wrong Authorization
// header, so the path is not checked and the request is refused) must not
// put the token in the refusal's log line.
func TestHTTPHandlerNeverLogsThePath(t *testing.T) {
	kr := codectest.NewKeyring(t, codectest.NewKey(t, "k1"))
	const token = "codec-token-0123456789-abcdefghijkl"
	var logs bytes.Buffer
	h := codec.NewHTTPHandler(codec.Codecs(kr, codec.Options{}), codec.HTTPOptions{Token: token, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, p := range []string{"/" + token, "/" + token + "/", "/" + token + "/decode"} {
		req, _ := http.NewRequest("POST", srv.URL+p, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer wrong")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", p, resp.StatusCode)
		}
	}
	if logs.Len() == 0 {
		t.Fatal("no refusal was logged")
	}
	if strings.Contains(logs.String(), token) {
		t.Fatalf("the token reached the log:\n%s", logs.String())
	}
}

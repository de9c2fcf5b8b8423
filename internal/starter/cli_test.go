package starter_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"filesight/internal/codec"
	"filesight/internal/config"
	"filesight/internal/starter"
	"filesight/internal/testenv"
	"filesight/internal/testutil"
)

func TestMainUsage(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		args []string
		env  map[string]string
		code int
	}{
		{[]string{"help"}, nil, 0},
		{[]string{"frobnicate"}, nil, 2},
		{[]string{"start"}, nil, 2},
		{[]string{"start", "--file-id", "1", "extra"}, nil, 2},
		{[]string{"backfill"}, nil, 2},
		{[]string{"backfill", "--folder-id", "1", "--rate", "0"}, nil, 2},
		{[]string{"serve"}, nil, 1}, // no webhook key
		{[]string{"serve"}, map[string]string{"STARTER_TEMPORAL_TIMEOUT": "40s"}, 2},
		{[]string{"serve", "--bogus"}, map[string]string{"BOX_WEBHOOK_PRIMARY_KEY": "k"}, 2},
	} {
		var out, errb bytes.Buffer
		if code := starter.Main(ctx, tc.args, &out, &errb, config.MapLookuper(tc.env)); code != tc.code {
			t.Errorf("%v: exit %d, want %d; stderr %s", tc.args, code, tc.code, errb.String())
		}
	}
}

// TestServeWhileTemporalIsDown runs the real serve command against a
// Temporal address where nothing listens: it comes up, answers webhooks with
// 503 (so Box retries) within the configured timeout, serves the codec
// endpoint, and shuts down cleanly.
func TestServeWhileTemporalIsDown(t *testing.T) {
	addr, codecAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	keyString, err := codec.NewKeyString("k1")
	if err != nil {
		t.Fatal(err)
	}
	const codecToken = "codec-token-0123456789abcdef0123456789"
	env := map[string]string{
		"STARTER_ADDR":             addr,
		"STARTER_CODEC_ADDR":       codecAddr,
		"STARTER_TEMPORAL_TIMEOUT": "500ms",
		"TEMPORAL_ADDRESS":         testenv.FreeAddr(t), // nothing listens there
		"FILESIGHT_CODEC_KEYS":     keyString.Reveal(),
		"CODEC_AUTH_TOKEN":         codecToken,
		"BOX_WEBHOOK_PRIMARY_KEY":  primaryKey,
		"MLENGINE_CALLBACK_KEY":    callbackKey,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr testutil.SyncBuffer
	done := make(chan int, 1)
	go func() { done <- starter.Main(ctx, []string{"serve"}, &stdout, &stderr, config.MapLookuper(env)) }()

	base := "http://" + addr
	testutil.WaitFor(t, 10*time.Second, "the starter to be healthy", func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	body := boxEventJSON(t, "ev-1", "FILE.UPLOADED", "1", "2", "a.mp4", 1)
	req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/box", bytes.NewReader(body))
	signBox(req.Header, body, time.Now(), primaryKey, "")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("webhook while Temporal is down: %d, want 503", resp.StatusCode)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("503 took %s; the timeout is 500ms", took)
	}
	if resp, err := http.Get(base + "/readyz"); err != nil || resp.StatusCode != 503 {
		t.Errorf("readyz while Temporal is down: %v %v", resp, err)
	}

	// The codec endpoint decodes what the same keys encode.
	payload := `{"payloads":[{"metadata":{"encoding":"` + base64.StdEncoding.EncodeToString([]byte("json/plain")) + `"},"data":"` + base64.StdEncoding.EncodeToString([]byte(`"hello"`)) + `"}]}`
	encReq, _ := http.NewRequest(http.MethodPost, "http://"+codecAddr+"/encode", strings.NewReader(payload))
	encReq.Header.Set("Authorization", "Bearer "+codecToken)
	encReq.Header.Set("Content-Type", "application/json")
	encResp, err := http.DefaultClient.Do(encReq)
	if err != nil || encResp.StatusCode != 200 {
		t.Fatalf("codec encode: %v %v", encResp, err)
	}
	encResp.Body.Close()
	noAuth, err := http.Post("http://"+codecAddr+"/decode", "application/json", strings.NewReader(payload))
	if err != nil || noAuth.StatusCode != 401 {
		t.Fatalf("codec without token: %v %v", noAuth, err)
	}
	noAuth.Body.Close()

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("starter did not shut down")
	}
	logs := stderr.String()
	for _, s := range []string{primaryKey, callbackKey, codecToken, keyString.Reveal()} {
		if strings.Contains(logs, s) {
			t.Errorf("secret leaked into logs")
		}
	}
	if !strings.Contains(logs, "status=503") || !strings.Contains(logs, "shutting down") {
		t.Errorf("logs lack the 503 or the shutdown:\n%s", logs)
	}
}

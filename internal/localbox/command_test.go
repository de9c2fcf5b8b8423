package localbox_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"filesight/internal/localbox"

	"filesight/internal/config"
	"filesight/internal/testutil"
)

func TestMainUsageAndConfigErrors(t *testing.T) {
	valid := map[string]string{
		"LOCALBOX_ADDR": "127.0.0.1:0", "LOCALBOX_DATA_DIR": t.TempDir(),
		"LOCALBOX_CLIENT_ID": "cid", "LOCALBOX_CLIENT_SECRET": "client-secret-value", "LOCALBOX_WEBHOOK_PRIMARY_KEY": "webhook-key-value",
	}
	for _, tc := range []struct {
		args []string
		env  map[string]string
		code int
		want string
	}{
		{[]string{"-h"}, nil, 0, "usage: localbox"},
		{[]string{"serve"}, valid, 2, "no arguments"},
		{nil, map[string]string{}, 2, "LOCALBOX_CLIENT_ID"},
		{nil, map[string]string{"LOCALBOX_CLIENT_ID": "c", "LOCALBOX_CLIENT_SECRET": "s", "LOCALBOX_WEBHOOK_PRIMARY_KEY": "k",
			"LOCALBOX_TOKEN_TTL": "10ms"}, 2, "LOCALBOX_TOKEN_TTL"},
	} {
		var out, errb strings.Builder
		if code := localbox.Main(context.Background(), tc.args, &out, &errb, config.MapLookuper(tc.env)); code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, want %d with %q; stderr %s", tc.args, code, tc.code, tc.want, errb.String())
		}
	}
}

// Main serves until its context is cancelled, then exits 0.
func TestMainServesUntilCancelled(t *testing.T) {
	env := map[string]string{
		"LOCALBOX_ADDR": "127.0.0.1:0", "LOCALBOX_DATA_DIR": t.TempDir(),
		"LOCALBOX_CLIENT_ID": "cid", "LOCALBOX_CLIENT_SECRET": "client-secret-value", "LOCALBOX_WEBHOOK_PRIMARY_KEY": "webhook-key-value",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr testutil.SyncBuffer
	done := make(chan int, 1)
	go func() { done <- localbox.Main(ctx, nil, &stderr, &stderr, config.MapLookuper(env)) }()
	testutil.WaitFor(t, 10*time.Second, "localbox to listen", func() bool {
		return strings.Contains(stderr.String(), `"msg":"localbox listening"`)
	})
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("localbox did not stop")
	}
	if strings.Contains(stderr.String(), "client-secret-value") || strings.Contains(stderr.String(), "webhook-key-value") {
		t.Errorf("the log shows a secret: %s", stderr.String())
	}
}

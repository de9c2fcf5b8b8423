package mlengine

import (
	"context"
	"strings"
	"testing"
	"time"

	"filesight/internal/config"
	"filesight/internal/testutil"
)

func TestMainUsageAndConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		code int
		want string
	}{
		{[]string{"-h"}, nil, 0, "usage: mlengine"},
		{[]string{"serve"}, nil, 2, "no arguments"},
		{nil, map[string]string{}, 2, "MLENGINE_API_KEY"},
		{nil, map[string]string{"MLENGINE_API_KEY": "a", "MLENGINE_CALLBACK_KEY": "c", "MLENGINE_DATA_DIR": ""}, 2, "MLENGINE_DATA_DIR"},
	} {
		var out, errb strings.Builder
		if code := Main(context.Background(), tc.args, &out, &errb, config.MapLookuper(tc.env)); code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, want %d with %q; stderr %s", tc.args, code, tc.code, tc.want, errb.String())
		}
	}
}

// Main serves until its context is cancelled, then exits 0.
func TestMainServesUntilCancelled(t *testing.T) {
	env := map[string]string{
		"MLENGINE_ADDR": "127.0.0.1:0", "MLENGINE_DATA_DIR": t.TempDir(),
		"MLENGINE_API_KEY": "engine-key-value", "MLENGINE_CALLBACK_KEY": "callback-key-value",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr testutil.SyncBuffer
	done := make(chan int, 1)
	go func() { done <- Main(ctx, nil, &stderr, &stderr, config.MapLookuper(env)) }()
	testutil.WaitFor(t, 10*time.Second, "mlengine to listen", func() bool {
		return strings.Contains(stderr.String(), `"msg":"mlengine listening"`)
	})
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("mlengine did not stop")
	}
	if strings.Contains(stderr.String(), "engine-key-value") || strings.Contains(stderr.String(), "callback-key-value") {
		t.Errorf("the log shows a secret: %s", stderr.String())
	}
}

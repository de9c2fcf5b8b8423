package localbox_test

import (
	"strings"
	"testing"

	"filesight/internal/localbox"
	"filesight/internal/program/programtest"
)

func validEnv(t *testing.T) map[string]string {
	return map[string]string{
		"LOCALBOX_ADDR": "127.0.0.1:0", "LOCALBOX_DATA_DIR": t.TempDir(),
		"LOCALBOX_CLIENT_ID": "cid", "LOCALBOX_CLIENT_SECRET": "client-secret-value-0123456789abcdef", "LOCALBOX_WEBHOOK_PRIMARY_KEY": "webhook-key-value-0123456789abcdef01",
	}
}

func TestMainUsageAndConfigErrors(t *testing.T) {
	ttl := validEnv(t)
	ttl["LOCALBOX_TOKEN_TTL"] = "10ms"
	programtest.CheckExits(t, localbox.Main,
		programtest.Case{Args: []string{"-h"}, Code: 0, Stderr: "usage: localbox"},
		programtest.Case{Args: []string{"serve"}, Env: validEnv(t), Code: 2, Stderr: "no arguments"},
		programtest.Case{Env: map[string]string{}, Code: 2, Stderr: "LOCALBOX_CLIENT_ID"},
		programtest.Case{Env: ttl, Code: 2, Stderr: "LOCALBOX_TOKEN_TTL"},
	)
}

// Main serves until its context is cancelled, then exits 0; its log shows
// no secret.
func TestMainServesUntilCancelled(t *testing.T) {
	out := programtest.ServeUntilCancelled(t, localbox.Main, validEnv(t), `"msg":"localbox listening"`)
	if strings.Contains(out, "client-secret-value-0123456789abcdef") || strings.Contains(out, "webhook-key-value-0123456789abcdef01") {
		t.Errorf("the log shows a secret: %s", out)
	}
}

package mlengine_test

import (
	"strings"
	"testing"

	"filesight/internal/mlengine"
	"filesight/internal/program/programtest"
)

func TestMainUsageAndConfigErrors(t *testing.T) {
	programtest.CheckExits(t, mlengine.Main,
		programtest.Case{Args: []string{"-h"}, Code: 0, Stderr: "usage: mlengine"},
		programtest.Case{Args: []string{"serve"}, Code: 2, Stderr: "no arguments"},
		programtest.Case{Env: map[string]string{}, Code: 2, Stderr: "MLENGINE_API_KEY"},
		programtest.Case{Env: map[string]string{"MLENGINE_API_KEY": "a", "MLENGINE_CALLBACK_KEY": "c", "MLENGINE_DATA_DIR": ""}, Code: 2, Stderr: "MLENGINE_DATA_DIR"},
	)
}

// Main serves until its context is cancelled, then exits 0; its log shows
// no secret.
func TestMainServesUntilCancelled(t *testing.T) {
	out := programtest.ServeUntilCancelled(t, mlengine.Main, map[string]string{
		"MLENGINE_ADDR": "127.0.0.1:0", "MLENGINE_DATA_DIR": t.TempDir(),
		"MLENGINE_API_KEY": "engine-key-value-0123456789abcdef01", "MLENGINE_CALLBACK_KEY": "callback-key-value-0123456789abcdef",
	}, `"msg":"mlengine listening"`)
	if strings.Contains(out, "engine-key-value") || strings.Contains(out, "callback-key-value") {
		t.Errorf("the log shows a secret: %s", out)
	}
}

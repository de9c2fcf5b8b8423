package program

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{flag.ErrHelp, ExitOK},
		{Usage(flag.ErrHelp), ExitOK},
		{Usage(errors.New("--file-id is required")), ExitUsage},
		{fmt.Errorf("starting: %w", Usage(errors.New("bad"))), ExitUsage},
		{errors.New("connecting to Temporal"), ExitFailure},
	} {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
	if Usage(nil) != nil {
		t.Error("Usage(nil) is not nil")
	}
	if err := Usage(errors.New("x")); err.Error() != "x" {
		t.Errorf("Usage changes the message: %q", err)
	}
}

func TestNewLogger(t *testing.T) {
	var js, text bytes.Buffer
	NewLogger(&js, LogJSON, slog.LevelInfo).Error("failed", "error", errors.New("boom"))
	NewLogger(&text, LogText, slog.LevelInfo).Debug("hidden")
	NewLogger(&text, LogText, slog.LevelInfo).Info("shown", "k", "v")
	if !strings.Contains(js.String(), `"msg":"failed","error":"boom"`) {
		t.Errorf("json log %q", js.String())
	}
	if strings.Contains(text.String(), "hidden") || !strings.Contains(text.String(), "msg=shown k=v") {
		t.Errorf("text log %q", text.String())
	}
}

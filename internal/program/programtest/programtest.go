// Package programtest runs a program's Main (a program.Func) in tests: its
// exit codes for command lines and environments, and a server program's
// start and orderly stop. It is never linked into a program.
package programtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"filesight/internal/config"
	"filesight/internal/program"
	"filesight/internal/testutil"
)

// Case is one command line and environment, and what Main must answer.
type Case struct {
	Args []string
	Env  map[string]string
	// Code is the exit code Main must return; Stderr a string its
	// standard error must contain.
	Code   int
	Stderr string
}

// CheckExits runs main once per case and fails the test for each case
// whose exit code or standard error is not the expected one.
func CheckExits(t testing.TB, main program.Func, cases ...Case) {
	t.Helper()
	for _, tc := range cases {
		var stdout, stderr strings.Builder
		code := main(context.Background(), tc.Args, &stdout, &stderr, config.MapLookuper(tc.Env))
		if code != tc.Code || !strings.Contains(stderr.String(), tc.Stderr) {
			t.Errorf("%v: exit %d, want %d with %q on stderr; stderr: %s", tc.Args, code, tc.Code, tc.Stderr, stderr.String())
		}
	}
}

// ServeUntilCancelled runs main (without arguments) with env until its
// output shows ready, then cancels its context, as SIGTERM does; it fails
// the test unless main then exits 0 within 30 s. It returns what main
// wrote on stdout and stderr.
func ServeUntilCancelled(t testing.TB, main program.Func, env map[string]string, ready string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out testutil.SyncBuffer
	done := make(chan int, 1)
	go func() { done <- main(ctx, nil, &out, &out, config.MapLookuper(env)) }()
	testutil.WaitFor(t, 30*time.Second, "the program to show "+ready, func() bool {
		select {
		case code := <-done:
			t.Fatalf("the program exited with %d before it was ready: %s", code, out.String())
		default:
		}
		return strings.Contains(out.String(), ready)
	})
	cancel()
	select {
	case code := <-done:
		if code != program.ExitOK {
			t.Fatalf("exit %d after cancellation: %s", code, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the program did not stop within 30 s of its cancellation: %s", out.String())
	}
	return out.String()
}

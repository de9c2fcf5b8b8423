//go:build integration

package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"filesight/internal/mediatest"
	"filesight/internal/testenv"
)

// TestChaos is make chaos with 20 files (docs/chaos.md): the real programs
// under devstack, faults injected through localbox's and mlengine's admin
// APIs, the worker SIGKILLed twice, the starter (with deliveries in
// flight), localbox and mlengine once each, one genuine delivery replayed
// 20 times, 200 forged deliveries. Every file must end with exactly one
// success card and no duplicate, no job may be created twice for one
// attempt, no token may be left live, no forged delivery may start
// anything and no file may be lost. FILESIGHT_CHAOS_SEED repeats a run.
func TestChaos(t *testing.T) {
	mediatest.Require(t)
	root := testenv.ModuleRoot(t)
	binDir := t.TempDir()
	build := exec.Command("go", "build", "-o", binDir+"/", "./localbox", "./mlengine", "./vault", "./starter", "./worker")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := os.Symlink(testenv.TemporalCLI(t), filepath.Join(binDir, "temporal")); err != nil {
		t.Fatal(err)
	}
	var seed uint64
	if v := os.Getenv("FILESIGHT_CHAOS_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("FILESIGHT_CHAOS_SEED=%q: %v", v, err)
		}
		seed = s
	}
	// 20 files take 2 minutes on an idle machine and 5 at a load average
	// of 23 on 2 cores, plus up to the 10-minute token lifetime when a
	// kill left an orphan token; the run may use up to 25 minutes, less when the
	// test binary's -timeout comes first (then it stops with a report of
	// how far it got rather than a panic).
	timeout := 25 * time.Minute
	if d, ok := t.Deadline(); ok {
		timeout = min(timeout, time.Until(d)-30*time.Second)
	}
	out := &lineLog{t: t}
	rep, err := RunChaos(context.Background(), ChaosOptions{Files: 20, Seed: seed, BinDir: binDir, TokenTTL: 10 * time.Minute, Timeout: timeout, Out: out})
	out.close()
	if err != nil {
		t.Fatalf("the chaos run could not be carried out: %v", err)
	}
	for _, v := range rep.Violations {
		t.Errorf("seed %d: %s", rep.Seed, v)
	}
	for name, got := range map[string]int{"duplicate cards": rep.DuplicateCards, "duplicate jobs": rep.DuplicateJobs,
		"live tokens": rep.LiveTokens, "unrevoked tokens": rep.UnrevokedTokens, "forged starts": rep.ForgedStarts, "lost files": rep.Lost} {
		if got != 0 {
			t.Errorf("seed %d: %d %s", rep.Seed, got, name)
		}
	}
	if rep.Completed != 20 || rep.SuccessCards != 20 || rep.Forged != 200 || rep.ForgedRejected != 200 || rep.Replays != 20 {
		t.Errorf("seed %d: %s", rep.Seed, rep.Line())
	}
	// The starter was down with deliveries in flight: localbox retried them.
	if rep.FailedDeliveries == 0 {
		t.Errorf("seed %d: no webhook delivery failed", rep.Seed)
	}
}

// lineLog logs each line written to it as it comes (a run that hangs
// until the test's deadline still shows how far it got).
type lineLog struct {
	t      *testing.T
	mu     sync.Mutex
	buf    strings.Builder
	closed bool
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return len(p), nil
	}
	l.buf.Write(p)
	s := l.buf.String()
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			break
		}
		l.t.Log(s[:i])
		s = s[i+1:]
	}
	l.buf.Reset()
	l.buf.WriteString(s)
	return len(p), nil
}

// close logs what is left and drops later writes.
func (l *lineLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len() > 0 {
		l.t.Log(l.buf.String())
	}
	l.closed = true
}

//go:build integration

package devstack

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filesight/internal/mediatest"
	"filesight/internal/testenv"
)

// lockedBuffer collects the stack's output from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestUpProcessesTheSample is `make up` end to end, non-interactively: it
// builds the programs, starts the real Temporal dev server, localbox,
// mlengine, the starter and the worker as child processes on free ports,
// creates the inbox and its webhook, uploads the generated sample and waits
// until its workflow has written cards; then a second run reuses the data.
func TestUpProcessesTheSample(t *testing.T) {
	mediatest.Require(t)
	root := testenv.ModuleRoot(t)
	binDir := t.TempDir()
	build := exec.Command("go", "build", "-o", binDir+"/", "./localbox", "./mlengine", "./starter", "./worker")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := os.Symlink(testenv.TemporalCLI(t), filepath.Join(binDir, "temporal")); err != nil {
		t.Fatal(err)
	}

	dataDir := t.TempDir()
	seed := ""
	for _, k := range []string{"TEMPORAL_ADDRESS", "STARTER_ADDR", "STARTER_CODEC_ADDR", "LOCALBOX_ADDR", "MLENGINE_ADDR", "WORKER_METRICS_ADDR"} {
		seed += k + "=" + testenv.FreeAddr(t) + "\n"
	}
	seed += "TEMPORAL_UI_URL=http://" + testenv.FreeAddr(t) + "\n"
	if err := os.WriteFile(filepath.Join(dataDir, "dev.env"), []byte(seed), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var out lockedBuffer
	err := Up(ctx, Options{DataDir: dataDir, BinDir: binDir, ExitAfterSample: true, SampleTimeout: 5 * time.Minute, Out: &out})
	logs := out.String()
	if err != nil {
		t.Fatalf("Up: %v\noutput:\n%s", err, tailString(logs, 6000))
	}
	for _, want := range []string{
		"created folder " + InboxFolderName,
		"created webhook",
		"uploaded " + SampleName,
		"started: http://", // the UI link
		"finished: outcome success",
		"cards on file",
		"transcript ", "keyword ", "timeline ",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Every process' lines are prefixed with its name.
	for _, p := range append([]string{"temporal", "devstack"}, Programs()...) {
		if !strings.Contains(logs, fmt.Sprintf("%-8s | ", p)) {
			t.Errorf("no output prefixed %q", p)
		}
		if p != "devstack" {
			if _, err := os.Stat(filepath.Join(dataDir, "logs", p+".log")); err != nil {
				t.Errorf("log file of %s: %v", p, err)
			}
		}
	}
	env, err := LoadEnvFile(filepath.Join(dataDir, "dev.env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"LOCALBOX_PUBLIC_URL", "LOCALBOX_CLIENT_ID", "LOCALBOX_CLIENT_SECRET", "LOCALBOX_ENTERPRISE_ID",
		"LOCALBOX_ADMIN_KEY", "TEMPORAL_ADDRESS", "FILESIGHT_INBOX_FOLDER_ID", "FILESIGHT_INBOX_WEBHOOK_ID"} {
		if v, _ := env.Get(k); v == "" {
			t.Errorf("dev.env lacks %s", k)
		}
	}
	secret, _ := env.Get("LOCALBOX_CLIENT_SECRET")
	if strings.Contains(logs, secret) {
		t.Error("the client secret appears in the output")
	}
	if _, err := os.Stat(filepath.Join(dataDir, "temporal.db")); err != nil {
		t.Errorf("Temporal's SQLite file: %v", err)
	}

	// Running again reuses credentials, folder and webhook.
	var out2 lockedBuffer
	if err := Up(ctx, Options{DataDir: dataDir, BinDir: binDir, NoSample: true, ExitAfterSample: true, Out: &out2}); err != nil {
		t.Fatalf("second Up: %v\n%s", err, tailString(out2.String(), 4000))
	}
	logs2 := out2.String()
	if !strings.Contains(logs2, "reusing dev credentials") || strings.Contains(logs2, "created folder") || strings.Contains(logs2, "created webhook") {
		t.Errorf("second run did not reuse the data:\n%s", tailString(logs2, 3000))
	}
	env2, _ := LoadEnvFile(filepath.Join(dataDir, "dev.env"))
	if s2, _ := env2.Get("LOCALBOX_CLIENT_SECRET"); s2 != secret {
		t.Error("credentials changed between runs")
	}
}

func tailString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

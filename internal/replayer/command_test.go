package replayer

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testKey(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile("../../workflows/testdata/TEST-ONLY-codec-key.txt")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("FILESIGHT_CODEC_KEYS", strings.TrimSpace(string(b)))
}

func TestFilesReplaysCommittedHistories(t *testing.T) {
	testKey(t)
	paths, _ := filepath.Glob("../../workflows/testdata/*.json")
	if len(paths) < 4 {
		t.Fatalf("only %d histories", len(paths))
	}
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), append([]string{"files"}, paths...), &out, &errOut, nil); code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "replayed") {
		t.Errorf("output %q", out.String())
	}
}

func TestFilesFailsOnABrokenHistory(t *testing.T) {
	testKey(t)
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"events":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"files", bad}, &out, &errOut, nil); code != 1 || !strings.Contains(out.String(), "FAILED") {
		t.Fatalf("exit %d: %s %s", code, out.String(), errOut.String())
	}
}

func TestUsageAndConfigErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), nil, &out, &errOut, nil); code != 2 {
		t.Errorf("no command: exit %d", code)
	}
	if code := Main(context.Background(), []string{"frobnicate"}, &out, &errOut, nil); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
	if code := Main(context.Background(), []string{"check", "-last", "0"}, &out, &errOut, nil); code != 2 {
		t.Errorf("-last 0: exit %d", code)
	}
	t.Setenv("FILESIGHT_CODEC_KEYS", "")
	errOut.Reset()
	if code := Main(context.Background(), []string{"files", "x.json"}, &out, &errOut, nil); code != 1 || !strings.Contains(errOut.String(), "FILESIGHT_CODEC_KEYS") {
		t.Errorf("missing keys: exit %d, %s", code, errOut.String())
	}
}

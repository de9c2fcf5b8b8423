package claimcheck_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filesight/internal/codec"
	"filesight/internal/codec/codectest"
	"filesight/internal/provider/claimcheck"
)

func testCodec(t *testing.T) *codec.Codec {
	t.Helper()
	return codec.NewCodec(codectest.NewKeyring(t, codectest.NewKey(t, "k1")))
}

func files(t *testing.T, root string) []string {
	var out []string
	_ = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestDirRoundTripEncrypted(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	d, err := claimcheck.NewDir(root, claimcheck.DirOptions{Codec: testCodec(t)})
	if err != nil {
		t.Fatal(err)
	}
	secretWords := []byte(`{"transcript":{"text":"card number 4111 1111 1111 1111"}}`)
	key := "whisper/file-1-v2/../../etc/passwd"
	if err := d.Put(ctx, key, secretWords); err != nil {
		t.Fatal(err)
	}
	got, err := d.Get(ctx, key)
	if err != nil || !bytes.Equal(got, secretWords) {
		t.Fatalf("Get = %q, %v", got, err)
	}
	fs := files(t, root)
	if len(fs) != 1 || !strings.HasPrefix(fs[0], root) {
		t.Fatalf("files %v", fs)
	}
	raw, _ := os.ReadFile(fs[0])
	if bytes.Contains(raw, []byte("4111")) || bytes.Contains(raw, []byte("transcript")) {
		t.Fatal("entry stored in the clear")
	}
	if info, _ := os.Stat(fs[0]); info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", info.Mode())
	}
	// Overwrite, then delete (twice).
	if err := d.Put(ctx, key, []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.Get(ctx, key); string(got) != "v2" {
		t.Fatalf("after overwrite %q", got)
	}
	if err := d.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Get(ctx, key); !errors.Is(err, claimcheck.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

// Another process (another worker) with the same directory and key reads
// what this one wrote; one without the key cannot.
func TestDirSharedBetweenInstances(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	c := testCodec(t)
	a, _ := claimcheck.NewDir(root, claimcheck.DirOptions{Codec: c})
	b, _ := claimcheck.NewDir(root, claimcheck.DirOptions{Codec: c})
	if err := a.Put(ctx, "job-1", []byte("result")); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(ctx, "job-1"); err != nil || string(got) != "result" {
		t.Fatalf("second instance: %q %v", got, err)
	}
	other, _ := claimcheck.NewDir(root, claimcheck.DirOptions{Codec: testCodec(t)})
	if _, err := other.Get(ctx, "job-1"); err == nil {
		t.Fatal("read with another key")
	}
	plain, _ := claimcheck.NewDir(root, claimcheck.DirOptions{})
	if err := plain.Put(ctx, "job-2", []byte("planted")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, "job-2"); err == nil || !strings.Contains(err.Error(), "not encrypted") {
		t.Fatalf("an unencrypted entry must be refused: %v", err)
	}
}

func TestDirConcurrentWriters(t *testing.T) {
	d, _ := claimcheck.NewDir(t.TempDir(), claimcheck.DirOptions{})
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = d.Put(ctx, "same", bytes.Repeat([]byte{byte('a' + i)}, 4096))
		}()
	}
	wg.Wait()
	got, err := d.Get(ctx, "same")
	if err != nil || len(got) != 4096 || bytes.Count(got, got[:1]) != 4096 {
		t.Fatalf("torn entry: %d bytes, %v", len(got), err)
	}
}

func TestDirPrune(t *testing.T) {
	root := t.TempDir()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	d, _ := claimcheck.NewDir(root, claimcheck.DirOptions{Retention: 24 * time.Hour, Now: func() time.Time { return now }})
	ctx := context.Background()
	_ = d.Put(ctx, "old", []byte("OLD-ENTRY"))
	_ = d.Put(ctx, "new", []byte("NEW-ENTRY"))
	// Age "old" by setting its modification time.
	for _, f := range files(t, root) {
		if b, _ := os.ReadFile(f); bytes.Contains(b, []byte("OLD-ENTRY")) {
			_ = os.Chtimes(f, now.Add(-48*time.Hour), now.Add(-48*time.Hour))
		}
	}
	if n := d.Prune(now.Add(-24 * time.Hour)); n != 1 {
		t.Fatalf("pruned %d", n)
	}
	if _, err := d.Get(ctx, "old"); !errors.Is(err, claimcheck.ErrNotFound) {
		t.Fatalf("old: %v", err)
	}
	if got, err := d.Get(ctx, "new"); err != nil || string(got) != "NEW-ENTRY" {
		t.Fatalf("new: %q %v", got, err)
	}
}

func TestDirLimits(t *testing.T) {
	d, _ := claimcheck.NewDir(t.TempDir(), claimcheck.DirOptions{MaxEntryBytes: 100})
	ctx := context.Background()
	_ = d.Put(ctx, "big", bytes.Repeat([]byte("z"), 200))
	if _, err := d.Get(ctx, "big"); err == nil {
		t.Fatal("an entry over the limit must be refused")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := d.Put(cctx, "k", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Put: %v", err)
	}
	if _, err := claimcheck.NewDir("", claimcheck.DirOptions{}); err == nil {
		t.Fatal("no directory must be refused")
	}
}

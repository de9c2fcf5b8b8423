package mlengine

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"filesight/internal/provider"
	"filesight/internal/secret"
)

// TestStoreForgetsMediaTokens: a media token that is cleared (the download
// completed) or whose row is deleted is gone from the database file, not
// only from the table: secure_delete overwrites the old content, and the
// write-ahead log is truncated once a checkpoint has emptied it. (Without
// secure_delete the deleted row's token stays in a free block of the page.)
func TestStoreForgetsMediaTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mlengine.db")
	st, err := openStore(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	const prefix = "MEDIA-TOKEN-4f9a1c2e7b3d5a6f8e0c-"
	now := time.Now()
	for _, id := range []string{"a", "b", "c"} {
		j := &job{ID: id, Fingerprint: "f", MediaURL: "http://box.test/2.0/files/1/content", MediaToken: secret.String(prefix + id),
			Analyses: []string{"media"}, Labels: map[string]string{}, Status: provider.StateQueued, FetchState: fetchPending,
			States: map[string]provider.State{}, CreatedAt: now, UpdatedAt: now}
		if _, _, err := st.create(t.Context(), j, 10); err != nil {
			t.Fatal(err)
		}
	}
	checkpoint := func() {
		t.Helper()
		if _, err := st.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
	}
	checkpoint()
	if !fileHolds(t, path, prefix+"b") || !fileHolds(t, path, prefix+"c") {
		t.Fatal("the tokens never reached the database file: the test proves nothing")
	}
	if err := st.markFetched(t.Context(), "b", 1, now); err != nil {
		t.Fatal(err)
	}
	if err := st.remove(t.Context(), "c"); err != nil {
		t.Fatal(err)
	}
	checkpoint()
	for _, f := range []string{path, path + "-wal"} {
		for _, id := range []string{"b", "c"} {
			if fileHolds(t, f, prefix+id) {
				t.Errorf("%s still holds the media token of job %s", filepath.Base(f), id)
			}
		}
	}
	if !fileHolds(t, path, prefix+"a") {
		t.Error("the token of the job still waiting for its download is gone")
	}
}

func fileHolds(t *testing.T, path, s string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(b, []byte(s))
}

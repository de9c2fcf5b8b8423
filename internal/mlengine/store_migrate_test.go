package mlengine

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

// TestMigrateAddsSubmissions opens a job database an earlier version created
// (no submissions column): the column is added, existing jobs count one
// submission, and opening it again changes nothing.
func TestMigrateAddsSubmissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mlengine.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	old := strings.Replace(schema, "\tsubmissions     INTEGER NOT NULL DEFAULT 1,\n", "", 1)
	if old == schema {
		t.Fatal("the test's copy of the old schema still has the submissions column")
	}
	if _, err := db.Exec(old); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO jobs (id, idempotency_key, fingerprint, media_url, analyses, status, fetch_state, created_at, updated_at)
		VALUES ('j1', 'k1', 'f', 'http://x/m', '["media"]', 'succeeded', 'done', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	ctx := context.Background()
	for range 2 {
		st, err := openStore(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		j, err := st.get(ctx, "j1")
		st.close()
		if err != nil {
			t.Fatal(err)
		}
		if j.Submissions != 1 || j.IdempotencyKey != "k1" {
			t.Fatalf("migrated job: %d submissions, key %q", j.Submissions, j.IdempotencyKey)
		}
	}
}

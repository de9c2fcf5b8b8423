package localbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// store is localbox's SQLite database. Writes go through one connection
// (SQLite has one writer anyway; this avoids SQLITE_BUSY between our own
// connections); reads use a small pool that WAL lets run beside the writer.
type store struct {
	w *sql.DB
	r *sql.DB
}

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// ID ranges keep the IDs Box-like (long numeric strings) and disjoint between
// kinds, so a folder ID passed as a file ID is never found by accident.
const (
	folderIDBase  = 110000000000
	fileIDBase    = 220000000000
	versionIDBase = 330000000000
	webhookIDBase = 440000000
)

const schemaVersion = 1

var schema = []string{
	`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
	`CREATE TABLE folders (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		parent_id INTEGER REFERENCES folders(id),
		name TEXT NOT NULL,
		name_key TEXT NOT NULL,
		description TEXT NOT NULL DEFAULT '',
		etag INTEGER NOT NULL DEFAULT 0,
		created_at INTEGER NOT NULL,
		modified_at INTEGER NOT NULL
	)`,
	`CREATE UNIQUE INDEX folders_name ON folders(parent_id, name_key)`,
	`CREATE TABLE files (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		parent_id INTEGER NOT NULL REFERENCES folders(id),
		name TEXT NOT NULL,
		name_key TEXT NOT NULL,
		description TEXT NOT NULL DEFAULT '',
		version_id INTEGER NOT NULL,
		etag INTEGER NOT NULL DEFAULT 0,
		created_at INTEGER NOT NULL,
		modified_at INTEGER NOT NULL,
		content_created_at INTEGER NOT NULL,
		content_modified_at INTEGER NOT NULL
	)`,
	`CREATE UNIQUE INDEX files_name ON files(parent_id, name_key)`,
	`CREATE TABLE file_versions (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		file_id INTEGER NOT NULL,
		sha1 TEXT NOT NULL,
		size INTEGER NOT NULL,
		name TEXT NOT NULL,
		created_at INTEGER NOT NULL
	)`,
	`CREATE INDEX file_versions_file ON file_versions(file_id)`,
	`CREATE TABLE metadata (
		file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
		scope TEXT NOT NULL,
		template TEXT NOT NULL,
		instance_id TEXT NOT NULL,
		type_id TEXT NOT NULL,
		version INTEGER NOT NULL,
		doc TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		modified_at INTEGER NOT NULL,
		PRIMARY KEY (file_id, scope, template)
	)`,
	`CREATE TABLE tokens (
		hash TEXT PRIMARY KEY,
		parent_hash TEXT,
		user_id TEXT NOT NULL,
		scopes TEXT NOT NULL,
		resource_type TEXT NOT NULL DEFAULT '',
		resource_id TEXT NOT NULL DEFAULT '',
		resource_url TEXT NOT NULL DEFAULT '',
		issued_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL,
		revoked_at INTEGER
	)`,
	`CREATE INDEX tokens_parent ON tokens(parent_hash)`,
	`CREATE TABLE webhooks (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		target_type TEXT NOT NULL,
		target_id INTEGER NOT NULL,
		address TEXT NOT NULL,
		triggers TEXT NOT NULL,
		created_by TEXT NOT NULL,
		created_at INTEGER NOT NULL
	)`,
	`CREATE UNIQUE INDEX webhooks_target ON webhooks(target_type, target_id)`,
	`CREATE TABLE outbox (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		event_id TEXT NOT NULL UNIQUE,
		webhook_id INTEGER NOT NULL,
		trigger TEXT NOT NULL,
		body BLOB NOT NULL,
		state TEXT NOT NULL,
		attempts INTEGER NOT NULL DEFAULT 0,
		next_attempt_at INTEGER NOT NULL,
		leased_until INTEGER NOT NULL DEFAULT 0,
		last_status INTEGER NOT NULL DEFAULT 0,
		last_error TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL
	)`,
	`CREATE INDEX outbox_due ON outbox(state, next_attempt_at)`,
	`CREATE TABLE deliveries (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		delivery_id TEXT NOT NULL UNIQUE,
		event_id TEXT NOT NULL,
		webhook_id INTEGER NOT NULL,
		address TEXT NOT NULL,
		trigger TEXT NOT NULL,
		attempt INTEGER NOT NULL,
		status_code INTEGER NOT NULL,
		error TEXT NOT NULL,
		attempted_at INTEGER NOT NULL,
		duration_ms INTEGER NOT NULL
	)`,
	`CREATE INDEX deliveries_event ON deliveries(event_id)`,
	// Seed the ID sequences and the root folder "0" (All Files).
	fmt.Sprintf(`INSERT INTO sqlite_sequence(name, seq) VALUES ('folders', %d), ('files', %d), ('file_versions', %d), ('webhooks', %d)`,
		folderIDBase, fileIDBase, versionIDBase, webhookIDBase),
	`INSERT INTO folders(id, parent_id, name, name_key, created_at, modified_at) VALUES (0, NULL, 'All Files', '', 0, 0)`,
}

// sqliteDSN is the database's data source name. The database holds what
// tokens are (by hash) and files' metadata: secure_delete overwrites
// deleted and replaced content instead of leaving it in free pages.
func sqliteDSN(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "secure_delete(1)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + q.Encode()
}

func openStore(ctx context.Context, dir string) (*store, error) {
	path := filepath.Join(dir, "localbox.db")
	w, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	if err := migrate(ctx, w); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("migrating %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("opening %s for reading: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	if err := r.PingContext(ctx); err != nil {
		_ = w.Close()
		_ = r.Close()
		return nil, fmt.Errorf("opening %s for reading: %w", path, err)
	}
	return &store{w: w, r: r}, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	var v int
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	switch {
	case v == schemaVersion:
		return nil
	case v > schemaVersion:
		return fmt.Errorf("database schema version %d is newer than this localbox (%d)", v, schemaVersion)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	for _, stmt := range schema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("applying schema: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// tx runs fn in a write transaction and commits when fn returns nil.
func (s *store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing transaction: %w", err)
	}
	return nil
}

// metaValue reads a value from the meta table ("" if absent).
func metaValue(ctx context.Context, q querier, key string) (string, error) {
	var v string
	err := q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

func millis(t time.Time) int64 { return t.UnixMilli() }

// boxTime formats a stored time the way Box does (RFC 3339, seconds).
func boxTime(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) }

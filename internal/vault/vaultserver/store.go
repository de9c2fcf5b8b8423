package vaultserver

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver "sqlite"

	"filesight/internal/vault"
)

// store is the vault's SQLite database: the sealed values and the audit log.
type store struct {
	db *sql.DB
}

const schema = `
CREATE TABLE IF NOT EXISTS vault_values (
	id         TEXT PRIMARY KEY,  -- the token's opaque part
	kind       TEXT NOT NULL,
	mac        BLOB NOT NULL,     -- full HMAC of (kind, value): tells a collision of IDs from a repeat
	key_id     TEXT NOT NULL,     -- the encryption key that sealed the value
	sealed     BLOB NOT NULL,     -- nonce || AES-256-GCM(value), bound to id, kind and key_id
	created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS vault_values_key_id ON vault_values(key_id);
CREATE TABLE IF NOT EXISTS audit (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	at            INTEGER NOT NULL, -- unix milliseconds
	actor         TEXT NOT NULL,
	action        TEXT NOT NULL,
	token         TEXT NOT NULL DEFAULT '',
	remote        TEXT NOT NULL,
	forwarded_for TEXT NOT NULL DEFAULT '',
	result        TEXT NOT NULL,
	reason        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_token ON audit(token);
`

// openStore opens (creating) the database at path. secure_delete makes
// SQLite overwrite deleted and replaced content (old ciphertexts after a
// re-encryption) instead of leaving it in free pages.
func openStore(ctx context.Context, path string) (*store, error) {
	dsn := (&url.URL{Scheme: "file", Path: path, RawQuery: url.Values{
		"_pragma": {"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "secure_delete(ON)"},
		"_txlock": {"immediate"},
	}.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening the vault database %s: %w", path, err)
	}
	// One connection: SQLite has one writer, and this keeps every
	// read-then-insert free of races.
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("creating the vault database schema in %s: %w", path, err)
	}
	var secure int
	if err := db.QueryRowContext(ctx, "PRAGMA secure_delete").Scan(&secure); err != nil || secure != 1 {
		db.Close()
		return nil, fmt.Errorf("the vault database %s does not have secure_delete on (%d, %v)", path, secure, err)
	}
	return &store{db: db}, nil
}

func (s *store) close() error { return s.db.Close() }

// aad binds a sealed value to its row.
func aad(id string, kind vault.Kind, keyID string) []byte {
	return []byte("filesight-vault/v1\x00" + id + "\x00" + string(kind) + "\x00" + keyID)
}

// entry is one value to store.
type entry struct {
	id    string
	kind  vault.Kind
	mac   []byte
	value string // normal form
}

var errCollision = errors.New("two different values have the same token ID")

// put stores the entries that are not stored yet, in one transaction.
func (s *store) put(ctx context.Context, kr *keyring, entries []entry) (created int, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("beginning a transaction: %w", err)
	}
	defer tx.Rollback()
	now := time.Now().UnixMilli()
	for _, e := range entries {
		var mac []byte
		err := tx.QueryRowContext(ctx, "SELECT mac FROM vault_values WHERE id = ?", e.id).Scan(&mac)
		switch {
		case err == nil:
			if !bytes.Equal(mac, e.mac) {
				return 0, fmt.Errorf("token ID %s: %w", e.id, errCollision)
			}
			continue
		case !errors.Is(err, sql.ErrNoRows):
			return 0, fmt.Errorf("looking up token ID %s: %w", e.id, err)
		}
		sealed, err := sealActive(kr, e.id, e.kind, []byte(e.value))
		if err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO vault_values (id, kind, mac, key_id, sealed, created_at) VALUES (?, ?, ?, ?, ?, ?)",
			e.id, string(e.kind), e.mac, kr.active, sealed, now); err != nil {
			return 0, fmt.Errorf("storing token ID %s: %w", e.id, err)
		}
		created++
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("committing: %w", err)
	}
	return created, nil
}

// stored is a value read back.
type stored struct {
	kind  vault.Kind
	value string
}

// detokenize looks tokens up and records one audit event per token (with
// its result) in the same transaction: values are returned only once their
// audit rows are committed. ev is the template of the events.
func (s *store) detokenize(ctx context.Context, kr *keyring, tokens []vault.Token, ev vault.AuditEvent) ([]*stored, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("beginning a transaction: %w", err)
	}
	defer tx.Rollback()
	out := make([]*stored, len(tokens))
	for i, t := range tokens {
		var kind, keyID string
		var sealed []byte
		err := tx.QueryRowContext(ctx, "SELECT kind, key_id, sealed FROM vault_values WHERE id = ?", t.ID).Scan(&kind, &keyID, &sealed)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return nil, fmt.Errorf("looking up token ID %s: %w", t.ID, err)
		case vault.Kind(kind) == t.Kind:
			plain, err := kr.open(keyID, sealed, aad(t.ID, t.Kind, keyID))
			if err != nil {
				return nil, fmt.Errorf("token ID %s: %w", t.ID, err)
			}
			// A last-four suffix that does not match is a forged token.
			if t.Last4 == "" || strings.HasSuffix(string(plain), t.Last4) {
				out[i] = &stored{kind: t.Kind, value: string(plain)}
			}
		}
		e := ev
		e.Token = t.String()
		e.Result = vault.ResultNotFound
		if out[i] != nil {
			e.Result = vault.ResultOK
		}
		if err := insertAudit(ctx, tx, e); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("committing: %w", err)
	}
	return out, nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func insertAudit(ctx context.Context, db execer, e vault.AuditEvent) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	_, err := db.ExecContext(ctx, "INSERT INTO audit (at, actor, action, token, remote, forwarded_for, result, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		e.Time.UnixMilli(), e.Actor, e.Action, e.Token, e.Remote, e.Via, e.Result, e.Reason)
	if err != nil {
		return fmt.Errorf("writing the audit log: %w", err)
	}
	return nil
}

// audit records one event.
func (s *store) audit(ctx context.Context, e vault.AuditEvent) error {
	return insertAudit(ctx, s.db, e)
}

// auditQuery selects audit events.
type auditQuery struct {
	before int64 // only events with a smaller ID; 0: from the newest
	limit  int
	token  string
	actor  string
	action string
}

// listAudit returns events newest first.
func (s *store) listAudit(ctx context.Context, q auditQuery) (vault.AuditPage, error) {
	where, args := []string{"1=1"}, []any{}
	if q.before > 0 {
		where, args = append(where, "id < ?"), append(args, q.before)
	}
	for col, v := range map[string]string{"token": q.token, "actor": q.actor, "action": q.action} {
		if v != "" {
			where, args = append(where, col+" = ?"), append(args, v)
		}
	}
	rows, err := s.db.QueryContext(ctx, "SELECT id, at, actor, action, token, remote, forwarded_for, result, reason FROM audit WHERE "+
		strings.Join(where, " AND ")+" ORDER BY id DESC LIMIT ?", append(args, q.limit+1)...)
	if err != nil {
		return vault.AuditPage{}, fmt.Errorf("reading the audit log: %w", err)
	}
	defer rows.Close()
	page := vault.AuditPage{Events: []vault.AuditEvent{}}
	for rows.Next() {
		var e vault.AuditEvent
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Token, &e.Remote, &e.Via, &e.Result, &e.Reason); err != nil {
			return vault.AuditPage{}, fmt.Errorf("reading the audit log: %w", err)
		}
		e.Time = time.UnixMilli(at).UTC()
		page.Events = append(page.Events, e)
	}
	if err := rows.Err(); err != nil {
		return vault.AuditPage{}, fmt.Errorf("reading the audit log: %w", err)
	}
	if len(page.Events) > q.limit {
		page.Events = page.Events[:q.limit]
		page.NextBefore = page.Events[q.limit-1].ID
	}
	return page, nil
}

// keyCounts returns how many values each key ID protects.
func (s *store) keyCounts(ctx context.Context) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT key_id, COUNT(*) FROM vault_values GROUP BY key_id")
	if err != nil {
		return nil, fmt.Errorf("counting values per key: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("counting values per key: %w", err)
		}
		out[id] = n
	}
	return out, rows.Err()
}

// reencrypt re-seals every value not under the active key with it, batch
// values per transaction, and returns how many it re-sealed. Afterwards it
// truncates the write-ahead log so old ciphertexts do not linger there.
func (s *store) reencrypt(ctx context.Context, kr *keyring, batch int) (int64, error) {
	var total int64
	for {
		n, err := s.reencryptBatch(ctx, kr, batch)
		total += n
		if err != nil {
			return total, err
		}
		if n < int64(batch) {
			break
		}
	}
	if _, err := s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return total, fmt.Errorf("checkpointing the write-ahead log: %w", err)
	}
	return total, nil
}

func (s *store) reencryptBatch(ctx context.Context, kr *keyring, batch int) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("beginning a transaction: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, "SELECT id, kind, key_id, sealed FROM vault_values WHERE key_id != ? LIMIT ?", kr.active, batch)
	if err != nil {
		return 0, fmt.Errorf("finding values under old keys: %w", err)
	}
	type row struct {
		id, kind, keyID string
		sealed          []byte
	}
	var todo []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.kind, &r.keyID, &r.sealed); err != nil {
			rows.Close()
			return 0, fmt.Errorf("finding values under old keys: %w", err)
		}
		todo = append(todo, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("finding values under old keys: %w", err)
	}
	for _, r := range todo {
		kind := vault.Kind(r.kind)
		plain, err := kr.open(r.keyID, r.sealed, aad(r.id, kind, r.keyID))
		if err != nil {
			return 0, fmt.Errorf("token ID %s: %w", r.id, err)
		}
		sealed, err := sealActive(kr, r.id, kind, plain)
		if err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE vault_values SET key_id = ?, sealed = ? WHERE id = ?", kr.active, sealed, r.id); err != nil {
			return 0, fmt.Errorf("re-sealing token ID %s: %w", r.id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("committing: %w", err)
	}
	return int64(len(todo)), nil
}

// sealActive seals a value of a row with the active key.
func sealActive(kr *keyring, id string, kind vault.Kind, plain []byte) ([]byte, error) {
	return kr.seal(plain, aad(id, kind, kr.active))
}

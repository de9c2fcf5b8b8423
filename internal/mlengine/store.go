package mlengine

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver "sqlite"

	"filesight/internal/provider"
	"filesight/internal/secret"
)

// Fetch states of a job's media.
const (
	fetchPending  = "pending"
	fetchFetching = "fetching"
	fetchDone     = "done"
)

var (
	errNotFound            = errors.New("job not found")
	errQueueFull           = errors.New("queue full")
	errIdempotencyConflict = errors.New("idempotency key reused with a different request")
)

// job is a job as stored.
type job struct {
	Seq            int64
	ID             string
	IdempotencyKey string
	Fingerprint    string
	MediaURL       string
	MediaToken     secret.String // empty once the media is fetched
	Analyses       []string
	CallbackURL    string
	Labels         map[string]string
	Status         provider.State
	FetchState     string
	MediaFetched   bool
	MediaBytes     int64
	Progress       float64
	States         map[string]provider.State
	AnalysisErrors map[string]string
	Error          *provider.JobError
	Artifacts      map[string]string // artifact name → file name in the job's artifact dir
	Attempts       int
	Submissions    int
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// ResultDeletedAt is set once a succeeded job's result and artifacts
	// are deleted (by request or after ResultRetention).
	ResultDeletedAt time.Time
}

// callback is a pending or delivered callback (the outbox).
type callback struct {
	ID       string
	JobID    string
	URL      string
	Body     []byte
	Attempts int
}

type store struct {
	db *sql.DB

	// maxOpen is the most jobs open (queued or running) at once since the
	// store was opened: the number a provider's concurrency cap is about.
	// Only create adds an open job, so it is measured there, inside the
	// creating transaction.
	mu      sync.Mutex
	maxOpen int
}

// openStats returns the jobs open now and the most open at once since the
// service started.
func (s *store) openStats(ctx context.Context) (open, maxOpen int, err error) {
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE status IN (?, ?)`, provider.StateQueued, provider.StateRunning).Scan(&open); err != nil {
		return 0, 0, fmt.Errorf("count open jobs: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return open, max(s.maxOpen, open), nil
}

const schema = `
CREATE TABLE IF NOT EXISTS jobs (
	seq             INTEGER PRIMARY KEY AUTOINCREMENT,
	id              TEXT NOT NULL UNIQUE,
	idempotency_key TEXT UNIQUE,
	fingerprint     TEXT NOT NULL,
	media_url       TEXT NOT NULL,
	media_token     TEXT,
	analyses        TEXT NOT NULL,
	callback_url    TEXT NOT NULL DEFAULT '',
	labels          TEXT NOT NULL DEFAULT '{}',
	status          TEXT NOT NULL,
	fetch_state     TEXT NOT NULL,
	media_fetched   INTEGER NOT NULL DEFAULT 0,
	media_bytes     INTEGER NOT NULL DEFAULT 0,
	progress        REAL NOT NULL DEFAULT 0,
	states          TEXT NOT NULL DEFAULT '{}',
	analysis_errors TEXT NOT NULL DEFAULT '{}',
	error           TEXT,
	artifacts       TEXT NOT NULL DEFAULT '{}',
	attempts        INTEGER NOT NULL DEFAULT 0,
	submissions     INTEGER NOT NULL DEFAULT 1,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	result_deleted_at INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, fetch_state, seq);
CREATE TABLE IF NOT EXISTS callbacks (
	id           TEXT PRIMARY KEY,
	job_id       TEXT NOT NULL,
	url          TEXT NOT NULL,
	body         BLOB NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_at      INTEGER NOT NULL,
	delivered_at INTEGER,
	gave_up_at   INTEGER,
	last_error   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS callbacks_due ON callbacks(delivered_at, gave_up_at, next_at);
`

// openStore opens (creating) the job database. It holds media tokens until
// the download, so secure_delete makes SQLite overwrite deleted and
// replaced content instead of leaving it in free pages, and
// journal_size_limit(0) truncates the write-ahead log whenever a checkpoint
// has emptied it, so old page images do not linger there either.
func openStore(ctx context.Context, path string) (*store, error) {
	dsn := (&url.URL{Scheme: "file", Path: path, RawQuery: url.Values{
		"_pragma": {"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(ON)",
			"secure_delete(ON)", "journal_size_limit(0)"},
		"_txlock": {"immediate"},
	}.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open job database %s: %w", path, err)
	}
	// One connection: SQLite has one writer anyway, and this keeps every
	// read-modify-write sequence free of lock contention.
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create job database schema in %s: %w", path, err)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("upgrade job database schema in %s: %w", path, err)
	}
	var secure int
	if err := db.QueryRowContext(ctx, "PRAGMA secure_delete").Scan(&secure); err != nil || secure != 1 {
		db.Close()
		return nil, fmt.Errorf("the job database %s does not have secure_delete on (%d, %v)", path, secure, err)
	}
	return &store{db: db}, nil
}

// migrate adds the columns later versions introduced to a database an
// earlier version created.
func migrate(ctx context.Context, db *sql.DB) error {
	for _, c := range []struct{ name, def string }{
		{"submissions", "INTEGER NOT NULL DEFAULT 1"},
		{"result_deleted_at", "INTEGER"},
	} {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info('jobs') WHERE name = ?`, c.name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		if _, err := db.ExecContext(ctx, `ALTER TABLE jobs ADD COLUMN `+c.name+` `+c.def); err != nil {
			return err
		}
	}
	return nil
}

func (s *store) close() error { return s.db.Close() }

func ms(t time.Time) int64 { return t.UnixMilli() }

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal %T: %v", v, err)) // only maps of strings and plain structs go here
	}
	return string(b)
}

const jobColumns = `seq, id, COALESCE(idempotency_key, ''), fingerprint, media_url, COALESCE(media_token, ''), analyses,
	callback_url, labels, status, fetch_state, media_fetched, media_bytes, progress, states, analysis_errors,
	COALESCE(error, ''), artifacts, attempts, submissions, created_at, updated_at, COALESCE(result_deleted_at, 0)`

type scanner interface{ Scan(dest ...any) error }

func scanJob(sc scanner) (*job, error) {
	var (
		j                                                       job
		token, analyses, labels, states, aerrs, jerr, artifacts string
		status                                                  string
		created, updated, resultDeleted                         int64
	)
	if err := sc.Scan(&j.Seq, &j.ID, &j.IdempotencyKey, &j.Fingerprint, &j.MediaURL, &token, &analyses,
		&j.CallbackURL, &labels, &status, &j.FetchState, &j.MediaFetched, &j.MediaBytes, &j.Progress, &states, &aerrs,
		&jerr, &artifacts, &j.Attempts, &j.Submissions, &created, &updated, &resultDeleted); err != nil {
		return nil, err
	}
	if resultDeleted != 0 {
		j.ResultDeletedAt = time.UnixMilli(resultDeleted).UTC()
	}
	j.MediaToken = secret.String(token)
	j.Status = provider.State(status)
	j.CreatedAt, j.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
	for _, f := range []struct {
		src string
		dst any
	}{{analyses, &j.Analyses}, {labels, &j.Labels}, {states, &j.States}, {aerrs, &j.AnalysisErrors}, {artifacts, &j.Artifacts}} {
		if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
			return nil, fmt.Errorf("decode stored job %s: %w", j.ID, err)
		}
	}
	if jerr != "" {
		j.Error = new(provider.JobError)
		if err := json.Unmarshal([]byte(jerr), j.Error); err != nil {
			return nil, fmt.Errorf("decode stored job %s error: %w", j.ID, err)
		}
	}
	return &j, nil
}

func (s *store) get(ctx context.Context, id string) (*job, error) {
	j, err := scanJob(s.db.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read job %s: %w", id, err)
	}
	return j, nil
}

// list returns the jobs matching where, a condition with its ORDER BY
// (and LIMIT) clauses.
func (s *store) list(ctx context.Context, where string, args ...any) ([]*job, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	defer rows.Close()
	var out []*job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// page returns up to limit jobs after the job with sequence number after,
// in submission order, optionally only those in state status.
func (s *store) page(ctx context.Context, after int64, status provider.State, limit int) ([]*job, error) {
	if status != "" {
		return s.list(ctx, `seq > ? AND status = ? ORDER BY seq LIMIT ?`, after, status, limit)
	}
	return s.list(ctx, `seq > ? ORDER BY seq LIMIT ?`, after, limit)
}

// create inserts j unless a job with the same idempotency key exists, in
// which case it returns that job and created=false. A new job is refused with
// errQueueFull when queueLimit jobs are already queued.
func (s *store) create(ctx context.Context, j *job, queueLimit int) (_ *job, created bool, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, fmt.Errorf("create job: begin: %w", err)
	}
	defer tx.Rollback()
	if j.IdempotencyKey != "" {
		old, err := scanJob(tx.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE idempotency_key = ?`, j.IdempotencyKey))
		switch {
		case err == nil:
			if old.Fingerprint != j.Fingerprint {
				return old, false, errIdempotencyConflict
			}
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET submissions = submissions + 1 WHERE seq = ?`, old.Seq); err != nil {
				return nil, false, fmt.Errorf("create job: count the repeated submission: %w", err)
			}
			if err := tx.Commit(); err != nil {
				return nil, false, fmt.Errorf("create job: commit: %w", err)
			}
			old.Submissions++
			return old, false, nil
		case !errors.Is(err, sql.ErrNoRows):
			return nil, false, fmt.Errorf("create job: look up idempotency key: %w", err)
		}
	}
	var queued int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE status = ?`, provider.StateQueued).Scan(&queued); err != nil {
		return nil, false, fmt.Errorf("create job: count queue: %w", err)
	}
	if queued >= queueLimit {
		return nil, false, errQueueFull
	}
	var key any
	if j.IdempotencyKey != "" {
		key = j.IdempotencyKey
	}
	var token any
	if !j.MediaToken.IsZero() {
		token = j.MediaToken.Reveal()
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO jobs (id, idempotency_key, fingerprint, media_url, media_token, analyses,
		callback_url, labels, status, fetch_state, states, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		j.ID, key, j.Fingerprint, j.MediaURL, token, mustJSON(j.Analyses), j.CallbackURL, mustJSON(j.Labels),
		j.Status, j.FetchState, mustJSON(j.States), ms(j.CreatedAt), ms(j.UpdatedAt))
	if err != nil {
		return nil, false, fmt.Errorf("create job: insert: %w", err)
	}
	if j.Seq, err = res.LastInsertId(); err != nil {
		return nil, false, fmt.Errorf("create job: %w", err)
	}
	var open int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE status IN (?, ?)`, provider.StateQueued, provider.StateRunning).Scan(&open); err != nil {
		return nil, false, fmt.Errorf("create job: count open jobs: %w", err)
	}
	j.Submissions = 1
	if err := tx.Commit(); err != nil {
		return nil, false, fmt.Errorf("create job: commit: %w", err)
	}
	s.mu.Lock()
	s.maxOpen = max(s.maxOpen, open)
	s.mu.Unlock()
	return j, true, nil
}

// next returns the oldest queued job in the given fetch state, or nil.
func (s *store) next(ctx context.Context, fetchState string) (*job, error) {
	j, err := scanJob(s.db.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE status = ? AND fetch_state = ? ORDER BY seq LIMIT 1`,
		provider.StateQueued, fetchState))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find next %s job: %w", fetchState, err)
	}
	return j, nil
}

// waitingMedia sums the media of queued jobs that is downloaded and
// waits for analysis.
func (s *store) waitingMedia(ctx context.Context) (bytes int64, jobs int, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(media_bytes), 0), COUNT(*) FROM jobs WHERE status = ? AND fetch_state = ?`,
		provider.StateQueued, fetchDone).Scan(&bytes, &jobs)
	if err != nil {
		return 0, 0, fmt.Errorf("sum the media waiting for analysis: %w", err)
	}
	return bytes, jobs, nil
}

func (s *store) exec(ctx context.Context, what, q string, args ...any) error {
	if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func (s *store) setFetchState(ctx context.Context, id, state string, now time.Time) error {
	return s.exec(ctx, "set fetch state of job "+id, `UPDATE jobs SET fetch_state = ?, updated_at = ? WHERE id = ?`, state, ms(now), id)
}

// markFetched records a completed download and forgets the media token.
func (s *store) markFetched(ctx context.Context, id string, size int64, now time.Time) error {
	return s.exec(ctx, "mark job "+id+" fetched", `UPDATE jobs SET fetch_state = ?, media_fetched = 1, media_bytes = ?,
		media_token = NULL, updated_at = ? WHERE id = ?`, fetchDone, size, ms(now), id)
}

// markRunning moves a queued job to running and counts the attempt.
func (s *store) markRunning(ctx context.Context, id string, states map[string]provider.State, now time.Time) error {
	return s.exec(ctx, "mark job "+id+" running", `UPDATE jobs SET status = ?, attempts = attempts + 1, progress = 0,
		states = ?, updated_at = ? WHERE id = ?`, provider.StateRunning, mustJSON(states), ms(now), id)
}

// requeue puts an interrupted running job back in the queue (restart).
func (s *store) requeue(ctx context.Context, id string, fetchState string, states map[string]provider.State, now time.Time) error {
	return s.exec(ctx, "requeue job "+id, `UPDATE jobs SET status = ?, fetch_state = ?, progress = 0, states = ?, updated_at = ?
		WHERE id = ?`, provider.StateQueued, fetchState, mustJSON(states), ms(now), id)
}

func (s *store) setProgress(ctx context.Context, id string, progress float64, states map[string]provider.State, now time.Time) error {
	return s.exec(ctx, "record progress of job "+id, `UPDATE jobs SET progress = ?, states = ?, updated_at = ? WHERE id = ? AND status = ?`,
		progress, mustJSON(states), ms(now), id, provider.StateRunning)
}

// finish moves a job to a terminal state, forgets its token, and queues its
// callback in the same transaction. It does nothing (and reports false) when
// the job is already terminal.
func (s *store) finish(ctx context.Context, j *job, cb *callback, now time.Time) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("finish job %s: begin: %w", j.ID, err)
	}
	defer tx.Rollback()
	var jerr any
	if j.Error != nil {
		jerr = mustJSON(j.Error)
	}
	res, err := tx.ExecContext(ctx, `UPDATE jobs SET status = ?, progress = ?, states = ?, analysis_errors = ?, error = ?,
		artifacts = ?, media_token = NULL, updated_at = ? WHERE id = ? AND status IN (?, ?)`,
		j.Status, j.Progress, mustJSON(j.States), mustJSON(j.AnalysisErrors), jerr, mustJSON(j.Artifacts), ms(now),
		j.ID, provider.StateQueued, provider.StateRunning)
	if err != nil {
		return false, fmt.Errorf("finish job %s: %w", j.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	if cb != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO callbacks (id, job_id, url, body, next_at) VALUES (?, ?, ?, ?, ?)`,
			cb.ID, cb.JobID, cb.URL, cb.Body, ms(now)); err != nil {
			return false, fmt.Errorf("finish job %s: queue callback: %w", j.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("finish job %s: commit: %w", j.ID, err)
	}
	return true, nil
}

// dueCallbacks returns undelivered callbacks due at now, and the time the
// next one falls due (zero if none).
func (s *store) dueCallbacks(ctx context.Context, now time.Time, limit int) ([]callback, time.Time, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, job_id, url, body, attempts FROM callbacks
		WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_at <= ? ORDER BY next_at LIMIT ?`, ms(now), limit)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("list due callbacks: %w", err)
	}
	var out []callback
	for rows.Next() {
		var c callback
		if err := rows.Scan(&c.ID, &c.JobID, &c.URL, &c.Body, &c.Attempts); err != nil {
			rows.Close()
			return nil, time.Time{}, fmt.Errorf("list due callbacks: %w", err)
		}
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, fmt.Errorf("list due callbacks: %w", err)
	}
	var next sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MIN(next_at) FROM callbacks WHERE delivered_at IS NULL AND gave_up_at IS NULL`).Scan(&next); err != nil {
		return nil, time.Time{}, fmt.Errorf("find next callback: %w", err)
	}
	var nextAt time.Time
	if next.Valid {
		nextAt = time.UnixMilli(next.Int64)
	}
	return out, nextAt, nil
}

func (s *store) callbackDelivered(ctx context.Context, id string, attempts int, now time.Time) error {
	return s.exec(ctx, "record callback "+id+" delivered", `UPDATE callbacks SET delivered_at = ?, attempts = ?, last_error = '' WHERE id = ?`,
		ms(now), attempts, id)
}

func (s *store) callbackFailed(ctx context.Context, id string, attempts int, next time.Time, giveUp bool, lastErr string, now time.Time) error {
	var gaveUp any
	if giveUp {
		gaveUp = ms(now)
	}
	return s.exec(ctx, "record callback "+id+" failure", `UPDATE callbacks SET attempts = ?, next_at = ?, gave_up_at = ?, last_error = ? WHERE id = ?`,
		attempts, ms(next), gaveUp, lastErr, id)
}

// expired returns finished jobs last updated before cutoff that have no
// callback still to deliver.
func (s *store) expired(ctx context.Context, cutoff time.Time, limit int) ([]string, error) {
	return s.ids(ctx, "list expired jobs", `SELECT id FROM jobs WHERE status IN (?, ?, ?) AND updated_at < ?
		AND NOT EXISTS (SELECT 1 FROM callbacks c WHERE c.job_id = jobs.id AND c.delivered_at IS NULL AND c.gave_up_at IS NULL)
		ORDER BY seq LIMIT ?`, provider.StateSucceeded, provider.StateFailed, provider.StateCanceled, ms(cutoff), limit)
}

// markResultDeleted records that a succeeded job's result and artifacts are
// deleted (they are not served from then on). It reports false when the job
// is not succeeded or its result was already deleted.
func (s *store) markResultDeleted(ctx context.Context, id string, now time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE jobs SET result_deleted_at = ?, artifacts = '{}'
		WHERE id = ? AND status = ? AND result_deleted_at IS NULL`, ms(now), id, provider.StateSucceeded)
	if err != nil {
		return false, fmt.Errorf("mark the result of job %s deleted: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("mark the result of job %s deleted: %w", id, err)
	}
	return n > 0, nil
}

// expiredResults returns succeeded jobs that ended before cutoff and still
// have their result.
func (s *store) expiredResults(ctx context.Context, cutoff time.Time, limit int) ([]string, error) {
	return s.ids(ctx, "list expired results", `SELECT id FROM jobs WHERE status = ? AND result_deleted_at IS NULL AND updated_at < ?
		ORDER BY seq LIMIT ?`, provider.StateSucceeded, ms(cutoff), limit)
}

// ids runs a query of job IDs.
func (s *store) ids(ctx context.Context, what, q string, args ...any) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return ids, nil
}

// remove deletes a job and its callbacks.
func (s *store) remove(ctx context.Context, id string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("remove job %s: %w", id, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM callbacks WHERE job_id = ?`, id); err != nil {
		return fmt.Errorf("remove job %s callbacks: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE id = ?`, id); err != nil {
		return fmt.Errorf("remove job %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("remove job %s: %w", id, err)
	}
	return nil
}

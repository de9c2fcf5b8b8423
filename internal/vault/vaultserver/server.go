// Package vaultserver is the tokenisation vault service run by the vault/
// program: it stores sensitive values encrypted (AES-256-GCM, rotatable keys
// with IDs) in SQLite, hands out deterministic tokens for them to holders of
// a tokenize credential, maps tokens back only for holders of a separate
// detokenize credential, and audits every detokenize. See docs/vault.md.
package vaultserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"filesight/internal/program"
	"filesight/internal/vault"
)

// reencryptBatch is how many values one re-encryption transaction handles.
const reencryptBatch = 500

// Server is the vault service.
type Server struct {
	cfg    settings
	st     *store
	log    *slog.Logger
	denied *deniedLimiter
}

// New validates cfg, opens (creating) the database under cfg.DataDir and
// checks that every stored value's key is configured.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	s, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(s.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("VAULT_DATA_DIR: creating %s: %w", s.DataDir, err)
	}
	st, err := openStore(ctx, filepath.Join(s.DataDir, "vault.db"))
	if err != nil {
		return nil, err
	}
	srv := &Server{cfg: s, st: st, log: log, denied: &deniedLimiter{perMinute: s.DeniedAuditPerMinute}}
	counts, err := st.keyCounts(ctx)
	if err != nil {
		st.close()
		return nil, err
	}
	for id, n := range counts {
		if _, ok := s.keys.aeads[id]; !ok {
			st.close()
			return nil, fmt.Errorf("VAULT_ENCRYPTION_KEYS: %d stored values are encrypted with key %q, which is not configured; add it back (before the active key) and re-encrypt before removing it", n, id)
		}
	}
	return srv, nil
}

// Close closes the database.
func (s *Server) Close() error { return s.st.close() }

// String keeps the configuration's secrets out of fmt output.
func (s *Server) String() string {
	return fmt.Sprintf("vaultserver.Server{addr:%s data:%s active_key:%s}", s.cfg.Addr, s.cfg.DataDir, s.cfg.keys.active)
}

// GoString keeps the secrets out of %#v.
func (s *Server) GoString() string { return s.String() }

// Keys reports the active key and how many values each key protects (every
// configured key appears, with 0 when it protects nothing).
func (s *Server) Keys(ctx context.Context) (vault.KeysStatus, error) {
	counts, err := s.st.keyCounts(ctx)
	if err != nil {
		return vault.KeysStatus{}, err
	}
	for _, id := range s.cfg.keys.order {
		counts[id] += 0
	}
	return vault.KeysStatus{Active: s.cfg.keys.active, Values: counts}, nil
}

// Reencrypt re-seals every value held under an older key with the active
// key; afterwards the older keys protect nothing and can be removed.
func (s *Server) Reencrypt(ctx context.Context) (vault.ReencryptResponse, error) {
	n, err := s.st.reencrypt(ctx, s.cfg.keys, reencryptBatch)
	if err != nil {
		return vault.ReencryptResponse{Reencrypted: n}, fmt.Errorf("re-encrypting (%d values done): %w", n, err)
	}
	keys, err := s.Keys(ctx)
	return vault.ReencryptResponse{Reencrypted: n, Keys: keys}, err
}

// ListenAndServe serves on cfg.Addr until ctx ends, then drains in-flight
// requests for up to ShutdownTimeout.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("VAULT_ADDR: listening on %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.log.Info("vault listening", "addr", ln.Addr().String(), "data_dir", s.cfg.DataDir, "active_key", s.cfg.keys.active,
		"keys", strings.Join(s.cfg.keys.order, ","), "tokenizers", names(s.cfg.creds[roleTokenize]), "detokenizers", names(s.cfg.creds[roleDetokenize]))
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	s.log.Info("vault stopped")
	return nil
}

func names(cs []credential) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.name)
	}
	return strings.Join(out, ",")
}

// deniedLimiter admits at most perMinute refused requests a minute into
// the audit log.
type deniedLimiter struct {
	perMinute int
	mu        sync.Mutex
	minute    int64
	count     int
	dropped   int
}

// admit reports whether one more refused request may be audited, and how
// many were dropped in the previous minute (once, when a new minute starts).
func (l *deniedLimiter) admit(now time.Time) (ok bool, droppedBefore int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if m := now.Unix() / 60; m != l.minute {
		droppedBefore = l.dropped
		l.minute, l.count, l.dropped = m, 0, 0
	}
	if l.count >= l.perMinute {
		l.dropped++
		return false, droppedBefore
	}
	l.count++
	return true, droppedBefore
}

// Main runs the vault program (program.Func): "serve" (the default) or
// "reencrypt".
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, env program.Env) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	if len(args) > 1 || !slices.Contains([]string{"serve", "reencrypt", "help", "-h", "-help", "--help"}, cmd) {
		fmt.Fprintf(stderr, "vault: unknown command %q\n%s", strings.Join(args, " "), usage)
		return program.ExitUsage
	}
	if cmd != "serve" && cmd != "reencrypt" {
		fmt.Fprint(stdout, usage)
		return program.ExitOK
	}
	cfg, err := loadConfig(ctx, program.OrOS(env))
	if err != nil {
		fmt.Fprintln(stderr, err) // already prefixed "vault"
		return program.ExitUsage
	}
	log := program.NewLogger(stderr, program.LogJSON, cfg.LogLevel)
	srv, err := New(ctx, cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return program.ExitFailure
	}
	defer func() {
		if err := srv.Close(); err != nil {
			log.Error("closing the vault database", "error", err)
		}
	}()
	switch cmd {
	case "reencrypt":
		res, err := srv.Reencrypt(ctx)
		if err == nil {
			err = srv.st.audit(ctx, vault.AuditEvent{Actor: "cli", Action: "reencrypt", Remote: "local", Result: vault.ResultOK})
		}
		if err != nil {
			log.Error("re-encryption failed", "error", err, "reencrypted", res.Reencrypted)
			return program.ExitFailure
		}
		fmt.Fprintf(stdout, "re-encrypted %d values with key %q; values per key: %v\n", res.Reencrypted, res.Keys.Active, res.Keys.Values)
		return program.ExitOK
	default:
		return program.Report(log, "vault", srv.ListenAndServe(ctx))
	}
}

const usage = `usage: vault [serve | reencrypt]

  serve      run the vault service (default)
  reencrypt  re-seal every stored value with the active key (the last of
             VAULT_ENCRYPTION_KEYS), then print how many values each key
             protects; safe while the service runs

Configuration comes from VAULT_* environment variables (or VAULT_*_FILE);
see docs/vault.md.
`

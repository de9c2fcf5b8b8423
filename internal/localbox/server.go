// Package localbox is a Box-compatible content store: a real server with
// Box's paths, request and response shapes and errors, for development,
// tests and air-gapped use.
//
// It keeps folders, files and their versions, metadata instances (skills
// cards validated), OAuth 2.0 client-credentials and downscoped tokens
// (scope- and resource-enforced, expiring, revocable) and v2 webhooks in
// SQLite (pure-Go driver), file contents as blobs on disk, and delivers
// signed webhooks from a durable outbox with retries. An admin API under
// /_localbox/ lists tokens and deliveries and injects faults.
package localbox

import (
	"context"
	"crypto/rand"
	"errors"
	"filesight/internal/faultinject"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// Server is a localbox instance over one data directory.
type Server struct {
	cfg     Config
	log     *slog.Logger
	store   *store
	blobs   *blobStore
	lock    *dirLock
	user    user
	limiter *rateLimiter
	faults  *faultinject.Set
	outbox  *outbox
	handler http.Handler
	now     func() time.Time

	bgCancel context.CancelFunc
	bgWG     sync.WaitGroup

	mu        sync.Mutex
	httpSrvs  []*http.Server
	closed    bool
	closeErr  error
	closeOnce sync.Once
}

// handlerFunc is an HTTP handler that returns its error for writeError.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// New opens (or creates) the data directory and starts the webhook outbox.
// Close releases everything.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("localbox configuration: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	lock, err := lockDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, lock: lock, now: time.Now}
	ok := false
	defer func() {
		if !ok {
			if s.store != nil {
				_ = s.store.Close()
			}
			_ = lock.release()
		}
	}()
	if s.store, err = openStore(ctx, cfg.DataDir); err != nil {
		return nil, err
	}
	if err := ensureSearchIndex(ctx, s.store.w); err != nil {
		return nil, err
	}
	if s.blobs, err = newBlobStore(cfg.DataDir); err != nil {
		return nil, err
	}
	if err := s.blobs.sweep(ctx, s.store.r, log); err != nil {
		return nil, fmt.Errorf("sweeping blobs: %w", err)
	}
	if s.user, err = s.serviceUser(ctx); err != nil {
		return nil, err
	}
	s.limiter = newRateLimiter(cfg.RateLimit, cfg.RateBurst)
	s.faults = faultinject.NewSet(faultPolicy())
	s.outbox = newOutbox(s)
	s.handler = s.routes()

	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.bgCancel = cancel
	if err := s.outbox.start(bg, &s.bgWG); err != nil {
		cancel()
		return nil, err
	}
	s.bgWG.Add(1)
	go func() {
		defer s.bgWG.Done()
		s.janitor(bg)
	}()
	ok = true
	log.Info("localbox ready", "data_dir", cfg.DataDir, "public_url", cfg.PublicURL, "service_user", s.user.ID)
	return s, nil
}

// serviceUser loads (or creates on first start) the service account user.
func (s *Server) serviceUser(ctx context.Context) (user, error) {
	id, err := metaValue(ctx, s.store.w, "service_user_id")
	if err != nil {
		return user{}, fmt.Errorf("reading service user: %w", err)
	}
	if id == "" {
		n, _ := rand.Int(rand.Reader, big.NewInt(9_000_000_000))
		id = fmt.Sprint(10_000_000_000 + n.Int64())
		if _, err := s.store.w.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES ('service_user_id', ?)`, id); err != nil {
			return user{}, fmt.Errorf("storing service user: %w", err)
		}
	}
	return user{
		ID:    id,
		Name:  "localbox service account",
		Login: fmt.Sprintf("AutomationUser_%s@boxdevedition.com", id),
	}, nil
}

// Config returns the effective configuration (defaults filled in).
func (s *Server) Config() Config { return s.cfg }

// Handler is the HTTP handler serving the API, uploads and the admin API.
func (s *Server) Handler() http.Handler { return s.handler }

// Run serves on ln until ctx is done, then shuts the listener down
// gracefully. It does not Close the server.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("localbox server is closed")
	}
	s.httpSrvs = append(s.httpSrvs, srv)
	s.mu.Unlock()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
		<-errc
		return nil
	}
}

// Close stops serving (connections of Run are shut down), stops the outbox
// (deliveries in flight are abandoned and retried after a restart), and
// closes the database. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		srvs := s.httpSrvs
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, srv := range srvs {
			if err := srv.Shutdown(ctx); err != nil {
				_ = srv.Close()
			}
		}
		s.bgCancel()
		s.bgWG.Wait()
		s.closeErr = errors.Join(s.store.Close(), s.lock.release())
	})
	return s.closeErr
}

// janitor prunes old tokens, delivery log entries and idle rate-limit buckets.
func (s *Server) janitor(ctx context.Context) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.now()
		cutoff := millis(now.Add(-7 * 24 * time.Hour))
		if _, err := s.store.w.ExecContext(ctx, `DELETE FROM tokens WHERE expires_at < ?`, cutoff); err != nil && ctx.Err() == nil {
			s.log.Warn("pruning tokens failed", "error", err)
		}
		if _, err := s.store.w.ExecContext(ctx, `DELETE FROM deliveries WHERE seq <= (SELECT MAX(seq) FROM deliveries) - 100000`); err != nil && ctx.Err() == nil {
			s.log.Warn("pruning delivery log failed", "error", err)
		}
		s.limiter.prune(now)
	}
}

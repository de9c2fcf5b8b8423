// Package mlengine is the bundled ML job service: an HTTP API over a
// persistent (SQLite) job queue whose workers download media with the
// caller's short-lived token, run the real analyzers (internal/analyze), keep
// results and thumbnails, and send signed callbacks when jobs end.
//
// See docs/mlengine.md for the API, configuration and semantics; the wire
// types and the client are in internal/provider/mlengineapi.
package mlengine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"filesight/internal/egress"
)

// Server is a running job service: workers started, HTTP handler ready.
type Server struct {
	cfg     Config
	log     *slog.Logger
	eng     *engine
	faults  *faultSet
	handler http.Handler

	closeOnce sync.Once
	closeErr  error
}

// Option customises New (and mlenginetest.Start).
type Option func(*options)

type options struct {
	analyzer  Analyzer
	configure []func(*Config)
	logger    *slog.Logger
	resolver  egress.Resolver
}

// WithAnalyzer replaces the real analyzers (internal/analyze), e.g. with a
// fast fake in tests.
func WithAnalyzer(a Analyzer) Option { return func(o *options) { o.analyzer = a } }

// WithConfig lets a caller adjust the configuration before the server starts.
func WithConfig(f func(*Config)) Option {
	return func(o *options) { o.configure = append(o.configure, f) }
}

// WithLogger sets the logger (mlenginetest.Start's default logs to t.Log).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithResolver replaces the DNS resolver of media and callback hosts (in
// tests, to make a name resolve wherever the test needs).
func WithResolver(r egress.Resolver) Option { return func(o *options) { o.resolver = r } }

// New opens the job database in cfg.DataDir, recovers the jobs an earlier
// run left unfinished, and starts the workers. ctx bounds this start-up only;
// the workers run until Close.
func New(ctx context.Context, cfg Config, logger *slog.Logger, opts ...Option) (*Server, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	for _, f := range o.configure {
		f(&cfg)
	}
	if o.logger != nil {
		logger = o.logger
	}
	if logger == nil {
		logger = slog.Default()
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if o.analyzer == nil {
		o.analyzer = defaultAnalyzer()
	}
	if o.analyzer == nil {
		return nil, errors.New("mlengine: no analyzer available")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("mlengine: create data directory: %w", err)
	}
	st, err := openStore(ctx, filepath.Join(cfg.DataDir, "mlengine.db"))
	if err != nil {
		return nil, fmt.Errorf("mlengine: %w", err)
	}
	log := logger.With("component", "mlengine")
	policy, err := cfg.policy(o.resolver)
	if err != nil {
		st.close()
		return nil, fmt.Errorf("mlengine: %w", err)
	}
	eng := newEngine(cfg, log, st, o.analyzer, policy)
	if err := eng.start(ctx); err != nil {
		eng.close()
		st.close()
		return nil, fmt.Errorf("mlengine: start: %w", err)
	}
	s := &Server{cfg: cfg, log: log, eng: eng, faults: newFaultSet()}
	s.handler = s.routes()
	log.Info("mlengine started", "data_dir", cfg.DataDir, "concurrency", cfg.Concurrency,
		"parallel_jobs", cfg.ParallelJobs, "queue_limit", cfg.QueueLimit)
	return s, nil
}

// String describes the server without its keys (fmt would print the
// secrets in the unexported config field raw).
func (s *Server) String() string { return "mlengine.Server{data_dir: " + s.cfg.DataDir + "}" }

// GoString is String, for %#v.
func (s *Server) GoString() string { return s.String() }

// Handler is the HTTP API.
func (s *Server) Handler() http.Handler { return s.handler }

// Config is the effective configuration (defaults filled in).
func (s *Server) Config() Config { return s.cfg }

// Serve answers HTTP on ln until ctx is done, then shuts the listener down
// gracefully (waiting up to 10 s for requests in flight). It does not stop
// the workers: call Close after it.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("mlengine listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("mlengine: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("mlengine: shutdown: %w", err)
	}
	return nil
}

// ListenAndServe listens on cfg.Addr and calls Serve.
func (s *Server) ListenAndServe(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("mlengine: listen on %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Close stops the workers and closes the database. Jobs in progress are
// interrupted (their processes killed, temporary files removed) and resumed
// by the next New on the same data directory.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.eng.close()
		s.closeErr = s.eng.store.close()
		s.log.Info("mlengine stopped")
	})
	return s.closeErr
}

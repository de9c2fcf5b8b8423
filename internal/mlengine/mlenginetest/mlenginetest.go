// Package mlenginetest starts a real mlengine for tests of any package: a
// real server on a 127.0.0.1 listener with its data in a temporary
// directory and random keys, with the real analyzers or any
// mlengine.Analyzer. It is never linked into a program.
package mlenginetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filesight/internal/freeport"
	"filesight/internal/mlengine"
	"filesight/internal/secret"
)

// Server is a real mlengine on a 127.0.0.1 listener with its data in a
// temporary directory.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:41234 (stable across Restart).
	URL string
	// APIKey authenticates API calls; CallbackKey signs callbacks.
	APIKey, CallbackKey string
	// DataDir holds the database and job files.
	DataDir string

	mu     sync.Mutex
	srv    *mlengine.Server
	hs     *http.Server
	served chan struct{}
	addr   string
	cfg    mlengine.Config
	opts   []mlengine.Option
	logw   *testLogWriter
}

// Start starts a server with random keys; it is closed when the test ends.
// Without mlengine.WithAnalyzer it runs the real analyzers; its log goes to
// t.Log unless mlengine.WithLogger says otherwise.
func Start(t testing.TB, opts ...mlengine.Option) *Server {
	t.Helper()
	ts := &Server{
		APIKey:      randomKey(t),
		CallbackKey: randomKey(t),
		DataDir:     t.TempDir(),
		opts:        opts,
	}
	ts.cfg = mlengine.Config{
		Addr:        "127.0.0.1:0",
		DataDir:     ts.DataDir,
		APIKey:      secret.String(ts.APIKey),
		CallbackKey: secret.String(ts.CallbackKey),
		// Test servers (media, callback receivers) listen on 127.0.0.1.
		AllowedHosts: []string{"127.0.0.1"},
		// Quick retries so tests exercising them stay fast.
		FetchBackoff:    50 * time.Millisecond,
		MaxNotReadyWait: time.Second,
		CallbackBackoff: 100 * time.Millisecond,
		PollRetryAfter:  time.Second,
	}
	ts.logw = &testLogWriter{t: t}
	ts.start(t)
	t.Cleanup(ts.Close)
	return ts
}

func randomKey(t testing.TB) string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random key: %v", err)
	}
	return hex.EncodeToString(b)
}

func (ts *Server) start(t testing.TB) {
	t.Helper()
	opts := append([]mlengine.Option{mlengine.WithLogger(slog.New(slog.NewTextHandler(ts.logw, &slog.HandlerOptions{Level: slog.LevelInfo})))}, ts.opts...)
	srv, err := mlengine.New(context.Background(), ts.cfg, nil, opts...)
	if err != nil {
		t.Fatalf("start mlengine: %v", err)
	}
	ln, err := ts.listen(t)
	if err != nil {
		srv.Close()
		t.Fatalf("start mlengine: %v", err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = hs.Serve(ln)
	}()
	ts.mu.Lock()
	ts.srv, ts.hs, ts.served = srv, hs, served
	ts.addr = ln.Addr().String()
	ts.URL = "http://" + ts.addr
	ts.mu.Unlock()
}

// listen takes a fresh port the first time and the same port after Restart.
func (ts *Server) listen(t testing.TB) (net.Listener, error) {
	if ts.addr == "" {
		return freeport.Listen()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ln, err := net.Listen("tcp", ts.addr)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return ln, err
		}
		time.Sleep(20 * time.Millisecond) // retry while the old socket is released
	}
}

// Server is the running server (replaced by Restart).
func (ts *Server) Server() *mlengine.Server {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.srv
}

// Restart stops the server the way a process stop would (jobs in progress
// are interrupted) and starts a new one on the same data and address.
func (ts *Server) Restart(t testing.TB) {
	t.Helper()
	ts.stop()
	ts.start(t)
}

func (ts *Server) stop() {
	ts.mu.Lock()
	srv, hs, served := ts.srv, ts.hs, ts.served
	ts.srv, ts.hs = nil, nil
	ts.mu.Unlock()
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(ctx); err != nil {
		hs.Close()
	}
	<-served
	srv.Close()
}

// Close stops the server. It is safe to call more than once.
func (ts *Server) Close() {
	ts.stop()
	ts.logw.close()
}

// testLogWriter sends log lines to t.Log until the server is closed (t.Log
// after the test has ended would panic).
type testLogWriter struct {
	mu     sync.Mutex
	t      testing.TB
	closed bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Helper()
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testLogWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

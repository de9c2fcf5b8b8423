package starter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Listener pairs a listener with the handler served on it.
type Listener struct {
	Name     string // for logs: "api", "codec"
	Listener net.Listener
	Handler  http.Handler
}

// Serve serves every listener until ctx ends, then shuts them all down
// gracefully: no new connections, in-flight requests get up to
// shutdownTimeout to finish. It returns the first serving error, if any.
func Serve(ctx context.Context, log *slog.Logger, shutdownTimeout time.Duration, ls ...Listener) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	servers := make([]*http.Server, len(ls))
	errc := make(chan error, len(ls))
	for i, l := range ls {
		srv := &http.Server{
			Handler:           l.Handler,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       15 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       90 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		}
		servers[i] = srv
		log.Info("listening", "server", l.Name, "addr", l.Listener.Addr().String())
		go func(name string, ln net.Listener) {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s server on %s: %w", name, ln.Addr(), err)
				return
			}
			errc <- nil
		}(l.Name, l.Listener)
	}
	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
		// One server failed: take the others down too.
	}
	log.Info("shutting down", "drain_timeout", shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	for i, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil {
			first = errors.Join(first, fmt.Errorf("shutting down %s server: %w", ls[i].Name, err))
		}
	}
	return first
}

// Listen opens a TCP listener, naming the setting in the error.
func Listen(setting, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listening on %s: %w", setting, addr, err)
	}
	return ln, nil
}

// Command localbox runs the Box-compatible content store (see
// docs/localbox.md). It is configured by LOCALBOX_* environment variables
// (any of them may be given as NAME_FILE instead).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"filesight/internal/config"
	"filesight/internal/localbox"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "localbox:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var cfg localbox.Config
	if err := config.Load(ctx, &cfg); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))

	srv, err := localbox.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := srv.Close(); err != nil {
			log.Error("closing localbox", "err", err)
		}
	}()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	log.Info("localbox listening", "addr", ln.Addr().String(), "public_url", srv.Config().PublicURL)
	return srv.Run(ctx, ln)
}

// Command mlengine runs the bundled ML job service (see docs/mlengine.md).
// It is configured by MLENGINE_* environment variables; the keys may be
// given as NAME_FILE instead.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"filesight/internal/mlengine"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mlengine:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := mlengine.LoadConfig(ctx)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	srv, err := mlengine.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := srv.Close(); err != nil {
			log.Error("closing mlengine", "error", err)
		}
	}()
	return srv.ListenAndServe(ctx)
}

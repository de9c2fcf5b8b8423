// Command worker hosts the ProcessFile workflow and its activities on task
// queue "filesight". Configuration comes from the environment (see
// docs/workflow.md); SIGINT or SIGTERM stops polling and drains in-flight
// activities before exiting.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"filesight/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var cfg Config
	if err := config.Load(ctx, &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(2)
	}
	log := newLogger(cfg)
	if err := run(ctx, cfg, log, nil); err != nil {
		log.Error("worker failed", "error", err)
		os.Exit(1)
	}
}

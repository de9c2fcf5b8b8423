// Command starter receives Box webhooks and ML provider callbacks and starts
// or signals filesight's ProcessFile workflows; it also starts single files
// and backfills folders. See docs/starter.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"filesight/internal/starter"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := starter.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, nil)
	stop()
	os.Exit(code)
}

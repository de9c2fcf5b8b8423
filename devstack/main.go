// Command devstack brings the whole filesight system up on one machine
// (make up) and uploads files into its inbox (make upload). See docs/devstack.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"filesight/internal/devstack"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "devstack: stopping everything (Ctrl-C again to kill at once)")
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "devstack: killed")
		os.Exit(130) // children die with us (their parent-death signal)
	}()
	code := devstack.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	cancel()
	os.Exit(code)
}

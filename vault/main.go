// Command vault runs the tokenisation vault: sensitive values found in ML
// output go in, tokens come out, and only holders of a detokenize
// credential get values back, every time audited. It is configured by
// VAULT_* environment variables (secrets may be given as NAME_FILE); see
// docs/vault.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"filesight/internal/vault/vaultserver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := vaultserver.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Command vault runs the tokenisation vault: sensitive values found in ML
// output go in, tokens come out, and only holders of a detokenize
// credential get values back, every time audited (see
// internal/vault/vaultserver and docs/vault.md).
package main

import (
	"filesight/internal/program"
	"filesight/internal/vault/vaultserver"
)

func main() { program.Main("vault", vaultserver.Main, program.Options{}) }

// Command localbox runs the Box-compatible content store (see
// internal/localbox and docs/localbox.md).
package main

import (
	"filesight/internal/localbox"
	"filesight/internal/program"
)

func main() { program.Main("localbox", localbox.Main, program.Options{}) }

// Command starter receives Box webhooks and ML provider callbacks and starts
// or signals filesight's ProcessFile workflows; it also starts single files
// and backfills folders (see internal/starter and docs/starter.md).
package main

import (
	"filesight/internal/program"
	"filesight/internal/starter"
)

func main() { program.Main("starter", starter.Main, program.Options{}) }

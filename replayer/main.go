// Command replayer exports ProcessFile histories from a Temporal server and
// replays them against the current workflow code (see internal/replayer and
// docs/workflow.md).
package main

import (
	"filesight/internal/program"
	"filesight/internal/replayer"
)

func main() { program.Main("replayer", replayer.Main, program.Options{}) }

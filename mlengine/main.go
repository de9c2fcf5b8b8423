// Command mlengine runs the bundled ML job service (see internal/mlengine
// and docs/mlengine.md).
package main

import (
	"filesight/internal/mlengine"
	"filesight/internal/program"
)

func main() { program.Main("mlengine", mlengine.Main, program.Options{}) }

// Command bench measures mlengine's analyzers against the same tools run one
// after another (make bench; see internal/bench and docs/analyzers.md).
package main

import (
	"filesight/internal/bench"
	"filesight/internal/program"
)

func main() { program.Main("bench", bench.Main, program.Options{}) }

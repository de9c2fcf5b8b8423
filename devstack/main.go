// Command devstack brings the whole filesight system up on one machine
// (make up) and uploads files into its inbox (make upload); see
// internal/devstack and docs/devstack.md.
package main

import (
	"filesight/internal/devstack"
	"filesight/internal/program"
)

// Children die with devstack (their parent-death signal), so a second
// Ctrl-C may end it at once.
func main() {
	program.Main("devstack", devstack.Main, program.Options{Stopping: "stopping everything (Ctrl-C again to kill at once)"})
}

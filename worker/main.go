// Command worker hosts the ProcessFile workflow and its activities on task
// queue "filesight" (see internal/worker and docs/workflow.md).
package main

import (
	"filesight/internal/program"
	"filesight/internal/worker"
)

func main() { program.Main("worker", worker.Main, program.Options{}) }

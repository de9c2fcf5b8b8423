// Package worker is the worker program: it hosts the ProcessFile workflow
// and its activities on task queue "filesight", serves the SDK's metrics
// (/metrics) and a health check (/healthz), and on SIGINT or SIGTERM stops
// polling and drains in-flight activities before exiting. Configuration
// comes from the environment (see Config and docs/workflow.md).
package worker

import (
	"context"
	"io"

	"filesight/internal/config"
	"filesight/internal/program"
)

const usage = `usage: worker

Hosts filesight's workflows and activities until SIGINT or SIGTERM.
Configuration comes from the environment; see docs/workflow.md.
`

// Main runs the worker program (program.Func).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, env program.Env) int {
	if code, ok := program.ParseNoArgs("worker", usage, args, stderr); !ok {
		return code
	}
	var cfg Config
	if err := config.LoadFrom(ctx, &cfg, program.OrOS(env)); err != nil {
		return program.BadConfig(stderr, "worker", err)
	}
	log := program.NewLogger(stderr, program.LogFormat(cfg.LogFormat), cfg.level())
	return program.Report(log, "worker", Run(ctx, cfg, log, nil))
}

// Package worker is the worker program: it hosts the ProcessFile workflow
// and its activities on task queue "filesight", serves the SDK's metrics
// (/metrics) and a health check (/healthz), and on SIGINT or SIGTERM stops
// polling and drains in-flight activities before exiting. Configuration
// comes from the environment (see Config and docs/workflow.md).
package worker

import (
	"context"
	"flag"
	"fmt"
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
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	if err := fs.Parse(args); err != nil {
		return program.ExitCode(program.Usage(err))
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "worker: no arguments are accepted\n%s", usage)
		return program.ExitUsage
	}
	var cfg Config
	if err := config.LoadFrom(ctx, &cfg, program.OrOS(env)); err != nil {
		fmt.Fprintln(stderr, "worker:", err)
		return program.ExitUsage
	}
	log := program.NewLogger(stderr, program.LogFormat(cfg.LogFormat), cfg.level())
	if err := Run(ctx, cfg, log, nil); err != nil {
		log.Error("worker failed", "error", err)
		return program.ExitFailure
	}
	return program.ExitOK
}

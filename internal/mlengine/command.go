package mlengine

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"filesight/internal/program"
)

const usage = `usage: mlengine

Serves the bundled ML job service until SIGINT or SIGTERM.
Configuration comes from MLENGINE_* environment variables (any of them may
be given as NAME_FILE instead); see docs/mlengine.md.
`

// Main runs the mlengine program (program.Func).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, env program.Env) int {
	fs := flag.NewFlagSet("mlengine", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	if err := fs.Parse(args); err != nil {
		return program.ExitCode(program.Usage(err))
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mlengine: no arguments are accepted\n%s", usage)
		return program.ExitUsage
	}
	cfg, err := loadConfig(ctx, program.OrOS(env))
	if err == nil {
		_, err = cfg.withDefaults()
	}
	if err != nil {
		fmt.Fprintln(stderr, err) // already prefixed "mlengine"
		return program.ExitUsage
	}
	log := program.NewLogger(stderr, program.LogJSON, cfg.LogLevel)
	if err := Run(ctx, cfg, log); err != nil {
		log.Error("mlengine failed", "error", err)
		return program.ExitFailure
	}
	return program.ExitOK
}

// Run starts the job service with the real analyzers, serves on cfg.Addr
// until ctx is done, and stops the workers.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	srv, err := New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := srv.Close(); err != nil {
			log.Error("closing mlengine", "error", err)
		}
	}()
	return srv.ListenAndServe(ctx)
}

package mlengine

import (
	"context"
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
	if code, ok := program.ParseNoArgs("mlengine", usage, args, stderr); !ok {
		return code
	}
	cfg, err := loadConfig(ctx, program.OrOS(env))
	if err == nil {
		_, err = cfg.withDefaults()
	}
	if err != nil {
		return program.BadConfig(stderr, "mlengine", err)
	}
	log := program.NewLogger(stderr, program.LogJSON, cfg.LogLevel)
	return program.Report(log, "mlengine", Run(ctx, cfg, log))
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

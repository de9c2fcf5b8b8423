package localbox

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"

	"filesight/internal/config"
	"filesight/internal/program"
)

const usage = `usage: localbox

Serves the Box-compatible content store until SIGINT or SIGTERM.
Configuration comes from LOCALBOX_* environment variables (any of them may
be given as NAME_FILE instead); see docs/localbox.md.
`

// Main runs the localbox program (program.Func).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, env program.Env) int {
	if code, ok := program.ParseNoArgs("localbox", usage, args, stderr); !ok {
		return code
	}
	var cfg Config
	if err := config.LoadFrom(ctx, &cfg, program.OrOS(env)); err != nil {
		return program.BadConfig(stderr, "localbox", err)
	}
	log := program.NewLogger(stderr, program.LogJSON, cfg.LogLevel)
	return program.Report(log, "localbox", Run(ctx, cfg, log))
}

// Run opens localbox's data directory, serves on cfg.Addr until ctx is
// done, and closes everything.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	srv, err := New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := srv.Close(); cerr != nil {
			log.Error("closing localbox", "error", cerr)
		}
	}()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s (LOCALBOX_ADDR): %w", cfg.Addr, err)
	}
	log.Info("localbox listening", "addr", ln.Addr().String(), "public_url", srv.Config().PublicURL)
	return srv.Run(ctx, ln)
}

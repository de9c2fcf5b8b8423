package localbox

import (
	"context"
	"flag"
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
	fs := flag.NewFlagSet("localbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	if err := fs.Parse(args); err != nil {
		return program.ExitCode(program.Usage(err))
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "localbox: no arguments are accepted\n%s", usage)
		return program.ExitUsage
	}
	var cfg Config
	if err := config.LoadFrom(ctx, &cfg, program.OrOS(env)); err != nil {
		fmt.Fprintln(stderr, "localbox:", err)
		return program.ExitUsage
	}
	log := program.NewLogger(stderr, program.LogJSON, cfg.LogLevel)
	if err := Run(ctx, cfg, log); err != nil {
		log.Error("localbox failed", "error", err)
		return program.ExitFailure
	}
	return program.ExitOK
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

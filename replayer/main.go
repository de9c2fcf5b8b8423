// Command replayer exports ProcessFile histories from a Temporal server and
// replays histories against the current workflow code:
//
//	replayer export [-out workflows/testdata] [-last 20] [-query Q]
//	    write the histories of the last N closed executions as JSON files
//	replayer check [-last 50] [-query Q]
//	    replay the last N closed executions straight from the server, with
//	    the production data converter: a pre-deploy check
//	replayer files [PATH...]
//	    replay history files (default workflows/testdata/*.json)
//
// The server comes from TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE (and the TLS /
// API key variables); check and files decrypt payloads with
// FILESIGHT_CODEC_KEYS (or FILESIGHT_CODEC_KEYS_FILE).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"filesight/internal/codec"
	"filesight/internal/config"
	"filesight/internal/replay"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  replayer export [-out DIR] [-last N] [-query Q]   export closed ProcessFile histories as JSON
  replayer check  [-last N] [-query Q]              replay the last N closed executions from the server
  replayer files  [PATH...]                         replay history files (default workflows/testdata/*.json)`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var err error
	switch args[0] {
	case "export":
		err = export(ctx, args[1:], stdout, log)
	case "check":
		err = check(ctx, args[1:], stdout, log)
	case "files":
		err = files(ctx, args[1:], stdout, log)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "replayer: unknown command %q\n%s\n", args[0], usage)
		return 2
	}
	var ue usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "replayer: %v\n%s\n", err, usage)
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "replayer: %v\n", err)
		return 1
	}
	return 0
}

type usageError struct{ error }

func dial(ctx context.Context, log *slog.Logger, dc converter.DataConverter) (client.Client, error) {
	var tc config.Temporal
	if err := config.Load(ctx, &tc); err != nil {
		return nil, err
	}
	opts, err := tc.ClientOptions(log, dc)
	if err != nil {
		return nil, err
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connecting to Temporal at %s (TEMPORAL_ADDRESS): %w", tc.Address, err)
	}
	return c, nil
}

func dataConverter(ctx context.Context) (converter.DataConverter, error) {
	var cc codec.Config
	if err := config.Load(ctx, &cc); err != nil {
		return nil, err
	}
	kr, err := cc.Keyring()
	if err != nil {
		return nil, err
	}
	return codec.NewDataConverter(kr, codec.Options{Compress: cc.Compress}), nil
}

func export(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("out", "workflows/testdata", "directory to write the histories to")
	last := fs.Int("last", 20, "how many executions (newest first)")
	query := fs.String("query", replay.DefaultQuery, "visibility query selecting executions")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *last < 1 {
		return usageError{errors.New("-last must be at least 1")}
	}
	// Histories are exported as stored: payloads stay encrypted.
	c, err := dial(ctx, log, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	paths, err := replay.Export(ctx, c, *query, *last, *out)
	for _, p := range paths {
		fmt.Fprintln(stdout, "wrote", p)
	}
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		fmt.Fprintln(stdout, "no execution matches", *query)
	}
	return nil
}

func report(stdout io.Writer, results []replay.Result) error {
	for _, r := range results {
		status := "ok"
		if r.Err != nil {
			status = "FAILED: " + r.Err.Error()
		}
		fmt.Fprintf(stdout, "%s: %s\n", r.Name, status)
	}
	if err := replay.Failed(results); err != nil {
		return fmt.Errorf("%d history(ies) do not replay with the current workflow code; guard the change with workflow.GetVersion", countFailed(results))
	}
	fmt.Fprintf(stdout, "%d history(ies) replayed\n", len(results))
	return nil
}

func countFailed(results []replay.Result) int {
	n := 0
	for _, r := range results {
		if r.Err != nil {
			n++
		}
	}
	return n
}

func check(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	last := fs.Int("last", 50, "how many closed executions to replay (newest first)")
	query := fs.String("query", replay.DefaultQuery, "visibility query selecting executions")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *last < 1 {
		return usageError{errors.New("-last must be at least 1")}
	}
	dc, err := dataConverter(ctx)
	if err != nil {
		return err
	}
	c, err := dial(ctx, log, dc)
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := replay.NewReplayer(dc)
	if err != nil {
		return err
	}
	results, err := replay.ReplayFromServer(ctx, c, r, log, *query, *last)
	if err != nil {
		return err
	}
	return report(stdout, results)
}

func files(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	paths := args
	if len(paths) == 0 {
		var err error
		if paths, err = replay.Histories("workflows/testdata"); err != nil {
			return err
		}
		if len(paths) == 0 {
			return usageError{errors.New("no history files given and none in workflows/testdata")}
		}
	}
	dc, err := dataConverter(ctx)
	if err != nil {
		return err
	}
	r, err := replay.NewReplayer(dc)
	if err != nil {
		return err
	}
	return report(stdout, replay.ReplayFiles(r, log, paths...))
}

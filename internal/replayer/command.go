// Package replayer is the replayer program: it exports ProcessFile
// histories from a Temporal server, replays histories against the current
// workflow code, and prints a decoded summary of one run:
//
//	replayer export [-out workflows/testdata] [-last 20] [-query Q]
//	    write the histories of the last N closed executions as JSON files
//	replayer check [-last 50] [-query Q]
//	    replay the last N closed executions straight from the server, with
//	    the production data converter: a pre-deploy check
//	replayer files [PATH...]
//	    replay history files (default workflows/testdata/*.json)
//	replayer describe [-run-id R] WORKFLOW_ID
//	    status, stage, input, outcome, the decoded failure and its causes,
//	    and the activities that failed: what `temporal workflow describe`
//	    cannot show, since it leaves failure messages encrypted
//
// The server comes from TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE (and the TLS /
// API key variables); check, files and describe decrypt payloads with
// FILESIGHT_CODEC_KEYS (or FILESIGHT_CODEC_KEYS_FILE).
package replayer

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"filesight/internal/codec"
	"filesight/internal/config"
	"filesight/internal/program"
	"filesight/internal/replay"
	"filesight/internal/temporalclient"
)

const usage = `usage:
  replayer export [-out DIR] [-last N] [-query Q]   export closed ProcessFile histories as JSON
  replayer check  [-last N] [-query Q]              replay the last N closed executions from the server
  replayer files  [PATH...]                         replay history files (default workflows/testdata/*.json)
  replayer describe [-run-id R] WORKFLOW_ID         status, stage, outcome, decoded failure and failed activities of a run`

// Main runs the replayer program (program.Func).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, env program.Env) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return program.ExitUsage
	}
	c := command{env: program.OrOS(env), stdout: stdout,
		log: program.NewLogger(stderr, program.LogText, slog.LevelWarn)}
	var err error
	switch args[0] {
	case "export":
		err = c.export(ctx, args[1:])
	case "check":
		err = c.check(ctx, args[1:])
	case "files":
		err = c.files(ctx, args[1:])
	case "describe":
		err = c.describe(ctx, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return program.ExitOK
	default:
		fmt.Fprintf(stderr, "replayer: unknown command %q\n%s\n", args[0], usage)
		return program.ExitUsage
	}
	code := program.ExitCode(err)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintln(stdout, usage)
	case code == program.ExitUsage:
		fmt.Fprintf(stderr, "replayer: %v\n%s\n", err, usage)
	case code == program.ExitFailure:
		fmt.Fprintf(stderr, "replayer: %v\n", err)
	}
	return code
}

// command is one run of a subcommand.
type command struct {
	env    program.Env
	stdout io.Writer
	log    *slog.Logger
}

func (c command) dial(ctx context.Context, dc converter.DataConverter) (client.Client, error) {
	var tc temporalclient.Config
	if err := config.LoadFrom(ctx, &tc, c.env); err != nil {
		return nil, err
	}
	opts, err := tc.ClientOptions(c.log, dc)
	if err != nil {
		return nil, err
	}
	tcl, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connecting to Temporal at %s (TEMPORAL_ADDRESS): %w", tc.Address, err)
	}
	return tcl, nil
}

// connect dials Temporal with the data converter of FILESIGHT_CODEC_KEYS,
// which it also returns.
func (c command) connect(ctx context.Context) (client.Client, converter.DataConverter, error) {
	dc, err := c.dataConverter(ctx)
	if err != nil {
		return nil, nil, err
	}
	tc, err := c.dial(ctx, dc)
	if err != nil {
		return nil, nil, err
	}
	return tc, dc, nil
}

func (c command) dataConverter(ctx context.Context) (converter.DataConverter, error) {
	var cc codec.Config
	if err := config.LoadFrom(ctx, &cc, c.env); err != nil {
		return nil, err
	}
	kr, err := cc.Keyring()
	if err != nil {
		return nil, err
	}
	return codec.NewDataConverter(kr, cc.Options()), nil
}

func (c command) export(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("out", "workflows/testdata", "directory to write the histories to")
	last := fs.Int("last", 20, "how many executions (newest first)")
	query := fs.String("query", replay.DefaultQuery, "visibility query selecting executions")
	if err := fs.Parse(args); err != nil {
		return program.Usage(err)
	}
	if *last < 1 {
		return program.Usage(errors.New("-last must be at least 1"))
	}
	// Histories are exported as stored: payloads stay encrypted.
	tc, err := c.dial(ctx, nil)
	if err != nil {
		return err
	}
	defer tc.Close()
	paths, err := replay.Export(ctx, tc, *query, *last, *out)
	for _, p := range paths {
		fmt.Fprintln(c.stdout, "wrote", p)
	}
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		fmt.Fprintln(c.stdout, "no execution matches", *query)
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

func (c command) check(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	last := fs.Int("last", 50, "how many closed executions to replay (newest first)")
	query := fs.String("query", replay.DefaultQuery, "visibility query selecting executions")
	if err := fs.Parse(args); err != nil {
		return program.Usage(err)
	}
	if *last < 1 {
		return program.Usage(errors.New("-last must be at least 1"))
	}
	tc, dc, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer tc.Close()
	r, err := replay.NewReplayer(dc)
	if err != nil {
		return err
	}
	results, err := replay.ReplayFromServer(ctx, tc, r, c.log, *query, *last)
	if err != nil {
		return err
	}
	return report(c.stdout, results)
}

func (c command) files(ctx context.Context, args []string) error {
	paths := args
	if len(paths) == 0 {
		var err error
		if paths, err = replay.Histories("workflows/testdata"); err != nil {
			return err
		}
		if len(paths) == 0 {
			return program.Usage(errors.New("no history files given and none in workflows/testdata"))
		}
	}
	dc, err := c.dataConverter(ctx)
	if err != nil {
		return err
	}
	r, err := replay.NewReplayer(dc)
	if err != nil {
		return err
	}
	return report(c.stdout, replay.ReplayFiles(r, c.log, paths...))
}

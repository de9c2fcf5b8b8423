package devstack

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"filesight/internal/program"
)

const usage = `usage: devstack [flags] [up]              bring everything up on the dev server (make up)
       devstack [flags] cluster [-workers N]     bring everything up on a Temporal cluster (make cluster)
       devstack [flags] upload [-no-wait] FILE   upload FILE into the inbox (make upload FILE=...)

flags:
`

// Main runs the devstack program (program.Func).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, env program.Env) int {
	env = program.OrOS(env)
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	dataDir := fs.String("data-dir", ".data", "directory for all state, logs and dev.env (cluster: default .data/cluster)")
	binDir := fs.String("bin-dir", "", "directory of the programs and the temporal CLI (default: bin/ at the module root)")
	noSample := fs.Bool("no-sample", false, "do not upload the sample video")
	exitAfter := fs.Bool("exit-after-sample", false, "stop everything once the sample has been processed; exit status says whether it worked")
	sampleTimeout := fs.Duration("sample-timeout", 20*time.Minute, "how long to wait for the sample's workflow")
	color := fs.String("color", "auto", "prefix colors: auto, always, never")
	if err := fs.Parse(args); err != nil {
		return program.ExitCode(program.Usage(err))
	}
	cmd, rest := "up", fs.Args()
	if len(rest) > 0 {
		cmd, rest = rest[0], rest[1:]
	}
	_, noColor := env.Lookup("NO_COLOR")
	useColor := *color == "always" || (*color == "auto" && isTerminal(stdout) && !noColor)
	switch cmd {
	case "up", "cluster":
		opts := Options{DataDir: *dataDir, BinDir: *binDir, NoSample: *noSample, ExitAfterSample: *exitAfter,
			SampleTimeout: *sampleTimeout, Out: stdout, Color: useColor}
		if cmd == "cluster" {
			cfs := flag.NewFlagSet("cluster", flag.ContinueOnError)
			cfs.SetOutput(stderr)
			workers := cfs.Int("workers", 2, "worker processes")
			if err := cfs.Parse(rest); err != nil {
				fs.Usage()
				return 2
			}
			rest = cfs.Args()
			opts.Mode, opts.Workers = ModeCluster, *workers
			if !flagSet(fs, "data-dir") {
				// Its own directory: the cluster runs beside make up.
				opts.DataDir = filepath.Join(*dataDir, "cluster")
			}
		}
		if len(rest) > 0 {
			fs.Usage()
			return program.ExitUsage
		}
		err := Up(ctx, opts)
		if err != nil {
			fmt.Fprintf(stderr, "devstack: %v\n", err)
			return program.ExitFailure
		}
		return program.ExitOK
	case "upload":
		ufs := flag.NewFlagSet("upload", flag.ContinueOnError)
		ufs.SetOutput(stderr)
		noWait := ufs.Bool("no-wait", false, "return after the upload instead of following the workflow")
		name := ufs.String("name", "", "name in the inbox (default: the file's base name)")
		if err := ufs.Parse(rest); err != nil || ufs.NArg() != 1 {
			fs.Usage()
			return program.ExitUsage
		}
		out := NewOutput(stdout, useColor)
		if err := UploadCommand(ctx, *dataDir, ufs.Arg(0), *name, !*noWait, *sampleTimeout, out); err != nil {
			fmt.Fprintf(stderr, "devstack upload: %v\n", err)
			return program.ExitFailure
		}
		return program.ExitOK
	default:
		fmt.Fprintf(stderr, "devstack: unknown command %q\n", cmd)
		fs.Usage()
		return program.ExitUsage
	}
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// UploadCommand uploads a file into the inbox of a running dev stack and,
// with wait, follows its workflow to the end.
func UploadCommand(ctx context.Context, dataDir, path, name string, wait bool, timeout time.Duration, out *Output) error {
	envPath := filepath.Join(dataDir, "dev.env")
	if _, err := os.Stat(envPath); err != nil {
		return fmt.Errorf("%s not found: bring the dev stack up first (make up)", envPath)
	}
	env, err := LoadEnvFile(envPath)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(out.Prefixed("devstack", 7), &slog.HandlerOptions{Level: slog.LevelWarn}))
	bc, err := boxClient(ctx, env, log)
	if err != nil {
		return err
	}
	folderID, _ := env.Get("FILESIGHT_INBOX_FOLDER_ID")
	if folderID == "" {
		if folderID, _, err = EnsureInbox(ctx, bc); err != nil {
			return err
		}
	}
	f, err := Upload(ctx, bc, folderID, path, name)
	if err != nil {
		return err
	}
	out.Printf("uploaded %s as file %s version %s into %s", f.Name, f.ID, f.VersionID(), InboxFolderName)
	if !wait {
		return nil
	}
	tc, err := temporalClient(ctx, env, log)
	if err != nil {
		return fmt.Errorf("connecting to Temporal: %w", err)
	}
	defer tc.Close()
	_, err = FollowWorkflow(ctx, tc, bc, env, f, out.Printf, timeout)
	return err
}

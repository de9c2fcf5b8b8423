// Package program is what every filesight program shares around its own
// code. Each program is a thin main over internal/<program>, whose Main has
// the same shape everywhere:
//
//	configuration (go-envconfig, NAME_FILE for every variable)
//	→ logger (log/slog, errors under the key "error")
//	→ Run(ctx, …), ctx cancelled by SIGINT or SIGTERM
//	→ exit code (ExitOK, ExitFailure, ExitUsage)
//
// and main is one call: program.Main("worker", worker.Main, program.Options{}).
package program

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

	"github.com/sethvargo/go-envconfig"
)

// Exit codes of every filesight program.
const (
	// ExitOK: the program did what was asked (or printed the help it was
	// asked for).
	ExitOK = 0
	// ExitFailure: the program failed while running (a server it needs is
	// down, a replay failed, a listener died, ...).
	ExitFailure = 1
	// ExitUsage: bad command line or configuration; the program did
	// nothing. The message on stderr names the flag or variable.
	ExitUsage = 2
	// ExitKilled: a second SIGINT/SIGTERM ended a program that asked for
	// it (Options.Stopping) before its orderly stop was done.
	ExitKilled = 130
)

// Env is where a program reads its configuration: envconfig.OsLookuper()
// in production, a map in tests.
type Env = envconfig.Lookuper

// Func is a program's entry point, internal/<program>.Main: it runs the
// program with args (without the program name) until ctx is cancelled or
// the work is done, and returns the exit code. A nil env means the process
// environment.
type Func func(ctx context.Context, args []string, stdout, stderr io.Writer, env Env) int

// Options change Main; the zero value is the default.
type Options struct {
	// Stopping, when not empty, is printed on stderr at the first signal,
	// and a second signal then ends the process at once with ExitKilled:
	// for programs whose orderly stop may take long (devstack stops a
	// whole stack).
	Stopping string
}

// Main runs fn with the process's arguments, standard streams and
// environment and a context that SIGINT and SIGTERM cancel, then exits
// with fn's code. name prefixes Main's own messages.
func Main(name string, fn Func, opts Options) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		if opts.Stopping != "" {
			fmt.Fprintf(os.Stderr, "%s: %s\n", name, opts.Stopping)
		}
		cancel()
		if opts.Stopping == "" {
			return // later signals are caught and ignored: the stop runs its course
		}
		<-sigs
		fmt.Fprintf(os.Stderr, "%s: killed\n", name)
		os.Exit(ExitKilled)
	}()
	code := fn(ctx, os.Args[1:], os.Stdout, os.Stderr, envconfig.OsLookuper())
	cancel()
	os.Exit(code)
}

// OrOS returns env, or the process environment when env is nil.
func OrOS(env Env) Env {
	if env == nil {
		return envconfig.OsLookuper()
	}
	return env
}

// UsageError is an error in the command line or the configuration:
// ExitCode maps it to ExitUsage.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usage marks err (nil stays nil) as a usage or configuration error.
func Usage(err error) error {
	if err == nil {
		return nil
	}
	return UsageError{err}
}

// ExitCode maps the error a program's run ended with to its exit code:
// nil and flag.ErrHelp (help was asked for and printed) are ExitOK, a
// UsageError is ExitUsage, anything else ExitFailure.
func ExitCode(err error) int {
	var ue UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	default:
		return ExitFailure
	}
}

// ParseNoArgs parses the command line of a program that takes no arguments
// (a server configured by its environment): -h prints usage, anything else
// is a usage error. ok is false when the program must exit now, with code.
func ParseNoArgs(name, usage string, args []string, stderr io.Writer) (code int, ok bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	if err := fs.Parse(args); err != nil {
		return ExitCode(Usage(err)), false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: no arguments are accepted\n%s", name, usage)
		return ExitUsage, false
	}
	return ExitOK, true
}

// BadConfig prints why the configuration could not be loaded (the message
// names the variable, never a secret) and returns ExitUsage.
func BadConfig(stderr io.Writer, name string, err error) int {
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	return ExitUsage
}

// Report logs err, if any, as the program's failure ("<name> failed", the
// error under the key "error") and returns the exit code for it.
func Report(log *slog.Logger, name string, err error) int {
	code := ExitCode(err)
	if code != ExitOK {
		log.Error(name+" failed", "error", err)
	}
	return code
}

// LogFormat is how a program writes its log on stderr.
type LogFormat string

const (
	// LogJSON writes one JSON object per line, for log collectors.
	LogJSON LogFormat = "json"
	// LogText writes key=value lines, for people at a terminal.
	LogText LogFormat = "text"
)

// NewLogger returns the slog logger every program uses, writing to w in
// format at level. Errors are logged under the key "error".
func NewLogger(w io.Writer, format LogFormat, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == LogText {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

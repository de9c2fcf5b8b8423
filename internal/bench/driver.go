package bench

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"filesight/internal/devstack"
	"filesight/internal/program"
)

// Figures, in the order they are measured.
var allFigures = []string{"mlengine", "mlengine_rss_long", "orchestration", "history", "worker_rss", "starter", "orchestration_cluster"}

const usageText = `usage: filesight-bench [flags] [figure ...]
       filesight-bench chaos [flags]

Measures the figures named (default: all of %s), prints a RESULT line for
each and a table, and with -write updates the generated part of that file
(docs/benchmarks.md). "chaos" runs the chaos test instead (docs/chaos.md).

flags:
`

type options struct {
	ml            mlOptions
	longMinutes   float64
	files         int
	orchRounds    int
	clusterRounds int
	deliveries    int
	startRounds   int
	rssWorkflows  int
	rssSample     time.Duration
	binDir        string
	write         string
	keepSystem    bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	c := &o.ml
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintf(stderr, usageText, strings.Join(allFigures, ", ")); fs.PrintDefaults() }
	fs.Float64Var(&c.minutes, "minutes", 3, "mlengine: length of the generated talk in minutes")
	fs.IntVar(&c.width, "width", 1280, "mlengine: video width")
	fs.IntVar(&c.height, "height", 720, "mlengine: video height")
	fs.IntVar(&c.fps, "fps", 25, "mlengine: video frame rate")
	fs.IntVar(&c.concurrency, "concurrency", runtime.NumCPU(), "mlengine: analyze.Options.Concurrency")
	fs.IntVar(&c.rounds, "rounds", 1, "mlengine: measure engine and script this many times each (alternating) and report medians")
	fs.StringVar(&c.keep, "keep", "", "keep the generated media and work files in this directory")
	fs.StringVar(&c.script, "script", "bench/sequential.sh", "mlengine: the sequential baseline script")
	fs.StringVar(&c.via, "via", "http", "mlengine: http: submit to an mlengine server started in the engine process; direct: call analyze.Run")
	fs.Float64Var(&o.longMinutes, "long-minutes", 60, "mlengine_rss_long: length of the long recording in minutes")
	fs.IntVar(&o.files, "files", 300, "orchestration: files per side and round")
	fs.IntVar(&o.orchRounds, "orchestration-rounds", 2, "orchestration: rounds (the order of filesight and baseline alternates)")
	fs.IntVar(&o.clusterRounds, "cluster-rounds", 2, "orchestration_cluster: rounds (the order alternates)")
	fs.IntVar(&o.deliveries, "deliveries", 1000, "starter: deliveries per side and round")
	fs.IntVar(&o.startRounds, "starter-rounds", 2, "starter: rounds (the order alternates)")
	fs.IntVar(&o.rssWorkflows, "rss-workflows", 1000, "worker_rss: runs in flight")
	fs.DurationVar(&o.rssSample, "rss-sample", 65*time.Second, "worker_rss: how long RSS is sampled once every run waits (a poll cycle is 60 s)")
	fs.StringVar(&o.binDir, "bin-dir", "", "the programs and Temporal binaries (default: bin/ at the module root)")
	fs.StringVar(&o.write, "write", "", "update the generated part of this report file (docs/benchmarks.md)")
	fs.BoolVar(&o.keepSystem, "keep-system", false, "keep the system benchmarks' data directories (logs of every program)")
	if err := fs.Parse(args); err != nil {
		return program.Usage(err)
	}
	figs := fs.Args()
	if len(figs) == 0 {
		figs = allFigures
	}
	for _, f := range figs {
		if !slices.Contains(allFigures, f) {
			return program.Usage(fmt.Errorf("unknown figure %q (known: %s)", f, strings.Join(allFigures, ", ")))
		}
	}
	want := func(names ...string) bool {
		for _, n := range names {
			if slices.Contains(figs, n) {
				return true
			}
		}
		return false
	}

	began := time.Now()
	m := readMachine()
	rl := &resultLines{w: stdout}
	out := io.Writer(rl)
	fmt.Fprintf(out, "filesight benchmarks, %s\nmachine: %s; load average %s\nfigures: %s\n\n", began.Format(time.RFC3339), m, m.LoadBeg, strings.Join(figs, " "))

	dir := c.keep
	if dir == "" {
		d, err := os.MkdirTemp("", "filesight-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}

	var results []figure
	mark := 0 // RESULT lines up to here belong to earlier figures
	emit := func(f figure) {
		if f.Line != "" {
			fmt.Fprintf(out, "RESULT %s %s\n", f.Name, f.Line)
		}
		f.Results, mark = slices.Clone(rl.lines[mark:]), len(rl.lines)
		f.Measured, f.Machine, f.Load = time.Now().UTC(), m.String(), loadavg()
		results = append(results, f)
	}
	var errs []error

	if want("mlengine", "mlengine_rss_long") {
		progressf(out, "mlengine: a %.0f-minute talk through mlengine and through the tools one after another", c.minutes)
		ml, err := runMlengine(ctx, *c, dir, out, stderr)
		if err != nil {
			return fmt.Errorf("mlengine: %w", err)
		}
		emit(ml.Figure)
		if want("mlengine_rss_long") {
			f, err := runLong(ctx, *c, dir, ml, o.longMinutes, out, stderr)
			if err != nil {
				errs = append(errs, fmt.Errorf("mlengine_rss_long: %w", err))
			} else {
				emit(f)
			}
		}
	}

	if want("orchestration", "history", "worker_rss", "starter") {
		progressf(out, "starting the system on the dev server (devstack, free ports, a simulated provider in mlengine's place)")
		s, err := startSystem(ctx, systemOptions{Mode: devstack.ModeDev, BinDir: o.binDir, Keep: o.keepSystem})
		if err != nil {
			return err
		}
		step := func(name string, f func() (figure, error)) {
			if !want(name) || len(errs) > 0 && errors.Is(errs[len(errs)-1], errSystem) {
				return
			}
			fig, err := f()
			if err != nil {
				if s.alive() != nil {
					err = fmt.Errorf("%w: %w", errSystem, s.alive())
				}
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				return
			}
			emit(fig)
		}
		step("orchestration", func() (figure, error) {
			return runOrchestration(ctx, out, s, orchOptions{Name: "orchestration", Files: o.files, Rounds: o.orchRounds})
		})
		step("history", func() (figure, error) { return runHistory(ctx, out, s) })
		step("worker_rss", func() (figure, error) { return runWorkerRSS(ctx, out, s, o.rssWorkflows, o.rssSample) })
		// Last on this stack: it stops the worker.
		step("starter", func() (figure, error) { return runStarter(ctx, out, s, o.deliveries, o.startRounds) })
		if o.keepSystem {
			progressf(out, "the dev system's data and logs: %s", s.dataDir)
		}
		s.stop(o.keepSystem)
	}

	if want("orchestration_cluster") {
		f, err := clusterOrchestration(ctx, out, o)
		if err != nil {
			errs = append(errs, fmt.Errorf("orchestration_cluster: %w", err))
		} else {
			emit(f)
		}
	}

	m.LoadEnd = loadavg()
	took := time.Since(began)
	printTable(out, results)
	fmt.Fprintf(out, "\nall figures in %s; load average %s at the start, %s at the end (the machine is shared: compare each figure with its baseline of the same run)\n",
		took.Round(time.Second), m.LoadBeg, m.LoadEnd)
	if o.write != "" && len(results) > 0 {
		if err := writeReport(o.write, results); err != nil {
			errs = append(errs, err)
		} else {
			fmt.Fprintf(out, "wrote %s\n", o.write)
		}
	}
	return errors.Join(errs...)
}

var errSystem = errors.New("the system failed")

// clusterOrchestration runs the orchestration figure on make cluster's
// topology: PostgreSQL, Temporal's four services, two workers.
func clusterOrchestration(ctx context.Context, out io.Writer, o options) (figure, error) {
	bin := o.binDir
	if bin == "" {
		bin = filepath.Join(cmp.Or(devstack.ModuleRoot(), "."), "bin")
	}
	for _, tool := range []string{"temporal-server", "temporal-sql-tool", "temporal-ui-server"} {
		if _, err := os.Stat(filepath.Join(bin, tool)); err != nil {
			return figure{}, fmt.Errorf("%s is missing: run `make cluster-tools` (make bench does)", filepath.Join(bin, tool))
		}
	}
	if _, err := exec.LookPath("initdb"); err != nil {
		if _, err2 := os.Stat("/usr/lib/postgresql"); err2 != nil {
			return figure{}, errors.New("PostgreSQL is missing: run `make cluster-deps` (make bench does)")
		}
	}
	progressf(out, "starting the system on make cluster's topology (PostgreSQL, 4 Temporal services, 2 workers)")
	began := time.Now()
	s, err := startSystem(ctx, systemOptions{Mode: devstack.ModeCluster, Workers: 2, BinDir: o.binDir, Keep: o.keepSystem})
	if err != nil {
		return figure{}, err
	}
	defer s.stop(o.keepSystem)
	progressf(out, "cluster up in %s", time.Since(began).Round(100*time.Millisecond))
	return runOrchestration(ctx, out, s, orchOptions{Name: "orchestration_cluster", Files: o.files, Rounds: o.clusterRounds})
}

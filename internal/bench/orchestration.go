package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"filesight/internal/config"
	filesightworker "filesight/internal/worker"
	"filesight/workflows"
)

// The orchestration figure: files through the whole system (upload →
// signed webhook → starter → ProcessFile on the real worker → a provider
// that finishes at once → cards → revocation) against a baseline workflow
// with as many activities that do nothing, on the same server in the same
// run.

const (
	baselineWorkflowName = "BenchBaseline"
	baselineActivityName = "BenchNoop"
	baselineQueue        = "bench-baseline"
	// markActivity is the activity whose completion is "the final card".
	markActivity = "WriteCards"
	// startConcurrency is how many baseline workflows are started at once:
	// as many as localbox delivers webhooks at once (its default
	// LOCALBOX_WEBHOOK_CONCURRENCY), so both sides get work at a like pace.
	startConcurrency = 4
)

// baselineWorkflow runs n activities that do nothing, one after another,
// as ProcessFile runs its activities on the success path.
func baselineWorkflow(ctx workflow.Context, n int) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second})
	for i := range n {
		if err := workflow.ExecuteActivity(ctx, baselineActivityName, i).Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

func noopActivity(context.Context, int) error { return nil }

// baselineWorkers runs n workers of the baseline workflow with the real
// worker's options, each on a client of its own (as n processes would).
type baselineWorkers struct {
	clients []client.Client
	workers []worker.Worker
}

func startBaselineWorkers(ctx context.Context, s *system, opts worker.Options) (*baselineWorkers, error) {
	b := &baselineWorkers{}
	for range s.workers {
		c, err := client.DialContext(ctx, client.Options{HostPort: s.get("TEMPORAL_ADDRESS"), Namespace: s.get("TEMPORAL_NAMESPACE"),
			Logger: quietLogger()})
		if err != nil {
			b.stop()
			return nil, fmt.Errorf("baseline client: %w", err)
		}
		b.clients = append(b.clients, c)
		w := worker.New(c, baselineQueue, opts)
		w.RegisterWorkflowWithOptions(baselineWorkflow, workflow.RegisterOptions{Name: baselineWorkflowName})
		w.RegisterActivityWithOptions(noopActivity, activity.RegisterOptions{Name: baselineActivityName})
		if err := w.Start(); err != nil {
			b.stop()
			return nil, fmt.Errorf("baseline worker: %w", err)
		}
		b.workers = append(b.workers, w)
	}
	return b, nil
}

func (b *baselineWorkers) stop() {
	for _, w := range b.workers {
		w.Stop()
	}
	for _, c := range b.clients {
		c.Close()
	}
}

// workerSettings reads the real worker's configuration from the stack's
// environment (its defaults where dev.env sets nothing).
func workerSettings(ctx context.Context, s *system) (filesightworker.Config, worker.Options, error) {
	var cfg filesightworker.Config
	if err := config.LoadFrom(ctx, &cfg, s.env); err != nil {
		return cfg, worker.Options{}, err
	}
	return cfg, worker.Options{
		MaxConcurrentActivityExecutionSize:     cfg.MaxConcurrentActivities,
		MaxConcurrentWorkflowTaskExecutionSize: cfg.MaxConcurrentWorkflowTasks,
		MaxConcurrentActivityTaskPollers:       cfg.ActivityPollers,
		MaxConcurrentWorkflowTaskPollers:       cfg.WorkflowPollers,
	}, nil
}

// orchSide is one side of one round.
type orchSide struct {
	Files     int
	Window    time.Duration // first start → last final card
	Rate      float64       // files per second over Window
	Latencies []time.Duration
	CPU       string  // where the CPU went, per file (cpuSince)
	CPUms     float64 // CPU of every process per file
	// Shape is the history of one run: events, workflow tasks, upserts.
	Shape string
	// StartSpan is the first start → the last start: near Window when
	// getting the runs started is what limits the rate.
	StartSpan time.Duration
}

func sideOf(ts []runTiming) (orchSide, error) {
	side := orchSide{Files: len(ts)}
	if len(ts) > 0 {
		side.Shape = fmt.Sprintf("%d events, %d activities, %d workflow tasks, %d search attribute upserts",
			ts[0].Events, ts[0].Activities, ts[0].WorkflowTasks, ts[0].Upserts)
	}
	var first, last, lastStart time.Time
	for i, t := range ts {
		if !t.Completed || t.Mark.IsZero() {
			return side, fmt.Errorf("run %d did not complete (completed=%t, mark=%s)", i, t.Completed, t.Mark)
		}
		if first.IsZero() || t.Start.Before(first) {
			first = t.Start
		}
		if t.Mark.After(last) {
			last = t.Mark
		}
		if t.Start.After(lastStart) {
			lastStart = t.Start
		}
		side.Latencies = append(side.Latencies, t.Mark.Sub(t.Start))
	}
	side.Window, side.StartSpan = last.Sub(first), lastStart.Sub(first)
	if side.Window > 0 {
		side.Rate = float64(len(ts)) / side.Window.Seconds()
	}
	return side, nil
}

type orchOptions struct {
	Name   string // RESULT name
	Files  int
	Rounds int
}

// runOrchestration measures both sides, alternating which goes first.
func runOrchestration(ctx context.Context, out io.Writer, s *system, o orchOptions) (figure, error) {
	_, wopts, err := workerSettings(ctx, s)
	if err != nil {
		return figure{}, err
	}
	bw, err := startBaselineWorkers(ctx, s, wopts)
	if err != nil {
		return figure{}, err
	}
	defer bw.stop()

	var fs, bs []orchSide
	var activities []string
	markIndex := 0
	for r := 1; r <= o.Rounds; r++ {
		order := []string{"filesight", "baseline"}
		if r%2 == 0 && markIndex > 0 {
			order = []string{"baseline", "filesight"}
		}
		for _, side := range order {
			switch side {
			case "filesight":
				sd, acts, err := filesightSide(ctx, out, s, fmt.Sprintf("%s-r%d", o.Name, r), o.Files)
				if err != nil {
					return figure{}, fmt.Errorf("round %d, filesight: %w", r, err)
				}
				if activities == nil {
					activities = acts
					markIndex = slices.Index(acts, markActivity) + 1
					if markIndex == 0 {
						return figure{}, fmt.Errorf("no %s activity in a ProcessFile run: %v", markActivity, acts)
					}
				}
				fs = append(fs, sd)
			case "baseline":
				sd, err := baselineSide(ctx, out, s, bw.clients[0], fmt.Sprintf("%s-r%d", o.Name, r), o.Files, len(activities), markIndex)
				if err != nil {
					return figure{}, fmt.Errorf("round %d, baseline: %w", r, err)
				}
				bs = append(bs, sd)
			}
		}
	}
	return orchestrationFigure(o, s, wopts, activities, fs, bs), nil
}

func filesightSide(ctx context.Context, out io.Writer, s *system, prefix string, n int) (orchSide, []string, error) {
	progressf(out, "%s: uploading %d files into the inbox (8 uploaders); each webhook starts ProcessFile", prefix, n)
	since, cpu := time.Now(), treeCPU()
	files, err := s.upload(ctx, prefix, "mp4", n, 8)
	if err != nil {
		return orchSide{}, nil, err
	}
	if err := waitClosed(ctx, s.tc, s.alive, workflows.ProcessFileName, since, n, 20*time.Minute); err != nil {
		return orchSide{}, nil, err
	}
	cpuMS, cpuUse := cpuSince(cpu, n)
	ids := workflowIDs(files)
	if err := allSucceeded(ctx, s.tc, ids); err != nil {
		return orchSide{}, nil, err
	}
	ts, err := timings(ctx, s.tc, ids, markActivity, 0)
	if err != nil {
		return orchSide{}, nil, err
	}
	side, err := sideOf(ts)
	if err != nil {
		return side, nil, err
	}
	side.CPU, side.CPUms = cpuUse, cpuMS
	progressf(out, "%s: filesight %.1f files/s, p50 %.0f ms, p99 %.0f ms, %d activities per run; %s", prefix, side.Rate,
		ms(percentile(side.Latencies, 50)), ms(percentile(side.Latencies, 99)), ts[0].Activities, side.CPU)
	return side, ts[0].ActivityTypes, nil
}

// allSucceeded checks every run's result: outcome success, tokens revoked.
func allSucceeded(ctx context.Context, tc client.Client, ids []string) error {
	errs := make([]error, len(ids))
	parallel(len(ids), 8, func(i int) {
		var res workflows.ProcessFileResult
		if err := tc.GetWorkflow(ctx, ids[i], "").Get(ctx, &res); err != nil {
			errs[i] = fmt.Errorf("%s: %w", ids[i], err)
			return
		}
		if res.Outcome != workflows.OutcomeSuccess || res.TokensIssued != res.TokensRevoked {
			errs[i] = fmt.Errorf("%s: outcome %s (%s), tokens %d issued, %d revoked", ids[i], res.Outcome, res.Message, res.TokensIssued, res.TokensRevoked)
		}
	})
	return errors.Join(errs...)
}

// baselineSide starts the baseline workflows with bc, a client without
// filesight's payload codec, as the baseline workers use.
func baselineSide(ctx context.Context, out io.Writer, s *system, bc client.Client, prefix string, n, activities, markIndex int) (orchSide, error) {
	progressf(out, "%s: starting %d baseline workflows (%d no-op activities each, %d at a time)", prefix, n, activities, startConcurrency)
	since, cpu := time.Now(), treeCPU()
	ids := make([]string, n)
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range startConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				ids[i] = fmt.Sprintf("%s-baseline-%04d", prefix, i)
				_, errs[i] = bc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: ids[i], TaskQueue: baselineQueue},
					baselineWorkflowName, activities)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return orchSide{}, err
	}
	if err := waitClosed(ctx, s.tc, s.alive, baselineWorkflowName, since, n, 20*time.Minute); err != nil {
		return orchSide{}, err
	}
	cpuMS, cpuUse := cpuSince(cpu, n)
	ts, err := timings(ctx, s.tc, ids, "", markIndex)
	if err != nil {
		return orchSide{}, err
	}
	side, err := sideOf(ts)
	if err != nil {
		return side, err
	}
	side.CPU, side.CPUms = cpuUse, cpuMS
	progressf(out, "%s: baseline %.1f files/s, p50 %.0f ms, p99 %.0f ms; %s", prefix, side.Rate,
		ms(percentile(side.Latencies, 50)), ms(percentile(side.Latencies, 99)), side.CPU)
	return side, nil
}

func orchestrationFigure(o orchOptions, s *system, wopts worker.Options, activities []string, fs, bs []orchSide) figure {
	var fr, br, ratios, fc, bc []float64
	var fl, bl []time.Duration
	for i := range fs {
		fr, fc = append(fr, fs[i].Rate), append(fc, fs[i].CPUms)
		fl = append(fl, fs[i].Latencies...)
	}
	for i := range bs {
		br, bc = append(br, bs[i].Rate), append(bc, bs[i].CPUms)
		bl = append(bl, bs[i].Latencies...)
		if i < len(fs) && bs[i].Rate > 0 {
			ratios = append(ratios, fs[i].Rate/bs[i].Rate)
		}
	}
	ratio := median(ratios)
	f := figure{
		Name: o.Name,
		Line: fmt.Sprintf("files=%d rounds=%d workers=%d files_per_s=%.1f p50_ms=%.0f p99_ms=%.0f baseline_files_per_s=%.1f baseline_p50_ms=%.0f baseline_p99_ms=%.0f activities=%d cpu_ms_per_file=%.0f baseline_cpu_ms_per_file=%.0f cpu_ratio=%.2f ratio=%.2f",
			o.Files, len(fs), s.workers, median(fr), ms(percentile(fl, 50)), ms(percentile(fl, 99)),
			median(br), ms(percentile(bl, 50)), ms(percentile(bl, 99)), len(activities), median(fc), median(bc), median(bc)/median(fc), ratio),
		Value:    fmt.Sprintf("%.1f files/s, p50 %.0f ms, p99 %.0f ms", median(fr), ms(percentile(fl, 50)), ms(percentile(fl, 99))),
		Baseline: fmt.Sprintf("%.1f files/s, p50 %.0f ms, p99 %.0f ms (%d no-op activities)", median(br), ms(percentile(bl, 50)), ms(percentile(bl, 99)), len(activities)),
		Target:   "ratio ≥ 0.7",
		Verdict:  verdictf(ratio >= 0.7, "ratio %.2f", ratio),
	}
	var per []string
	for i := range ratios {
		per = append(per, fmt.Sprintf("%.1f/%.1f=%.2f", fs[i].Rate, bs[i].Rate, ratios[i]))
	}
	f.Notes = append(f.Notes,
		fmt.Sprintf("per round (filesight/baseline files/s): %s", strings.Join(per, ", ")),
		fmt.Sprintf("filesight, last round: %s; a run's history: %s; runs started over %s of %s",
			fs[len(fs)-1].CPU, fs[len(fs)-1].Shape, fs[len(fs)-1].StartSpan.Round(time.Second), fs[len(fs)-1].Window.Round(time.Second)),
		fmt.Sprintf("baseline, last round: %s (bench = the baseline's workers); a run's history: %s; runs started over %s of %s",
			bs[len(bs)-1].CPU, bs[len(bs)-1].Shape, bs[len(bs)-1].StartSpan.Round(time.Second), bs[len(bs)-1].Window.Round(time.Second)),
		fmt.Sprintf("activities per run: %s", strings.Join(activities, " ")),
		fmt.Sprintf("workers: %d × (activities %d, workflow tasks %d, pollers %d/%d), on both sides",
			s.workers, wopts.MaxConcurrentActivityExecutionSize, wopts.MaxConcurrentWorkflowTaskExecutionSize,
			wopts.MaxConcurrentActivityTaskPollers, wopts.MaxConcurrentWorkflowTaskPollers))
	return f
}

func verdictf(ok bool, format string, args ...any) string {
	if ok {
		return "met (" + fmt.Sprintf(format, args...) + ")"
	}
	return "MISSED (" + fmt.Sprintf(format, args...) + ")"
}

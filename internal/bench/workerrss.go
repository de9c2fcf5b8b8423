package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// The worker RSS figure: the resident memory of the real worker process
// while 1,000 ProcessFile runs are in flight, every one waiting on a job
// that keeps running (the provider asks to be polled once a minute, the
// workflow's longest poll interval). It is sampled for a whole poll cycle
// once every job has been read twice (media fetched, then waiting for the
// end), so every run has been in the worker's cache and polled.

// stickyCacheSize is the SDK's default sticky workflow cache size
// (worker.SetStickyWorkflowCacheSize), which the worker program keeps.
const stickyCacheSize = 10000

func runWorkerRSS(ctx context.Context, out io.Writer, s *system, n int, sample time.Duration) (figure, error) {
	cfg, _, err := workerSettings(ctx, s)
	if err != nil {
		return figure{}, err
	}
	hold := jobPlan{Kind: planHold, RetryAfter: time.Minute}
	s.sim.setDefault(hold)
	defer s.sim.setDefault(jobPlan{Kind: planInstant, RetryAfter: time.Second})
	began := time.Now()
	progressf(out, "worker_rss: uploading %d files; every job will run until the end of the measurement", n)
	files, err := s.upload(ctx, "rss", "mp4", n, 8)
	if err != nil {
		return figure{}, err
	}
	defer terminateAll(context.WithoutCancel(ctx), s, workflowIDs(files))

	// Every run goes through the whole system before it waits: at a load
	// average of 30 on 2 cores about 0.5 runs a second get there.
	rampLimit := max(20*time.Minute, time.Duration(n)*3*time.Second)
	lastReport := time.Now()
	for s.sim.waiting(2) < n {
		if err := s.alive(); err != nil {
			return figure{}, err
		}
		if time.Since(began) > rampLimit {
			return figure{}, fmt.Errorf("only %d of %d runs waiting on their job after %s", s.sim.waiting(2), n, rampLimit)
		}
		if time.Since(lastReport) > 15*time.Second {
			progressf(out, "worker_rss: %d of %d runs waiting on their job", s.sim.waiting(2), n)
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			return figure{}, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	ramp := time.Since(began)
	pid := s.st.Pid("worker")
	progressf(out, "worker_rss: all %d runs waiting (after %s); sampling the worker's RSS (pid %d) for %s", n, ramp.Round(time.Second), pid, sample)
	var peak, last int64
	end := time.Now().Add(sample)
	for time.Now().Before(end) {
		last = statusKiB(pid, "VmRSS:")
		peak = max(peak, last)
		select {
		case <-ctx.Done():
			return figure{}, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	hwm := statusKiB(pid, "VmHWM:")
	stillWaiting := s.sim.waiting(3)
	metrics := scrapeMetrics(ctx, "http://"+s.get("WORKER_METRICS_ADDR")+"/metrics",
		"temporal_sticky_cache_size", "temporal_sticky_cache_total_forced_eviction", "temporal_workflow_active_thread_count")
	mib := float64(peak) / 1024
	settings := fmt.Sprintf("sticky_cache_max=%d workflow_pollers=%d activity_pollers=%d max_workflow_tasks=%d max_activities=%d",
		stickyCacheSize, cfg.WorkflowPollers, cfg.ActivityPollers, cfg.MaxConcurrentWorkflowTasks, cfg.MaxConcurrentActivities)
	f := figure{
		Name: "worker_rss",
		Line: fmt.Sprintf("workflows=%d rss_mib=%.0f rss_end_mib=%.0f hwm_mib=%.0f sticky_cache_size=%s %s",
			n, mib, float64(last)/1024, float64(hwm)/1024, orUnknown(metrics["temporal_sticky_cache_size"]), settings),
		Value:    fmt.Sprintf("%.0f MiB with %d runs waiting (peak over %s)", mib, n, sample),
		Baseline: "—",
		Target:   "< 300 MiB",
		Verdict:  verdictf(mib < 300, "%.0f MiB", mib),
		Notes: []string{
			fmt.Sprintf("settings: %s (the worker program's defaults)", settings),
			fmt.Sprintf("worker metrics: sticky cache size %s, forced evictions %s; %d of %d jobs read a third time while sampling; ramp-up %s",
				orUnknown(metrics["temporal_sticky_cache_size"]), orUnknown(metrics["temporal_sticky_cache_total_forced_eviction"]),
				stillWaiting, n, ramp.Round(time.Second)),
		},
	}
	return f, nil
}

// terminateAll ends the runs of a measurement that would otherwise wait
// forever (their provider keeps them running).
func terminateAll(ctx context.Context, s *system, ids []string) {
	parallel(len(ids), 16, func(i int) { _ = s.tc.TerminateWorkflow(ctx, ids[i], "", "benchmark measurement over") })
}

// scrapeMetrics reads the named series (summed over labels) from a
// Prometheus text endpoint.
func scrapeMetrics(ctx context.Context, url string, names ...string) map[string]string {
	out := map[string]string{}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return out
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sums := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, n := range names {
			if rest, ok := strings.CutPrefix(line, n); ok && (strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "{")) {
				f := strings.Fields(line)
				var v float64
				if _, err := fmt.Sscan(f[len(f)-1], &v); err == nil {
					sums[n] += v
				}
			}
		}
	}
	for n, v := range sums {
		out[n] = fmt.Sprintf("%.0f", v)
	}
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

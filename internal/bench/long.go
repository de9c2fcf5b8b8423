package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The long-recording figure: mlengine (over HTTP, in a child process, as
// the mlengine figure runs it) analysing a 60-minute recording, made by
// joining the bench talk to itself without re-encoding, so that every
// minute costs what a minute of the 3-minute talk costs. It reports the
// peak RSS of the engine with all the tools it runs, and its seconds per
// media minute against the 3-minute figure of the same run.

func runLong(ctx context.Context, c mlOptions, dir string, short *mlengineRun, minutes float64, stdout, stderr io.Writer) (figure, error) {
	t0 := time.Now()
	long, dur, err := joinToLength(ctx, short.Talk.Path, short.Talk.Duration, minutes*60, dir)
	if err != nil {
		return figure{}, err
	}
	progressf(stdout, "mlengine_rss_long: %s, %.1f min (the %.0f-s talk %d times, joined without re-encoding in %.1f s); analysing",
		filepath.Base(long), dur/60, short.Talk.Duration, int(math.Ceil(minutes*60/short.Talk.Duration)), time.Since(t0).Seconds())
	self, err := os.Executable()
	if err != nil {
		return figure{}, err
	}
	e, err := runEngine(ctx, stderr, self, "http", long, filepath.Join(dir, "engine-long"), c.concurrency)
	if err != nil {
		return figure{}, fmt.Errorf("analysing the long recording: %w", err)
	}
	perMin := e.Wall.Seconds() / (dur / 60)
	cpuPerMin := e.CPU.Seconds() / (dur / 60)
	rel := perMin/short.PerMinute - 1
	// CPU seconds per media minute say whether a minute of a long
	// recording costs what a minute of a short one does; wall seconds
	// also say what else the machine did meanwhile (the two runs are
	// minutes apart on a shared machine), so the target is judged on CPU.
	cpuRel := cpuPerMin/short.CPUPerMin - 1
	rss := float64(e.TreeRSSKiB) / 1024
	var failed []string
	for a, st := range e.Child.States {
		if st != "succeeded" {
			failed = append(failed, a+"="+st)
		}
	}
	sort.Strings(failed)
	ok := rss < 400 && math.Abs(cpuRel) <= 0.10 && len(failed) == 0
	f := figure{
		Name: "mlengine_rss_long",
		Line: fmt.Sprintf("media_min=%.1f rss_mib=%.0f engine_hwm_mib=%.0f wall_s=%.0f s_per_min=%.2f short_s_per_min=%.2f vs_short=%+.0f%% cpu_s_per_min=%.2f short_cpu_s_per_min=%.2f cpu_vs_short=%+.0f%% scenes=%d ocr_spans=%d words=%d",
			dur/60, rss, float64(e.Child.VmHWMKiB)/1024, e.Wall.Seconds(), perMin, short.PerMinute, rel*100,
			cpuPerMin, short.CPUPerMin, cpuRel*100, e.Child.Scenes, e.Child.OCRSpans, len(e.Child.Words)),
		Value:    fmt.Sprintf("%.0f MiB with its tools; %.2f s (CPU %.2f s) per media minute", rss, perMin, cpuPerMin),
		Baseline: fmt.Sprintf("3-minute talk: %.2f s (CPU %.2f s) per media minute, %.0f MiB", short.PerMinute, short.CPUPerMin, float64(short.TreeRSSKiB)/1024),
		Target:   "< 400 MiB; per media minute within 10 % of the 3-minute figure",
		Verdict:  verdictf(ok, "%.0f MiB, CPU %+.0f %%, wall %+.0f %%", rss, cpuRel*100, rel*100),
		Notes: []string{fmt.Sprintf("60-minute analysis: wall %s, CPU (engine and tools) %s, %d scenes, %d on-screen text spans, %d words",
			e.Wall.Round(time.Second), e.CPU.Round(time.Second), e.Child.Scenes, e.Child.OCRSpans, len(e.Child.Words))},
	}
	if len(failed) > 0 {
		f.Notes = append(f.Notes, "analyses that did not succeed: "+strings.Join(failed, ", "))
	}
	return f, nil
}

// joinToLength concatenates src to itself (stream copy) until it lasts at
// least want seconds, and returns the file and its duration.
func joinToLength(ctx context.Context, src string, srcDur, want float64, dir string) (string, float64, error) {
	n := int(math.Ceil(want / srcDur))
	list := filepath.Join(dir, "long.txt")
	var b strings.Builder
	for range n {
		fmt.Fprintf(&b, "file '%s'\n", strings.ReplaceAll(src, "'", `'\''`))
	}
	if err := os.WriteFile(list, []byte(b.String()), 0o600); err != nil {
		return "", 0, err
	}
	out := filepath.Join(dir, fmt.Sprintf("talk-%dmin.mp4", int(math.Round(want/60))))
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
		"-f", "concat", "-safe", "0", "-i", list, "-c", "copy", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", 0, fmt.Errorf("ffmpeg concat: %w: %s", err, msg)
	}
	probe, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "default=nw=1:nk=1", out).Output()
	if err != nil {
		return "", 0, fmt.Errorf("ffprobe %s: %w", out, err)
	}
	dur, err := strconv.ParseFloat(strings.TrimSpace(string(probe)), 64)
	if err != nil {
		return "", 0, fmt.Errorf("ffprobe %s: duration %q", out, probe)
	}
	return out, dur, nil
}

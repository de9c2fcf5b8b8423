// Package bench is the bench program (make bench, make chaos): figures of
// the whole system, each beside a baseline measured in the same run, and
// the chaos test.
//
// The mlengine figures run a generated talk-like video (720p slides with
// flite speech, 3 minutes by default) through every analysis
// (internal/analyze, in a child process so that the engine's peak RSS is
// its own) against the same tools run one after another
// (bench/sequential.sh), and a 60-minute recording (mlengine_rss_long). The
// orchestration, history, worker_rss and starter figures run the real
// programs under devstack on the dev server with a simulated provider in
// mlengine's place; orchestration_cluster does the same on make cluster's
// topology. The chaos run (chaos.go, docs/chaos.md) runs the real programs
// and mlengine while faults are injected and processes killed.
//
//	go run ./bench [flags] [figure ...]
//	go run ./bench chaos [-files 100] [-seed N]
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"filesight/internal/analyze"
	"filesight/internal/program"
	"filesight/internal/provider"
	"filesight/internal/samplemedia"
)

// Main runs the bench program (program.Func). With -engine-child as its
// first argument it is the child process that runs the engine.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, env program.Env) int {
	if len(args) > 0 && args[0] == "-engine-child" {
		if err := engineChild(args[1:], stdout); err != nil {
			fmt.Fprintln(stderr, "bench engine:", err)
			return program.ExitCode(err)
		}
		return program.ExitOK
	}
	var err error
	if len(args) > 0 && args[0] == "chaos" {
		err = chaosMain(ctx, args[1:], stdout, stderr)
	} else {
		err = run(ctx, args, stdout, stderr)
	}
	if code := program.ExitCode(err); code != program.ExitOK {
		fmt.Fprintln(stderr, "bench:", err)
		return code
	}
	return program.ExitOK
}

type mlOptions struct {
	minutes     float64
	width       int
	height      int
	fps         int
	concurrency int
	rounds      int
	keep        string
	script      string
	via         string
}

// mlengineRun is the mlengine figure and what the long recording's figure
// compares with.
type mlengineRun struct {
	Talk       *samplemedia.Talk
	PerMinute  float64 // engine wall seconds per minute of media (median)
	CPUPerMin  float64 // engine and tools' CPU seconds per minute of media (median)
	TreeRSSKiB int64
	Figure     figure
}

// runMlengine generates the bench talk into dir and measures the engine
// against the sequential script (the original make bench).
func runMlengine(ctx context.Context, c mlOptions, dir string, stdout, stderr io.Writer) (*mlengineRun, error) {
	if err := samplemedia.Check(); err != nil {
		return nil, err
	}
	t0 := time.Now()
	talk, err := samplemedia.GenerateTalkInfo(ctx, dir, benchTalk(c))
	if err != nil {
		return nil, fmt.Errorf("generate talk: %w", err)
	}
	fmt.Fprintf(stdout, "media: %s, %.0f s (%.2f min), %dx%d@%d, %d slides, generated in %.1f s\n",
		filepath.Base(talk.Path), talk.Duration, talk.Duration/60, c.width, c.height, c.fps, len(talk.Slides), time.Since(t0).Seconds())
	fmt.Fprintf(stdout, "machine: %d CPUs, load average %s\n", runtime.NumCPU(), loadavg())

	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var engines []engineRun
	var seqs []seqRun
	for i := 0; i < c.rounds; i++ {
		e, err := runEngine(ctx, stderr, self, c.via, talk.Path, filepath.Join(dir, fmt.Sprintf("engine-%d", i)), c.concurrency)
		if err != nil {
			return nil, err
		}
		engines = append(engines, e)
		s, err := runSequential(ctx, stderr, c.script, talk.Path, filepath.Join(dir, fmt.Sprintf("seq-%d", i)))
		if err != nil {
			return nil, err
		}
		seqs = append(seqs, s)
	}
	return report(stdout, talk, engines, seqs, c), nil
}

// benchTalk is a talk of c.minutes: 15-second slides, each with a spoken
// paragraph of about 11 seconds.
func benchTalk(c mlOptions) samplemedia.TalkSpec {
	n := int(c.minutes * 60 / 15)
	if n < 1 {
		n = 1
	}
	spec := samplemedia.TalkSpec{Width: c.width, Height: c.height, FPS: c.fps}
	var paras []string
	for i := 0; i < n; i++ {
		s := benchSlides[i%len(benchSlides)]
		spec.Slides = append(spec.Slides, samplemedia.Slide{Text: s.title, Duration: 15})
		paras = append(paras, s.say)
	}
	spec.Script = strings.Join(paras, "\n\n")
	return spec
}

var benchSlides = []struct{ title, say string }{
	{"BETTER DATA\nMachine Learning", "Welcome to this talk about better data. Today we will look at how machine learning can help people understand the videos and the sound files that they keep in the cloud."},
	{"UPLOAD\nNew Files", "It starts when a person uploads a new file. The content store sends a signed message to a small service, which starts a workflow for that one file and that one version."},
	{"WORKFLOW\nDurable Steps", "The workflow is durable. If a machine stops in the middle of the work, another machine picks up the same steps and carries on from the last point that was saved."},
	{"TOKENS\nLeast Privilege", "Each step asks for a short token that can only read or write one file. When the step is done, the token is revoked, so a leaked token is worth very little."},
	{"ANALYSIS\nSpeech and Text", "The media goes to an analysis service. It finds the words that people say, the text on the screen, the scenes, and the parts of the sound that are quiet."},
	{"RESULTS\nMetadata Cards", "The results come back as cards on the file. You can read the transcript, jump to a scene, or search for a word and see where it was said."},
	{"FAILURES\nRetries", "Networks fail and services get busy. The workflow retries each call with a growing delay, and it never starts the same job twice for the same file."},
	{"SECURITY\nSigned Messages", "Every message between the parts is signed with a shared secret and a time stamp, so an old message cannot be played back by someone else."},
	{"SCALE\nMore Workers", "To handle more files we simply run more workers. Each provider has its own queue, so a slow provider does not hold up the others."},
	{"PRIVACY\nSensitive Values", "Before anything is written back, numbers that look like cards or secrets are replaced by tokens from a vault, and only a few people can read them."},
	{"OPERATIONS\nDashboards", "The team can see each workflow in the user interface, with its progress and its history, and can cancel a job that is no longer needed."},
	{"SUMMARY\nThank You", "To sum up, the system turns every new file into a durable workflow, finds the useful facts in it, and writes them back with the smallest possible rights."},
}

// engineRun is one run of analyze.Run in a child process.
type engineRun struct {
	Wall       time.Duration
	CPU        time.Duration // user+system of the engine and every tool it ran
	TreeRSSKiB int64         // peak of the summed RSS of the engine and its running tools (sampled every 50 ms)
	Child      childReport
}

type childReport struct {
	States     map[string]string `json:"states"`
	Errors     map[string]string `json:"errors,omitempty"`
	Stats      *analyze.Stats    `json:"stats,omitempty"` // direct runs only
	Via        string            `json:"via"`
	Words      []string          `json:"words"`
	Scenes     int               `json:"scenes"`
	OCRSpans   int               `json:"ocr_spans"`
	Keywords   []string          `json:"keywords"`
	VmHWMKiB   int64             `json:"vmhwm_kib"`
	Concurrent int               `json:"concurrency"`
}

func runEngine(ctx context.Context, stderr io.Writer, self, via, input, work string, concurrency int) (engineRun, error) {
	cmd := exec.CommandContext(ctx, self, "-engine-child", via, input, work, strconv.Itoa(concurrency))
	cmd.Stderr = stderr
	var stdout strings.Builder
	cmd.Stdout = &stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return engineRun{}, fmt.Errorf("engine run: %w", err)
	}
	peak := make(chan int64, 1)
	stopSampling := make(chan struct{})
	go func() {
		var p int64
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			p = max(p, treeRSS(cmd.Process.Pid))
			select {
			case <-stopSampling:
				peak <- p
				return
			case <-tick.C:
			}
		}
	}()
	err := cmd.Wait()
	wall := time.Since(start)
	close(stopSampling)
	var r engineRun
	r.TreeRSSKiB = <-peak
	if err != nil {
		return engineRun{}, fmt.Errorf("engine run: %w", err)
	}
	r.Wall = wall
	r.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	out := []byte(stdout.String())
	if err := json.Unmarshal(out, &r.Child); err != nil {
		return engineRun{}, fmt.Errorf("engine report: %w", err)
	}
	return r, nil
}

// engineChild runs in the child process: every analysis, through an
// mlengine server (via "http") or analyze.Run (via "direct").
func engineChild(args []string, stdout io.Writer) error {
	if len(args) != 4 {
		return program.Usage(errors.New("usage: -engine-child http|direct INPUT WORKDIR CONCURRENCY"))
	}
	via, input, work := args[0], args[1], args[2]
	conc, err := strconv.Atoi(args[3])
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	rep := childReport{States: map[string]string{}, Concurrent: conc, Via: via}
	var res *provider.Result
	switch via {
	case "direct":
		out, err := analyze.Run(context.Background(), analyze.Options{Input: input, WorkDir: work, Concurrency: conc, Logger: logger})
		if err != nil {
			return err
		}
		res = &out.Result
		rep.Errors, rep.Stats = out.Errors, &out.Stats
		for k, v := range out.States {
			rep.States[k] = string(v)
		}
	case "http":
		r, job, err := viaHTTP(context.Background(), input, work, conc, logger)
		if err != nil {
			return err
		}
		res = r
		rep.Errors = job.AnalysisErrors
		for k, v := range job.Analyses {
			rep.States[k] = string(v)
		}
	default:
		return fmt.Errorf("unknown -via %q", via)
	}
	rep.Scenes, rep.OCRSpans, rep.VmHWMKiB = len(res.Scenes), len(res.OCR), vmHWM()
	if res.Transcript != nil {
		for _, w := range res.Transcript.Words {
			rep.Words = append(rep.Words, w.Word)
		}
	}
	for _, k := range res.Keywords {
		rep.Keywords = append(rep.Keywords, k.Text)
	}
	return json.NewEncoder(stdout).Encode(rep)
}

// treeRSS sums VmRSS (KiB) of pid and all its descendants.
func treeRSS(pid int) int64 {
	procs := procStats()
	var total int64
	for p := range procs {
		if below(procs, p, pid) {
			total += statusKiB(p, "VmRSS:")
		}
	}
	return total
}

func statusKiB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field) {
			if f := strings.Fields(l); len(f) >= 2 {
				v, _ := strconv.ParseInt(f[1], 10, 64)
				return v
			}
		}
	}
	return 0
}

func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				v, _ := strconv.ParseInt(f[1], 10, 64)
				return v
			}
		}
	}
	return 0
}

type seqRun struct {
	Steps map[string]float64
	Order []string
	Total float64
	CPU   time.Duration
}

func runSequential(ctx context.Context, stderr io.Writer, script, input, work string) (seqRun, error) {
	cmd := exec.CommandContext(ctx, "bash", script, input, work)
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		return seqRun{}, fmt.Errorf("sequential script %s: %w", script, err)
	}
	r := seqRun{Steps: map[string]float64{}, CPU: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 3 && f[0] == "step":
			v, _ := strconv.ParseFloat(f[2], 64)
			r.Steps[f[1]] = v
			r.Order = append(r.Order, f[1])
		case len(f) == 2 && f[0] == "total":
			r.Total, _ = strconv.ParseFloat(f[1], 64)
		}
	}
	if r.Total == 0 {
		return seqRun{}, fmt.Errorf("sequential script printed no total: %q", out)
	}
	return r, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func report(w io.Writer, talk *samplemedia.Talk, engines []engineRun, seqs []seqRun, c mlOptions) *mlengineRun {
	minutes := talk.Duration / 60
	var ew, sw []float64
	var rss, hwm, toolRSS int64
	var ecpu, scpu []float64
	for _, s := range seqs {
		scpu = append(scpu, s.CPU.Seconds())
	}
	for _, e := range engines {
		ew = append(ew, e.Wall.Seconds())
		ecpu = append(ecpu, e.CPU.Seconds())
		rss = max(rss, e.TreeRSSKiB)
		hwm = max(hwm, e.Child.VmHWMKiB)
		if e.Child.Stats != nil {
			toolRSS = max(toolRSS, e.Child.Stats.MaxToolRSSKiB)
		}
	}
	for _, s := range seqs {
		sw = append(sw, s.Total)
	}
	em, sm := median(ew), median(sw)
	last := engines[len(engines)-1]

	fmt.Fprintln(w)
	how := "mlengine over HTTP"
	if c.via == "direct" {
		how = "analyze.Run"
	}
	fmt.Fprintf(w, "engine (%s, all analyses, concurrency %d), %d round(s): wall %s s\n", how, c.concurrency, len(engines), fmtList(ew))
	if st := last.Child.Stats; st != nil {
		var stages []string
		for k, v := range st.Stages {
			stages = append(stages, fmt.Sprintf("%s@%.1fs", k, v.Seconds()))
		}
		sort.Strings(stages)
		fmt.Fprintf(w, "  stages finished at: %s\n", strings.Join(stages, " "))
		var tools []string
		for k, v := range st.ToolWall {
			tools = append(tools, fmt.Sprintf("%s=%.1fs", k, v.Seconds()))
		}
		sort.Strings(tools)
		fmt.Fprintf(w, "  tool process time (summed wall): %s\n", strings.Join(tools, " "))
		tools = tools[:0]
		for k, v := range st.ToolCPU {
			tools = append(tools, fmt.Sprintf("%s=%.1fs", k, v.Seconds()))
		}
		sort.Strings(tools)
		fmt.Fprintf(w, "  tool CPU time (user+sys): %s\n", strings.Join(tools, " "))
		fmt.Fprintf(w, "  speech chunks %d, OCR frames read %d (reused %d)\n", st.SpeechChunks, st.OCRFramesRead, st.OCRFramesReused)
	} else {
		fmt.Fprintf(w, "  (per-stage figures: run with -via direct)\n")
	}
	fmt.Fprintf(w, "  scenes %d, OCR spans %d, states: %v\n", last.Child.Scenes, last.Child.OCRSpans, last.Child.States)
	if len(last.Child.Errors) > 0 {
		fmt.Fprintf(w, "  errors: %v\n", last.Child.Errors)
	}
	wer := samplemedia.WER(talk.Words, last.Child.Words)
	fmt.Fprintf(w, "  transcript WER %.1f %% (%d reference words)\n", wer*100, len(talk.Words))
	if len(last.Child.Keywords) > 8 {
		last.Child.Keywords = last.Child.Keywords[:8]
	}
	fmt.Fprintf(w, "  top keywords: %s\n", strings.Join(last.Child.Keywords, ", "))

	fmt.Fprintf(w, "sequential script (%s), %d round(s): total %s s\n", c.script, len(seqs), fmtList(sw))
	var steps []string
	for _, k := range seqs[len(seqs)-1].Order {
		steps = append(steps, fmt.Sprintf("%s=%.1fs", k, seqs[len(seqs)-1].Steps[k]))
	}
	fmt.Fprintf(w, "  steps: %s\n", strings.Join(steps, " "))

	fmt.Fprintln(w)
	fmt.Fprintf(w, "RESULT media %.2f min | engine %.1f s = %.2f s/min | sequential %.1f s = %.2f s/min | ratio engine/sequential %.2f\n",
		minutes, em, em/minutes, sm, sm/minutes, em/sm)
	fmt.Fprintf(w, "RESULT CPU time (user+sys incl. tools): engine %.1f s, sequential %.1f s (ratio %.2f)\n", median(ecpu), median(scpu), median(ecpu)/median(scpu))
	fmt.Fprintf(w, "RESULT peak RSS: engine process %.1f MiB (VmHWM); engine with its running tools %.1f MiB (sampled)", float64(hwm)/1024, float64(rss)/1024)
	if toolRSS > 0 {
		fmt.Fprintf(w, "; largest single tool %.1f MiB", float64(toolRSS)/1024)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "TARGET ≤ 9 s per minute of media on 2 cores (≈0.5× sequential), RSS < 300 MiB (engine with tools): %s\n",
		verdict(em/minutes <= 9 && rss < 300*1024))
	fmt.Fprintf(w, "note: load average now %s; other work on the machine makes these figures noisy\n", loadavg())
	return &mlengineRun{Talk: talk, PerMinute: em / minutes, CPUPerMin: median(ecpu) / minutes, TreeRSSKiB: rss, Figure: figure{
		Name:     "mlengine",
		Value:    fmt.Sprintf("%.2f s per media minute, %.0f MiB with its tools", em/minutes, float64(rss)/1024),
		Baseline: fmt.Sprintf("sequential script %.2f s/min (ratio %.2f)", sm/minutes, em/sm),
		Target:   "≤ 9 s/min, < 300 MiB",
		Verdict:  verdictf(em/minutes <= 9 && rss < 300*1024, "%.2f s/min, %.0f MiB", em/minutes, float64(rss)/1024),
		Notes:    []string{fmt.Sprintf("%.0f-minute %dx%d talk, %d round(s), transcript WER %.1f %%", minutes, c.width, c.height, len(engines), wer*100)},
	}}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func fmtList(v []float64) string {
	var s []string
	for _, x := range v {
		s = append(s, fmt.Sprintf("%.1f", x))
	}
	if len(v) > 1 {
		return strings.Join(s, ", ") + fmt.Sprintf(" (median %.1f)", median(v))
	}
	return strings.Join(s, ", ")
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

package analyze

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"filesight/internal/provider"
)

// passConfig describes the single ffmpeg decode pass: which outputs it has.
type passConfig struct {
	// media is the probed input (sandbox.go); when nil, input is used.
	media   *mediaInput
	input   string
	workDir string
	video   int // video stream index, -1 for none
	audio   int // audio stream index, -1 for none

	// scenes: small frames for the cut detector (on file descriptor 3) and
	// full-size stills (still-NNNN.png) for thumbnails and OCR.
	scenes bool
	// stillInterval: seconds between periodic stills (a still that looks
	// like the previous one written is dropped); 0 = none besides the
	// first frame and sudden changes.
	stillInterval float64
	loudness      bool
	silences      bool
	silenceDB     float64
	silenceMin    float64
	// pcm, when set, consumes 16 kHz mono s16le PCM while ffmpeg decodes.
	pcm func(r io.Reader) error
	// onTime is told how far (seconds of media) decoding has got.
	onTime func(t float64)
	// onStill is told of each still as ffmpeg starts writing it; onSettled
	// of the transitions the detector has settled (see cutDetector).
	onStill   func(f frameInfo)
	onSettled func(horizon float64, trs []transition)
}

// Stills besides the periodic ones: a frame whose ffmpeg scene score (a
// change from the previous frame, 0..1, in the full-size picture) exceeds
// stillTrigger and stillTriggerRatio times its running average (so that
// a moving camera does not write a still at every jolt) is written at
// once, at most one per stillTriggerGap seconds, so that a scene after a
// cut has a picture from its first frame.
const (
	stillTrigger      = 0.01
	stillTriggerRatio = 3.0
	stillTriggerGap   = 1.0
)

// frameInfo is one still written by the pass.
type frameInfo struct {
	Time  float64
	Path  string
	Stats string // showinfo's mean and stdev of the planes, a cheap fingerprint
}

type passResult struct {
	stills      []frameInfo
	transitions []transition
	// sigTimes and sigDiff: the time of every frame the detector saw and
	// its difference from the previous one (0..1), to place changes that
	// happen between two stills.
	sigTimes []float64
	sigDiff  []float64
	silences []provider.Span
	loudness *provider.Loudness
}

func (c *passConfig) needed() bool {
	return (c.video >= 0 && c.scenes) || (c.audio >= 0 && (c.loudness || c.silences || c.pcm != nil))
}

// args builds the ffmpeg command line: one decode of the input feeding every
// output through one filter graph.
func (c *passConfig) args() []string {
	// image2 output names are patterns: a literal % in the directory must be doubled.
	dir := strings.ReplaceAll(c.workDir, "%", "%%")
	var graph []string
	var outs []string
	if c.video >= 0 && c.scenes {
		graph = append(graph, fmt.Sprintf("[0:v:%d]split=2[vsig][vst]", c.video),
			fmt.Sprintf("[vsig]select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,%.3f)',field,field,scale=%d:%d:flags=area,format=rgb24,showinfo@sig[sig]", sigMinGap, sigW, sigH))
		periodic := ""
		if c.stillInterval > 0 {
			periodic = fmt.Sprintf("+gte(t-prev_selected_t\\,%.3f)", c.stillInterval)
		}
		// Variables of the select expression, kept from frame to frame:
		// 0 the time of the last still written for a sudden change, 1 the
		// running average of the scene score (updated after the test).
		graph = append(graph, fmt.Sprintf("[vst]select='eq(n\\,0)+if(gt(scene\\,max(%.3f\\,%.1f*ld(1)))*gte(t-ld(0)\\,%.3f)\\,st(0\\,t)+1)+0*st(1\\,0.9*ld(1)+0.1*scene)%s',mpdecimate,showinfo@still[st]",
			stillTrigger, stillTriggerRatio, stillTriggerGap, periodic))
		outs = append(outs, "-map", "[sig]", "-fps_mode", "passthrough", "-c:v", "rawvideo", "-f", "rawvideo", "pipe:3",
			"-map", "[st]", "-fps_mode", "vfr", "-f", "image2", "-atomic_writing", "1", filepath.Join(dir, "still-%04d.png"))
	}
	if c.audio >= 0 && (c.loudness || c.silences || c.pcm != nil) {
		a := fmt.Sprintf("[0:a:%d]", c.audio)
		measure := c.loudness || c.silences
		if measure && c.pcm != nil {
			graph = append(graph, a+"asplit=2[ap][am]")
		} else if measure {
			graph = append(graph, a+"anull[am]")
		} else {
			graph = append(graph, a+"anull[ap]")
		}
		if c.pcm != nil {
			graph = append(graph, "[ap]aresample=16000,aformat=sample_fmts=s16:channel_layouts=mono[pcm]")
			outs = append(outs, "-map", "[pcm]", "-f", "s16le", "-c:a", "pcm_s16le", "pipe:1")
		}
		if measure {
			var chain []string
			if c.silences {
				chain = append(chain, fmt.Sprintf("silencedetect=n=%.1fdB:d=%.3f", c.silenceDB, c.silenceMin))
			}
			if c.loudness {
				chain = append(chain, "ebur128=peak=true:framelog=verbose")
			}
			graph = append(graph, "[am]"+strings.Join(chain, ",")+"[m]")
			outs = append(outs, "-map", "[m]", "-f", "null", "-")
		}
	}
	args := []string{"-hide_banner", "-nostdin", "-nostats", "-v", "info", "-y",
		"-progress", "pipe:2", "-stats_period", "1"}
	args = append(args, c.inputArgs()...)
	args = append(args, "-filter_complex", strings.Join(graph, ";"))
	return append(args, outs...)
}

var (
	stillRe    = regexp.MustCompile(`^\[showinfo@still @ [^\]]*\] n:\s*(\d+) .*?pts_time:(\S+).*?mean:\[([^\]]*)\] stdev:\[([^\]]*)\]`)
	silStartRe = regexp.MustCompile(`silence_start: (-?[0-9.]+)`)
	silEndRe   = regexp.MustCompile(`silence_end: (-?[0-9.]+)`)
)

// passParser reads ffmpeg's stderr line by line.
type passParser struct {
	cfg      *passConfig
	res      passResult
	silStart float64
	inSil    bool
	summary  bool // inside an ebur128 summary
	loud     provider.Loudness
	haveLoud bool
	// sigTime is told the time of each frame sent to the detector, in order.
	sigTime func(t float64)
}

func (p *passParser) line(l string) {
	switch {
	case strings.HasPrefix(l, "[showinfo@sig "):
		// Frames are counted, not numbered by showinfo's n: a filter graph
		// that is set up again (the picture size changed) counts from 0.
		t, ok := ptsTime(l)
		if !ok {
			return
		}
		if p.sigTime != nil {
			p.sigTime(t)
		}
		if p.cfg.onTime != nil {
			p.cfg.onTime(t)
		}
	case strings.HasPrefix(l, "[showinfo@still "):
		m := stillRe.FindStringSubmatch(l)
		if m == nil {
			return
		}
		t, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return
		}
		f := frameInfo{Time: t, Stats: m[3] + "/" + m[4], Path: filepath.Join(p.cfg.workDir, fmt.Sprintf("still-%04d.png", len(p.res.stills)+1))}
		p.res.stills = append(p.res.stills, f)
		if p.cfg.onStill != nil {
			p.cfg.onStill(f)
		}
	case strings.HasPrefix(l, "out_time_us="):
		if us, err := strconv.ParseInt(strings.TrimPrefix(l, "out_time_us="), 10, 64); err == nil && us > 0 && p.cfg.onTime != nil {
			p.cfg.onTime(float64(us) / 1e6)
		}
	case strings.Contains(l, "silence_start:"):
		if m := silStartRe.FindStringSubmatch(l); m != nil {
			p.silStart, _ = strconv.ParseFloat(m[1], 64)
			p.silStart = math.Max(0, p.silStart)
			p.inSil = true
		}
	case strings.Contains(l, "silence_end:"):
		if m := silEndRe.FindStringSubmatch(l); m != nil && p.inSil {
			end, _ := strconv.ParseFloat(m[1], 64)
			p.res.silences = append(p.res.silences, provider.Span{Start: round3(p.silStart), End: round3(end)})
			p.inSil = false
		}
	case strings.HasPrefix(l, "[") && strings.Contains(l, "ebur128") && strings.HasSuffix(l, "Summary:"):
		// ebur128 prints a summary whenever a graph instance closes; the
		// last one covers the whole input.
		p.summary = true
		p.loud = provider.Loudness{}
	case p.summary:
		f := strings.Fields(l)
		if len(f) < 2 {
			return
		}
		switch f[0] {
		case "I:":
			p.loud.IntegratedLUFS = parseLevel(f[1])
		case "LRA:":
			p.loud.RangeLU = parseLevel(f[1])
		case "Peak:":
			p.loud.TruePeakDBFS = parseLevel(f[1])
			p.summary = false
			p.haveLoud = true
		}
	}
}

// silentDB stands for -inf (digital silence): JSON has no infinity.
const silentDB = -144.0

func parseLevel(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, -1) || math.IsNaN(v) || v < silentDB {
		return silentDB
	}
	return v
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// ptsTime reads pts_time from a showinfo frame line ("n: ... pts_time:1.2 ...").
func ptsTime(l string) (float64, bool) {
	if !strings.Contains(l, "] n:") {
		return 0, false
	}
	i := strings.Index(l, "pts_time:")
	if i < 0 {
		return 0, false
	}
	v := l[i+len("pts_time:"):]
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	t, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(t) || math.IsInf(t, 0) {
		return 0, false
	}
	return t, true
}

// runPass runs the ffmpeg pass. It holds one process slot while ffmpeg runs.
func runPass(ctx context.Context, r *runner, cfg *passConfig, duration float64) (*passResult, error) {
	if err := r.acquire(ctx); err != nil {
		return nil, err
	}
	defer r.release()
	ctx, cancel := r.decodeDeadline(ctx, duration)
	defer cancel()
	cfg.media = r.media
	cmd := r.command(ctx, "ffmpeg", cfg.args()...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("ffmpeg stdout: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("ffmpeg stderr: %w", err)
	}
	// The detector's small frames come through file descriptor 3.
	var sigR *os.File
	if cfg.video >= 0 && cfg.scenes {
		pr, pw, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("pipe for ffmpeg: %w", err)
		}
		sigR = pr
		defer sigR.Close()
		cmd.ExtraFiles = []*os.File{pw}
		defer pw.Close()
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, fmt.Errorf("start ffmpeg: %w", err)
	}
	for _, f := range cmd.ExtraFiles {
		f.Close() // ffmpeg has its own copy; EOF comes when ffmpeg exits
	}
	clock := newSigClock()
	parser := &passParser{cfg: cfg, sigTime: clock.add}
	var tail tailBuffer
	var wg sync.WaitGroup
	var pcmErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer clock.close()
		_ = scanLines(stderr, 4096, func(l string) {
			if !strings.HasPrefix(l, "[showinfo@") && !strings.Contains(l, "=") {
				tail.Write([]byte(l + "\n"))
			} else if strings.Contains(l, "rror") {
				tail.Write([]byte(l + "\n"))
			}
			parser.line(l)
		})
	}()
	go func() {
		defer wg.Done()
		if cfg.pcm != nil {
			pcmErr = cfg.pcm(stdout)
		}
		// Drain whatever is left so ffmpeg never blocks on a full pipe.
		_, _ = io.Copy(io.Discard, stdout)
	}()
	det := &cutDetector{onSettled: cfg.onSettled}
	if sigR != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			readSignal(sigR, clock, det)
		}()
	}
	wg.Wait()
	err = cmd.Wait()
	r.finished("ffmpeg", cmd, start)
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, toolError("ffmpeg", err, tail.String())
	}
	if pcmErr != nil {
		return nil, fmt.Errorf("reading decoded audio: %w", pcmErr)
	}
	res := &parser.res
	if parser.inSil {
		end := duration
		if end < parser.silStart {
			end = parser.silStart
		}
		res.silences = append(res.silences, provider.Span{Start: round3(parser.silStart), End: round3(end)})
	}
	if parser.haveLoud {
		l := parser.loud
		res.loudness = &l
	}
	if sigR != nil {
		res.transitions = det.finish()
		res.sigTimes, res.sigDiff = det.times, det.d1
	}
	return res, nil
}

// readSignal feeds the detector every small frame from r, each with the
// time showinfo printed for it.
func readSignal(r io.Reader, clock *sigClock, det *cutDetector) {
	br := bufio.NewReaderSize(r, 64<<10)
	buf := make([]byte, sigBytes)
	last := 0.0
	for {
		if _, err := io.ReadFull(br, buf); err != nil {
			// Drain what is left so ffmpeg never blocks on a full pipe.
			_, _ = io.Copy(io.Discard, br)
			return
		}
		t, ok := clock.take()
		if !ok {
			t = last + sigMinGap // no time printed: ffmpeg is ending
		}
		last = t
		det.push(t, buf)
	}
}

// sigClock passes frame times from the stderr reader to the frame reader.
// ffmpeg prints a frame's time before it writes the frame, so the frame
// reader waits only briefly.
type sigClock struct {
	mu    sync.Mutex
	cond  *sync.Cond
	times []float64
	done  bool
}

func newSigClock() *sigClock {
	c := &sigClock{}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *sigClock) add(t float64) {
	c.mu.Lock()
	c.times = append(c.times, t)
	c.mu.Unlock()
	c.cond.Signal()
}

// close says no more times will come.
func (c *sigClock) close() {
	c.mu.Lock()
	c.done = true
	c.mu.Unlock()
	c.cond.Broadcast()
}

// take returns the next time, waiting for it; false when none will come.
func (c *sigClock) take() (float64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.times) == 0 && !c.done {
		c.cond.Wait()
	}
	if len(c.times) == 0 {
		return 0, false
	}
	t := c.times[0]
	c.times = c.times[1:]
	return t, true
}

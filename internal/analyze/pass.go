package analyze

import (
	"context"
	"fmt"
	"io"
	"math"
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

	scenes         bool    // scene cuts + a PNG per scene start
	sceneThreshold float64 // select's scene score threshold
	frameInterval  float64 // seconds between periodic PNG frames for OCR; 0 = none
	loudness       bool
	silences       bool
	silenceDB      float64
	silenceMin     float64
	// pcm, when set, consumes 16 kHz mono s16le PCM while ffmpeg decodes.
	pcm func(r io.Reader) error
	// onTime is told how far (seconds of media) decoding has got.
	onTime func(t float64)
}

// frameInfo is one PNG written by the pass.
type frameInfo struct {
	Time  float64
	Path  string
	Stats string // showinfo's mean and stdev of the planes, a cheap fingerprint
}

type passResult struct {
	sceneFrames []frameInfo
	frames      []frameInfo
	silences    []provider.Span
	loudness    *provider.Loudness
}

func (c *passConfig) needed() bool {
	return (c.video >= 0 && (c.scenes || c.frameInterval > 0)) || (c.audio >= 0 && (c.loudness || c.silences || c.pcm != nil))
}

// args builds the ffmpeg command line: one decode of the input feeding every
// output through one filter graph.
func (c *passConfig) args() []string {
	// image2 output names are patterns: a literal % in the directory must be doubled.
	dir := strings.ReplaceAll(c.workDir, "%", "%%")
	var graph []string
	var outs []string
	if c.video >= 0 && (c.scenes || c.frameInterval > 0) {
		v := fmt.Sprintf("[0:v:%d]", c.video)
		if c.scenes && c.frameInterval > 0 {
			graph = append(graph, v+"split=2[vs][vf]")
		} else if c.scenes {
			graph = append(graph, v+"null[vs]")
		} else {
			graph = append(graph, v+"null[vf]")
		}
		if c.scenes {
			// The first frame always starts a scene.
			graph = append(graph, fmt.Sprintf("[vs]select='eq(n\\,0)+gt(scene\\,%.3f)',showinfo@scene[sc]", c.sceneThreshold))
			outs = append(outs, "-map", "[sc]", "-fps_mode", "vfr", "-f", "image2", filepath.Join(dir, "scene-%04d.png"))
		}
		if c.frameInterval > 0 {
			graph = append(graph, fmt.Sprintf("[vf]fps=fps=1/%.3f,showinfo@frame[fr]", c.frameInterval))
			outs = append(outs, "-map", "[fr]", "-fps_mode", "vfr", "-f", "image2", filepath.Join(dir, "frame-%04d.png"))
		}
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
	showinfoRe = regexp.MustCompile(`^\[showinfo@(scene|frame) @ [^\]]*\] n:\s*(\d+) .*?pts_time:(\S+).*?mean:\[([^\]]*)\] stdev:\[([^\]]*)\]`)
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
}

func (p *passParser) line(l string) {
	switch {
	case strings.HasPrefix(l, "[showinfo@"):
		m := showinfoRe.FindStringSubmatch(l)
		if m == nil {
			return
		}
		n, _ := strconv.Atoi(m[2])
		t, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			return
		}
		f := frameInfo{Time: t, Stats: m[4] + "/" + m[5]}
		if m[1] == "scene" {
			f.Path = filepath.Join(p.cfg.workDir, fmt.Sprintf("scene-%04d.png", n+1))
			p.res.sceneFrames = append(p.res.sceneFrames, f)
		} else {
			f.Path = filepath.Join(p.cfg.workDir, fmt.Sprintf("frame-%04d.png", n+1))
			p.res.frames = append(p.res.frames, f)
		}
		if p.cfg.onTime != nil {
			p.cfg.onTime(t)
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
	start := time.Now()
	if err := cmd.Start(); err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, fmt.Errorf("start ffmpeg: %w", err)
	}
	parser := &passParser{cfg: cfg}
	var tail tailBuffer
	var wg sync.WaitGroup
	var pcmErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
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
	return res, nil
}

package analyze

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"filesight/internal/samplemedia"
)

// The cut-detection corpus: short video clips generated with ffmpeg whose
// scene changes and on-screen texts are known. Every clip is 640×360 at
// 25 fps, H.264 with a keyframe every 2 s (so static stretches carry the
// small jumps of keyframes), without sound.

// corpusClip is one generated clip and what is in it.
type corpusClip struct {
	Name     string
	Path     string
	Duration float64
	// Cuts are the true scene changes (excluding 0): for a gradual
	// transition its middle.
	Cuts []float64
	// NoCuts marks clips that must yield no cut at all.
	NoCuts bool
	// Texts are the lines drawn, each with when it is on screen.
	Texts []corpusText
	// Colours, for slide clips: the colour (0xRRGGBB) of each scene's
	// bottom-left corner once it has settled, which its thumbnail shows.
	Colours []string
}

// cornerX, cornerY: a point clear of text and boxes on every slide.
const cornerX, cornerY = 8, 352

type corpusText struct {
	Text       string
	Start, End float64
}

const (
	corpusW   = 640
	corpusH   = 360
	corpusFPS = 25
)

// corpusSlide is one slide of a slide clip.
type corpusSlide struct {
	bg, fg string
	lines  []string
	// template: the same light layout on every slide (a header bar with
	// header text); only lines differ.
	template bool
	header   string
	dur      float64
}

// background is the slide's background colour.
func (s corpusSlide) background() string {
	if s.template {
		return templateBackground
	}
	return s.bg
}

const templateBackground = "0xf4f4f4"

// corpusBuilder writes a clip's filter graph and inputs.
type corpusBuilder struct {
	dir    string
	inputs []string
	graph  []string
	n      int
}

func (b *corpusBuilder) label() string {
	b.n++
	return fmt.Sprintf("c%d", b.n)
}

func (b *corpusBuilder) textFile(text string) string {
	b.n++
	p := filepath.Join(b.dir, fmt.Sprintf("text%d.txt", b.n))
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		panic(err)
	}
	return p
}

// slide adds a slide and returns its label.
func (b *corpusBuilder) slide(s corpusSlide) string {
	out := b.label()
	var chain []string
	if s.template {
		chain = append(chain, fmt.Sprintf("color=c=%s:s=%dx%d:r=%d:d=%.3f", templateBackground, corpusW, corpusH, corpusFPS, s.dur),
			"drawbox=x=0:y=0:w=iw:h=64:color=0x1f3a5f:t=fill",
			"drawbox=x=40:y=330:w=560:h=4:color=0x1f3a5f:t=fill",
			fmt.Sprintf("drawtext=fontfile=%s:textfile=%s:fontsize=30:fontcolor=white:x=40:y=17", samplemedia.FontFile, b.textFile(s.header)))
		for i, l := range s.lines {
			chain = append(chain, fmt.Sprintf("drawtext=fontfile=%s:textfile=%s:fontsize=34:fontcolor=0x202020:x=60:y=%d",
				samplemedia.FontFile, b.textFile(l), 120+70*i))
		}
	} else {
		chain = append(chain, fmt.Sprintf("color=c=%s:s=%dx%d:r=%d:d=%.3f", s.bg, corpusW, corpusH, corpusFPS, s.dur))
		for i, l := range s.lines {
			chain = append(chain, fmt.Sprintf("drawtext=fontfile=%s:textfile=%s:fontsize=40:fontcolor=%s:x=(w-text_w)/2:y=%d",
				samplemedia.FontFile, b.textFile(l), s.fg, 110+80*i))
		}
	}
	chain = append(chain, "format=yuv420p", "settb=1/25")
	b.graph = append(b.graph, strings.Join(chain, ",")+"["+out+"]")
	return out
}

// shot adds a camera-like shot of dur seconds: filters applied to a looped
// still image (crop with moving x/y, zoom ...), returns its label.
func (b *corpusBuilder) shot(image string, dur float64, filters ...string) string {
	// The image is decoded once and repeated by the loop filter (-loop 1
	// would decode it again for every frame).
	b.inputs = append(b.inputs, "-framerate", fmt.Sprint(corpusFPS), "-i", image)
	input := len(b.inputs)/4 - 1
	out := b.label()
	chain := append([]string{fmt.Sprintf("[%d:v]loop=loop=-1:size=1", input), fmt.Sprintf("trim=duration=%.3f", dur), "setpts=N/25/TB"}, filters...)
	chain = append(chain, fmt.Sprintf("scale=%d:%d", corpusW, corpusH), "setsar=1", "format=yuv420p", "settb=1/25")
	b.graph = append(b.graph, strings.Join(chain, ",")+"["+out+"]")
	return out
}

// add appends a raw graph line.
func (b *corpusBuilder) add(line string) { b.graph = append(b.graph, line) }

// encode renders label to an MP4 named name.
func (b *corpusBuilder) encode(ctx context.Context, label, name string, extra ...string) (string, error) {
	script := filepath.Join(b.dir, name+".graph")
	graph := strings.Join(b.graph, ";\n")
	if len(extra) > 0 {
		graph += ";\n[" + label + "]" + strings.Join(extra, ",") + "[final]"
		label = "final"
	}
	if err := os.WriteFile(script, []byte(graph), 0o644); err != nil {
		return "", err
	}
	out := filepath.Join(b.dir, name+".mp4")
	args := append([]string{"-hide_banner", "-nostdin", "-v", "error", "-y"}, b.inputs...)
	args = append(args, "-filter_complex_script", script, "-map", "["+label+"]", "-an",
		"-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-g", "50", "-threads", "1", "-pix_fmt", "yuv420p", out)
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("ffmpeg %s: %v: %s", name, err, b)
	}
	return out, nil
}

var safePath = regexp.MustCompile(`^[A-Za-z0-9/._-]+$`)

// Mandelbrot views used as "photographs" for camera-like clips.
var corpusImages = []string{
	"start_x=-0.743643887037151:start_y=0.13182590420533:start_scale=0.01",
	"start_x=-0.7453:start_y=0.1127:start_scale=0.006",
	"start_x=-1.25066:start_y=0.02012:start_scale=0.03",
}

// generateCorpus writes every clip into dir.
func generateCorpus(ctx context.Context, dir string) ([]corpusClip, error) {
	if !safePath.MatchString(dir) {
		return nil, fmt.Errorf("corpus directory %q has characters the filter graphs would need to escape", dir)
	}
	// The images, rendered once (larger than the clips, softened and
	// desaturated a little to look less synthetic).
	var images []string
	for i, view := range corpusImages {
		p := filepath.Join(dir, fmt.Sprintf("image%d.png", i))
		cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
			"-i", "mandelbrot=s=960x540:maxiter=250:outer=normalized_iteration_count:end_scale=1:"+view,
			"-vf", "eq=saturation=0.6,gblur=sigma=1", "-frames:v", "1", p)
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("render image: %v: %s", err, b)
		}
		images = append(images, p)
	}
	builders := []func(context.Context, string, []string) (corpusClip, error){
		corpusColourSlides, corpusTemplateSlides, corpusTransitions, corpusPanZoom, corpusFlashes, corpusCamera,
	}
	clips := make([]corpusClip, len(builders))
	errs := make([]error, len(builders))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for i, build := range builders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			sub := filepath.Join(dir, fmt.Sprint(i))
			if err := os.MkdirAll(sub, 0o755); err != nil {
				errs[i] = err
				return
			}
			clips[i], errs[i] = build(ctx, sub, images)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return clips, nil
}

// slideClip concatenates slides with hard cuts.
func slideClip(ctx context.Context, dir, name string, slides []corpusSlide) (corpusClip, error) {
	b := &corpusBuilder{dir: dir}
	c := corpusClip{Name: name}
	var labels string
	t := 0.0
	for i, s := range slides {
		labels += "[" + b.slide(s) + "]"
		c.Colours = append(c.Colours, s.background())
		if i > 0 {
			c.Cuts = append(c.Cuts, t)
		}
		for _, l := range s.lines {
			c.Texts = append(c.Texts, corpusText{l, t, t + s.dur})
		}
		t += s.dur
	}
	c.Duration = t
	if slides[0].template {
		c.Texts = append(c.Texts, corpusText{slides[0].header, 0, t})
	}
	b.add(fmt.Sprintf("%sconcat=n=%d:v=1:a=0[out]", labels, len(slides)))
	var err error
	c.Path, err = b.encode(ctx, "out", name)
	return c, err
}

// corpusColourSlides: dark slides of about the same brightness in
// different colours, white text.
func corpusColourSlides(ctx context.Context, dir string, _ []string) (corpusClip, error) {
	bgs := []string{"0x1a2a6c", "0x6c1a1a", "0x1a4a22", "0x4a1a6c", "0x1a4a5a", "0x5a3a1a"}
	titles := [][]string{{"NORTH REGION", "Sales Figures"}, {"SOUTH REGION", "Hiring Plans"}, {"EAST REGION", "Open Questions"},
		{"WEST REGION", "Budget Review"}, {"CENTRAL OFFICE", "Next Steps"}, {"SUMMARY", "Thank You"}}
	var slides []corpusSlide
	for i, bg := range bgs {
		slides = append(slides, corpusSlide{bg: bg, fg: "white", lines: titles[i], dur: 4})
	}
	return slideClip(ctx, dir, "colour-slides", slides)
}

// corpusTemplateSlides: one light template, only the body text changes.
func corpusTemplateSlides(ctx context.Context, dir string, _ []string) (corpusClip, error) {
	bodies := [][]string{{"Customer Growth", "Retention Rates"}, {"Product Roadmap", "Release Dates"}, {"Support Tickets", "Response Times"},
		{"Cloud Costs", "Storage Plans"}, {"Team Changes", "New Hires"}, {"Risks Ahead", "Mitigations"}}
	var slides []corpusSlide
	for _, l := range bodies {
		slides = append(slides, corpusSlide{template: true, header: "PROJECT STATUS", lines: l, dur: 4})
	}
	return slideClip(ctx, dir, "template-slides", slides)
}

// corpusTransitions: slides joined by 1 s cross-fades, a fade through
// black, and a cross-fade between two slides of one template.
func corpusTransitions(ctx context.Context, dir string, _ []string) (corpusClip, error) {
	b := &corpusBuilder{dir: dir}
	c := corpusClip{Name: "transitions"}
	s := []corpusSlide{
		{bg: "0x1a2a6c", fg: "white", lines: []string{"ALPHA TEAM"}, dur: 4},
		{bg: "0x6c1a1a", fg: "white", lines: []string{"BRAVO TEAM"}, dur: 4},
		{bg: "0xe8e0c8", fg: "0x202020", lines: []string{"CHARLIE TEAM"}, dur: 4},
		{template: true, header: "WEEKLY REPORT", lines: []string{"DELTA TEAM"}, dur: 4},
		{template: true, header: "WEEKLY REPORT", lines: []string{"ECHO TEAM"}, dur: 4},
	}
	l := make([]string, len(s))
	for i := range s {
		l[i] = b.slide(s[i])
	}
	// 0–4 ALPHA, fade 3–4 to BRAVO (7 s so far), fade 6–7 to CHARLIE
	// (10 s), fade out 9.5–10 and in 10–10.5 to DELTA (14 s), fade 13–14
	// to ECHO (17 s).
	b.add(fmt.Sprintf("[%s][%s]xfade=transition=fade:duration=1:offset=3[x1]", l[0], l[1]))
	b.add(fmt.Sprintf("[x1][%s]xfade=transition=fade:duration=1:offset=6[x2]", l[2]))
	b.add("[x2]fade=t=out:st=9.5:d=0.5[x2f]")
	b.add(fmt.Sprintf("[%s]fade=t=in:st=0:d=0.5[dl]", l[3]))
	b.add("[x2f][dl]concat=n=2:v=1:a=0,settb=1/25[x3]")
	b.add(fmt.Sprintf("[x3][%s]xfade=transition=fade:duration=1:offset=13[out]", l[4]))
	c.Cuts = []float64{3.5, 6.5, 10, 13.5}
	for _, sl := range s {
		c.Colours = append(c.Colours, sl.background())
	}
	c.Duration = 17
	c.Texts = []corpusText{{"ALPHA TEAM", 0, 3.5}, {"BRAVO TEAM", 3.5, 6.5}, {"CHARLIE TEAM", 6.5, 10},
		{"WEEKLY REPORT", 10, 17}, {"DELTA TEAM", 10, 13.5}, {"ECHO TEAM", 13.5, 17}}
	var err error
	c.Path, err = b.encode(ctx, "out", "transitions")
	return c, err
}

// corpusPanZoom: a slow zoom into a still image, then a slow pan, with a
// little sensor noise. No cuts.
func corpusPanZoom(ctx context.Context, dir string, images []string) (corpusClip, error) {
	b := &corpusBuilder{dir: dir}
	// zoompan steps whole pixels, which shakes a little like a hand-held camera.
	b.shot(images[0], 16, "zoompan=z='if(lte(on,200),1+0.0015*on,1.3)':x='if(lte(on,200),iw/2-iw/zoom/2,iw/2-iw/zoom/2-(on-200)*0.5)':y='ih/2-ih/zoom/2':d=1:s=640x360:fps=25")
	c := corpusClip{Name: "pan-zoom", Duration: 16, NoCuts: true}
	var err error
	c.Path, err = b.encode(ctx, "c1", "pan-zoom", "noise=alls=6:allf=t")
	return c, err
}

// corpusFlashes: a slowly drifting picture with camera flashes (one and
// three frames of white), a half-bright flash, and a 2 s strobe. No cuts.
func corpusFlashes(ctx context.Context, dir string, images []string) (corpusClip, error) {
	b := &corpusBuilder{dir: dir}
	white := "between(t,2,2.039)+between(t,4.6,4.639)+between(t,6,6.119)+between(t,10,12)*lt(mod(t-10,0.25),0.039)"
	b.shot(images[1], 14, "crop=640:360:x='100+4*t':y=90",
		"drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='"+white+"'",
		"eq=brightness=0.35:enable='between(t,8,8.079)'")
	c := corpusClip{Name: "flashes", Duration: 14, NoCuts: true}
	var err error
	c.Path, err = b.encode(ctx, "c1", "flashes", "noise=alls=6:allf=t")
	return c, err
}

// corpusCamera: camera-like shots (hand-held shake, pans, a zoom, sensor
// noise, a flicker of brightness) cut together; two shots are different
// parts of the same picture.
func corpusCamera(ctx context.Context, dir string, images []string) (corpusClip, error) {
	b := &corpusBuilder{dir: dir}
	in := images
	shake := func(x0, y0, vx float64) string {
		return fmt.Sprintf("crop=640:360:x='%.0f+%.1f*t+6*sin(5*t)+3*sin(13*t)':y='%.0f+5*sin(4*t)+2*sin(11*t)'", x0, vx, y0)
	}
	var labels string
	durs := []float64{4, 3.2, 4, 4, 4}
	labels += "[" + b.shot(in[0], durs[0], shake(20, 20, 20)) + "]"
	labels += "[" + b.shot(in[1], durs[1], shake(150, 90, 0)) + "]"
	labels += "[" + b.shot(in[0], durs[2], shake(280, 150, -15)) + "]"
	labels += "[" + b.shot(in[2], durs[3], "zoompan=z='1+0.002*on':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d=1:s=640x360:fps=25") + "]"
	labels += "[" + b.shot(in[1], durs[4], shake(10, 60, 60)) + "]"
	b.add(fmt.Sprintf("%sconcat=n=%d:v=1:a=0[out]", labels, len(durs)))
	c := corpusClip{Name: "camera"}
	for i, d := range durs {
		if i > 0 {
			c.Cuts = append(c.Cuts, c.Duration)
		}
		c.Duration += d
	}
	var err error
	c.Path, err = b.encode(ctx, "out", "camera", "eq=brightness='0.02*sin(7*t)':eval=frame", "noise=alls=12:allf=t")
	return c, err
}

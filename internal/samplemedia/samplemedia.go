// Package samplemedia generates real sample media with ffmpeg: talk-like
// videos made of text slides on distinct backgrounds with synthetic speech
// from ffmpeg's flite source, and audio-only files, together with what is
// known to be in them (scene cuts, on-screen words, spoken words,
// silences). The dev stack's sample video, the benchmark and the tests of
// the analyzers, of mlengine and of the whole pipeline use it. Test helpers
// are in internal/mediatest; this package links no test code.
package samplemedia

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// FontFile is the font drawn on slides (Debian package fonts-dejavu-core).
const FontFile = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"

// DefaultVoice is the flite voice used for speech. Of flite's built-in
// voices (kal16, slt, rms, awb), rms gave pocketsphinx's en-us model the
// lowest word error rate here (about 4–7 % on the default script against
// 18 % for slt and awb).
const DefaultVoice = "rms"

// SampleRate of the generated speech track (pocketsphinx wants 16 kHz mono).
const SampleRate = 16000

// Slide is one text slide of a talk.
type Slide struct {
	Text     string  // drawn centred; "\n" separates lines
	Duration float64 // seconds
}

// TalkSpec describes a talk-like video.
type TalkSpec struct {
	Slides []Slide
	// Script is spoken by flite. Paragraphs are separated by blank lines;
	// paragraph i starts LeadIn seconds after slide i starts (or, when it
	// would overlap the previous paragraph, MinGap seconds after it), so
	// the quiet between paragraphs is real digital silence. Paragraphs
	// beyond the last slide follow one another MinGap apart. When speech
	// runs past the last slide, the last slide is extended.
	Script string
	Voice  string  // flite voice; DefaultVoice when empty
	Width  int     // default 640
	Height int     // default 360
	FPS    int     // default 10
	LeadIn float64 // default 0.5 s
	MinGap float64 // default 1.0 s
}

// DefaultTalk is a short (30 s) talk: three slides with large, readable
// words and one spoken paragraph per slide, each followed by about 1.5 s of
// silence.
func DefaultTalk() TalkSpec {
	return TalkSpec{
		Slides: []Slide{
			{Text: "BETTER DATA\nMachine Learning", Duration: 10},
			{Text: "UPLOAD VIDEO\nCloud Service", Duration: 10},
			{Text: "SEARCH RESULTS\nSpoken Words", Duration: 10},
		},
		Script: "Welcome to this short talk about better data. Today we will look at how machine learning can help people understand their videos.\n\n" +
			"First we upload a video to the cloud. The system starts a new job and sends the video to a service for analysis.\n\n" +
			"The results come back as labels on the video. You can search for the words that people say and the text on the screen.",
		Width:  640,
		Height: 360,
		FPS:    10,
	}
}

// Values in SensitiveTalk: published test numbers of card schemes (they
// pass the Luhn check and belong to no one) and an address of a domain
// reserved for examples.
const (
	// SensitiveShownCard is the Visa test number on the first slide.
	SensitiveShownCard = "4111 1111 1111 1111"
	// SensitiveShownEmail is the address on the second slide.
	SensitiveShownEmail = "jane.doe@example.com"
	// SensitiveSpokenCard is the Mastercard test number read aloud.
	SensitiveSpokenCard = "5555 5555 5555 4444"
)

// SensitiveTalk is a 16 s talk that shows a card number and an e-mail
// address on its slides and reads another card number aloud, digit by
// digit: what the vault must keep off the cards. The spoken number was
// chosen for pocketsphinx (en-us, flite's rms voice): read this way,
// 5555 5555 5555 4444 came back digit for digit with 1, 2 and 4 analysis
// processes (as did 4111… and 5105 1051 0510 5100), while 4012 8888 8888
// 1881 lost its eights. It differs from the number on screen, so the two
// are tokenized, and detokenized, separately.
func SensitiveTalk() TalkSpec {
	return TalkSpec{
		Slides: []Slide{
			{Text: "PAYMENT DETAILS\n" + SensitiveShownCard, Duration: 8},
			{Text: "Contact\n" + SensitiveShownEmail, Duration: 8},
		},
		Script: "Please charge the card number five five five five, five five five five, five five five five, four four four four.\n\n" +
			"Send the receipt by e-mail to our billing team, and thank you for your order.",
		Width:  640,
		Height: 360,
		FPS:    10,
	}
}

// Span is a time interval in seconds.
type Span struct{ Start, End float64 }

// Talk describes a generated file and what is known to be in it.
type Talk struct {
	Path     string
	Duration float64 // seconds
	// Cuts are the times (seconds) where a new slide starts, excluding 0.
	Cuts []float64
	// Slides are the slide intervals, in order.
	Slides []Span
	// Speech are the intervals holding speech, one per paragraph; the
	// audio outside them is digital silence.
	Speech []Span
	// Words is the script as lower-case words, the reference transcript.
	Words []string
	// SlideWords are the words drawn on each slide (as written).
	SlideWords [][]string
}

// GenerateTalk writes an MP4 (H.264 + AAC) of spec into dir and returns its path.
func GenerateTalk(ctx context.Context, dir string, spec TalkSpec) (string, error) {
	t, err := GenerateTalkInfo(ctx, dir, spec)
	if err != nil {
		return "", err
	}
	return t.Path, nil
}

// GenerateAudio writes an audio-only M4A (AAC) file with script spoken by
// the default voice (paragraphs MinGap apart, 0.5 s of silence before and
// after) and returns its path.
func GenerateAudio(ctx context.Context, dir, script string) (string, error) {
	t, err := GenerateAudioInfo(ctx, dir, script)
	if err != nil {
		return "", err
	}
	return t.Path, nil
}

// GenerateAudioInfo is GenerateAudio returning what is known about the file.
func GenerateAudioInfo(ctx context.Context, dir, script string) (*Talk, error) {
	spec := TalkSpec{Script: script}
	spec.defaults()
	work, err := os.MkdirTemp(dir, "samplemedia-audio-")
	if err != nil {
		return nil, fmt.Errorf("samplemedia: create work dir: %w", err)
	}
	defer os.RemoveAll(work)
	paras := paragraphs(script)
	if len(paras) == 0 {
		return nil, errors.New("samplemedia: empty script")
	}
	lens, err := synthesize(ctx, work, paras, spec.Voice)
	if err != nil {
		return nil, err
	}
	speech, end := place(nil, lens, spec.LeadIn, spec.MinGap)
	total := end + 0.5
	pcm := filepath.Join(work, "track.s16le")
	if err := mixTrack(work, pcm, len(paras), speech, total); err != nil {
		return nil, err
	}
	out, err := uniquePath(dir, "audio", ".m4a")
	if err != nil {
		return nil, err
	}
	args := []string{"-hide_banner", "-nostdin", "-v", "error", "-y",
		"-f", "s16le", "-ar", fmt.Sprint(SampleRate), "-ac", "1", "-i", pcm,
		"-c:a", "aac", "-b:a", "96k", out}
	if err := run(ctx, "ffmpeg", args...); err != nil {
		return nil, err
	}
	return &Talk{Path: out, Duration: total, Speech: speech, Words: Words(script)}, nil
}

// GenerateTalkInfo is GenerateTalk returning what is known about the file.
func GenerateTalkInfo(ctx context.Context, dir string, spec TalkSpec) (*Talk, error) {
	spec.defaults()
	if len(spec.Slides) == 0 {
		return nil, errors.New("samplemedia: a talk needs at least one slide")
	}
	for i, s := range spec.Slides {
		if s.Duration <= 0 {
			return nil, fmt.Errorf("samplemedia: slide %d has duration %v", i, s.Duration)
		}
	}
	work, err := os.MkdirTemp(dir, "samplemedia-talk-")
	if err != nil {
		return nil, fmt.Errorf("samplemedia: create work dir: %w", err)
	}
	defer os.RemoveAll(work)

	paras := paragraphs(spec.Script)
	var lens []float64
	if len(paras) > 0 {
		lens, err = synthesize(ctx, work, paras, spec.Voice)
		if err != nil {
			return nil, err
		}
	}
	var starts []float64
	t := 0.0
	for _, s := range spec.Slides {
		starts = append(starts, t)
		t += s.Duration
	}
	speech, speechEnd := place(starts, lens, spec.LeadIn, spec.MinGap)
	total := t
	if speechEnd+0.5 > total {
		total = speechEnd + 0.5
	}
	info := &Talk{Duration: total, Speech: speech, Words: Words(spec.Script)}
	durs := make([]float64, len(spec.Slides))
	for i, s := range spec.Slides {
		durs[i] = s.Duration
		if i == len(spec.Slides)-1 {
			durs[i] = total - starts[i]
		}
		if i > 0 {
			info.Cuts = append(info.Cuts, starts[i])
		}
		info.Slides = append(info.Slides, Span{starts[i], starts[i] + durs[i]})
		info.SlideWords = append(info.SlideWords, strings.Fields(s.Text))
	}

	pcm := filepath.Join(work, "track.s16le")
	if err := mixTrack(work, pcm, len(paras), speech, total); err != nil {
		return nil, err
	}

	// One colour source + drawtext per slide, concatenated.
	var filter strings.Builder
	fontSize := spec.Height / 9
	for i, s := range spec.Slides {
		txt := filepath.Join(work, fmt.Sprintf("slide%d.txt", i))
		if err := os.WriteFile(txt, []byte(s.Text), 0o644); err != nil {
			return nil, fmt.Errorf("samplemedia: write slide text: %w", err)
		}
		c := palette[i%len(palette)]
		fmt.Fprintf(&filter, "color=c=%s:s=%dx%d:r=%d:d=%.3f,drawtext=fontfile=%s:textfile=%s:fontsize=%d:fontcolor=%s:line_spacing=%d:x=(w-text_w)/2:y=(h-text_h)/2[v%d];",
			c.bg, spec.Width, spec.Height, spec.FPS, durs[i], filterQuote(FontFile), filterQuote(txt), fontSize, c.fg, fontSize/2, i)
	}
	for i := range spec.Slides {
		fmt.Fprintf(&filter, "[v%d]", i)
	}
	fmt.Fprintf(&filter, "concat=n=%d:v=1:a=0,format=yuv420p[v]", len(spec.Slides))

	out, err := uniquePath(dir, "talk", ".mp4")
	if err != nil {
		return nil, err
	}
	args := []string{"-hide_banner", "-nostdin", "-v", "error", "-y",
		"-f", "s16le", "-ar", fmt.Sprint(SampleRate), "-ac", "1", "-i", pcm,
		"-filter_complex", filter.String(),
		"-map", "[v]", "-map", "0:a",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "stillimage", "-g", fmt.Sprint(spec.FPS * 2),
		"-c:a", "aac", "-b:a", "96k",
		"-t", fmt.Sprintf("%.3f", total), "-movflags", "+faststart", out}
	if err := run(ctx, "ffmpeg", args...); err != nil {
		return nil, err
	}
	info.Path = out
	return info, nil
}

// palette alternates dark and light backgrounds so that every cut changes
// the picture's brightness a lot (ffmpeg's scene score sees luma).
var palette = []struct{ bg, fg string }{
	{"0x1a2a6c", "white"},    // dark blue
	{"0xf5e6b8", "black"},    // light sand
	{"0x1b5e20", "white"},    // dark green
	{"0xe8e8e8", "0x202020"}, // light grey
	{"0x4a148c", "white"},    // dark purple
	{"0xffe082", "black"},    // light amber
}

func (s *TalkSpec) defaults() {
	if s.Voice == "" {
		s.Voice = DefaultVoice
	}
	if s.Width <= 0 {
		s.Width = 640
	}
	if s.Height <= 0 {
		s.Height = 360
	}
	if s.FPS <= 0 {
		s.FPS = 10
	}
	if s.LeadIn <= 0 {
		s.LeadIn = 0.5
	}
	if s.MinGap <= 0 {
		s.MinGap = 1.0
	}
}

// place positions paragraphs of the given lengths: paragraph i at
// slideStarts[i]+lead if it exists and is free, else gap after the previous.
func place(slideStarts, lens []float64, lead, gap float64) ([]Span, float64) {
	var spans []Span
	end := 0.0
	for i, l := range lens {
		start := lead
		if i > 0 {
			start = end + gap
		}
		if i < len(slideStarts) && slideStarts[i]+lead > start {
			start = slideStarts[i] + lead
		}
		spans = append(spans, Span{start, start + l})
		end = start + l
	}
	return spans, end
}

func paragraphs(script string) []string {
	var out []string
	for _, p := range regexp.MustCompile(`\n[ \t]*\n`).Split(script, -1) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, strings.Join(strings.Fields(p), " "))
		}
	}
	return out
}

// synthesize renders each paragraph to raw 16 kHz mono s16le (one ffmpeg
// process with one output per paragraph) and returns their durations.
func synthesize(ctx context.Context, work string, paras []string, voice string) ([]float64, error) {
	args := []string{"-hide_banner", "-nostdin", "-v", "error", "-y"}
	for i, p := range paras {
		txt := filepath.Join(work, fmt.Sprintf("para%d.txt", i))
		if err := os.WriteFile(txt, []byte(p+"\n"), 0o644); err != nil {
			return nil, fmt.Errorf("samplemedia: write script: %w", err)
		}
		args = append(args, "-f", "lavfi", "-i", fmt.Sprintf("flite=textfile=%s:voice=%s", filterQuote(txt), voice))
	}
	for i := range paras {
		args = append(args, "-map", fmt.Sprintf("%d:a", i), "-ar", fmt.Sprint(SampleRate), "-ac", "1",
			"-f", "s16le", filepath.Join(work, fmt.Sprintf("para%d.s16le", i)))
	}
	if err := run(ctx, "ffmpeg", args...); err != nil {
		return nil, err
	}
	lens := make([]float64, len(paras))
	for i := range paras {
		st, err := os.Stat(filepath.Join(work, fmt.Sprintf("para%d.s16le", i)))
		if err != nil {
			return nil, fmt.Errorf("samplemedia: speech for paragraph %d: %w", i, err)
		}
		lens[i] = float64(st.Size()) / (2 * SampleRate)
	}
	return lens, nil
}

// mixTrack writes the whole audio track: silence with each paragraph's
// speech at its place, total seconds long.
func mixTrack(work, out string, n int, speech []Span, total float64) error {
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("samplemedia: create audio track: %w", err)
	}
	defer f.Close()
	pos := int64(0) // in samples
	zeros := func(until int64) error {
		if until <= pos {
			return nil
		}
		buf := make([]byte, 2*(until-pos))
		_, err := f.Write(buf)
		pos = until
		return err
	}
	for i := 0; i < n; i++ {
		if err := zeros(int64(speech[i].Start * SampleRate)); err != nil {
			return fmt.Errorf("samplemedia: write audio track: %w", err)
		}
		p, err := os.Open(filepath.Join(work, fmt.Sprintf("para%d.s16le", i)))
		if err != nil {
			return fmt.Errorf("samplemedia: open speech: %w", err)
		}
		nb, err := io.Copy(f, p)
		p.Close()
		if err != nil {
			return fmt.Errorf("samplemedia: write audio track: %w", err)
		}
		pos += nb / 2
	}
	if err := zeros(int64(total * SampleRate)); err != nil {
		return fmt.Errorf("samplemedia: write audio track: %w", err)
	}
	return f.Close()
}

// Words splits text into lower-case words (letters, digits, apostrophes),
// the normalisation used for reference transcripts and WER.
func Words(text string) []string {
	return regexp.MustCompile(`[a-z0-9']+`).FindAllString(strings.ToLower(text), -1)
}

// WER is the word error rate of hyp against ref: (substitutions +
// deletions + insertions) / len(ref).
func WER(ref, hyp []string) float64 {
	if len(ref) == 0 {
		if len(hyp) == 0 {
			return 0
		}
		return 1
	}
	prev := make([]int, len(hyp)+1)
	cur := make([]int, len(hyp)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ref); i++ {
		cur[0] = i
		for j := 1; j <= len(hyp); j++ {
			sub := prev[j-1]
			if ref[i-1] != hyp[j-1] {
				sub++
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, sub)
		}
		prev, cur = cur, prev
	}
	return float64(prev[len(hyp)]) / float64(len(ref))
}

// filterQuote escapes a value for an ffmpeg filter option inside a filter
// graph: once for the option parser (\ ' :), then once for the graph
// parser (\ ' [ ] , ;).
func filterQuote(s string) string {
	return escapeChars(escapeChars(s, `\':`), `\'[],;`)
}

func escapeChars(s, special string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(special, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func uniquePath(dir, prefix, ext string) (string, error) {
	f, err := os.CreateTemp(dir, prefix+"-*"+ext)
	if err != nil {
		return "", fmt.Errorf("samplemedia: create output: %w", err)
	}
	name := f.Name()
	f.Close()
	return name, nil
}

// run starts a tool in its own process group and kills the group when ctx ends.
func run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stderr tailBuffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("samplemedia: %s: %w", name, ctx.Err())
		}
		return fmt.Errorf("samplemedia: %s failed: %w: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// tailBuffer keeps the last 4 KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = append(t.b[:0], t.b[len(t.b)-4096:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

// InstallHint is how to install what Check finds missing.
const InstallHint = "install: apt-get install ffmpeg pocketsphinx pocketsphinx-en-us tesseract-ocr tesseract-ocr-eng fonts-dejavu-core, or run `make deps`"

// Tools lists the external programs the analyzers need.
func Tools() []string {
	return []string{"ffmpeg", "ffprobe", "pocketsphinx_continuous", "tesseract"}
}

// Check reports what is missing of the tools the analyzers and the
// generator need: ffmpeg/ffprobe, pocketsphinx with its en-us model,
// tesseract with English data, and the DejaVu font. InstallHint says how to
// install them.
func Check() error {
	var missing []string
	for _, tool := range Tools() {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	for _, f := range []string{FontFile, "/usr/share/pocketsphinx/model/en-us/en-us", "/usr/share/pocketsphinx/model/en-us/en-us.lm.bin"} {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f)
		}
	}
	if _, err := exec.LookPath("tesseract"); err == nil {
		out, err := exec.Command("tesseract", "--list-langs").CombinedOutput()
		if err != nil || !regexp.MustCompile(`(?m)^eng$`).Match(out) {
			missing = append(missing, "tesseract English data (tesseract-ocr-eng)")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("samplemedia: required analyzer tools missing: %s", strings.Join(missing, ", "))
	}
	return nil
}

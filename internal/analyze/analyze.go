// Package analyze runs the real media analyzers of the bundled ML engine:
// ffprobe (media info), one ffmpeg decode pass (scene cuts and thumbnails,
// frames for OCR, ebur128 loudness, silencedetect, 16 kHz PCM for speech),
// pocketsphinx (transcript with word timings, decoded in parallel chunks cut
// at pauses), tesseract (on-screen text) and a keyword extractor in Go.
//
// Every external tool runs in its own process group and is killed, with
// anything it started, when the job's context ends. At most
// Options.Concurrency tools run at once.
package analyze

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"filesight/internal/provider"
)

// Error codes of whole-job failures: the media's own (provider.Reason,
// see sandbox.go), and a request the caller got wrong.
const (
	CodeUnsupportedMedia = provider.ReasonUnsupportedMedia
	CodeMediaTooLong     = provider.ReasonMediaTooLong
	CodePictureTooLarge  = provider.ReasonPictureTooLarge
	CodeTooManyStreams   = provider.ReasonTooManyStreams
	CodeDecodeTooSlow    = provider.ReasonDecodeTooSlow
	CodeInvalidRequest   = provider.Reason("invalid_request")
)

// Error is a whole-job failure that is not a cancellation. Message is a
// fixed text fit for people (a status card); Detail says what the tool
// printed, which file or which value, for logs only.
type Error struct {
	Code      provider.Reason
	Message   string
	Detail    string
	Retryable bool
	Err       error // cause, if any
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return "analyze: " + string(e.Code) + ": " + e.Detail
	}
	return "analyze: " + string(e.Code) + ": " + e.Message
}
func (e *Error) Unwrap() error { return e.Err }

// Options configure one analysis job. Input, WorkDir and Analyses are
// required; the rest have defaults.
type Options struct {
	Input       string           // local media file path (already downloaded)
	WorkDir     string           // scratch dir for this job; the caller removes it; artifacts are written here
	Limits      Limits           // bounds on the media and the tools' time (sandbox.go); zero value: defaults
	Analyses    []string         // provider.Analysis* names; empty means all. keywords uses transcript and OCR text when the media has them
	Concurrency int              // max parallel external processes (default runtime.NumCPU())
	MaxDuration time.Duration    // default DefaultMaxDuration, negative: no limit; longer media fails with *Error{Code: "media_too_long"}
	Progress    func(p Progress) // optional; called from any goroutine, must not block for long
	Logger      *slog.Logger     // default slog.Default()

	// Tuning; zero values select the defaults.
	// FrameInterval: a still (full-size picture, for thumbnails and OCR)
	// is written at most this often besides sudden changes, and only when
	// the picture changed since the last still; default 2s; negative: only
	// the first frame and sudden changes.
	FrameInterval time.Duration
	// OCRInterval: within a scene, text is read again at most this often
	// (default 4s); where two readings differ, the stills between them are
	// read to place the change.
	OCRInterval      time.Duration
	MinOCRConfidence float64       // tesseract word confidence 0..100, default 60
	SilenceNoiseDB   float64       // silencedetect threshold, default -40 (dBFS)
	MinSilence       time.Duration // shortest reported silence, default 0.5s
	ChunkTarget      time.Duration // speech chunk length; default duration/(2·Concurrency) within [15s, 40s]
	// NoScreenVocabulary: do not add on-screen words the speech model's
	// language model lacks to the recogniser's vocabulary (see vocab.go).
	NoScreenVocabulary bool
	// SpeechModelDir holds pocketsphinx's en-us model (its language model
	// and dictionary are read to find words to add); default
	// /usr/share/pocketsphinx/model/en-us.
	SpeechModelDir string
	// ExactSpeech decodes speech with pocketsphinx's default search beams.
	// By default the search is pruned harder (-maxhmmpf 3000 -maxwpf 10),
	// which here took about 25 % less CPU at the same word error rate.
	ExactSpeech bool
}

// Progress reports a change: the state of one analysis, or (Analysis == "")
// the fraction 0..1 of the whole job that is done.
type Progress struct {
	Analysis string
	State    provider.State
	Fraction float64
}

// Output is the outcome of a job that ran. Analyses that failed are in
// States and Errors; the rest of Result is still valid.
type Output struct {
	Result    provider.Result
	States    map[string]provider.State // per requested analysis: succeeded | failed | skipped
	Errors    map[string]string         // per failed analysis: message
	Artifacts map[string]string         // artifact name (e.g. "scene-0003.png") → path under WorkDir
	Stats     Stats
}

// Stats are measurements of a run, for logs and benchmarks.
type Stats struct {
	Wall            time.Duration
	Stages          map[string]time.Duration // probe, decode, transcript, ocr, keywords: wall time until the stage finished its work
	ToolWall        map[string]time.Duration // summed wall time of each tool's processes
	ToolCPU         map[string]time.Duration // summed CPU time (user+system) of each tool's processes
	MaxToolRSSKiB   int64                    // largest max-RSS of any tool process
	SpeechChunks    int
	OCRFramesRead   int
	OCRFramesReused int
}

// Run analyses opts.Input. It returns an error only when the job as a whole
// fails: the media is unreadable or too long (*Error), the options are
// invalid (*Error), or ctx ended (an error wrapping context.Cause(ctx)).
// When Run returns, every process it started has exited.
func Run(ctx context.Context, opts Options) (*Output, error) {
	started := time.Now()
	if err := opts.normalize(); err != nil {
		return nil, err
	}
	j := &job{
		opts:   opts,
		r:      newRunner(opts.Concurrency, opts.Logger),
		want:   map[string]bool{},
		stages: map[string]time.Duration{},
		start:  started,
		out: &Output{
			States:    map[string]provider.State{},
			Errors:    map[string]string{},
			Artifacts: map[string]string{},
		},
	}
	for _, a := range opts.Analyses {
		j.want[a] = true
	}
	if err := j.r.confine(toolDir(opts.WorkDir), opts.Limits); err != nil {
		return nil, err
	}
	j.prog = newProgressTracker(opts.Progress)
	out, err := j.run(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("analyze: %w", context.Cause(ctx))
		}
		return nil, err
	}
	out.Stats.Wall = time.Since(started)
	out.Stats.Stages = j.stages
	j.r.mu.Lock()
	out.Stats.ToolWall = j.r.usage
	out.Stats.ToolCPU = j.r.cpu
	out.Stats.MaxToolRSSKiB = j.r.maxRSS
	j.r.mu.Unlock()
	opts.Logger.Info("analysis finished", "input", filepath.Base(opts.Input), "wall", out.Stats.Wall,
		"states", out.States, "chunks", out.Stats.SpeechChunks, "ocr_frames", out.Stats.OCRFramesRead)
	return out, nil
}

func (o *Options) normalize() error {
	if o.Input == "" {
		return &Error{Code: CodeInvalidRequest, Message: "no input file"}
	}
	if st, err := os.Stat(o.Input); err != nil {
		return &Error{Code: CodeInvalidRequest, Message: "the input file cannot be read", Detail: err.Error(), Err: err}
	} else if !st.Mode().IsRegular() {
		return &Error{Code: CodeInvalidRequest, Message: "input is not a regular file"}
	}
	if o.WorkDir == "" {
		return &Error{Code: CodeInvalidRequest, Message: "no work directory"}
	}
	// The tools run in a directory of their own: every path they get is absolute.
	var err error
	if o.Input, err = filepath.Abs(o.Input); err != nil {
		return fmt.Errorf("analyze: input path: %w", err)
	}
	if o.WorkDir, err = filepath.Abs(o.WorkDir); err != nil {
		return fmt.Errorf("analyze: work directory path: %w", err)
	}
	if o.MaxDuration == 0 {
		o.MaxDuration = DefaultMaxDuration
	}
	o.Limits = o.Limits.withDefaults()
	if err := os.MkdirAll(o.WorkDir, 0o755); err != nil {
		return fmt.Errorf("analyze: create work directory: %w", err)
	}
	if len(o.Analyses) == 0 {
		o.Analyses = slices.Clone(provider.AllAnalyses)
	}
	var seen []string
	for _, a := range o.Analyses {
		if !slices.Contains(provider.AllAnalyses, a) {
			return &Error{Code: CodeInvalidRequest, Message: fmt.Sprintf("unknown analysis %q (known: %s)", a, strings.Join(provider.AllAnalyses, ", "))}
		}
		if !slices.Contains(seen, a) {
			seen = append(seen, a)
		}
	}
	o.Analyses = seen
	if o.Concurrency <= 0 {
		o.Concurrency = runtime.NumCPU()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.FrameInterval == 0 {
		o.FrameInterval = 2 * time.Second
	}
	if o.SpeechModelDir == "" {
		o.SpeechModelDir = speechModelDir
	}
	if o.OCRInterval <= 0 {
		o.OCRInterval = 4 * time.Second
	}
	if o.MinOCRConfidence <= 0 {
		o.MinOCRConfidence = 60
	}
	if o.SilenceNoiseDB == 0 {
		o.SilenceNoiseDB = -40
	}
	if o.MinSilence <= 0 {
		o.MinSilence = 500 * time.Millisecond
	}
	return nil
}

type job struct {
	opts Options
	r    *runner
	want map[string]bool
	prog *progressTracker
	out  *Output

	mu     sync.Mutex
	stages map[string]time.Duration
	start  time.Time
}

func (j *job) stageDone(name string) {
	j.mu.Lock()
	j.stages[name] = time.Since(j.start)
	j.mu.Unlock()
}

func (j *job) setState(name string, s provider.State, msg string) {
	if !j.want[name] {
		return
	}
	j.mu.Lock()
	j.out.States[name] = s
	if s == provider.StateFailed {
		j.out.Errors[name] = msg
	}
	j.mu.Unlock()
	j.prog.analysis(name, s)
}

func (j *job) run(ctx context.Context) (*Output, error) {
	opts := j.opts
	log := opts.Logger
	for _, a := range opts.Analyses {
		j.setState(a, provider.StateRunning, "")
	}

	pr, err := probe(ctx, j.r, opts.Input, opts.Limits, opts.MaxDuration)
	if err != nil {
		return nil, err
	}
	j.stageDone("probe")
	if j.want[provider.AnalysisMedia] {
		info := pr.info
		j.out.Result.Media = &info
		j.setState(provider.AnalysisMedia, provider.StateSucceeded, "")
	}
	hasV, hasA := pr.video >= 0, pr.audio >= 0
	log.Debug("probed media", "format", pr.info.Format, "duration", pr.duration, "video", hasV, "audio", hasA)
	for _, a := range []string{provider.AnalysisScenes, provider.AnalysisOCR} {
		if !hasV {
			j.setState(a, provider.StateSkipped, "")
		}
	}
	for _, a := range []string{provider.AnalysisTranscript, provider.AnalysisLoudness, provider.AnalysisSilences} {
		if !hasA {
			j.setState(a, provider.StateSkipped, "")
		}
	}
	needOCR := hasV && (j.want[provider.AnalysisOCR] || j.want[provider.AnalysisKeywords])
	needScenes := hasV && (j.want[provider.AnalysisScenes] || needOCR)
	needASR := hasA && (j.want[provider.AnalysisTranscript] || j.want[provider.AnalysisKeywords])

	cfg := &passConfig{
		input: opts.Input, workDir: opts.WorkDir, video: -1, audio: -1,
		silenceDB: opts.SilenceNoiseDB, silenceMin: opts.MinSilence.Seconds(),
	}
	if needScenes {
		cfg.video = pr.video
		cfg.scenes = true
		if opts.FrameInterval > 0 {
			cfg.stillInterval = opts.FrameInterval.Seconds()
		}
	}
	if hasA && (needASR || j.want[provider.AnalysisLoudness] || j.want[provider.AnalysisSilences]) {
		cfg.audio = pr.audio
		cfg.loudness = j.want[provider.AnalysisLoudness]
		cfg.silences = j.want[provider.AnalysisSilences]
	}

	j.prog.setWeights(cfg.needed(), needASR, needOCR, pr.duration)

	// Speech: chunks are decoded while ffmpeg is still producing the rest.
	jobCtx, cancelJob := context.WithCancelCause(ctx)
	defer cancelJob(nil)
	asr := &asrState{}
	var asrWG sync.WaitGroup
	// A failed chunk fails the transcript: asrCtx stops the other chunks
	// without touching the rest of the job.
	asrCtx, cancelASR := context.WithCancel(jobCtx)
	defer cancelASR()
	// On-screen text is read while the pass runs; speech chunks wait for the
	// text shown up to their end and add its words to their vocabulary.
	var stream *ocrStream
	if needOCR {
		stream = newOCRStream(jobCtx, j.r, opts.MinOCRConfidence, opts.OCRInterval.Seconds(), j.prog)
		cfg.onStill, cfg.onSettled = stream.addStill, stream.settled
		go stream.run()
	}
	var vocab *asrVocab
	if needASR {
		asrDir := filepath.Join(opts.WorkDir, "speech")
		if err := os.MkdirAll(asrDir, 0o755); err != nil {
			return nil, fmt.Errorf("analyze: create speech directory: %w", err)
		}
		if stream != nil && !opts.NoScreenVocabulary {
			vocab = newASRVocab(opts.SpeechModelDir, asrDir, log)
		}
		target := opts.ChunkTarget.Seconds()
		if target <= 0 {
			target = math.Min(maxChunkTarget, math.Max(minChunkTarget, pr.duration/float64(2*opts.Concurrency)))
		}
		ck := &chunker{dir: asrDir, target: target, emit: func(c chunk) {
			asr.add(c)
			asrWG.Add(1)
			go func() {
				defer asrWG.Done()
				var extra []string
				if vocab != nil {
					if texts, err := stream.textsUntil(asrCtx, c.Offset+c.Length); err == nil {
						extra = vocab.args(texts)
					}
				}
				words, err := recognize(asrCtx, j.r, c, opts.ExactSpeech, extra)
				asr.done(c, words, err)
				j.prog.asrDone(c.Length)
				if err != nil && asrCtx.Err() == nil {
					log.Warn("speech recognition failed", "chunk", c.Index, "error", err)
					cancelASR()
				}
			}()
		}}
		cfg.pcm = ck.consume
	}
	cfg.onTime = func(t float64) {
		j.prog.decoded(t)
		if opts.MaxDuration > 0 && t > opts.MaxDuration.Seconds()+1 {
			cancelJob(tooLong(opts.MaxDuration, fmt.Sprintf("decoding passed %.0f s, the limit is %.0f s", t, opts.MaxDuration.Seconds())))
		}
	}

	var pass *passResult
	var passErr error
	if cfg.needed() {
		pass, passErr = runPass(jobCtx, j.r, cfg, pr.duration)
		j.stageDone("decode")
		j.prog.decoded(math.Inf(1))
	}
	if stream != nil {
		var trs []transition
		if pass != nil {
			trs = pass.transitions
		}
		stream.passEnded(trs)
	}
	if passErr != nil {
		cancelJob(passErr)
		asrWG.Wait()
		if stream != nil {
			stream.wait()
		}
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		var e *Error
		if errors.As(context.Cause(jobCtx), &e) {
			return nil, e
		}
		msg := "decoding failed: " + passErr.Error()
		log.Warn("ffmpeg pass failed", "error", passErr)
		for _, a := range []string{provider.AnalysisScenes, provider.AnalysisOCR, provider.AnalysisTranscript, provider.AnalysisLoudness, provider.AnalysisSilences, provider.AnalysisKeywords} {
			if j.out.States[a] == provider.StateRunning {
				j.setState(a, provider.StateFailed, msg)
			}
		}
		j.prog.finish()
		return j.out, nil
	}

	// Results of the pass itself.
	var spans []sceneSpan
	if pass != nil && needScenes {
		spans = sceneSpans(pass.transitions, pr.duration)
		scenes := j.buildScenes(spans, pass.stills)
		if j.want[provider.AnalysisScenes] {
			j.out.Result.Scenes = scenes
			j.setState(provider.AnalysisScenes, provider.StateSucceeded, "")
		}
	}
	if pass != nil && cfg.loudness {
		if pass.loudness == nil {
			j.setState(provider.AnalysisLoudness, provider.StateFailed, "ffmpeg's ebur128 filter printed no summary")
		} else {
			j.out.Result.Loudness = pass.loudness
			j.setState(provider.AnalysisLoudness, provider.StateSucceeded, "")
		}
	}
	if pass != nil && cfg.silences {
		j.out.Result.Silences = pass.silences
		if j.out.Result.Silences == nil {
			j.out.Result.Silences = []provider.Span{}
		}
		j.setState(provider.AnalysisSilences, provider.StateSucceeded, "")
	}

	// On-screen text, in parallel with the remaining speech chunks.
	var ocrTexts []provider.OCRText
	var ocrErr error
	if needOCR && pass != nil {
		ocrTexts, ocrErr = j.runOCR(jobCtx, stream, pass, spans)
		j.stageDone("ocr")
		if ocrErr != nil && ctx.Err() == nil {
			j.setState(provider.AnalysisOCR, provider.StateFailed, "reading on-screen text failed: "+ocrErr.Error())
		} else if ocrErr == nil && j.want[provider.AnalysisOCR] {
			j.out.Result.OCR = ocrTexts
			if ocrTexts == nil {
				j.out.Result.OCR = []provider.OCRText{}
			}
			j.setState(provider.AnalysisOCR, provider.StateSucceeded, "")
		}
	}

	var transcript *provider.Transcript
	var asrErr error
	if needASR {
		asrWG.Wait()
		j.stageDone("transcript")
		transcript, asrErr = asr.result()
		j.out.Stats.SpeechChunks = len(asr.chunks)
		if asrErr != nil && ctx.Err() == nil {
			j.setState(provider.AnalysisTranscript, provider.StateFailed, "speech recognition failed: "+asrErr.Error())
		} else if asrErr == nil && j.want[provider.AnalysisTranscript] {
			j.out.Result.Transcript = transcript
			j.setState(provider.AnalysisTranscript, provider.StateSucceeded, "")
		}
	}
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}

	if j.want[provider.AnalysisKeywords] {
		switch {
		case !(needASR && asrErr == nil) && !(needOCR && ocrErr == nil):
			j.setState(provider.AnalysisKeywords, provider.StateFailed, "no text to extract keywords from: speech recognition and on-screen text reading failed")
		default:
			var tr *provider.Transcript
			if asrErr == nil {
				tr = transcript
			}
			var ocr []provider.OCRText
			if ocrErr == nil {
				ocr = ocrTexts
			}
			kw := extractKeywords(tr, ocr)
			if kw == nil {
				kw = []provider.Keyword{}
			}
			j.out.Result.Keywords = kw
			j.stageDone("keywords")
			j.setState(provider.AnalysisKeywords, provider.StateSucceeded, "")
		}
	}
	j.prog.finish()
	return j.out, nil
}

// buildScenes makes the result's scenes, each with the first still that
// shows it settled (after a gradual transition has ended) as thumbnail.
func (j *job) buildScenes(spans []sceneSpan, stills []frameInfo) []provider.Scene {
	var scenes []provider.Scene
	for _, sp := range spans {
		s := provider.Scene{Start: round3(sp.Start), End: round3(sp.End)}
		if k := sp.thumbnail(stills); k >= 0 && j.want[provider.AnalysisScenes] {
			if _, err := os.Stat(stills[k].Path); err == nil {
				s.Thumbnail = fmt.Sprintf("scene-%04d.png", len(scenes)+1)
				j.out.Artifacts[s.Thumbnail] = stills[k].Path
			}
		}
		scenes = append(scenes, s)
	}
	return scenes
}

// runOCR finishes reading the on-screen text: it takes what the stream
// read during the pass and reads more stills where readings differ, one
// tesseract per free process slot, in rounds.
func (j *job) runOCR(ctx context.Context, stream *ocrStream, pass *passResult, spans []sceneSpan) ([]provider.OCRText, error) {
	plan, err := stream.plan(spans)
	if err != nil {
		return nil, err
	}
	stills := plan.stills
	for round := plan.more(); len(round) > 0; round = plan.more() {
		j.prog.ocrPlanned(plan.planned())
		texts := make([][]ocrLine, len(round))
		errs := make([]error, len(round))
		var wg sync.WaitGroup
		for i, k := range round {
			wg.Add(1)
			go func() {
				defer wg.Done()
				texts[i], errs[i] = readText(ctx, j.r, stills[k].Path, j.opts.MinOCRConfidence)
				j.prog.ocrDone()
			}()
		}
		wg.Wait()
		for i, k := range round {
			if errs[i] != nil {
				return nil, errs[i]
			}
			plan.set(k, texts[i])
		}
	}
	j.out.Stats.OCRFramesRead = plan.read
	j.out.Stats.OCRFramesReused = plan.reused
	return plan.spans(pass.sigTimes, pass.sigDiff), nil
}

// asrState collects the words of speech chunks decoded concurrently.
type asrState struct {
	mu     sync.Mutex
	chunks []chunk
	words  map[int][]provider.Word
	err    error
}

func (a *asrState) add(c chunk) {
	a.mu.Lock()
	a.chunks = append(a.chunks, c)
	a.mu.Unlock()
}

func (a *asrState) done(c chunk, words []provider.Word, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		if a.err == nil {
			a.err = fmt.Errorf("chunk %d at %.1f s: %w", c.Index, c.Offset, err)
		}
		return
	}
	if a.words == nil {
		a.words = map[int][]provider.Word{}
	}
	a.words[c.Index] = words
}

func (a *asrState) result() (*provider.Transcript, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return nil, a.err
	}
	sort.Slice(a.chunks, func(i, k int) bool { return a.chunks[i].Index < a.chunks[k].Index })
	tr := &provider.Transcript{Words: []provider.Word{}}
	var text []string
	for _, c := range a.chunks {
		for _, w := range a.words[c.Index] {
			tr.Words = append(tr.Words, w)
			text = append(text, w.Word)
		}
	}
	tr.Text = strings.Join(text, " ")
	return tr, nil
}

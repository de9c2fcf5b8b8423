package analyze

import (
	"context"
	"errors"
	"fmt"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"filesight/internal/provider"
	"filesight/internal/samplemedia"
)

// fixture is media generated once for the package's tests.
type fixture struct {
	dir       string
	talk      *samplemedia.Talk
	audio     *samplemedia.Talk
	videoOnly string

	once    sync.Once
	talkOut *Output
	talkErr error
}

var fx fixture

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if err := samplemedia.Check(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "analyze-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	fx.dir = dir
	if fx.talk, err = samplemedia.GenerateTalkInfo(ctx, dir, samplemedia.DefaultTalk()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if fx.audio, err = samplemedia.GenerateAudioInfo(ctx, dir, audioScript); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fx.videoOnly = filepath.Join(dir, "video-only.mp4")
	if out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-nostdin", "-i", fx.talk.Path, "-an", "-c", "copy", fx.videoOnly).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "make video-only file: %v: %s\n", err, out)
		return 1
	}
	return m.Run()
}

const audioScript = "We upload a video to the cloud.\n\nThe results come back as labels on the video."

// talkResult runs every analysis on the default talk once.
func talkResult(t *testing.T) *Output {
	t.Helper()
	fx.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
		defer cancel()
		fx.talkOut, fx.talkErr = Run(ctx, Options{Input: fx.talk.Path, WorkDir: filepath.Join(fx.dir, "talk-work"), Concurrency: 2})
	})
	if fx.talkErr != nil {
		t.Fatalf("Run on the talk: %v", fx.talkErr)
	}
	return fx.talkOut
}

func TestTalkStatesAndMedia(t *testing.T) {
	out := talkResult(t)
	for _, a := range provider.AllAnalyses {
		if out.States[a] != provider.StateSucceeded {
			t.Errorf("%s: state %q (%s), want succeeded", a, out.States[a], out.Errors[a])
		}
	}
	m := out.Result.Media
	if m == nil || !m.HasVideo || !m.HasAudio || m.Width != 640 || m.Height != 360 || math.Abs(m.Duration-fx.talk.Duration) > 0.2 {
		t.Errorf("media %+v, want 640x360 with audio and video, %.1f s", m, fx.talk.Duration)
	}
	t.Logf("wall %v, stages %v, tools %v, max tool RSS %d KiB, chunks %d, OCR frames read %d reused %d",
		out.Stats.Wall, out.Stats.Stages, out.Stats.ToolWall, out.Stats.MaxToolRSSKiB, out.Stats.SpeechChunks, out.Stats.OCRFramesRead, out.Stats.OCRFramesReused)
}

func TestTalkScenes(t *testing.T) {
	out := talkResult(t)
	scenes := out.Result.Scenes
	want := append([]float64{0}, fx.talk.Cuts...)
	if len(scenes) != len(want) {
		t.Fatalf("scenes %+v, want starts %v", scenes, want)
	}
	for i, s := range scenes {
		if math.Abs(s.Start-want[i]) > 0.5 {
			t.Errorf("scene %d starts at %.2f, want %.2f ± 0.5", i, s.Start, want[i])
		}
		if math.Abs(s.End-fx.talk.Slides[i].End) > 0.5 {
			t.Errorf("scene %d ends at %.2f, want %.2f ± 0.5", i, s.End, fx.talk.Slides[i].End)
		}
		path, ok := out.Artifacts[s.Thumbnail]
		if s.Thumbnail == "" || !ok {
			t.Errorf("scene %d thumbnail %q not among artifacts %v", i, s.Thumbnail, out.Artifacts)
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			t.Errorf("thumbnail: %v", err)
			continue
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil || img.Bounds().Dx() != 640 || img.Bounds().Dy() != 360 {
			t.Errorf("thumbnail %s: err %v, want a 640x360 PNG", s.Thumbnail, err)
		}
	}
}

func TestTalkOCR(t *testing.T) {
	out := talkResult(t)
	for i, words := range fx.talk.SlideWords {
		slide := fx.talk.Slides[i]
		lines := strings.Split(samplemedia.DefaultTalk().Slides[i].Text, "\n")
		for _, line := range lines {
			found := false
			for _, o := range out.Result.OCR {
				if strings.EqualFold(o.Text, line) {
					found = true
					if math.Abs(o.Start-slide.Start) > 0.5 || math.Abs(o.End-slide.End) > 0.5 {
						t.Errorf("%q shown %.2f–%.2f, want %.2f–%.2f ± 0.5", line, o.Start, o.End, slide.Start, slide.End)
					}
					if o.Confidence < 0.6 || o.Confidence > 1 {
						t.Errorf("%q confidence %v, want 0.6..1", line, o.Confidence)
					}
				}
			}
			if !found {
				t.Errorf("slide %d line %q (words %v) not read; OCR: %+v", i, line, words, out.Result.OCR)
			}
		}
	}
}

func TestTalkTranscript(t *testing.T) {
	out := talkResult(t)
	tr := out.Result.Transcript
	if tr == nil || len(tr.Words) == 0 {
		t.Fatalf("no transcript: %+v", tr)
	}
	var hyp []string
	prev := 0.0
	for _, w := range tr.Words {
		hyp = append(hyp, w.Word)
		if w.Start < prev-0.01 || w.End < w.Start {
			t.Errorf("word %+v out of order (previous end %.2f)", w, prev)
		}
		prev = w.End
		inSpeech := false
		for _, s := range fx.talk.Speech {
			if w.Start >= s.Start-0.5 && w.End <= s.End+0.5 {
				inSpeech = true
			}
		}
		if !inSpeech {
			t.Errorf("word %+v outside the speech spans %v", w, fx.talk.Speech)
		}
		if strings.ContainsAny(w.Word, "<>[]()") {
			t.Errorf("marker left in transcript: %q", w.Word)
		}
	}
	wer := samplemedia.WER(fx.talk.Words, hyp)
	t.Logf("WER %.1f %% (%d reference words, %d chunks): %s", wer*100, len(fx.talk.Words), out.Stats.SpeechChunks, tr.Text)
	if wer > 0.2 {
		t.Errorf("WER %.1f %%, want ≤ 20 %%", wer*100)
	}
	if out.Stats.SpeechChunks < 2 {
		t.Errorf("speech decoded in %d chunks, want it split at the pauses", out.Stats.SpeechChunks)
	}
	if tr.Text != strings.Join(hyp, " ") {
		t.Errorf("text %q does not match the words", tr.Text)
	}
}

func TestTalkLoudnessAndSilences(t *testing.T) {
	out := talkResult(t)
	l := out.Result.Loudness
	if l == nil || l.IntegratedLUFS < -30 || l.IntegratedLUFS > -10 || l.TruePeakDBFS > 0 || l.TruePeakDBFS < -20 || l.RangeLU < 0 || l.RangeLU > 20 {
		t.Errorf("loudness %+v, want speech-like levels", l)
	}
	sp := fx.talk.Speech
	sil := out.Result.Silences
	// Silence before the first paragraph, between paragraphs and after the last.
	if len(sil) != len(sp)+1 {
		t.Fatalf("silences %v, want %d around speech %v", sil, len(sp)+1, sp)
	}
	bounds := []float64{0}
	for _, s := range sp {
		bounds = append(bounds, s.Start, s.End)
	}
	bounds = append(bounds, fx.talk.Duration)
	for i, s := range sil {
		wantStart, wantEnd := bounds[2*i], bounds[2*i+1]
		// flite fades out, so a silence may start a little before the text ends.
		if math.Abs(s.Start-wantStart) > 0.5 || math.Abs(s.End-wantEnd) > 0.5 {
			t.Errorf("silence %d %.2f–%.2f, want %.2f–%.2f ± 0.5", i, s.Start, s.End, wantStart, wantEnd)
		}
	}
}

func TestTalkKeywords(t *testing.T) {
	out := talkResult(t)
	kw := out.Result.Keywords
	if len(kw) == 0 || kw[0].Score != 1 {
		t.Fatalf("keywords %+v, want a ranked list led by score 1", kw)
	}
	byText := map[string]provider.Keyword{}
	for i, k := range kw {
		byText[k.Text] = k
		if i > 0 && k.Score > kw[i-1].Score {
			t.Errorf("keywords not sorted: %v after %v", k, kw[i-1])
		}
	}
	for _, want := range []string{"machine learning", "video"} {
		k, ok := byText[want]
		if !ok {
			t.Errorf("keyword %q missing from %+v", want, kw)
			continue
		}
		// Every appearance covers a place where it is said or shown.
		for _, a := range k.Appears {
			if !appearsAt(out, want, a) {
				t.Errorf("keyword %q appears %+v where it is neither said nor shown", want, a)
			}
		}
	}
	if k := byText["video"]; len(k.Appears) < 3 {
		t.Errorf("\"video\" appears %v, want each place it is said", k.Appears)
	}
}

func appearsAt(out *Output, phrase string, a provider.Span) bool {
	first := strings.Fields(phrase)[0]
	for _, w := range out.Result.Transcript.Words {
		if strings.HasPrefix(w.Word, first) && w.Start >= a.Start-0.01 && w.End <= a.End+0.01 {
			return true
		}
	}
	for _, o := range out.Result.OCR {
		if strings.Contains(strings.ToLower(o.Text), first) && o.Start < a.End && o.End > a.Start {
			return true
		}
	}
	return false
}

func TestAudioOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := Run(ctx, Options{Input: fx.audio.Path, WorkDir: t.TempDir(), Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	for a, want := range map[string]provider.State{
		provider.AnalysisMedia: provider.StateSucceeded, provider.AnalysisScenes: provider.StateSkipped,
		provider.AnalysisOCR: provider.StateSkipped, provider.AnalysisTranscript: provider.StateSucceeded,
		provider.AnalysisKeywords: provider.StateSucceeded, provider.AnalysisLoudness: provider.StateSucceeded,
		provider.AnalysisSilences: provider.StateSucceeded,
	} {
		if out.States[a] != want {
			t.Errorf("%s: %q (%s), want %q", a, out.States[a], out.Errors[a], want)
		}
	}
	if out.Result.Media.HasVideo || !out.Result.Media.HasAudio {
		t.Errorf("media %+v, want audio only", out.Result.Media)
	}
	if out.Result.Scenes != nil || out.Result.OCR != nil || len(out.Artifacts) != 0 {
		t.Errorf("video results for an audio file: %+v %+v %v", out.Result.Scenes, out.Result.OCR, out.Artifacts)
	}
	var hyp []string
	for _, w := range out.Result.Transcript.Words {
		hyp = append(hyp, w.Word)
	}
	wer := samplemedia.WER(fx.audio.Words, hyp)
	t.Logf("audio-only WER %.1f %%: %s", wer*100, out.Result.Transcript.Text)
	if wer > 0.2 {
		t.Errorf("WER %.1f %%, want ≤ 20 %%", wer*100)
	}
	if len(out.Result.Keywords) == 0 {
		t.Errorf("no keywords from the transcript")
	}
}

func TestVideoOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// A work directory with a % in its name: image2 output names are patterns.
	out, err := Run(ctx, Options{Input: fx.videoOnly, WorkDir: filepath.Join(t.TempDir(), "50%d done"), Concurrency: 2,
		Analyses: []string{provider.AnalysisOCR, provider.AnalysisTranscript, provider.AnalysisKeywords, provider.AnalysisSilences}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]provider.State{provider.AnalysisOCR: provider.StateSucceeded, provider.AnalysisTranscript: provider.StateSkipped,
		provider.AnalysisKeywords: provider.StateSucceeded, provider.AnalysisSilences: provider.StateSkipped}
	if len(out.States) != len(want) {
		t.Errorf("states %v, want only the requested %v", out.States, want)
	}
	for a, w := range want {
		if out.States[a] != w {
			t.Errorf("%s: %q, want %q", a, out.States[a], w)
		}
	}
	if out.Result.Scenes != nil || out.Result.Media != nil {
		t.Errorf("unrequested results present: scenes %v media %v", out.Result.Scenes, out.Result.Media)
	}
	found := false
	for _, k := range out.Result.Keywords {
		if k.Text == "machine learning" {
			found = true
		}
	}
	if !found {
		t.Errorf("keywords from on-screen text %+v lack \"machine learning\"", out.Result.Keywords)
	}
}

func TestMediaOnlyRunsNoDecode(t *testing.T) {
	var events []Progress
	var mu sync.Mutex
	out, err := Run(context.Background(), Options{Input: fx.talk.Path, WorkDir: t.TempDir(), Analyses: []string{provider.AnalysisMedia},
		Progress: func(p Progress) { mu.Lock(); events = append(events, p); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := out.Stats.ToolWall["ffmpeg"]; ok {
		t.Errorf("ffmpeg ran for media info only: %v", out.Stats.ToolWall)
	}
	if out.States[provider.AnalysisMedia] != provider.StateSucceeded || out.Result.Media == nil {
		t.Errorf("media: %v %+v", out.States, out.Result.Media)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := len(events); n == 0 || events[n-1].Analysis != "" || events[n-1].Fraction != 1 {
		t.Errorf("progress events %+v, want the last to report the whole job done", events)
	}
}

func TestProgressMonotonic(t *testing.T) {
	var mu sync.Mutex
	var fr []float64
	states := map[string][]provider.State{}
	_, err := Run(context.Background(), Options{Input: fx.audio.Path, WorkDir: t.TempDir(), Concurrency: 2,
		Analyses: []string{provider.AnalysisTranscript, provider.AnalysisScenes},
		Progress: func(p Progress) {
			mu.Lock()
			defer mu.Unlock()
			if p.Analysis == "" {
				fr = append(fr, p.Fraction)
			} else {
				states[p.Analysis] = append(states[p.Analysis], p.State)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(fr) < 3 || fr[len(fr)-1] != 1 || !slices.IsSorted(fr) {
		t.Errorf("job fractions %v, want several, ascending, ending at 1", fr)
	}
	if got := states[provider.AnalysisTranscript]; !slices.Equal(got, []provider.State{provider.StateRunning, provider.StateSucceeded}) {
		t.Errorf("transcript states %v", got)
	}
	if got := states[provider.AnalysisScenes]; !slices.Equal(got, []provider.State{provider.StateRunning, provider.StateSkipped}) {
		t.Errorf("scenes states %v", got)
	}
}

func TestMediaTooLong(t *testing.T) {
	_, err := Run(context.Background(), Options{Input: fx.talk.Path, WorkDir: t.TempDir(), MaxDuration: 10 * time.Second})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeMediaTooLong || e.Retryable {
		t.Fatalf("err %v, want a non-retryable media_too_long *Error", err)
	}
	if e.Message != "This file is longer than the 10-second limit." || !strings.Contains(e.Detail, "30") {
		t.Errorf("message %q, detail %q: want the fixed text, and how long the media is in the detail", e.Message, e.Detail)
	}
}

func TestUnsupportedMedia(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"notes.txt": "This is a text file, not a video.\n", "empty.mp4": ""} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Run(context.Background(), Options{Input: path, WorkDir: t.TempDir()})
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeUnsupportedMedia || e.Retryable {
			t.Errorf("%s: err %v, want a non-retryable unsupported_media *Error", name, err)
		}
	}
}

func TestInvalidOptions(t *testing.T) {
	cases := map[string]Options{
		"unknown analysis": {Input: fx.talk.Path, WorkDir: t.TempDir(), Analyses: []string{"faces"}},
		"missing input":    {Input: filepath.Join(t.TempDir(), "nope.mp4"), WorkDir: t.TempDir()},
		"no work dir":      {Input: fx.talk.Path},
	}
	for name, o := range cases {
		_, err := Run(context.Background(), o)
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeInvalidRequest {
			t.Errorf("%s: err %v, want invalid_request", name, err)
		}
	}
}

// TestCancelKillsProcesses cancels a job while its tools run and checks that
// no process it started is left.
func TestCancelKillsProcesses(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		out *Output
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := Run(ctx, Options{Input: fx.talk.Path, WorkDir: t.TempDir(), Concurrency: 2})
		done <- result{out, err}
	}()
	// Wait until a speech recogniser runs (it runs for seconds), noting every child seen.
	seen := map[int]string{}
	deadline := time.Now().Add(30 * time.Second)
	for {
		kids := children(t, os.Getpid())
		for pid, name := range kids {
			seen[pid] = name
		}
		if slices.Contains(mapValues(kids), "pocketsphinx_co") {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("job ended before any recogniser was seen (err %v)", r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no pocketsphinx process appeared within 30 s")
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
	cancel()
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10 s of cancel")
	}
	if !errors.Is(r.err, context.Canceled) || r.out != nil {
		t.Errorf("Run after cancel: out %v err %v, want context.Canceled", r.out, r.err)
	}
	if left := children(t, os.Getpid()); len(left) > 0 {
		t.Errorf("processes left after cancel: %v", left)
	}
	for pid, name := range seen {
		if st, err := procStat(pid); err == nil && st.state != "Z" {
			t.Errorf("process %d (%s) still alive after cancel: %+v", pid, name, st)
		}
		// Nothing may remain in the killed process groups either.
		for other, st := range allProcs(t) {
			if st.pgid == pid {
				t.Errorf("process %d (%s) left in group %d", other, st.comm, pid)
			}
		}
	}
	t.Logf("saw %d child processes, all gone: %v", len(seen), seen)
}

func mapValues(m map[int]string) []string {
	var v []string
	for _, s := range m {
		v = append(v, s)
	}
	return v
}

type pstat struct {
	comm       string
	state      string
	ppid, pgid int
}

func procStat(pid int) (pstat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return pstat{}, err
	}
	s := string(b)
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < open {
		return pstat{}, fmt.Errorf("malformed stat %q", s)
	}
	f := strings.Fields(s[close+1:])
	if len(f) < 4 {
		return pstat{}, fmt.Errorf("malformed stat %q", s)
	}
	ppid, _ := strconv.Atoi(f[1])
	pgid, _ := strconv.Atoi(f[2])
	return pstat{comm: s[open+1 : close], state: f[0], ppid: ppid, pgid: pgid}, nil
}

func allProcs(t *testing.T) map[int]pstat {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]pstat{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := procStat(pid); err == nil {
			out[pid] = st
		}
	}
	return out
}

// children lists the processes whose parent is pid (zombies included: a
// zombie is a child not yet waited for).
func children(t *testing.T, pid int) map[int]string {
	out := map[int]string{}
	for p, st := range allProcs(t) {
		if st.ppid == pid {
			out[p] = st.comm
		}
	}
	return out
}

// TestPartialFailure breaks the speech recogniser: the transcript fails with
// the tool's message and everything else still succeeds.
func TestPartialFailure(t *testing.T) {
	bin := t.TempDir()
	fake := "#!/bin/sh\necho 'ERROR: \"acmod.c\", line 83: Acoustic model definition is not specified' >&2\nexit 3\n"
	if err := os.WriteFile(filepath.Join(bin, "pocketsphinx_continuous"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := Run(ctx, Options{Input: fx.talk.Path, WorkDir: t.TempDir(), Concurrency: 2,
		Analyses: []string{provider.AnalysisTranscript, provider.AnalysisKeywords, provider.AnalysisOCR, provider.AnalysisSilences}})
	if err != nil {
		t.Fatal(err)
	}
	if out.States[provider.AnalysisTranscript] != provider.StateFailed || !strings.Contains(out.Errors[provider.AnalysisTranscript], "Acoustic model") {
		t.Errorf("transcript %q: %q, want failed with the tool's message", out.States[provider.AnalysisTranscript], out.Errors[provider.AnalysisTranscript])
	}
	if out.Result.Transcript != nil {
		t.Errorf("a failed transcript is in the result: %+v", out.Result.Transcript)
	}
	for _, a := range []string{provider.AnalysisKeywords, provider.AnalysisOCR, provider.AnalysisSilences} {
		if out.States[a] != provider.StateSucceeded {
			t.Errorf("%s: %q (%s), want succeeded", a, out.States[a], out.Errors[a])
		}
	}
	if len(out.Result.Keywords) == 0 {
		t.Errorf("no keywords from the on-screen text")
	}
}

// TestScreenWordsInSpeech: a word on a slide that the speech model's
// language model lacks ("workflow") is recognised once it is on screen.
func TestScreenWordsInSpeech(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	talk, err := samplemedia.GenerateTalkInfo(ctx, t.TempDir(), samplemedia.TalkSpec{
		Slides: []samplemedia.Slide{{Text: "WORKFLOW\nDurable Steps", Duration: 9}},
		Script: "The workflow is durable. When a machine stops, the workflow carries on from the last step.",
	})
	if err != nil {
		t.Fatal(err)
	}
	analyses := []string{provider.AnalysisTranscript, provider.AnalysisOCR}
	out, err := Run(ctx, Options{Input: talk.Path, WorkDir: t.TempDir(), Concurrency: 2, Analyses: analyses})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Run(ctx, Options{Input: talk.Path, WorkDir: t.TempDir(), Concurrency: 2, Analyses: analyses, NoScreenVocabulary: true})
	if err != nil {
		t.Fatal(err)
	}
	words := func(o *Output) []string { return strings.Fields(o.Result.Transcript.Text) }
	with, without := samplemedia.WER(talk.Words, words(out)), samplemedia.WER(talk.Words, words(plain))
	t.Logf("with on-screen words: WER %.1f %% %q; without: WER %.1f %% %q", with*100, out.Result.Transcript.Text, without*100, plain.Result.Transcript.Text)
	if n := strings.Count(" "+out.Result.Transcript.Text+" ", " workflow "); n != 2 {
		t.Errorf("\"workflow\" recognised %d times, want 2: %q", n, out.Result.Transcript.Text)
	}
	if with > without {
		t.Errorf("WER %.1f %% with on-screen words, %.1f %% without", with*100, without*100)
	}
}

// TestTranscriptWERAgainstBaseline: the transcript's word error rate on the
// test talk and the audio-only file is no worse than with the settings
// before issue 14 (8–20 s speech chunks, 8 s on this 30 s talk, and no
// on-screen words in the vocabulary), measured in the same run. `go test
// -v -run TranscriptWER` prints the figures as RESULT lines.
func TestTranscriptWERAgainstBaseline(t *testing.T) {
	words := func(o *Output) []string {
		var w []string
		for _, x := range o.Result.Transcript.Words {
			w = append(w, x.Word)
		}
		return w
	}
	for _, c := range []struct {
		name   string
		talk   *samplemedia.Talk
		chunks time.Duration // the previous default chunk target for this file
	}{
		{"talk", fx.talk, 8 * time.Second},
		{"audio-only", fx.audio, 8 * time.Second},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
		now, err := Run(ctx, Options{Input: c.talk.Path, WorkDir: t.TempDir(), Concurrency: 2,
			Analyses: []string{provider.AnalysisTranscript, provider.AnalysisOCR}})
		if err != nil {
			cancel()
			t.Fatalf("%s: %v", c.name, err)
		}
		before, err := Run(ctx, Options{Input: c.talk.Path, WorkDir: t.TempDir(), Concurrency: 2,
			Analyses: []string{provider.AnalysisTranscript}, ChunkTarget: c.chunks, NoScreenVocabulary: true})
		cancel()
		if err != nil {
			t.Fatalf("%s baseline: %v", c.name, err)
		}
		werNow, werBefore := samplemedia.WER(c.talk.Words, words(now)), samplemedia.WER(c.talk.Words, words(before))
		t.Logf("RESULT wer %-10s %d words: now %.1f %% (%d chunks) | baseline %.1f %% (%d chunks, target %v, no on-screen words)",
			c.name, len(c.talk.Words), werNow*100, now.Stats.SpeechChunks, werBefore*100, before.Stats.SpeechChunks, c.chunks)
		if werNow > werBefore {
			t.Errorf("%s: WER %.1f %%, worse than the baseline's %.1f %%", c.name, werNow*100, werBefore*100)
		}
		if werNow > 0.2 {
			t.Errorf("%s: WER %.1f %%, want ≤ 20 %%", c.name, werNow*100)
		}
	}
}

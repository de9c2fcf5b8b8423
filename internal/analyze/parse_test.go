package analyze

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filesight/internal/provider"
)

func TestParseWordLine(t *testing.T) {
	cases := []struct {
		line string
		want provider.Word
		ok   bool
	}{
		{"video 11.940 12.340 0.995609", provider.Word{Word: "video", Start: 11.94, End: 12.34, Confidence: 0.996}, true},
		{"to(3) 9.740 9.800 0.290241", provider.Word{Word: "to", Start: 9.74, End: 9.8, Confidence: 0.29}, true},
		{"understand 6.160 6.920 1.000500", provider.Word{Word: "understand", Start: 6.16, End: 6.92, Confidence: 1}, true},
		{"<s> 0.060 0.120 0.999700", provider.Word{}, false},
		{"</s> 22.270 22.500 1.000000", provider.Word{}, false},
		{"<sil> 2.230 2.250 0.417989", provider.Word{}, false},
		{"[NOISE] 3.1 3.2 0.5", provider.Word{}, false},
		{"[SPEECH] 16.990 17.150 1.000300", provider.Word{}, false},
		{"++GARBAGE++ 1 2 0.1", provider.Word{}, false},
		{"welcome to this short talk", provider.Word{}, false}, // hypothesis line
		{"one two three four", provider.Word{}, false},
	}
	for _, c := range cases {
		got, ok := parseWordLine(c.line)
		if ok != c.ok || got != c.want {
			t.Errorf("parseWordLine(%q) = %+v, %v; want %+v, %v", c.line, got, ok, c.want, c.ok)
		}
	}
}

func TestParseTSV(t *testing.T) {
	tsv := strings.Join([]string{
		"level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext",
		"1\t1\t0\t0\t0\t0\t0\t0\t640\t360\t-1\t",
		"4\t1\t1\t1\t1\t0\t339\t331\t608\t58\t-1\t",
		"5\t1\t1\t1\t1\t1\t339\t331\t334\t58\t95.12\tBETTER",
		"5\t1\t1\t1\t1\t2\t710\t331\t237\t58\t91.00\tDATA",
		"5\t1\t1\t1\t2\t1\t10\t400\t50\t40\t96.5\tMachine",
		"5\t1\t1\t1\t2\t2\t70\t400\t50\t40\t30.0\tLeaming", // below confidence: dropped
		"5\t1\t2\t1\t1\t1\t10\t10\t5\t5\t88.0\t—",          // no letters: dropped
		"5\t1\t3\t1\t1\t1\t10\t10\t5\t5\t88.0\tx",          // one letter line: dropped
		"",
	}, "\n")
	got := parseTSV(tsv, 60)
	want := []ocrLine{{Text: "BETTER DATA", Confidence: 0.931}, {Text: "Machine", Confidence: 0.965}}
	if !slices.Equal(got, want) {
		t.Errorf("parseTSV = %+v, want %+v", got, want)
	}
}

// firstReads chooses the stills to read first as the OCR stream does
// during the pass (ocrDecider), with every transition known.
func firstReads(p *ocrPlan, trs []transition, interval float64) []int {
	d := &ocrDecider{interval: interval}
	var out []int
	for k, s := range p.stills {
		read, reused := d.decide(s, trs)
		if read {
			out = append(out, k)
		} else if reused {
			p.reused++
		}
	}
	return p.choose(out)
}

func TestOCRPlanAndSpans(t *testing.T) {
	// Two scenes: 0–10 (a cut at 10) and 10–20. Stills every 2 s with
	// distinct pictures; text "Extra" appears at 5.3 in the first scene.
	spans := sceneSpans([]transition{{Time: 10, End: 10}}, 20)
	var stills []frameInfo
	for i := 0; i < 10; i++ {
		ts := float64(2 * i)
		stills = append(stills, frameInfo{Time: ts, Path: fmt.Sprint(ts), Stats: fmt.Sprint(i)})
	}
	truth := func(ts float64) []ocrLine {
		switch {
		case ts < 5.3:
			return []ocrLine{{"Title", 0.9}, {"Intro", 0.8}}
		case ts < 10:
			return []ocrLine{{"Title", 0.9}, {"Intro", 0.8}, {"Extra", 0.7}}
		default:
			return []ocrLine{{"Second", 0.9}, {"title", 0.7}}
		}
	}
	p := newOCRPlan(stills, spans)
	var rounds [][]float64
	for round := firstReads(p, []transition{{Time: 10, End: 10}}, 4); len(round) > 0; round = p.more() {
		var r []float64
		for _, k := range round {
			r = append(r, stills[k].Time)
			p.set(k, truth(stills[k].Time))
		}
		rounds = append(rounds, r)
	}
	// First: each scene's first still, then every 4 s; then the middle of 4–8 (text changed).
	if want := [][]float64{{0, 4, 8, 10, 14, 18}, {6}}; fmt.Sprint(rounds) != fmt.Sprint(want) {
		t.Fatalf("rounds %v, want %v", rounds, want)
	}
	// The picture changed most at 5.3 (between the stills at 4 and 6).
	sigTimes := []float64{0, 1, 2, 3, 4, 5, 5.3, 6, 7, 10, 11}
	sigDiff := []float64{0, 0.001, 0, 0.002, 0, 0.001, 0.05, 0, 0, 0.3, 0}
	got := p.spans(sigTimes, sigDiff)
	want := []provider.OCRText{
		{Text: "Title", Start: 0, End: 20, Confidence: 0.814},
		{Text: "Intro", Start: 0, End: 10, Confidence: 0.8},
		{Text: "Extra", Start: 5.3, End: 10, Confidence: 0.7},
		{Text: "Second", Start: 10, End: 20, Confidence: 0.9},
	}
	if !slices.Equal(got, want) {
		t.Errorf("spans\n got %+v\nwant %+v", got, want)
	}
	if p.read != 7 || p.reused != 0 {
		t.Errorf("read %d reused %d, want 7 and 0", p.read, p.reused)
	}
}

func TestSceneSpansAndThumbnails(t *testing.T) {
	trs := []transition{
		{Time: 0.4, End: 0.4},              // too close to the start
		{Time: 5, End: 5},                  // cut
		{Time: 5.9, End: 5.9},              // too close to the cut at 5
		{Time: 12, Start: 11.5, End: 12.5}, // dissolve
	}
	spans := sceneSpans(trs, 20)
	want := []sceneSpan{{Start: 0, End: 5}, {Start: 5, End: 12, Settled: 5}, {Start: 12, End: 20, Settled: 12.5}}
	if !slices.Equal(spans, want) {
		t.Fatalf("spans %+v, want %+v", spans, want)
	}
	stills := []frameInfo{{Time: 0}, {Time: 4.9}, {Time: 5}, {Time: 11.6}, {Time: 12.1}, {Time: 12.6}}
	var got []int
	for _, s := range spans {
		got = append(got, s.thumbnail(stills))
	}
	// Scene 2's first still (12.1) is mid-dissolve: the one after it settled is taken.
	if !slices.Equal(got, []int{0, 2, 5}) {
		t.Errorf("thumbnails %v, want [0 2 5]", got)
	}
	if k := (sceneSpan{Start: 30, End: 31}).thumbnail(stills); k != -1 {
		t.Errorf("a scene without stills got thumbnail %d", k)
	}
}

// pcm makes s16le audio from (seconds, amplitude) segments of a 440 Hz tone.
func pcm(segs ...[2]float64) []byte {
	var b bytes.Buffer
	for _, s := range segs {
		n := int(s[0] * pcmRate)
		for i := 0; i < n; i++ {
			v := int16(s[1] * 32767 * math.Sin(2*math.Pi*440*float64(i)/pcmRate))
			_ = binary.Write(&b, binary.LittleEndian, v)
		}
	}
	return b.Bytes()
}

func runChunker(t *testing.T, target float64, data []byte) []chunk {
	t.Helper()
	var got []chunk
	c := &chunker{dir: t.TempDir(), target: target, emit: func(ch chunk) { got = append(got, ch) }}
	if err := c.consume(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, ch := range got {
		st, err := os.Stat(ch.Path)
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(44 + ch.Length*pcmRate*2); math.Abs(float64(st.Size()-want)) > 2 {
			t.Errorf("%s: %d bytes, want %d", filepath.Base(ch.Path), st.Size(), want)
		}
		total += ch.Length
	}
	return got
}

func TestChunkerCutsAtPauses(t *testing.T) {
	got := runChunker(t, 8, pcm([2]float64{10, 0.3}, [2]float64{1, 0}, [2]float64{10, 0.3}, [2]float64{1, 0}, [2]float64{5, 0.3}))
	if len(got) != 3 {
		t.Fatalf("chunks %+v, want 3", got)
	}
	// Cuts fall inside the pauses (10–11 s and 21–22 s).
	for i, wantCut := range []float64{10.5, 21.5} {
		cut := got[i].Offset + got[i].Length
		if math.Abs(cut-wantCut) > 0.4 || got[i+1].Offset != cut {
			t.Errorf("cut %d at %.2f (next chunk at %.2f), want inside the pause near %.1f", i, cut, got[i+1].Offset, wantCut)
		}
	}
	if end := got[2].Offset + got[2].Length; math.Abs(end-27) > 0.01 {
		t.Errorf("chunks end at %.2f, want 27", end)
	}
}

func TestChunkerForcesCutAtQuietestPoint(t *testing.T) {
	// 40 s of speech-level tone with a dip (not a pause) at 20 s.
	got := runChunker(t, 8, pcm([2]float64{20, 0.3}, [2]float64{0.2, 0.03}, [2]float64{19.8, 0.3}))
	if len(got) < 2 {
		t.Fatalf("chunks %+v, want a forced cut", got)
	}
	if cut := got[0].Length; math.Abs(cut-20.1) > 0.2 {
		t.Errorf("first cut at %.2f, want in the dip at 20.0–20.2", cut)
	}
}

func TestChunkerSkipsSilence(t *testing.T) {
	if got := runChunker(t, 8, pcm([2]float64{30, 0})); len(got) != 0 {
		t.Errorf("chunks %+v for pure silence, want none", got)
	}
	got := runChunker(t, 8, pcm([2]float64{12, 0}, [2]float64{3, 0.3}))
	if len(got) != 1 || got[0].Offset < 8 {
		t.Errorf("chunks %+v, want one chunk after the leading silence", got)
	}
}

func TestPassParser(t *testing.T) {
	cfg := &passConfig{workDir: "/w"}
	var times, sig []float64
	cfg.onTime = func(t float64) { times = append(times, t) }
	p := &passParser{cfg: cfg, sigTime: func(t float64) { sig = append(sig, t) }}
	for _, l := range strings.Split(`[Parsed_ebur128_5 @ 0x55c1f441c680] Summary:
  Integrated loudness:
    I:         -70.0 LUFS
  True peak:
    Peak:       -inf dBFS
[showinfo@still @ 0x557a3abf0dc0] config in time_base: 1/25, frame_rate: 25/1
[showinfo@sig @ 0x557a3abedd80] n:   0 pts:      0 pts_time:0       pos:       -1 fmt:rgb24 sar:1/1 s:64x36 i:P iskey:1 type:I checksum:DE7DFA4B plane_checksum:[DE7DFA4B] mean:[57] stdev:[34.9]
[showinfo@sig @ 0x557a3abedd80] color_range:pc color_space:gbr color_primaries:unknown color_trc:unknown
[showinfo@still @ 0x55c1f4870240] n:   0 pts:      0 pts_time:0       pos:    10119 fmt:yuv420p sar:1/1 s:640x360 i:P iskey:1 type:I checksum:4C2696C0 plane_checksum:[012B7DEE 3ED5B23B ADAF6688] mean:[61 158 116] stdev:[34.7 5.7 2.2]
[silencedetect @ 0x55c1f4887400] silence_start: 0
[showinfo@sig @ 0x557a3abedd80] n:   1 pts:      1 pts_time:0.04    pos:       -1 fmt:rgb24 sar:1/1 s:64x36 i:P iskey:1 type:I checksum:DE7DFA4B plane_checksum:[DE7DFA4B] mean:[57] stdev:[34.9]
[silencedetect @ 0x55c1f4887400] silence_end: 0.672937 | silence_duration: 0.672937
out_time_us=7500000
[showinfo@sig @ 0x557a3abedd80] n:   0 pts:    250 pts_time:10      pos:       -1 fmt:rgb24 sar:1/1 s:64x36 i:P iskey:1 type:I checksum:DE7DFA4B plane_checksum:[DE7DFA4B] mean:[57] stdev:[34.9]
[showinfo@still @ 0x55c1f4870240] n:   0 pts: 102400 pts_time:10      pos:   188330 fmt:yuv420p sar:1/1 s:640x360 i:P iskey:1 type:I checksum:CA64CE5D plane_checksum:[2ED4EC21 253DE26C 8B1AFFB2] mean:[206 107 138] stdev:[35.9 3.9 1.8]
[silencedetect @ 0x55c1f4887400] silence_start: 27.7484
[Parsed_ebur128_5 @ 0x55c1f4887a40] Summary:
  Integrated loudness:
    I:         -21.8 LUFS
    Threshold: -31.9 LUFS
  Loudness range:
    LRA:         5.4 LU
    Threshold: -42.7 LUFS
    LRA low:   -26.4 LUFS
    LRA high:  -21.0 LUFS
  True peak:
    Peak:       -5.3 dBFS`, "\n") {
		p.line(l)
	}
	if !p.haveLoud || p.loud != (provider.Loudness{IntegratedLUFS: -21.8, RangeLU: 5.4, TruePeakDBFS: -5.3}) {
		t.Errorf("loudness %+v (have %v), want the last summary", p.loud, p.haveLoud)
	}
	if !slices.Equal(p.res.silences, []provider.Span{{Start: 0, End: 0.673}}) || !p.inSil || p.silStart != 27.7484 {
		t.Errorf("silences %v open %v at %v", p.res.silences, p.inSil, p.silStart)
	}
	// Stills are counted (a filter graph set up again numbers from 0).
	if len(p.res.stills) != 2 || p.res.stills[1] != (frameInfo{Time: 10, Path: "/w/still-0002.png", Stats: "206 107 138/35.9 3.9 1.8"}) ||
		p.res.stills[0].Path != "/w/still-0001.png" {
		t.Errorf("stills %+v", p.res.stills)
	}
	if !slices.Equal(sig, []float64{0, 0.04, 10}) {
		t.Errorf("detector frame times %v", sig)
	}
	if !slices.Equal(times, []float64{0, 0.04, 7.5, 10}) {
		t.Errorf("progress times %v", times)
	}
	if parseLevel("-inf") != silentDB {
		t.Errorf("-inf parsed as %v", parseLevel("-inf"))
	}
}

func TestPassArgs(t *testing.T) {
	audioOnly := (&passConfig{input: "in", workDir: "/w", video: -1, audio: 0, silences: true, silenceDB: -40, silenceMin: 0.5,
		pcm: func(r io.Reader) error { return nil }}).args()
	joined := strings.Join(audioOnly, " ")
	if strings.Contains(joined, "0:v") || !strings.Contains(joined, "[0:a:0]asplit=2") || !strings.Contains(joined, "pipe:1") || strings.Contains(joined, "ebur128") || strings.Contains(joined, "pipe:3") {
		t.Errorf("audio-only args %v", audioOnly)
	}
	video := (&passConfig{input: "in", workDir: "/w", video: 1, audio: -1, scenes: true, stillInterval: 2}).args()
	joined = strings.Join(video, " ")
	for _, want := range []string{"[0:v:1]split=2", "scale=64:36:flags=area,format=rgb24,showinfo@sig", "-f rawvideo pipe:3",
		"gt(scene\\,max(0.010\\,3.0*ld(1)))", "gte(t-prev_selected_t\\,2.000)", "mpdecimate,showinfo@still", "/w/still-%04d.png"} {
		if !strings.Contains(joined, want) {
			t.Errorf("video args lack %q: %v", want, video)
		}
	}
	if strings.Contains(joined, "0:a") {
		t.Errorf("video args %v use audio", video)
	}
}

func TestScanLinesBounded(t *testing.T) {
	long := strings.Repeat("x", 10000)
	var got []string
	if err := scanLines(strings.NewReader("a\r\nb\n"+long+"\nc"), 100, func(l string) { got = append(got, l) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[0] != "a" || got[1] != "b" || len(got[2]) != 100 || got[3] != "c" {
		t.Errorf("lines %d %q", len(got), got)
	}
	var tb tailBuffer
	for i := 0; i < 1000; i++ {
		tb.Write([]byte(long))
	}
	if len(tb.String()) != tailSize {
		t.Errorf("tail buffer holds %d bytes, want %d", len(tb.String()), tailSize)
	}
}

func TestKeywordsRanking(t *testing.T) {
	words := func(s string, start float64) []provider.Word {
		var out []provider.Word
		for i, w := range strings.Fields(s) {
			out = append(out, provider.Word{Word: w, Start: start + float64(i)*0.4, End: start + float64(i)*0.4 + 0.35})
		}
		return out
	}
	tr := &provider.Transcript{}
	tr.Words = append(tr.Words, words("we train the neural network on the data", 0)...)
	tr.Words = append(tr.Words, words("the neural network learns quickly", 10)...)
	tr.Words = append(tr.Words, words("and then the neural networks get deployed", 20)...)
	ocr := []provider.OCRText{{Text: "Neural Networks", Start: 0, End: 8}, {Text: "Deployment", Start: 20, End: 25}}
	kw := extractKeywords(tr, ocr)
	if len(kw) == 0 || kw[0].Text != "neural network" || kw[0].Score != 1 {
		t.Fatalf("keywords %+v, want \"neural network\" first", kw)
	}
	if want := []provider.Span{{Start: 0, End: 8}, {Start: 10.4, End: 11.15}, {Start: 21.2, End: 21.95}}; !slices.Equal(kw[0].Appears, want) {
		t.Errorf("appears %+v, want %+v", kw[0].Appears, want)
	}
	for _, k := range kw {
		if isStopword(k.Text) || k.Text == "the" {
			t.Errorf("stopword %q among keywords", k.Text)
		}
	}
	if extractKeywords(nil, nil) != nil {
		t.Errorf("keywords from nothing")
	}
}

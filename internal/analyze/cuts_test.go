package analyze

import (
	"context"
	"fmt"
	"image/png"
	"math"
	"math/rand/v2"
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
)

// Synthetic pictures for the detector: sigW×sigH RGB.

func flat(r, g, b byte) []byte {
	p := make([]byte, sigBytes)
	for i := 0; i < sigBytes; i += 3 {
		p[i], p[i+1], p[i+2] = r, g, b
	}
	return p
}

// withBox draws a filled box (a block of "text") into a copy of p.
func withBox(p []byte, x0, y0, w, h int, v byte) []byte {
	q := slices.Clone(p)
	for y := y0; y < y0+h; y++ {
		for x := x0; x < x0+w; x++ {
			i := (y*sigW + x) * 3
			q[i], q[i+1], q[i+2] = v, v, v
		}
	}
	return q
}

// texture is a picture of a large textured plane seen from offset (ox, oy).
func texture(ox, oy float64) []byte {
	p := make([]byte, sigBytes)
	for y := 0; y < sigH; y++ {
		for x := 0; x < sigW; x++ {
			fx, fy := float64(x)+ox, float64(y)+oy
			v := 128 + 50*math.Sin(fx/3.1)*math.Cos(fy/4.3) + 40*math.Sin((fx+2*fy)/7.7)
			i := (y*sigW + x) * 3
			p[i], p[i+1], p[i+2] = byte(v), byte(255-v), byte(v/2+60)
		}
	}
	return p
}

func mix(a, b []byte, wa, wb float64) []byte {
	p := make([]byte, sigBytes)
	for i := range p {
		p[i] = byte(math.Round(math.Min(255, wa*float64(a[i])+wb*float64(b[i]))))
	}
	return p
}

func noisy(p []byte, rng *rand.Rand, amp int) []byte {
	q := make([]byte, len(p))
	for i, v := range p {
		q[i] = byte(min(255, max(0, int(v)+rng.IntN(2*amp+1)-amp)))
	}
	return q
}

// detect runs the detector over n frames at fps made by frame(i). It
// checks that what the detector reports as settled on the way is what it
// finally finds before that time.
func detect(t *testing.T, name string, n int, fps float64, frame func(i int) []byte) []transition {
	type settled struct {
		horizon float64
		trs     []transition
	}
	var seen []settled
	d := &cutDetector{onSettled: func(h float64, trs []transition) { seen = append(seen, settled{h, slices.Clone(trs)}) }}
	for i := 0; i < n; i++ {
		d.push(float64(i)/fps, frame(i))
	}
	final := d.finish()
	for _, s := range seen {
		var want []transition
		for _, tr := range final {
			if tr.Time < s.horizon {
				want = append(want, tr)
			}
		}
		if !slices.Equal(s.trs, want) {
			t.Errorf("%s: settled before %.2f s: %+v, finally %+v", name, s.horizon, s.trs, want)
		}
	}
	return final
}

func TestDetectorSynthetic(t *testing.T) {
	darkBlue, darkRed, black, white := flat(26, 42, 108), flat(108, 26, 26), flat(0, 0, 0), flat(255, 255, 255)
	slide := withBox(flat(240, 240, 240), 4, 10, 40, 4, 30)
	slide2 := withBox(flat(240, 240, 240), 4, 10, 36, 4, 30) // a shorter line of text
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name  string
		frame func(i int) []byte
		want  []float64 // transition times
	}{
		{"colour cut", func(i int) []byte { return pick(i < 75, darkBlue, darkRed) }, []float64{3}},
		{"text changes", func(i int) []byte { return pick(i < 75, slide, slide2) }, []float64{3}},
		{"cut over a blended frame", func(i int) []byte {
			if i == 75 {
				return mix(darkBlue, slide, 0.5, 0.5)
			}
			return pick(i < 75, darkBlue, slide)
		}, []float64{3}},
		{"one-frame flash", func(i int) []byte { return pick(i == 60, white, darkBlue) }, nil},
		{"strobe", func(i int) []byte { return pick(i >= 50 && i%4 == 0, white, slide) }, nil},
		{"half-bright flash", func(i int) []byte { return pick(i >= 60 && i < 63, mix(slide, slide, 1.3, 0), slide) }, nil},
		{"dissolve", func(i int) []byte {
			w := math.Min(1, math.Max(0, float64(i-62)/25)) // 2.5–3.5 s
			return mix(darkBlue, slide, 1-w, w)
		}, []float64{3}},
		{"fade through black", func(i int) []byte {
			switch {
			case i < 62:
				return slide
			case i < 75:
				return mix(slide, black, 1-float64(i-62)/13, 0)
			case i < 88:
				return mix(darkRed, black, float64(i-75)/13, 0)
			}
			return darkRed
		}, []float64{3}},
		{"fade in from black", func(i int) []byte { return mix(slide, black, math.Min(1, math.Max(0, float64(i-50)/25)), 0) }, []float64{2.5}},
		{"exposure change", func(i int) []byte { return pick(i < 75, texture(0, 0), mix(texture(0, 0), texture(0, 0), 0.8, 0)) }, nil},
		{"slow pan", func(i int) []byte { return texture(float64(i)*0.3, 0) }, nil},
		{"pan starts and stops", func(i int) []byte { return texture(math.Min(30, math.Max(0, float64(i-50)*1.5)), 0) }, nil},
		{"whip pan", func(i int) []byte { return texture(math.Min(40, math.Max(0, float64(i-60)*8)), float64(i)*0.2) }, nil},
		{"dissolve next to a cut", func(i int) []byte {
			switch {
			case i < 50:
				return darkRed
			case i < 75:
				return mix(darkRed, slide, 1-float64(i-50)/25, float64(i-50)/25)
			case i < 100:
				return slide
			}
			return darkBlue
		}, []float64{2.5, 4}},
		{"noisy shots with cuts", func(i int) []byte {
			if i < 75 {
				return noisy(texture(float64(i)*0.5, 0), rng, 12)
			}
			return noisy(texture(200+float64(i)*0.5, 50), rng, 12)
		}, []float64{3}},
	}
	for _, c := range cases {
		got := detect(t, c.name, 150, 25, c.frame)
		var times []float64
		for _, tr := range got {
			times = append(times, tr.Time)
		}
		ok := len(times) == len(c.want)
		for i := 0; ok && i < len(times); i++ {
			ok = math.Abs(times[i]-c.want[i]) <= 0.1
		}
		if !ok {
			t.Errorf("%s: transitions %+v, want at %v", c.name, got, c.want)
		}
	}
}

func pick(first bool, a, b []byte) []byte {
	if first {
		return a
	}
	return b
}

// TestDetectorKeepsFewPictures: the detector keeps the pictures of a few
// seconds, however long the media.
func TestDetectorKeepsFewPictures(t *testing.T) {
	d := &cutDetector{}
	a, b := flat(20, 20, 20), flat(200, 200, 200)
	const fps, minutes = 30, 10
	maxKept := 0
	for i := 0; i < fps*60*minutes; i++ {
		d.push(float64(i)/fps, pick((i/(fps*10))%2 == 0, a, b)) // a cut every 10 s
		maxKept = max(maxKept, len(d.pix))
	}
	trs := d.finish()
	if len(trs) != 6*minutes-1 {
		t.Errorf("%d transitions, want %d", len(trs), 6*minutes-1)
	}
	if limit := int((detectorLookahead+detectorKeep+1)*fps) + 10; maxKept > limit {
		t.Errorf("kept %d pictures at once, want at most %d", maxKept, limit)
	}
	t.Logf("at most %d pictures (%d KiB) kept over %d minutes", maxKept, maxKept*sigBytes/1024, minutes)
}

// The generated corpus, made once for the tests that need it.
var corpus struct {
	once  sync.Once
	clips []corpusClip
	err   error
}

func corpusClips(t *testing.T) []corpusClip {
	t.Helper()
	corpus.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		dir := filepath.Join(fx.dir, "corpus")
		if corpus.err = os.MkdirAll(dir, 0o755); corpus.err == nil {
			corpus.clips, corpus.err = generateCorpus(ctx, dir)
		}
	})
	if corpus.err != nil {
		t.Fatalf("generate the corpus: %v", corpus.err)
	}
	return corpus.clips
}

// matchCuts pairs found cuts with true ones (each at most once, within
// tol seconds) and returns how many matched.
func matchCuts(truth, found []float64, tol float64) int {
	used := make([]bool, len(found))
	n := 0
	for _, c := range truth {
		best := -1
		for i, f := range found {
			if !used[i] && math.Abs(f-c) <= tol && (best < 0 || math.Abs(f-c) < math.Abs(found[best]-c)) {
				best = i
			}
		}
		if best >= 0 {
			used[best] = true
			n++
		}
	}
	return n
}

// cutTolerance: a found cut matches a true one within this many seconds.
const cutTolerance = 0.5

// TestCutCorpus runs scenes and OCR on every clip of the corpus and checks
// the figures the detector is held to: every true cut found within
// ±cutTolerance and no other cut (so recall and precision are 1; the
// issue's floor is 0.95 and 0.9 over the corpus), no cut at all on the
// pan/zoom and flash clips, and every line of text found with a span that
// starts and ends within 1 s of when it is shown. As a baseline in the
// same run it counts the cuts ffmpeg's scene score > 0.1 (the previous
// detector) finds on the same clips. `go test -v -run TestCutCorpus`
// prints the figures as RESULT lines.
func TestCutCorpus(t *testing.T) {
	clips := corpusClips(t)
	var truthN, foundN, matchedN, baseFoundN, baseMatchedN int
	var ocrErrs, cutErrs []float64
	for _, c := range clips {
		base, err := sceneScoreCuts(c.Path, 0.1)
		if err != nil {
			t.Fatalf("%s: baseline: %v", c.Name, err)
		}
		baseMatched := matchCuts(c.Cuts, base, cutTolerance)
		baseFoundN, baseMatchedN = baseFoundN+len(base), baseMatchedN+baseMatched
		analyses := []string{provider.AnalysisScenes}
		if len(c.Texts) > 0 {
			analyses = append(analyses, provider.AnalysisOCR)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
		out, err := Run(ctx, Options{Input: c.Path, WorkDir: t.TempDir(), Concurrency: 2, Analyses: analyses})
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		var found []float64
		for i, s := range out.Result.Scenes {
			if i > 0 {
				found = append(found, s.Start)
			}
			if _, ok := out.Artifacts[s.Thumbnail]; !ok {
				t.Errorf("%s: scene %d (%.2f s) has no thumbnail (%q)", c.Name, i, s.Start, s.Thumbnail)
			}
		}
		// Each slide's thumbnail shows that slide, settled (not a frame
		// in the middle of a cross-fade).
		if c.Colours != nil && len(out.Result.Scenes) == len(c.Colours) {
			for i, s := range out.Result.Scenes {
				if err := checkCorner(out.Artifacts[s.Thumbnail], c.Colours[i]); err != nil {
					t.Errorf("%s: scene %d (%.2f s) thumbnail %s: %v", c.Name, i, s.Start, s.Thumbnail, err)
				}
			}
		}
		matched := matchCuts(c.Cuts, found, cutTolerance)
		truthN, foundN, matchedN = truthN+len(c.Cuts), foundN+len(found), matchedN+matched
		t.Logf("RESULT cuts %-16s true %d found %d matched %d recall %s precision %s  found at %v | baseline (scene score > 0.1): found %d matched %d",
			c.Name, len(c.Cuts), len(found), matched, ratio(matched, len(c.Cuts)), ratio(matched, len(found)), found, len(base), baseMatched)
		if c.NoCuts && len(found) > 0 {
			t.Errorf("%s: cuts at %v, want none", c.Name, found)
		}
		// Every true cut, each found once within the tolerance ...
		for _, want := range c.Cuts {
			best := math.Inf(1)
			for _, f := range found {
				best = math.Min(best, math.Abs(f-want))
			}
			if best > cutTolerance {
				t.Errorf("%s: the cut at %.2f s was not found (nearest found cut %.2f s away; found %v)", c.Name, want, best, found)
				continue
			}
			cutErrs = append(cutErrs, best)
		}
		// ... and no cut where there is none.
		for _, f := range found {
			near := false
			for _, want := range c.Cuts {
				near = near || math.Abs(f-want) <= cutTolerance
			}
			if !near {
				t.Errorf("%s: false cut at %.2f s (true cuts %v)", c.Name, f, c.Cuts)
			}
		}
		// Nor two cuts for one.
		if matched != len(found) {
			t.Errorf("%s: %d of the %d cuts found pair with no true cut (each true cut pairs once): %v", c.Name, len(found)-matched, len(found), found)
		}
		var worst float64
		for _, want := range c.Texts {
			var span *provider.OCRText
			for i, o := range out.Result.OCR {
				if strings.EqualFold(strings.Join(strings.Fields(o.Text), " "), want.Text) && o.Start < want.End && o.End > want.Start {
					span = &out.Result.OCR[i]
					break
				}
			}
			if span == nil {
				t.Errorf("%s: %q (%.1f–%.1f s) not read; OCR: %+v", c.Name, want.Text, want.Start, want.End, out.Result.OCR)
				continue
			}
			e := math.Abs(span.Start - want.Start)
			ocrErrs = append(ocrErrs, e)
			worst = math.Max(worst, e)
			if e > 1 {
				t.Errorf("%s: %q shown from %.2f s, read from %.2f s: more than 1 s off", c.Name, want.Text, want.Start, span.Start)
			}
			if math.Abs(span.End-want.End) > 1 {
				t.Errorf("%s: %q shown until %.2f s, read until %.2f s: more than 1 s off", c.Name, want.Text, want.End, span.End)
			}
		}
		if len(c.Texts) > 0 {
			t.Logf("RESULT ocr  %-16s %d lines, start error at most %.2f s", c.Name, len(c.Texts), worst)
		}
	}
	recall, precision := float64(matchedN)/float64(truthN), float64(matchedN)/float64(max(foundN, 1))
	var sum, worst float64
	for _, e := range ocrErrs {
		sum += e
		worst = math.Max(worst, e)
	}
	var cutSum, cutWorst float64
	for _, e := range cutErrs {
		cutSum += e
		cutWorst = math.Max(cutWorst, e)
	}
	t.Logf("RESULT cuts all: %d true, %d found, %d matched (±%.1f s): recall %.3f precision %.3f (target ≥ 0.95 / ≥ 0.9); time error mean %.3f s, max %.3f s",
		truthN, foundN, matchedN, cutTolerance, recall, precision, cutSum/float64(max(len(cutErrs), 1)), cutWorst)
	t.Logf("RESULT cuts baseline (ffmpeg scene score > 0.1, same clips): %d found, %d matched: recall %.3f precision %.3f",
		baseFoundN, baseMatchedN, float64(baseMatchedN)/float64(truthN), float64(baseMatchedN)/float64(max(baseFoundN, 1)))
	t.Logf("RESULT ocr all: %d lines, start error mean %.3f s, max %.3f s (target ≤ 1 s)", len(ocrErrs), sum/float64(max(len(ocrErrs), 1)), worst)
	if recall < 0.95 || precision < 0.9 {
		t.Errorf("cut recall %.3f precision %.3f, want ≥ 0.95 and ≥ 0.9", recall, precision)
	}
}

// checkCorner reports whether the PNG at path has colour want (0xRRGGBB)
// at (cornerX, cornerY), within what coding changes.
func checkCorner(path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return err
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(want, "0x"), 16, 32)
	if err != nil {
		return err
	}
	r, g, b, _ := img.At(cornerX, cornerY).RGBA()
	got := [3]int{int(r >> 8), int(g >> 8), int(b >> 8)}
	exp := [3]int{int(v >> 16), int(v >> 8 & 0xff), int(v & 0xff)}
	for k := range got {
		if d := got[k] - exp[k]; d > 12 || d < -12 {
			return fmt.Errorf("corner colour %02x%02x%02x, want %s", got[0], got[1], got[2], want)
		}
	}
	return nil
}

// sceneScoreCuts returns the cuts ffmpeg's scene score finds in a clip
// (select='gt(scene,threshold)'), without those closer than minScene to
// the previous one, as the engine found them before the adaptive detector.
func sceneScoreCuts(path string, threshold float64) ([]float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-v", "info", "-i", path,
		"-vf", fmt.Sprintf("select='gt(scene,%.3f)',showinfo", threshold), "-f", "null", "-").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ffmpeg: %v: %s", err, out)
	}
	var cuts []float64
	last := 0.0
	for _, l := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(l, "[Parsed_showinfo") {
			continue
		}
		if t, ok := ptsTime(l); ok && t-last >= minScene {
			cuts = append(cuts, t)
			last = t
		}
	}
	return cuts, nil
}

func ratio(a, b int) string {
	if b == 0 {
		return "  -  "
	}
	return fmt.Sprintf("%.3f", float64(a)/float64(b))
}

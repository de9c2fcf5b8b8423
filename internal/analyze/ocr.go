package analyze

import (
	"context"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"filesight/internal/provider"
)

// ocrFrame is one picture whose text is read, or (Same >= 0) one that is
// the same picture as an earlier frame and reuses its text.
type ocrFrame struct {
	Time float64
	Path string
	Same int // index of the earlier identical frame, -1 if read on its own
}

// planOCR merges scene thumbnails and periodic frames into one timeline.
// A periodic frame at (almost) the time of a scene thumbnail is dropped; one
// whose picture statistics equal those of the previous frame in the same
// scene is not read again (slides hold still for a long time).
func planOCR(scenes, periodic []frameInfo) []ocrFrame {
	type cand struct {
		frameInfo
		scene bool
	}
	var all []cand
	for _, f := range scenes {
		all = append(all, cand{f, true})
	}
	for _, f := range periodic {
		near := false
		for _, s := range scenes {
			if math.Abs(s.Time-f.Time) < 0.15 {
				near = true
				break
			}
		}
		if !near {
			all = append(all, cand{f, false})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Time < all[j].Time })
	var out []ocrFrame
	for i, c := range all {
		f := ocrFrame{Time: c.Time, Path: c.Path, Same: -1}
		if i > 0 && !c.scene && c.Stats == all[i-1].Stats {
			f.Same = i - 1
			if out[i-1].Same >= 0 {
				f.Same = out[i-1].Same
			}
		}
		out = append(out, f)
	}
	return out
}

// ocrLine is one line of text tesseract read with enough confidence.
type ocrLine struct {
	Text       string
	Confidence float64 // 0..1
}

// readText runs tesseract on one image (single-threaded) and returns its lines.
func readText(ctx context.Context, r *runner, path string, minConf float64) ([]ocrLine, error) {
	out, err := r.output(ctx, 8<<20, []string{"OMP_THREAD_LIMIT=1"}, "tesseract", path, "stdout", "-l", "eng", "--psm", "3", "tsv")
	if err != nil {
		return nil, err
	}
	return parseTSV(string(out), minConf), nil
}

// parseTSV groups tesseract's word rows (level 5) into lines, keeping words
// whose confidence is at least minConf (0..100).
func parseTSV(tsv string, minConf float64) []ocrLine {
	type acc struct {
		words []string
		conf  float64
	}
	var order []string
	lines := map[string]*acc{}
	for _, row := range strings.Split(tsv, "\n") {
		f := strings.Split(strings.TrimRight(row, "\r"), "\t")
		if len(f) < 12 || f[0] != "5" {
			continue
		}
		conf, err := strconv.ParseFloat(f[10], 64)
		if err != nil || conf < minConf {
			continue
		}
		word := strings.TrimSpace(f[11])
		if !hasAlnum(word) {
			continue
		}
		key := f[1] + "/" + f[2] + "/" + f[3] + "/" + f[4]
		a := lines[key]
		if a == nil {
			a = &acc{}
			lines[key] = a
			order = append(order, key)
		}
		a.words = append(a.words, word)
		a.conf += conf
	}
	var out []ocrLine
	for _, k := range order {
		a := lines[k]
		text := strings.Join(a.words, " ")
		if countAlnum(text) < 2 {
			continue
		}
		out = append(out, ocrLine{Text: text, Confidence: math.Round(a.conf/float64(len(a.words))*10) / 1000})
	}
	return out
}

func hasAlnum(s string) bool { return countAlnum(s) > 0 }

func countAlnum(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			n++
		}
	}
	return n
}

// ocrSpans turns per-frame text into spans: a line of text that stays on
// screen over consecutive frames becomes one span, from the first frame
// showing it to the first frame not showing it (or the end of the media).
func ocrSpans(frames []ocrFrame, texts [][]ocrLine, duration float64) []provider.OCRText {
	type open struct {
		text  string
		start float64
		conf  float64
		n     int
		seq   int // order of first appearance, to sort lines shown together
	}
	type span struct {
		provider.OCRText
		seq int
	}
	var spans []span
	seq := 0
	cur := map[string]*open{}
	var order []string
	closeSpan := func(key string, end float64) {
		o := cur[key]
		spans = append(spans, span{provider.OCRText{Text: o.text, Start: round3(o.start), End: round3(end), Confidence: math.Round(o.conf/float64(o.n)*1000) / 1000}, o.seq})
		delete(cur, key)
	}
	for i, f := range frames {
		lines := texts[i]
		seen := map[string]bool{}
		for _, l := range lines {
			key := normText(l.Text)
			if seen[key] {
				continue
			}
			seen[key] = true
			if o, ok := cur[key]; ok {
				o.conf += l.Confidence
				o.n++
				continue
			}
			seq++
			cur[key] = &open{text: l.Text, start: f.Time, conf: l.Confidence, n: 1, seq: seq}
			order = append(order, key)
		}
		var keep []string
		for _, key := range order {
			if _, ok := cur[key]; !ok {
				continue
			}
			if !seen[key] {
				closeSpan(key, f.Time)
				continue
			}
			keep = append(keep, key)
		}
		order = keep
	}
	for _, key := range order {
		end := duration
		if o := cur[key]; end < o.start {
			end = o.start
		}
		closeSpan(key, end)
	}
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].Start != spans[j].Start {
			return spans[i].Start < spans[j].Start
		}
		return spans[i].seq < spans[j].seq
	})
	out := make([]provider.OCRText, len(spans))
	for i, s := range spans {
		out[i] = s.OCRText
	}
	return out
}

func normText(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }

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

// ocrDecider chooses, still by still in time order, which stills to read
// first: the first still; the first still of each new scene once the
// picture has settled (after a gradual transition), so that text that
// comes with a cut starts at the cut; then stills of the same scene at
// least interval after the last one read. A still that looks exactly like
// the last one read (same picture statistics) is not read. It needs only
// the transitions up to each still, so it can run while the pass decodes.
type ocrDecider struct {
	interval float64
	last     *frameInfo // last still read
	pending  bool       // a new scene started and none of its stills was read yet
	settle   float64    // when the new scene's picture has settled
	lastCut  float64    // start of the current scene (transitions closer than minScene are no new scene)
	nextTr   int        // next transition to look at
}

// decide returns whether to read still s, given the transitions in time
// order (at least those up to s.Time). reused reports a still skipped
// because it looks like the last one read.
func (d *ocrDecider) decide(s frameInfo, trs []transition) (read, reused bool) {
	for ; d.nextTr < len(trs) && trs[d.nextTr].Time <= s.Time+stillSlack; d.nextTr++ {
		tr := trs[d.nextTr]
		if tr.Time-d.lastCut < minScene {
			continue
		}
		d.lastCut = tr.Time
		d.pending, d.settle = true, math.Max(tr.Time, tr.End)
	}
	switch {
	case d.last == nil:
	case d.pending:
		if s.Time < d.settle-stillSlack {
			return false, false // mid-transition
		}
	case s.Time-d.last.Time < d.interval:
		return false, false
	case s.Stats == d.last.Stats:
		return false, true
	}
	d.pending = false
	d.last = &s
	return true, false
}

// ocrPlan turns what was read into spans of on-screen text. Where two
// readings in a scene differ, the still halfway between them is read too
// (more), until the change lies between two neighbouring stills; the
// change is then placed at the frame between them that differs most from
// its predecessor.
type ocrPlan struct {
	stills []frameInfo
	scene  []int // scene of each still
	scenes []sceneSpan

	chosen []bool
	texts  [][]ocrLine
	done   []bool
	count  int // stills chosen so far
	read   int // stills given to tesseract
	reused int // stills skipped as identical to a chosen one
}

func newOCRPlan(stills []frameInfo, spans []sceneSpan) *ocrPlan {
	p := &ocrPlan{stills: stills, scenes: spans,
		scene: make([]int, len(stills)), chosen: make([]bool, len(stills)),
		texts: make([][]ocrLine, len(stills)), done: make([]bool, len(stills))}
	for k, f := range stills {
		p.scene[k] = sceneOf(spans, f.Time)
	}
	return p
}

func (p *ocrPlan) choose(ks []int) []int {
	for _, k := range ks {
		p.chosen[k] = true
	}
	p.count += len(ks)
	p.read += len(ks)
	return ks
}

func (p *ocrPlan) planned() int { return p.count }

// set records the text read from still k.
func (p *ocrPlan) set(k int, lines []ocrLine) {
	p.texts[k] = lines
	p.done[k] = true
}

// more returns the stills to read next: the middle of each pair of
// neighbouring readings in one scene whose text differs, with unread
// stills between them.
func (p *ocrPlan) more() []int {
	var out []int
	prev := -1
	for k := range p.stills {
		if !p.done[k] {
			continue
		}
		if prev >= 0 && p.scene[prev] == p.scene[k] && k-prev > 1 && !sameLines(p.texts[prev], p.texts[k]) {
			mid := (prev + k) / 2
			if p.stills[mid].Stats == p.stills[prev].Stats || p.stills[mid].Stats == p.stills[k].Stats {
				// It looks like one of the two: no need to read it to know
				// which side of the change it is on, but the change is
				// not placed more precisely either.
				p.reused++
			} else {
				out = append(out, mid)
			}
		}
		prev = k
	}
	return p.choose(out)
}

func sameLines(a, b []ocrLine) bool {
	ka, kb := lineKeys(a), lineKeys(b)
	if len(ka) != len(kb) {
		return false
	}
	for k := range ka {
		if !kb[k] {
			return false
		}
	}
	return true
}

func lineKeys(lines []ocrLine) map[string]bool {
	m := map[string]bool{}
	for _, l := range lines {
		m[normText(l.Text)] = true
	}
	return m
}

// spans turns the readings into spans: a line of text that stays on screen
// over consecutive readings is one span. It starts at the start of the
// scene where it was first read, or, when it appeared within a scene,
// where the picture changed most between the two readings; it ends alike.
// sigTimes/sigDiff are the detector's frame times and differences.
func (p *ocrPlan) spans(sigTimes, sigDiff []float64) []provider.OCRText {
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
	var out []span
	cur := map[string]*open{}
	var order []string
	seq := 0
	closeSpan := func(key string, end float64) {
		o := cur[key]
		out = append(out, span{provider.OCRText{Text: o.text, Start: round3(o.start), End: round3(math.Max(end, o.start)),
			Confidence: math.Round(o.conf/float64(o.n)*1000) / 1000}, o.seq})
		delete(cur, key)
	}
	prev := -1
	for k := range p.stills {
		if !p.done[k] {
			continue
		}
		var startAt, endAt float64
		switch {
		case prev < 0:
			startAt = p.scenes[p.scene[k]].Start
		case p.scene[prev] != p.scene[k]:
			endAt = p.scenes[p.scene[prev]].End
			startAt = p.scenes[p.scene[k]].Start
		default:
			startAt = biggestChange(sigTimes, sigDiff, p.stills[prev].Time, p.stills[k].Time)
			endAt = startAt
		}
		seen := map[string]bool{}
		for _, l := range p.texts[k] {
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
			cur[key] = &open{text: l.Text, start: startAt, conf: l.Confidence, n: 1, seq: seq}
			order = append(order, key)
		}
		var keep []string
		for _, key := range order {
			if _, ok := cur[key]; !ok {
				continue
			}
			if !seen[key] {
				closeSpan(key, endAt)
				continue
			}
			keep = append(keep, key)
		}
		order = keep
		prev = k
	}
	if prev >= 0 {
		end := p.scenes[p.scene[prev]].End
		for _, key := range order {
			closeSpan(key, end)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Start != out[j].Start {
			return out[i].Start < out[j].Start
		}
		return out[i].seq < out[j].seq
	})
	res := make([]provider.OCRText, len(out))
	for i, s := range out {
		res[i] = s.OCRText
	}
	return res
}

// biggestChange returns the time of the frame in (from, to] that differs
// most from the frame before it, or to when no frame there changed at all.
func biggestChange(times, diffs []float64, from, to float64) float64 {
	best, at := cutMinDiff/2, to
	for i := sort.SearchFloat64s(times, from+1e-6); i < len(times) && times[i] <= to+1e-6; i++ {
		if diffs[i] > best {
			best, at = diffs[i], times[i]
		}
	}
	return at
}

func normText(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }

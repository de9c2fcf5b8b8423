package analyze

import (
	"math"
	"sort"
	"strings"
	"unicode"

	"filesight/internal/provider"
)

// Keyword extraction, RAKE-style with a frequency weight:
//
//  1. Candidate phrases are runs of content words (not stopwords, at least
//     three letters), at most three words long, broken by stopwords, by
//     pauses longer than phraseGap in the transcript and by line ends in
//     on-screen text. Longer runs are cut into phrases that also occur as
//     short runs elsewhere (longest first) and single words.
//  2. Each word gets a score deg(w)/freq(w) + freq(w) where freq counts
//     occurrences (on-screen lines count twice: text put on a slide is
//     chosen on purpose) and deg adds up the lengths of the phrases the word
//     occurs in.
//  3. A phrase scores the sum of its words' scores times log2(1+occurrences),
//     doubled when it is both spoken and shown.
//  4. Scores are scaled so the best is 1; the top maxKeywords phrases above
//     minKeywordScore are kept, each with the spans where it is said or shown.
//
// Words are compared in a normal form (lower case, plural "s" removed), and
// the most frequent surface form is reported.
const (
	maxKeywords     = 20
	minKeywordScore = 0.05
	maxPhraseWords  = 3
	phraseGap       = 0.5 // seconds
	mergeGap        = 1.0 // seconds between appearances that are merged
)

type occurrence struct {
	words []string // normal forms
	forms []string // surface forms
	span  provider.Span
	shown bool // on screen (vs spoken)
}

func extractKeywords(tr *provider.Transcript, ocr []provider.OCRText) []provider.Keyword {
	// Runs of content words, each with its source.
	type run struct {
		words []provider.Word
		shown bool
	}
	var runs []run
	if tr != nil {
		var cur []provider.Word
		flush := func() {
			if len(cur) > 0 {
				runs = append(runs, run{words: cur})
			}
			cur = nil
		}
		for i, w := range tr.Words {
			if i > 0 && w.Start-tr.Words[i-1].End > phraseGap {
				flush()
			}
			if isStopword(w.Word) || letters(w.Word) < 3 {
				flush()
				continue
			}
			cur = append(cur, w)
		}
		flush()
	}
	for _, t := range ocr {
		var cur []provider.Word
		flush := func() {
			if len(cur) > 0 {
				runs = append(runs, run{words: cur, shown: true})
			}
			cur = nil
		}
		for _, tok := range tokenize(t.Text) {
			if isStopword(tok) || letters(tok) < 3 {
				flush()
				continue
			}
			cur = append(cur, provider.Word{Word: tok, Start: t.Start, End: t.End})
		}
		flush()
	}
	// Short runs are phrases as they stand; long runs are cut into the
	// phrases known from short runs (longest first) and single words.
	known := map[string]bool{}
	for _, r := range runs {
		if len(r.words) <= maxPhraseWords {
			known[phraseKey(r.words)] = true
		}
	}
	var occs []occurrence
	for _, r := range runs {
		if len(r.words) <= maxPhraseWords {
			occs = append(occs, newOccurrence(r.words, r.shown))
			continue
		}
		for i := 0; i < len(r.words); {
			n := 1
			for k := maxPhraseWords; k > 1; k-- {
				if i+k <= len(r.words) && known[phraseKey(r.words[i:i+k])] {
					n = k
					break
				}
			}
			occs = append(occs, newOccurrence(r.words[i:i+n], r.shown))
			i += n
		}
	}
	if len(occs) == 0 {
		return nil
	}

	freq := map[string]float64{}
	deg := map[string]float64{}
	for _, o := range occs {
		weight := 1.0
		if o.shown {
			weight = 2
		}
		for _, w := range o.words {
			freq[w] += weight
			deg[w] += weight * float64(len(o.words))
		}
	}
	wordScore := func(w string) float64 { return deg[w]/freq[w] + freq[w] }

	type cand struct {
		key          string
		forms        map[string]int
		count        float64
		spoken, shwn bool
		spans        []provider.Span
		words        []string
	}
	cands := map[string]*cand{}
	for _, o := range occs {
		key := strings.Join(o.words, " ")
		c := cands[key]
		if c == nil {
			c = &cand{key: key, forms: map[string]int{}, words: o.words}
			cands[key] = c
		}
		c.forms[strings.Join(o.forms, " ")]++
		c.count++
		if o.shown {
			c.shwn = true
		} else {
			c.spoken = true
		}
		c.spans = append(c.spans, o.span)
	}
	var out []provider.Keyword
	best := 0.0
	for _, c := range cands {
		s := 0.0
		for _, w := range c.words {
			s += wordScore(w)
		}
		s *= math.Log2(1 + c.count)
		if c.spoken && c.shwn {
			s *= 2
		}
		best = math.Max(best, s)
		out = append(out, provider.Keyword{Text: bestForm(c.forms), Score: s, Appears: mergeSpans(c.spans)})
	}
	for i := range out {
		out[i].Score = math.Round(out[i].Score/best*1000) / 1000
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].Text < out[j].Text
	})
	var kept []provider.Keyword
	for _, k := range out {
		if len(kept) == maxKeywords || k.Score < minKeywordScore {
			break
		}
		kept = append(kept, k)
	}
	return kept
}

func phraseKey(ws []provider.Word) string {
	keys := make([]string, len(ws))
	for i, w := range ws {
		keys[i] = normWord(w.Word)
	}
	return strings.Join(keys, " ")
}

func newOccurrence(ws []provider.Word, shown bool) occurrence {
	o := occurrence{span: provider.Span{Start: ws[0].Start, End: ws[len(ws)-1].End}, shown: shown}
	for _, w := range ws {
		o.words = append(o.words, normWord(w.Word))
		o.forms = append(o.forms, strings.ToLower(w.Word))
	}
	return o
}

func bestForm(forms map[string]int) string {
	best, n := "", -1
	for f, c := range forms {
		if c > n || (c == n && f < best) {
			best, n = f, c
		}
	}
	return best
}

// mergeSpans sorts spans and merges those that overlap or lie within
// mergeGap of each other.
func mergeSpans(spans []provider.Span) []provider.Span {
	sort.Slice(spans, func(i, j int) bool { return spans[i].Start < spans[j].Start })
	var out []provider.Span
	for _, s := range spans {
		if n := len(out); n > 0 && s.Start <= out[n-1].End+mergeGap {
			out[n-1].End = math.Max(out[n-1].End, round3(s.End))
			continue
		}
		out = append(out, provider.Span{Start: round3(s.Start), End: round3(s.End)})
	}
	return out
}

func tokenize(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '\''
	})
}

func letters(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			n++
		}
	}
	return n
}

// normWord lower-cases and strips a plural "s" ("videos" → "video") but
// not from words ending in "ss", "us" or "is" ("class", "status", "analysis").
func normWord(w string) string {
	w = strings.Trim(strings.ToLower(w), "'")
	w = strings.TrimSuffix(w, "'s")
	if len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "is") {
		w = w[:len(w)-1]
	}
	return w
}

func isStopword(w string) bool {
	_, ok := stopwords()[strings.Trim(strings.ToLower(w), "'")]
	return ok
}

package activities

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"filesight/internal/box"
	"filesight/internal/provider"
)

// deck accumulates the cards of one build, in a fixed order.
type deck struct {
	b          cardBuilder
	invocation string
	cards      []box.Card
	names      []string
	summary    []string // "transcript (312 words)", ...
	notes      []string // truncations and the like
}

// emit appends a built card with its name and its line of the summary.
func (d *deck) emit(name string, card box.Card, summary string) {
	d.cards = append(d.cards, card)
	d.names = append(d.names, name)
	d.summary = append(d.summary, summary)
}

// add builds the card of one analysis from a result. It reports whether
// the result held that analysis at all (an empty analysis, e.g. no speech,
// counts as produced: there is just nothing to show).
func (d *deck) add(analysis string, r *provider.Result) bool {
	dur := duration(r)
	switch analysis {
	case provider.AnalysisTranscript:
		if r.Transcript == nil {
			return false
		}
		entries, words, truncated := d.transcript(r.Transcript)
		if len(entries) == 0 {
			d.summary = append(d.summary, "no speech found")
			return true
		}
		d.emit(CardTranscript, box.NewTranscriptCard(d.b.meta(d.invocation, "Transcript", "transcript"), dur, entries),
			fmt.Sprintf("transcript (%d words)", words))
		if truncated {
			d.notes = append(d.notes, fmt.Sprintf("The transcript card shows the first %d passages.", len(entries)))
		}
	case provider.AnalysisKeywords:
		if r.Keywords == nil {
			return false
		}
		kws := d.keywords(r.Keywords)
		if len(kws) == 0 {
			d.summary = append(d.summary, "no keywords found")
			return true
		}
		d.emit(CardKeywords, box.NewKeywordCard(d.b.meta(d.invocation, "Keywords", "keywords"), kws...),
			fmt.Sprintf("%d keywords", len(kws)))
	case provider.AnalysisScenes:
		if r.Scenes == nil {
			return false
		}
		entries := d.scenes(r.Scenes, dur)
		if len(entries) == 0 {
			d.summary = append(d.summary, "no scenes found")
			return true
		}
		d.emit(CardScenes, box.NewTimelineCard(d.b.meta(d.invocation, "Scenes", "scenes"), dur, entries),
			fmt.Sprintf("%d scenes", len(entries)))
	case provider.AnalysisOCR:
		if r.OCR == nil {
			return false
		}
		entries := d.ocr(r.OCR, dur)
		if len(entries) == 0 {
			d.summary = append(d.summary, "no on-screen text found")
			return true
		}
		d.emit(CardOCR, box.NewTimelineCard(d.b.meta(d.invocation, "On-screen text", "ocr"), dur, entries),
			fmt.Sprintf("%d on-screen texts", len(entries)))
	default:
		return false
	}
	return true
}

func duration(r *provider.Result) int {
	d := 0.0
	if r.Media != nil {
		d = r.Media.Duration
	}
	if d <= 0 {
		if r.Transcript != nil && len(r.Transcript.Words) > 0 {
			d = max(d, r.Transcript.Words[len(r.Transcript.Words)-1].End)
		}
		for _, s := range r.Scenes {
			d = max(d, s.End)
		}
		for _, o := range r.OCR {
			d = max(d, o.End)
		}
	}
	return int(math.Ceil(d))
}

// sec rounds a time to the nearest second (a cut at 30.8 s is at 31 s on
// the card), so that neighbouring spans share their boundary.
func sec(f float64) int {
	if f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return int(math.Round(f))
}

// span makes a timeline appearance of at least one second, within the
// media, with both ends rounded to the nearest second.
func span(start, end float64, dur int) box.Appearance {
	s, e := sec(start), sec(end)
	if dur > 0 {
		s = min(s, dur-1)
		e = min(e, dur)
	}
	if e <= s {
		e = s + 1
	}
	return box.Span(s, e)
}

// transcript groups words into passages split at pauses. A value read out
// as several words was redacted into as many copies of its token: the
// copies become one, and a number is never split across two passages.
func (d *deck) transcript(t *provider.Transcript) (entries []box.CardEntry, words int, truncated bool) {
	var cur []string
	var start, lastEnd float64
	flush := func() {
		if len(cur) == 0 {
			return
		}
		entries = append(entries, box.CardEntry{Text: truncate(strings.Join(cur, " "), maxEntryText), Appears: []box.Appearance{box.At(sec(start))}})
		cur = cur[:0]
	}
	for _, w := range t.Words {
		word := strings.TrimSpace(w.Word)
		if word == "" {
			continue
		}
		if len(cur) > 0 && word == cur[len(cur)-1] && isVaultToken(word) {
			// Every word of a redacted number became the same token: keep
			// one, and never split a number across two entries.
			lastEnd = w.End
			words++
			continue
		}
		if len(cur) > 0 && (w.Start-lastEnd > transcriptGap || len(cur) >= transcriptEntryWords) {
			flush()
			if len(entries) >= d.b.limits.transcriptEntries {
				return entries, words, true
			}
		}
		if len(cur) == 0 {
			start = w.Start
		}
		cur = append(cur, word)
		lastEnd = w.End
		words++
	}
	flush()
	if len(entries) > d.b.limits.transcriptEntries {
		return entries[:d.b.limits.transcriptEntries], words, true
	}
	return entries, words, false
}

func isVaultToken(w string) bool {
	return strings.HasPrefix(w, "[") && strings.HasSuffix(w, "]") && strings.Contains(w, ":")
}

func (d *deck) keywords(ks []provider.Keyword) []string {
	sorted := slices.Clone(ks)
	slices.SortStableFunc(sorted, func(x, y provider.Keyword) int { return cmp.Compare(y.Score, x.Score) })
	var out []string
	var seen []string
	for _, k := range sorted {
		text := strings.TrimSpace(k.Text)
		key := strings.ToLower(text)
		if text == "" || slices.Contains(seen, key) {
			continue
		}
		seen = append(seen, key)
		out = append(out, truncate(text, maxEntryText))
		if len(out) >= d.b.limits.keywords {
			break
		}
	}
	return out
}

func (d *deck) scenes(scenes []provider.Scene, dur int) []box.CardEntry {
	var out []box.CardEntry
	for i, s := range scenes {
		if len(out) >= d.b.limits.timelineEntries {
			d.notes = append(d.notes, fmt.Sprintf("The scenes card shows the first %d scenes of %d.", len(out), len(scenes)))
			break
		}
		out = append(out, box.CardEntry{
			Text:    fmt.Sprintf("Scene %d (%s)", i+1, clock(s.Start)),
			Appears: []box.Appearance{span(s.Start, s.End, dur)},
		})
	}
	return out
}

// ocr makes one timeline entry per distinct text, with every span it is on
// screen, in order of first appearance.
func (d *deck) ocr(texts []provider.OCRText, dur int) []box.CardEntry {
	var out []box.CardEntry
	var keys []string
	dropped := 0
	for _, t := range texts {
		text := collapseSpace(t.Text)
		if len([]rune(text)) < 2 {
			continue
		}
		text = truncate(text, maxEntryText)
		key := strings.ToLower(text)
		ap := span(t.Start, t.End, dur)
		if i := slices.Index(keys, key); i >= 0 {
			if len(out[i].Appears) < 50 {
				out[i].Appears = append(out[i].Appears, ap)
			}
			continue
		}
		if len(out) >= d.b.limits.timelineEntries {
			dropped++
			continue
		}
		keys = append(keys, key)
		out = append(out, box.CardEntry{Text: text, Appears: []box.Appearance{ap}})
	}
	if dropped > 0 {
		d.notes = append(d.notes, fmt.Sprintf("The on-screen text card shows the first %d texts; %d more were left out.", len(out), dropped))
	}
	return out
}

func clock(s float64) string {
	d := time.Duration(sec(s)) * time.Second
	h, m, x := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, x)
	}
	return fmt.Sprintf("%d:%02d", m, x)
}

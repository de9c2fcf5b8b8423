package provider

import (
	"strings"
	"unicode/utf8"
)

// SpreadWords splits a timed piece of text (a transcript line or segment)
// into words and shares its time among them in proportion to their length
// (spaces count too). Services that time lines but not words are mapped
// this way, so the card writer, which groups words into passages, sees the
// same line boundaries and approximate word boundaries inside.
func SpreadWords(text string, start, end, confidence float64) []Word {
	words := strings.Fields(text)
	if len(words) == 0 {
		return nil
	}
	if end < start {
		end = start
	}
	total := len(words) - 1 // the spaces between words
	for _, w := range words {
		total += utf8.RuneCountInString(w)
	}
	out := make([]Word, 0, len(words))
	at := 0
	for _, w := range words {
		n := utf8.RuneCountInString(w)
		out = append(out, Word{
			Word:       w,
			Start:      start + (end-start)*float64(at)/float64(total),
			End:        start + (end-start)*float64(at+n)/float64(total),
			Confidence: confidence,
		})
		at += n + 1
	}
	return out
}

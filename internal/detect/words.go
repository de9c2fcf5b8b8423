package detect

import (
	"slices"
	"strings"
)

// WordMatch is one value found in a list of words.
type WordMatch struct {
	Kind  Kind
	Value string // normal form, as in Match
	// First and Last delimit the words that hold the value: words[First:Last].
	First, Last int
}

// Words returns the sensitive values in a transcript given as words, in
// order and never sharing a word (when one word holds two values, the match
// of the first covers it). It finds what Text finds in the words
// joined by spaces ("4111 1111 1111 1111", "jane.doe@example.com") and
// numbers spoken as digit words: "four one one one …", "double four",
// "triple one", "oh" and "zero" for 0, digits written as numerals mixed in
// ("four 111 …"), with "uh"/"um" and the homophones "for", "to", "too" only
// between two digits. A spoken run is a card number when 13 to 19 of its
// consecutive digits are one (as in Text); nine digits after "social
// security"/"SSN" are an SSN; ten or eleven digits after "phone", "call",
// "number" or the like are a phone number.
func Words(words []string) []WordMatch {
	var b strings.Builder
	starts := make([]int, len(words))
	for i, w := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		starts[i] = b.Len()
		b.WriteString(w)
	}
	wordAt := func(off int) int {
		i, found := slices.BinarySearch(starts, off)
		if !found {
			i--
		}
		return i
	}
	var out []WordMatch
	taken := make([]bool, len(words))
	for _, m := range Text(b.String()) {
		wm := WordMatch{Kind: m.Kind, Value: m.Value, First: wordAt(m.Start), Last: wordAt(m.End-1) + 1}
		if n := len(out); n > 0 && out[n-1].Last > wm.First {
			// Two values in one word ("a@x.io,b@y.io"): the word goes
			// with the first, which covers the second's words too.
			out[n-1].Last = max(out[n-1].Last, wm.Last)
		} else {
			out = append(out, wm)
		}
		for i := wm.First; i < wm.Last; i++ {
			taken[i] = true
		}
	}
	out = append(out, spoken(words, taken)...)
	slices.SortFunc(out, func(a, b WordMatch) int { return a.First - b.First })
	return out
}

var digitWords = map[string]string{
	"zero": "0", "oh": "0", "o": "0", "nought": "0", "one": "1", "two": "2", "three": "3", "four": "4",
	"five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}

// homophones count as digits only between two digits.
var homophones = map[string]string{"for": "4", "to": "2", "too": "2", "won": "1", "ate": "8"}

// fillers are skipped between two digits.
var fillers = map[string]bool{"uh": true, "um": true, "er": true, "erm": true, "ah": true, "hmm": true}

var (
	ssnWords   = []string{"ssn", "social security", "s s n", "social"}
	phoneWords = []string{"phone", "call", "calling", "mobile", "cell", "telephone", "dial", "reach", "text", "fax", "number"}
)

// item is one spoken digit, digit group or multiplied digit.
type item struct {
	first, last int // words[first:last]
	digits      string
}

func normWord(w string) string { return strings.ToLower(strings.Trim(w, ".,;:!?\"'()")) }

// digitItem reads a digit item at words[i] (not homophones or fillers).
func digitItem(words []string, i int) (item, bool) {
	w := normWord(words[i])
	if d, ok := digitWords[w]; ok {
		return item{i, i + 1, d}, true
	}
	if (w == "double" || w == "triple") && i+1 < len(words) {
		if d, ok := digitWords[normWord(words[i+1])]; ok {
			n := 2
			if w == "triple" {
				n = 3
			}
			return item{i, i + 2, strings.Repeat(d, n)}, true
		}
	}
	if d := strings.Map(func(r rune) rune {
		if r == '-' || r == '.' {
			return -1
		}
		return r
	}, w); allDigits(d) && len(d) <= 19 {
		return item{i, i + 1, d}, true
	}
	return item{}, false
}

// spoken finds values read out as digit words among the words not taken.
func spoken(words []string, taken []bool) []WordMatch {
	var out []WordMatch
	for i := 0; i < len(words); {
		var items []item
		j := i
		for j < len(words) && !taken[j] {
			if it, ok := digitItem(words, j); ok {
				items = append(items, it)
				j = it.last
				continue
			}
			// A homophone or filler joins a run only between two digits.
			w := normWord(words[j])
			if len(items) > 0 && j+1 < len(words) && !taken[j+1] {
				if _, ok := digitItem(words, j+1); ok {
					if d, ok := homophones[w]; ok {
						items = append(items, item{j, j + 1, d})
						j++
						continue
					}
					if fillers[w] {
						items = append(items, item{j, j + 1, ""})
						j++
						continue
					}
				}
			}
			break
		}
		if len(items) == 0 {
			i = j + 1
			continue
		}
		// Runs of numerals alone were Text's to find, with its rules on grouping.
		if slices.ContainsFunc(items, func(it item) bool { return !allDigits(normWord(words[it.first])) }) {
			out = append(out, spokenRun(words, items)...)
		}
		i = j
	}
	return out
}

// spokenRun classifies one run of digit items.
func spokenRun(words []string, items []item) []WordMatch {
	var d strings.Builder
	var starts []int
	itemAt := []int{} // digit index → item index
	for k, it := range items {
		if it.digits == "" {
			continue
		}
		starts = append(starts, d.Len())
		d.WriteString(it.digits)
		for range it.digits {
			itemAt = append(itemAt, k)
		}
	}
	digits := d.String()
	var out []WordMatch
	for _, w := range cardWindows(digits, starts, func(int, int) bool { return true }) {
		out = append(out, WordMatch{Kind: Card, Value: digits[w[0]:w[1]], First: items[itemAt[w[0]]].first, Last: items[itemAt[w[1]-1]].last})
	}
	if len(out) > 0 {
		return out
	}
	first, last := items[0].first, items[len(items)-1].last
	before := strings.ToLower(strings.Join(words[max(0, first-8):first], " "))
	switch {
	case len(digits) == 9 && ValidSSN(digits) && hasContext(before, ssnWords):
		return []WordMatch{{Kind: SSN, Value: digits, First: first, Last: last}}
	case (len(digits) == 10 && nanp(digits) || len(digits) == 11 && digits[0] == '1' && nanp(digits[1:])) && hasContext(before, phoneWords):
		return []WordMatch{{Kind: Phone, Value: "+1" + digits[len(digits)-10:], First: first, Last: last}}
	case len(digits) >= 10 && len(digits) <= 11 && digits[0] == '0' && digits[1] != '0' && hasContext(before, phoneWords):
		return []WordMatch{{Kind: Phone, Value: digits, First: first, Last: last}}
	}
	return nil
}

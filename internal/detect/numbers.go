package detect

import (
	"strings"
)

// A run is a maximal sequence of digit groups joined by single separators
// (space, tab, newline, dash or dot): "4111 1111 1111 1111 123" is one run of
// five groups. Runs glued to letters lose the glued group ("A123" is a code,
// not a number).
type run struct {
	groups [][2]int // byte offsets [start, end) of each group's digits
	seps   []byte   // seps[i] joins groups[i] and groups[i+1]
}

func isSep(c byte) bool { return c == ' ' || c == '-' || c == '.' || c == '\t' || c == '\n' }

func numericRuns(s string) []run {
	var runs []run
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			i++
			continue
		}
		var r run
		for {
			j := i
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			r.groups = append(r.groups, [2]int{i, j})
			if j+1 < len(s) && isSep(s[j]) && isDigit(s[j+1]) {
				r.seps = append(r.seps, s[j])
				i = j + 1
				continue
			}
			i = j
			break
		}
		if letterBefore(s, r.groups[0][0]) {
			r.groups, r.seps = r.groups[1:], r.seps[min(1, len(r.seps)):]
		}
		if n := len(r.groups); n > 0 && letterAt(s, r.groups[n-1][1]) {
			r.groups = r.groups[:n-1]
			r.seps = r.seps[:max(0, len(r.seps)-1)]
		}
		if len(r.groups) > 0 {
			runs = append(runs, r)
		}
	}
	return runs
}

// digits returns the run's digits and, for each digit, its byte offset.
func (r run) digits(s string) (string, []int) {
	var b strings.Builder
	var pos []int
	for _, g := range r.groups {
		b.WriteString(s[g[0]:g[1]])
		for p := g[0]; p < g[1]; p++ {
			pos = append(pos, p)
		}
	}
	return b.String(), pos
}

// numbers finds card numbers, SSNs and national phone numbers in the
// numeric runs of s.
func numbers(s string) []Match {
	var out []Match
	for _, r := range numericRuns(s) {
		if cards := runCards(s, r); len(cards) > 0 {
			out = append(out, cards...)
			continue
		}
		for _, seg := range r.segments() {
			if m, ok := segmentSSN(s, r, seg); ok {
				out = append(out, m)
			} else if m, ok := segmentPhone(s, r, seg); ok {
				out = append(out, m)
			}
		}
	}
	return out
}

// runCards finds card numbers in a run. A card starts at a group. It either
// lies within that one group (a bare number, possibly followed by more
// digits: "41111111111111111234") or covers whole groups of at least three
// digits each ("4111 1111 1111 1111", "3782 822463 10005"), possibly followed
// by more groups ("4111 1111 1111 1111 123"). Groups of one or two digits
// ("31.12.2025", "slide 1 2 3") never join a card.
func runCards(s string, r run) []Match {
	d, pos := r.digits(s)
	starts := make([]int, len(r.groups))
	groupAt := make([]int, len(d)) // digit index → group index
	ends := map[int]bool{}         // digit indexes where a group ends
	at := 0
	for gi, g := range r.groups {
		starts[gi] = at
		for k := g[0]; k < g[1]; k++ {
			groupAt[at] = gi
			at++
		}
		ends[at] = true
	}
	fits := func(start, end int) bool {
		first, last := groupAt[start], groupAt[end-1]
		if first == last {
			return true
		}
		if !ends[end] {
			return false
		}
		for gi := first; gi <= last; gi++ {
			if r.groups[gi][1]-r.groups[gi][0] < 3 {
				return false
			}
		}
		return true
	}
	var out []Match
	for _, w := range cardWindows(d, starts, fits) {
		out = append(out, Match{Kind: Card, Start: pos[w[0]], End: pos[w[1]-1] + 1, Value: d[w[0]:w[1]]})
	}
	return out
}

// A segment is a maximal stretch of a run whose separators are all the
// same: "123-45-6789 2024" has the segments "123-45-6789" and "6789 2024".
type segment struct{ first, last int } // group indexes, inclusive

func (r run) segments() []segment {
	if len(r.seps) == 0 {
		return []segment{{0, 0}}
	}
	var out []segment
	start := 0
	for i := 1; i <= len(r.seps); i++ {
		if i == len(r.seps) || r.seps[i] != r.seps[start] {
			out = append(out, segment{start, i})
			start = i
		}
	}
	return out
}

func (r run) lens(seg segment) []int {
	var out []int
	for gi := seg.first; gi <= seg.last; gi++ {
		out = append(out, r.groups[gi][1]-r.groups[gi][0])
	}
	return out
}

func (r run) sep(seg segment) byte {
	if seg.first == seg.last {
		return 0
	}
	return r.seps[seg.first]
}

// text returns the digits of a segment and its byte offsets.
func (r run) text(s string, seg segment) (digits string, start, end int) {
	start, end = r.groups[seg.first][0], r.groups[seg.last][1]
	var b strings.Builder
	for gi := seg.first; gi <= seg.last; gi++ {
		b.WriteString(s[r.groups[gi][0]:r.groups[gi][1]])
	}
	return b.String(), start, end
}

func equalInts(a []int, b ...int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ValidSSN reports whether nine digits are a social security number the
// SSA could have issued: area 000, 666 and 900–999, group 00 and serial 0000
// are never assigned.
func ValidSSN(d string) bool {
	if len(d) != 9 || !allDigits(d) {
		return false
	}
	area, group, serial := d[0:3], d[3:5], d[5:9]
	return area != "000" && area != "666" && area[0] != '9' && group != "00" && serial != "0000"
}

// ssnContext is what must precede a bare nine-digit SSN (lower case).
var ssnContext = []string{"ssn", "social security", "soc. sec", "soc sec", "ss#", "ss no", "ss-no"}

func hasContext(before string, words []string) bool {
	before = strings.ToLower(before)
	for _, w := range words {
		if i := strings.LastIndex(before, w); i >= 0 {
			// a whole word: not the tail of a longer one ("lessn")
			if i == 0 || !isASCIILetter(before[i-1]) {
				return true
			}
		}
	}
	return false
}

// segmentSSN: 123-45-6789 or 123 45 6789 on its own, or nine bare digits
// after a word such as "SSN" or "social security" (within 40 bytes).
func segmentSSN(s string, r run, seg segment) (Match, bool) {
	d, start, end := r.text(s, seg)
	lens, sep := r.lens(seg), r.sep(seg)
	switch {
	case equalInts(lens, 3, 2, 4) && (sep == '-' || sep == ' '):
	case equalInts(lens, 9) && len(r.groups) == 1 && hasContext(s[max(0, start-40):start], ssnContext):
	default:
		return Match{}, false
	}
	if !ValidSSN(d) {
		return Match{}, false
	}
	return Match{Kind: SSN, Start: start, End: end, Value: d}, true
}

// segmentPhone finds phone numbers written without an international
// prefix: North American 415-555-2671, 415.555.2671, 415 555 2671,
// 1-800-555-0199 (area code and exchange start with 2–9), and the European
// national forms that start with the trunk prefix 0 — 020 7946 0958,
// 01 23 45 67 89, 030 901820, 06-12345678 — with 9 to 11 digits in groups of
// at least two, all joined by the same separator. Dialled forms (+44 …,
// 0044 …, (415) 555-2671) are found by dialledPhones.
func segmentPhone(s string, r run, seg segment) (Match, bool) {
	d, start, end := r.text(s, seg)
	if start > 0 && (s[start-1] == '+' || s[start-1] == '(' || s[start-1] == ')') {
		return Match{}, false
	}
	lens, sep := r.lens(seg), r.sep(seg)
	if !phoneSep(sep) {
		return Match{}, false
	}
	switch {
	case equalInts(lens, 3, 3, 4) && nanp(d):
		return Match{Kind: Phone, Start: start, End: end, Value: "+1" + d}, true
	case equalInts(lens, 1, 3, 3, 4) && d[0] == '1' && nanp(d[1:]):
		return Match{Kind: Phone, Start: start, End: end, Value: "+" + d}, true
	case len(d) >= 9 && len(d) <= 11 && d[0] == '0' && d[1] != '0' && minInt(lens) >= 2:
		return Match{Kind: Phone, Start: start, End: end, Value: d}, true
	}
	return Match{}, false
}

// nanp: a ten-digit North American number, area code and exchange 2–9.
func nanp(d string) bool { return len(d) == 10 && d[0] >= '2' && d[3] >= '2' }

func minInt(xs []int) int {
	m := xs[0]
	for _, x := range xs[1:] {
		m = min(m, x)
	}
	return m
}

// dialledPhones finds numbers written to be dialled from abroad — "+" or
// "00" and a country code, then groups joined by single spaces, dashes or
// dots, with an optional "(0)" trunk prefix or a parenthesised area code:
// +1 415 555 2671, +44 (0)20 7946 0958, 0049 30 901820, +33 1 23 45 67 89 —
// with 8 to 15 digits, and North American numbers with the area code in
// parentheses: (415) 555-2671.
func dialledPhones(s string) []Match {
	var out []Match
	for i := 0; i < len(s); i++ {
		if alnumBefore(s, i) || i >= 2 && isSep(s[i-1]) && isDigit(s[i-2]) {
			continue // inside a word or a run of numbers
		}
		switch {
		case s[i] == '+' && i+1 < len(s) && s[i+1] >= '1' && s[i+1] <= '9':
			if m, ok := international(s, i, i+1); ok {
				out = append(out, m)
				i = m.End - 1
			}
		case s[i] == '0' && i+2 < len(s) && s[i+1] == '0' && s[i+2] >= '1' && s[i+2] <= '9' && (i == 0 || s[i-1] != '+'):
			if m, ok := international(s, i, i+2); ok {
				out = append(out, m)
				i = m.End - 1
			}
		case s[i] == '(':
			if m, ok := parenthesised(s, i); ok {
				out = append(out, m)
				i = m.End - 1
			}
		}
	}
	return out
}

// international parses from the first digit of the country code at p; the
// number starts at start ("+" or "00").
func international(s string, start, p int) (Match, bool) {
	var digits strings.Builder
	groups, short, end := 0, 0, p
	for i := p; ; {
		if s[i] == '(' {
			k := i + 1
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			if groups == 0 || k == i+1 || k-i-1 > 4 || k >= len(s) || s[k] != ')' {
				break
			}
			if s[i+1:k] != "0" { // "(0)" is the trunk prefix, not dialled from abroad
				digits.WriteString(s[i+1 : k])
			}
			i = k + 1
		} else {
			k := i
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			if k == i {
				break
			}
			if groups > 0 && k-i == 1 {
				short++
			}
			digits.WriteString(s[i:k])
			i = k
		}
		groups++
		end = i
		switch {
		case i < len(s) && (s[i] == '(' || isDigit(s[i])): // "+44(0)20", "(0)20"
		case i+1 < len(s) && phoneSep(s[i]) && (isDigit(s[i+1]) || s[i+1] == '('):
			i++
		default:
			i = len(s)
		}
		if i >= len(s) {
			break
		}
	}
	d := digits.String()
	if len(d) < 8 || len(d) > 15 || short > 1 || alnumAt(s, end) || s[start] == '0' && groups < 2 {
		return Match{}, false
	}
	return Match{Kind: Phone, Start: start, End: end, Value: "+" + d}, true
}

// parenthesised parses "(415) 555-2671" and "(415)555.2671" at the "(".
func parenthesised(s string, i int) (Match, bool) {
	j := i + 5
	if j > len(s) || s[i+4] != ')' || !allDigits(s[i+1:i+4]) {
		return Match{}, false
	}
	if j < len(s) && s[j] == ' ' {
		j++
	}
	if j+8 > len(s) || !allDigits(s[j:j+3]) || !phoneSep(s[j+3]) || !allDigits(s[j+4:j+8]) || alnumAt(s, j+8) {
		return Match{}, false
	}
	d := s[i+1:i+4] + s[j:j+3] + s[j+4:j+8]
	if !nanp(d) {
		return Match{}, false
	}
	return Match{Kind: Phone, Start: i, End: j + 8, Value: "+1" + d}, true
}

func phoneSep(c byte) bool { return c == ' ' || c == '-' || c == '.' }

func allDigits(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

// Package detect finds sensitive values in machine-made text: payment card
// numbers, US social security numbers, IBANs, e-mail addresses and phone
// numbers, written (on-screen text, documents) or spoken (transcripts given
// as words, "four one one one …").
//
// Detection is deliberately strict, because every false positive destroys
// content that people wanted to see: card numbers must pass the Luhn check
// and fit the number ranges and lengths of a card scheme, IBANs must pass the
// ISO 13616 mod-97 check and have their country's length, SSNs must lie in
// ranges the Social Security Administration assigns. Dates, times, prices,
// version numbers, ISBNs and ordinary order numbers are left alone.
//
// The package holds no keys and does no I/O; internal/vault turns what it
// finds into tokens.
package detect

import (
	"slices"
	"unicode"
	"unicode/utf8"
)

// Kind names a class of sensitive value.
type Kind string

// The kinds of value Text and Words find.
const (
	Card  Kind = "card"
	SSN   Kind = "ssn"
	IBAN  Kind = "iban"
	Email Kind = "email"
	Phone Kind = "phone"
)

// Kinds lists every kind, in the order overlapping findings are preferred.
func Kinds() []Kind { return []Kind{Email, IBAN, Card, SSN, Phone} }

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool { return slices.Contains(Kinds(), k) }

// rank orders kinds for overlap resolution: lower wins.
func (k Kind) rank() int { return slices.Index(Kinds(), k) }

// Match is one value found in a text.
type Match struct {
	Kind Kind
	// Start and End are byte offsets: text[Start:End] is the value as written.
	Start, End int
	// Value is the value in its normal form (see Normalize): equal values
	// written differently ("4111 1111 1111 1111", "4111-1111-1111-1111")
	// have the same Value.
	Value string
}

// Text returns the sensitive values in s, ordered by position and never
// overlapping. Where two candidates overlap, an e-mail address wins over an
// IBAN, an IBAN over a card number, a card over an SSN, an SSN over a phone
// number.
func Text(s string) []Match {
	var cands []Match
	cands = append(cands, emails(s)...)
	cands = append(cands, ibans(s)...)
	cands = append(cands, numbers(s)...)
	cands = append(cands, dialledPhones(s)...)
	return resolve(cands)
}

// resolve keeps the best of overlapping candidates and sorts by position.
func resolve(cands []Match) []Match {
	slices.SortStableFunc(cands, func(a, b Match) int {
		if a.Kind != b.Kind {
			return a.Kind.rank() - b.Kind.rank()
		}
		if a.Start != b.Start {
			return a.Start - b.Start
		}
		return (b.End - b.Start) - (a.End - a.Start)
	})
	var out []Match // sorted by Start, never overlapping
	for _, c := range cands {
		// the first kept match that ends after c starts is the only one
		// that can overlap c
		i, _ := slices.BinarySearchFunc(out, c.Start, func(m Match, start int) int {
			if m.End <= start {
				return -1
			}
			return 1
		})
		if i < len(out) && out[i].Start < c.End {
			continue
		}
		out = slices.Insert(out, i, c)
	}
	return out
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// letterBefore reports whether the rune ending at s[:i] is a letter.
func letterBefore(s string, i int) bool {
	if i <= 0 {
		return false
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return unicode.IsLetter(r)
}

// letterAt reports whether the rune starting at s[i:] is a letter.
func letterAt(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return unicode.IsLetter(r)
}

// alnumBefore and alnumAt are letterBefore and letterAt that also count digits.
func alnumBefore(s string, i int) bool { return i > 0 && isDigit(s[i-1]) || letterBefore(s, i) }
func alnumAt(s string, i int) bool     { return i < len(s) && isDigit(s[i]) || letterAt(s, i) }

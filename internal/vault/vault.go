// Package vault keeps sensitive values found in ML output (payment card
// numbers, US social security numbers, IBANs) out of the metadata store.
// Each value is replaced by a token derived with a keyed HMAC: the same value
// always gives the same token (so retried writes are idempotent and equal
// values stay correlatable), and without the key a token reveals nothing.
// Reversing a token needs a separate detokenisation service and credential,
// which this package deliberately does not offer.
package vault

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/big"
	"regexp"
	"strings"

	"filesight/internal/secret"
)

// Kind names a class of sensitive value.
type Kind string

const (
	KindCard Kind = "card"
	KindSSN  Kind = "ssn"
	KindIBAN Kind = "iban"
)

// Finding is one replaced value; it carries no part of the value.
type Finding struct {
	Kind  Kind   `json:"kind"`
	Token string `json:"token"`
}

// Tokenizer replaces sensitive values by tokens.
type Tokenizer struct{ key []byte }

// New returns a Tokenizer keyed with key (at least 16 bytes).
func New(key secret.String) (*Tokenizer, error) {
	if len(key.Reveal()) < 16 {
		return nil, errors.New("vault: tokenisation key must be at least 16 bytes")
	}
	return &Tokenizer{key: []byte(key.Reveal())}, nil
}

// Token returns the token of value of kind: "[card:3f9a0c1b2d4e]".
func (t *Tokenizer) Token(kind Kind, value string) string {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return "[" + string(kind) + ":" + hex.EncodeToString(m.Sum(nil)[:6]) + "]"
}

var (
	// 13–19 digits, optionally grouped by single spaces or dashes.
	cardRe = regexp.MustCompile(`\b\d(?:[ -]?\d){12,18}\b`)
	ssnRe  = regexp.MustCompile(`\b\d{3}-\d{2}-\d{4}\b`)
	ibanRe = regexp.MustCompile(`\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b`)
)

// RedactText replaces every sensitive value in s.
func (t *Tokenizer) RedactText(s string) (string, []Finding) {
	var found []Finding
	replace := func(re *regexp.Regexp, kind Kind, valid func(string) bool) {
		s = re.ReplaceAllStringFunc(s, func(m string) string {
			norm := strings.NewReplacer(" ", "", "-", "").Replace(m)
			if !valid(norm) {
				return m
			}
			tok := t.Token(kind, norm)
			found = append(found, Finding{Kind: kind, Token: tok})
			return tok
		})
	}
	replace(cardRe, KindCard, Luhn)
	replace(ssnRe, KindSSN, validSSN)
	replace(ibanRe, KindIBAN, validIBAN)
	return s, found
}

var digitWords = map[string]byte{
	"zero": '0', "oh": '0', "o": '0', "one": '1', "two": '2', "three": '3', "four": '4',
	"five": '5', "six": '6', "seven": '7', "eight": '8', "nine": '9',
}

// RedactWords handles transcripts, where a card number is spoken as digit
// words ("four one one one ..."): every run of 13–19 digit words (or digits)
// that passes Luhn is replaced, word for word, by the run's token. It returns
// a new slice; words outside a run are unchanged.
func (t *Tokenizer) RedactWords(words []string) ([]string, []Finding) {
	out := make([]string, len(words))
	copy(out, words)
	var found []Finding
	for i := 0; i < len(words); {
		j, digits := i, []byte{}
		for j < len(words) {
			w := strings.ToLower(strings.Trim(words[j], ".,;:"))
			if d, ok := digitWords[w]; ok {
				digits = append(digits, d)
			} else if w != "" && strings.Trim(w, "0123456789") == "" && len(w) <= 4 {
				digits = append(digits, w...)
			} else {
				break
			}
			j++
		}
		if j > i && len(digits) >= 13 && len(digits) <= 19 && Luhn(string(digits)) {
			tok := t.Token(KindCard, string(digits))
			found = append(found, Finding{Kind: KindCard, Token: tok})
			for k := i; k < j; k++ {
				out[k] = tok
			}
		}
		if j == i {
			j++
		}
		i = j
	}
	return out, found
}

// Luhn reports whether a string of digits passes the Luhn checksum.
func Luhn(digits string) bool {
	if len(digits) < 2 {
		return false
	}
	sum, double := 0, false
	for i := len(digits) - 1; i >= 0; i-- {
		c := digits[i]
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

func validSSN(s string) bool {
	area, group, serial := s[0:3], s[3:5], s[5:9]
	return area != "000" && area != "666" && area[0] != '9' && group != "00" && serial != "0000"
}

// validIBAN checks the ISO 13616 mod-97 checksum.
func validIBAN(s string) bool {
	if len(s) < 15 || len(s) > 34 {
		return false
	}
	rearranged := s[4:] + s[:4]
	var b strings.Builder
	for _, c := range rearranged {
		switch {
		case c >= '0' && c <= '9':
			b.WriteRune(c)
		case c >= 'A' && c <= 'Z':
			b.WriteString(big.NewInt(int64(c-'A') + 10).String())
		default:
			return false
		}
	}
	n, ok := new(big.Int).SetString(b.String(), 10)
	return ok && new(big.Int).Mod(n, big.NewInt(97)).Int64() == 1
}

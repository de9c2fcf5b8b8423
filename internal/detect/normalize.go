package detect

import (
	"errors"
	"fmt"
	"strings"
)

// MaxValueLen bounds a value given to Normalize, in bytes.
const MaxValueLen = 320

// Normalize returns the normal form of a value of kind k, as Match.Value
// holds it, so that a value written in different ways is one value: card
// numbers and SSNs as digits, IBANs in upper case without spaces, e-mail
// addresses in lower case, phone numbers as digits with a leading "+" when
// the country code is known. It checks the shape of the value (length,
// characters), not its check digits: the caller decided what the value is.
// Errors describe the shape expected, never the value.
func Normalize(k Kind, v string) (string, error) {
	if v == "" {
		return "", errors.New("empty value")
	}
	if len(v) > MaxValueLen {
		return "", fmt.Errorf("value longer than %d bytes", MaxValueLen)
	}
	strip := func(s, cut string) string {
		return strings.Map(func(r rune) rune {
			if strings.ContainsRune(cut, r) {
				return -1
			}
			return r
		}, s)
	}
	switch k {
	case Card:
		d := strip(v, " -.\t\n")
		if !allDigits(d) || len(d) < 12 || len(d) > 19 {
			return "", errors.New("a card number is 12 to 19 digits (spaces, dashes and dots allowed)")
		}
		return d, nil
	case SSN:
		d := strip(v, " -")
		if !allDigits(d) || len(d) != 9 {
			return "", errors.New("an SSN is 9 digits (spaces and dashes allowed)")
		}
		return d, nil
	case IBAN:
		d := strings.ToUpper(strip(v, " "))
		ok := len(d) >= 15 && len(d) <= 34 && isASCIILetter(d[0]) && isASCIILetter(d[1]) && isDigit(d[2]) && isDigit(d[3])
		for i := 0; ok && i < len(d); i++ {
			ok = isDigit(d[i]) || isASCIILetter(d[i])
		}
		if !ok {
			return "", errors.New("an IBAN is 15 to 34 letters and digits starting with a country code and two check digits")
		}
		return d, nil
	case Email:
		d := strings.ToLower(strings.TrimSpace(v))
		local, domain, ok := strings.Cut(d, "@")
		if !ok || local == "" || domain == "" || strings.ContainsAny(domain, "@ \t\n") || strings.ContainsAny(local, " \t\n") {
			return "", errors.New("an e-mail address is local-part@domain without spaces")
		}
		return d, nil
	case Phone:
		plus := strings.HasPrefix(strings.TrimSpace(v), "+")
		d := strip(strings.Replace(v, "(0)", "", 1), " -./()+\t")
		if !allDigits(d) || len(d) < 7 || len(d) > 15 {
			return "", errors.New("a phone number is 7 to 15 digits, optionally with a leading + (spaces, dashes, dots, slashes and parentheses allowed)")
		}
		if plus {
			d = "+" + d
		}
		return d, nil
	}
	return "", fmt.Errorf("unknown kind %q (known: card, ssn, iban, email, phone)", string(k))
}

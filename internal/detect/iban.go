package detect

import "strings"

// ibanLengths is the length of an IBAN per country, from the SWIFT IBAN
// registry (ISO 13616).
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
	"BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
	"ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
	"HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
	"LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
	"MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
	"RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
	"TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}

// ValidIBAN reports whether s (upper case, no spaces) has its country's
// length and passes the ISO 13616 mod-97 check.
func ValidIBAN(s string) bool {
	if len(s) < 15 || ibanLengths[s[:min(2, len(s))]] != len(s) || !isDigit(s[2]) || !isDigit(s[3]) {
		return false
	}
	// Move the first four characters to the end, read letters as 10–35 and
	// take the remainder digit by digit.
	rem := 0
	for _, c := range s[4:] + s[:4] {
		switch {
		case c >= '0' && c <= '9':
			rem = (rem*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			rem = (rem*100 + int(c-'A') + 10) % 97
		default:
			return false
		}
	}
	return rem == 1
}

// ibans finds IBANs in any case, written in groups of four ("GB82 WEST 1234
// 5698 7654 32") or without spaces. The IBAN must start and end at a word
// boundary.
func ibans(s string) []Match {
	var out []Match
	for i := 0; i+4 <= len(s); i++ {
		if !isASCIILetter(s[i]) || !isASCIILetter(s[i+1]) || !isDigit(s[i+2]) || !isDigit(s[i+3]) || alnumBefore(s, i) {
			continue
		}
		want := ibanLengths[strings.ToUpper(s[i:i+2])]
		if want == 0 {
			continue
		}
		var b strings.Builder
		j := i
		for j < len(s) && b.Len() < want {
			c := s[j]
			switch {
			case isDigit(c) || isASCIILetter(c):
				b.WriteByte(c)
				j++
				continue
			case c == ' ' && j+1 < len(s) && (isDigit(s[j+1]) || isASCIILetter(s[j+1])) && b.Len()%4 == 0:
				j++ // spaces only between groups of four
				continue
			}
			break
		}
		v := strings.ToUpper(b.String())
		if len(v) != want || alnumAt(s, j) || !ValidIBAN(v) {
			continue
		}
		out = append(out, Match{Kind: IBAN, Start: i, End: j, Value: v})
		i = j - 1
	}
	return out
}

package detect

import "strconv"

// Luhn reports whether digits (ASCII digits only, at least two) pass the
// Luhn mod-10 check that every payment card number carries.
func Luhn(digits string) bool {
	if len(digits) < 2 {
		return false
	}
	sum, double := 0, false
	for i := len(digits) - 1; i >= 0; i-- {
		c := digits[i]
		if !isDigit(c) {
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

// schemeFits reports whether a run of digits starts with the issuer
// identification number of a card scheme that issues numbers of its length.
// Numbers outside every scheme's range (most order numbers, ISBNs that start
// with 978/979, placeholders like 1234 5678 …) are not card numbers even when
// they happen to pass Luhn.
func schemeFits(d string) bool {
	n := len(d)
	if n < 13 || n > 19 {
		return false
	}
	p2, _ := strconv.Atoi(d[:2])
	p3, _ := strconv.Atoi(d[:3])
	p4, _ := strconv.Atoi(d[:4])
	switch {
	case d[0] == '4': // Visa, Visa Electron
		return n == 13 || n == 16 || n == 19
	case p2 >= 51 && p2 <= 55, p4 >= 2221 && p4 <= 2720: // Mastercard, incl. the 2-series
		return n == 16
	case p4 >= 2200 && p4 <= 2204: // Mir
		return n >= 16
	case p2 == 34 || p2 == 37: // American Express
		return n == 15
	case p4 >= 3528 && p4 <= 3589: // JCB
		return n >= 16
	case p2 == 36, p3 >= 300 && p3 <= 305, p4 == 3095, p2 == 38, p2 == 39: // Diners Club
		return n >= 14
	case p4 == 6011, p3 >= 644 && p3 <= 649, p2 == 65: // Discover
		return n >= 16
	case p2 == 62: // UnionPay (incl. Discover's 622126–622925)
		return n >= 16
	case p2 == 50, p2 >= 56 && p2 <= 58, d[0] == '6': // Maestro
		return true
	}
	return false
}

// IsCardNumber reports whether digits could be a payment card number: the
// length and prefix of a card scheme, and a valid Luhn check digit.
func IsCardNumber(digits string) bool { return schemeFits(digits) && Luhn(digits) }

// cardLengths is the order in which window lengths are tried from one
// start: longest first. "4917 6100 0000 0000 003" is a 19-digit card whose
// first 16 digits also pass; taking the 16 would leave three digits of the
// card in the text, while a 16-digit card followed by a CVV that happens to
// complete a valid 19-digit number only redacts the CVV with it.
var cardLengths = [...]int{19, 18, 17, 16, 15, 14, 13}

// cardWindows finds card numbers in a string of digits. starts lists the
// digit indexes a card may begin at (ascending); fits reports whether the
// window [start, end) is acceptable for reasons of layout (grouping). Found
// windows never overlap; after one, scanning resumes at its end, which may
// itself start a card (a long run of digits holding several).
func cardWindows(digits string, starts []int, fits func(start, end int) bool) [][2]int {
	var out [][2]int
	next := 0
	try := func(s int) bool {
		for _, n := range cardLengths {
			e := s + n
			if e <= len(digits) && fits(s, e) && IsCardNumber(digits[s:e]) {
				out = append(out, [2]int{s, e})
				next = e
				return true
			}
		}
		return false
	}
	for _, s := range starts {
		for s >= next && try(s) {
			s = next
		}
	}
	return out
}

package detect_test

import (
	"strings"
	"testing"

	"filesight/internal/detect"
)

// The vectors in this file come from outside this code: card numbers that
// card networks and payment processors publish for testing (the PayPal /
// Braintree, Stripe and Adyen test-card lists), the IBAN examples of the
// SWIFT IBAN registry and of the national banking associations, and the
// SSA's rules for numbers it never issues. None was produced by the functions
// under test.

// publishedCards are published test numbers of every major scheme. Most of
// them have a doubled digit above 4, so a Luhn check that forgets to
// subtract 9 from a doubled digit fails on them.
var publishedCards = []struct{ scheme, number string }{
	{"Visa", "4111111111111111"},
	{"Visa", "4012888888881881"},
	{"Visa (13 digits)", "4222222222222"},
	{"Visa debit", "4000056655665556"},
	{"Mastercard", "5555555555554444"},
	{"Mastercard", "5105105105105100"},
	{"Mastercard debit", "5200828282828210"},
	{"Mastercard 2-series", "2223003122003222"},
	{"Mastercard 2-series", "2222400070000005"},
	{"Mastercard 2-series", "2223000048400011"},
	{"American Express", "378282246310005"},
	{"American Express", "371449635398431"},
	{"American Express corporate", "378734493671000"},
	{"Discover", "6011111111111117"},
	{"Discover", "6011000990139424"},
	{"Discover debit", "6011981111111113"},
	{"JCB", "3530111333300000"},
	{"JCB", "3566002020360505"},
	{"Diners Club", "30569309025904"},
	{"Diners Club", "38520000023237"},
	{"Diners Club (14 digits)", "36227206271667"},
	{"Diners Club (16 digits)", "3056930009020004"},
	{"UnionPay", "6200000000000005"},
}

func TestPublishedCardNumbers(t *testing.T) {
	for _, c := range publishedCards {
		if !detect.Luhn(c.number) {
			t.Errorf("%s %s: Luhn = false", c.scheme, c.number)
		}
		if !detect.IsCardNumber(c.number) {
			t.Errorf("%s %s: IsCardNumber = false", c.scheme, c.number)
		}
		// Luhn catches every single-digit error: any other check digit fails.
		last := c.number[len(c.number)-1]
		for d := byte('0'); d <= '9'; d++ {
			if d == last {
				continue
			}
			if bad := c.number[:len(c.number)-1] + string(d); detect.Luhn(bad) || detect.IsCardNumber(bad) {
				t.Errorf("%s %s: accepted with check digit %c", c.scheme, c.number, d)
			}
		}
		// ... and a change of any other single digit.
		for i := 0; i < len(c.number)-1; i++ {
			b := []byte(c.number)
			b[i] = '0' + (b[i]-'0'+5)%10
			if detect.Luhn(string(b)) {
				t.Errorf("%s %s: accepted with digit %d changed: %s", c.scheme, c.number, i, b)
			}
		}
	}
}

// A card number is found in text however it is written, and replaced whole.
func TestPublishedCardNumbersInText(t *testing.T) {
	for _, c := range publishedCards {
		n := c.number
		// The layouts printed on cards: 4-4-4-4, Amex 4-6-5, Diners 4-6-4,
		// and 4-3-3-3 for the 13-digit Visa.
		var grouped string
		switch len(n) {
		case 13:
			grouped = n[:4] + " " + n[4:7] + " " + n[7:10] + " " + n[10:]
		case 14, 15:
			grouped = n[:4] + " " + n[4:10] + " " + n[10:]
		default:
			grouped = n[:4] + " " + n[4:8] + " " + n[8:12] + " " + n[12:]
		}
		for _, written := range []string{n, grouped, strings.ReplaceAll(grouped, " ", "-")} {
			text := "paid with " + written + " yesterday"
			got := detect.Text(text)
			if len(got) != 1 || got[0].Kind != detect.Card || text[got[0].Start:got[0].End] != written || got[0].Value != n {
				t.Errorf("%s in %q: got %+v", c.scheme, text, got)
			}
		}
	}
}

// A Luhn-valid number outside every scheme's prefixes and lengths is no card.
func TestCardSchemeBoundaries(t *testing.T) {
	for d, want := range map[string]bool{
		"2221000000000009":    true,  // first Mastercard 2-series prefix
		"2720992593319364":    true,  // last one
		"2721000000000004":    false, // just past the 2-series
		"3400000000000000":    false, // 34 with 16 digits: Amex has 15
		"340000000000009":     true,
		"6011000000000004":    true,
		"601100000000001":     false, // Discover with 15 digits
		"3528000000000007":    true,  // first JCB prefix
		"3589000000000003":    true,  // last JCB prefix
		"3527000000000008":    false,
		"411111111111111118":  false, // Visa with 18 digits
		"4000000000000000006": true,  // Visa with 19 digits
		"2200000000000004":    true,  // Mir, first prefix
		"220000000000004":     false, // Mir with 15 digits
		"2204000000000000":    true,  // Mir, last prefix
		"2205000000000009":    false, // past Mir, before the 2-series
	} {
		if !detect.Luhn(d) {
			t.Fatalf("vector %s does not pass Luhn: fix the test", d)
		}
		if got := detect.IsCardNumber(d); got != want {
			t.Errorf("IsCardNumber(%s) = %v, want %v", d, got, want)
		}
	}
}

// publishedIBANs are the example IBANs of the SWIFT IBAN registry and of
// national banking associations, one per country.
var publishedIBANs = []string{
	"GB82WEST12345698765432",
	"DE89370400440532013000",
	"FR1420041010050500013M02606",
	"NL91ABNA0417164300",
	"BE68539007547034",
	"ES9121000418450200051332",
	"IT60X0542811101000000123456",
	"CH9300762011623852957",
	"AT611904300234573201",
	"NO9386011117947",
	"PL61109010140000071219812874",
	"SE4550000000058398257466",
	"DK5000400440116243",
	"FI2112345600000785",
	"IE29AIBK93115212345678",
	"PT50000201231234567890154",
	"MT84MALT011000012345MTLCAST001S",
	"SA0380000000608010167519",
	"LU280019400644750000",
	"BR1800360305000010009795493C1",
}

func TestPublishedIBANs(t *testing.T) {
	for _, s := range publishedIBANs {
		if !detect.ValidIBAN(s) {
			t.Errorf("ValidIBAN(%s) = false", s)
			continue
		}
		// ISO 7064 mod 97-10 catches every single-digit substitution and
		// every transposition of adjacent digits.
		for i := 2; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				continue
			}
			b := []byte(s)
			b[i] = '0' + (b[i]-'0'+3)%10
			if detect.ValidIBAN(string(b)) {
				t.Errorf("%s: accepted with digit %d changed: %s", s, i, b)
			}
			if i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' && s[i] != s[i+1] && i >= 4 {
				b := []byte(s)
				b[i], b[i+1] = b[i+1], b[i]
				if detect.ValidIBAN(string(b)) {
					t.Errorf("%s: accepted with digits %d and %d swapped: %s", s, i, i+1, b)
				}
			}
		}
		// One character more or less is the wrong length for the country.
		if detect.ValidIBAN(s+"0") || detect.ValidIBAN(s[:len(s)-1]) {
			t.Errorf("%s: accepted with another length", s)
		}
		// In text, in groups of four and in lower case, it is found whole.
		var g strings.Builder
		for i := 0; i < len(s); i += 4 {
			if i > 0 {
				g.WriteByte(' ')
			}
			g.WriteString(s[i:min(i+4, len(s))])
		}
		for _, written := range []string{s, g.String(), strings.ToLower(g.String())} {
			text := "IBAN: " + written + "."
			got := detect.Text(text)
			if len(got) != 1 || got[0].Kind != detect.IBAN || text[got[0].Start:got[0].End] != written || got[0].Value != s {
				t.Errorf("%q: got %+v", text, got)
			}
		}
	}
}

// The SSA never issues area 000, 666 or 900–999, group 00 or serial 0000.
func TestSSNNeverIssued(t *testing.T) {
	for d, want := range map[string]bool{
		"000123456": false, "001123456": true,
		"665123456": true, "666123456": false, "667123456": true,
		"899123456": true, "900123456": false, "950123456": false, "999123456": false,
		"123011234": true, "123011234 ": false, "123000001": false, "123010001": true,
		"123450001": true, "123450000": false, "123004567": false,
		"078051120": true, "1234567890": false, "12345678a": false,
	} {
		if got := detect.ValidSSN(d); got != want {
			t.Errorf("ValidSSN(%q) = %v, want %v", d, got, want)
		}
	}
	for _, text := range []string{
		"SSN 000-12-3456", "SSN 666-12-3456", "SSN 900-12-3456", "SSN 999-12-3456",
		"SSN 123-00-4567", "SSN 123-45-0000", "SSN 000123456", "social security 666123456",
	} {
		for _, m := range detect.Text(text) {
			if m.Kind == detect.SSN {
				t.Errorf("%q: found SSN %q, which is never issued", text, m.Value)
			}
		}
	}
	for _, text := range []string{"SSN 665-12-3456", "SSN 899-01-0001", "social security 001010001"} {
		got := detect.Text(text)
		if len(got) != 1 || got[0].Kind != detect.SSN {
			t.Errorf("%q: got %+v, want one SSN", text, got)
		}
	}
}

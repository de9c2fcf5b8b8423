package detect_test

import (
	"strings"
	"testing"

	"filesight/internal/detect"
)

func TestLuhnFixedVectors(t *testing.T) {
	for _, d := range []string{"4242424242424242", "378282246310005", "6205500000000000004", "79927398713", "00"} {
		if !detect.Luhn(d) {
			t.Errorf("Luhn(%s) = false", d)
		}
	}
	for _, d := range []string{"4242424242424241", "79927398710", "1", "", "4242-4242", "12a4"} {
		if detect.Luhn(d) {
			t.Errorf("Luhn(%q) = true", d)
		}
	}
}

func TestIsCardNumberNeedsASchemeRange(t *testing.T) {
	for d, want := range map[string]bool{
		"4242424242424242":    true,
		"378282246310005":     true,
		"3782822463100050":    false, // Amex has 15 digits
		"79927398713":         false, // Luhn-valid, too short
		"1234567812345670":    false, // Luhn-valid, no scheme starts with 1
		"9780306406157":       false, // an ISBN: Luhn does not apply, no scheme starts with 97
		"6205500000000000004": true,
	} {
		if got := detect.IsCardNumber(d); got != want {
			t.Errorf("IsCardNumber(%s) = %v, want %v", d, got, want)
		}
	}
}

func TestValidSSN(t *testing.T) {
	for d, want := range map[string]bool{
		"123456789": true, "078051120": true, "000123456": false, "666123456": false,
		"912345678": false, "123004567": false, "123450000": false, "12345678": false,
	} {
		if got := detect.ValidSSN(d); got != want {
			t.Errorf("ValidSSN(%s) = %v, want %v", d, got, want)
		}
	}
}

func TestValidIBAN(t *testing.T) {
	for s, want := range map[string]bool{
		"GB82WEST12345698765432":   true,
		"GB82WEST12345698765433":   false, // check digits
		"GB82WEST1234569876543":    false, // length for GB
		"XX82WEST12345698765432":   false, // no such country
		"gb82west12345698765432":   false, // callers upper-case first
		"NO9386011117947":          true,
		"DE89370400440532013000":   true,
		"DE8937040044053201300":    false,
		"DE89 3704 0044 0532 0130": false,
	} {
		if got := detect.ValidIBAN(s); got != want {
			t.Errorf("ValidIBAN(%s) = %v, want %v", s, got, want)
		}
	}
}

func TestTextSpans(t *testing.T) {
	type m struct {
		kind detect.Kind
		span string // what text[Start:End] must be
	}
	tests := []struct {
		text string
		want []m
	}{
		{"Contact jane.doe@example.com today", []m{{detect.Email, "jane.doe@example.com"}}},
		{"card 4111 1111 1111 1111 exp 12/30, cvc 123", []m{{detect.Card, "4111 1111 1111 1111"}}},
		{"41111111111111111234", []m{{detect.Card, "4111111111111111"}}},
		{"IBAN GB82 WEST 1234 5698 7654 32.", []m{{detect.IBAN, "GB82 WEST 1234 5698 7654 32"}}},
		{"call +44 (0)20 7946 0958 or (415) 555-2671", []m{{detect.Phone, "+44 (0)20 7946 0958"}, {detect.Phone, "(415) 555-2671"}}},
		{"SSN 123-45-6789, card 5555555555554444", []m{{detect.SSN, "123-45-6789"}, {detect.Card, "5555555555554444"}}},
		// The IBAN wins over the numbers inside it.
		{"DE89 3704 0044 0532 0130 00", []m{{detect.IBAN, "DE89 3704 0044 0532 0130 00"}}},
		// Letters glued to a run make a code, not a number.
		{"REF4111111111111111", nil},
		{"4111111111111111X", nil},
		{"ü4111111111111111", nil},
	}
	for _, tt := range tests {
		got := detect.Text(tt.text)
		if len(got) != len(tt.want) {
			t.Errorf("%q: got %+v, want %v", tt.text, got, tt.want)
			continue
		}
		for i, g := range got {
			if g.Kind != tt.want[i].kind || tt.text[g.Start:g.End] != tt.want[i].span {
				t.Errorf("%q: match %d is %s %q, want %s %q", tt.text, i, g.Kind, tt.text[g.Start:g.End], tt.want[i].kind, tt.want[i].span)
			}
		}
	}
}

func TestWordsRanges(t *testing.T) {
	words := strings.Fields("so my card is four two four two four two four two four two four two four two four two and my email is jane.doe@example.com thanks")
	got := detect.Words(words)
	if len(got) != 2 {
		t.Fatalf("got %+v", got)
	}
	if c := got[0]; c.Kind != detect.Card || c.First != 4 || c.Last != 20 || c.Value != "4242424242424242" {
		t.Errorf("card: %+v", c)
	}
	if e := got[1]; e.Kind != detect.Email || e.First != 24 || e.Last != 25 {
		t.Errorf("email: %+v", e)
	}
	// A value written across words is one match over those words.
	got = detect.Words([]string{"pay", "4111", "1111", "1111", "1111", "now"})
	if len(got) != 1 || got[0].First != 1 || got[0].Last != 5 {
		t.Errorf("numerals: %+v", got)
	}
	// "double" takes its digit word with it.
	got = detect.Words(strings.Fields("double five double five double five double five double five double five double four double four ok"))
	if len(got) != 1 || got[0].First != 0 || got[0].Last != 16 {
		t.Errorf("double: %+v", got)
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		kind      detect.Kind
		in, want  string
		wantError bool
	}{
		{detect.Card, "4111 1111-1111.1111", "4111111111111111", false},
		{detect.Card, "4111", "", true},
		{detect.Card, "4111 1111 1111 111x", "", true},
		{detect.SSN, "123-45-6789", "123456789", false},
		{detect.SSN, "123-45-678", "", true},
		{detect.IBAN, "gb82 west 1234 5698 7654 32", "GB82WEST12345698765432", false},
		{detect.IBAN, "GB82-WEST", "", true},
		{detect.Email, " Jane.Doe@Example.COM ", "jane.doe@example.com", false},
		{detect.Email, "jane", "", true},
		{detect.Phone, "+44 (0)20 7946 0958", "+442079460958", false},
		{detect.Phone, "(415) 555-2671", "4155552671", false},
		{detect.Phone, "call me", "", true},
		{"pin", "1234", "", true},
		{detect.Card, "", "", true},
		{detect.Email, strings.Repeat("a", detect.MaxValueLen) + "@x.io", "", true},
	}
	for _, tt := range tests {
		got, err := detect.Normalize(tt.kind, tt.in)
		if (err != nil) != tt.wantError || got != tt.want {
			t.Errorf("Normalize(%s, %q) = %q, %v; want %q (error %v)", tt.kind, tt.in, got, err, tt.want, tt.wantError)
		}
		if err != nil && tt.in != "" && len(tt.in) > 3 && strings.Contains(err.Error(), tt.in) {
			t.Errorf("error %q repeats the value", err)
		}
	}
}

// Every match found in the corpus is a well-formed value of its kind, and
// Text's spans are what was written.
func TestMatchesNormalize(t *testing.T) {
	for _, p := range positives {
		if strings.HasPrefix(p.text, spoken) {
			continue
		}
		for _, m := range detect.Text(p.text) {
			n, err := detect.Normalize(m.Kind, p.text[m.Start:m.End])
			if err != nil {
				t.Errorf("%q: span %q of a %s does not normalize: %v", p.text, p.text[m.Start:m.End], m.Kind, err)
				continue
			}
			if m.Kind != detect.Phone && n != m.Value {
				t.Errorf("%q: span normalizes to %q, match value %q", p.text, n, m.Value)
			}
		}
	}
}

func FuzzText(f *testing.F) {
	for _, p := range positives {
		f.Add(p.text)
	}
	for _, n := range negatives[:20] {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, s string) {
		last := 0
		for _, m := range detect.Text(s) {
			if m.Start < last || m.End <= m.Start || m.End > len(s) {
				t.Fatalf("bad span [%d,%d) after %d in %q", m.Start, m.End, last, s)
			}
			last = m.End
			if !m.Kind.Valid() || m.Value == "" {
				t.Fatalf("bad match %+v", m)
			}
			if _, err := detect.Normalize(m.Kind, m.Value); err != nil {
				t.Fatalf("value of %+v does not normalize: %v", m, err)
			}
		}
		words := strings.Fields(s)
		lastWord := 0
		for _, m := range detect.Words(words) {
			if m.First < lastWord || m.Last <= m.First || m.Last > len(words) {
				t.Fatalf("bad word range %+v of %d words", m, len(words))
			}
			lastWord = m.Last
		}
	})
}

package detect_test

import (
	"strings"
	"testing"

	"filesight/internal/detect"
)

// found is one expected match: its kind, the text it covers, its value.
type found struct {
	kind        detect.Kind
	span, value string
}

// TestEdges pins where each detector starts and stops: lengths at their
// limits, the separators it accepts, the characters that may touch a value,
// values written back to back. Every row was checked by hand against the
// rules in the detectors' doc comments; together they kill the boundary and
// negation mutants of those rules (docs/testing.md, "Mutation testing").
func TestEdges(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []found
	}{
		{"call +1 415 555 2671 now", []found{{detect.Phone, "+1 415 555 2671", "+14155552671"}}},
		{"+1 415 555 2671", []found{{detect.Phone, "+1 415 555 2671", "+14155552671"}}},
		{"tel 0044 20 7946 0958", []found{{detect.Phone, "0044 20 7946 0958", "+442079460958"}}},
		{"0044 20 7946 0958", []found{{detect.Phone, "0044 20 7946 0958", "+442079460958"}}},
		{"+44 (0)20 7946 0958", []found{{detect.Phone, "+44 (0)20 7946 0958", "+442079460958"}}},
		{"+44(0)20 7946 0958", []found{{detect.Phone, "+44(0)20 7946 0958", "+442079460958"}}},
		{"+49 (30) 901820", []found{{detect.Phone, "+49 (30) 901820", "+4930901820"}}},
		{"+49 (12345) 901820", []found{}},
		{"+49 () 901820", []found{}},
		{"+4930901820", []found{{detect.Phone, "+4930901820", "+4930901820"}}},
		{"+493090182", []found{{detect.Phone, "+493090182", "+493090182"}}},
		{"+49309018", []found{{detect.Phone, "+49309018", "+49309018"}}},
		{"+4930901", []found{}},
		{"+1234567890123456", []found{}},
		{"+123456789012345", []found{{detect.Phone, "+123456789012345", "+123456789012345"}}},
		{"+1 2 3 456 789 012", []found{}},
		{"+1 2 345 678 901", []found{{detect.Phone, "+1 2 345 678 901", "+12345678901"}}},
		{"+12 3 456 7890", []found{{detect.Phone, "+12 3 456 7890", "+1234567890"}}},
		{"00 44 20", []found{}},
		{"0049 30 901820", []found{{detect.Phone, "0049 30 901820", "+4930901820"}}},
		{"0049301234", []found{}},
		{"0049 30 901820x", []found{}},
		{"+49 30 901820x", []found{}},
		{"+49 30 901820-", []found{{detect.Phone, "+49 30 901820", "+4930901820"}}},
		{"+49 30 901820.", []found{{detect.Phone, "+49 30 901820", "+4930901820"}}},
		{"1 +49 30 901820", []found{}},
		{"a+49 30 901820", []found{}},
		{"1-+49 30 901820", []found{}},
		{"12 +49 30 901820", []found{}},
		{"(415) 555-2671", []found{{detect.Phone, "(415) 555-2671", "+14155552671"}}},
		{"(415)555.2671", []found{{detect.Phone, "(415)555.2671", "+14155552671"}}},
		{"(415) 555 2671", []found{{detect.Phone, "(415) 555 2671", "+14155552671"}}},
		{"(415)  555 2671", []found{}},
		{"(415) 555-267", []found{}},
		{"(415) 555-26711", []found{}},
		{"(115) 555-2671", []found{}},
		{"(415) 155-2671", []found{}},
		{"(215) 255-2671", []found{{detect.Phone, "(215) 255-2671", "+12152552671"}}},
		{"(415 555-2671", []found{}},
		{"x(415) 555-2671", []found{}},
		{"(41) 555-2671", []found{}},
		{"(415) 555-2671x", []found{}},
		{"(415) 555_2671", []found{}},
		{"415-555-2671", []found{{detect.Phone, "415-555-2671", "+14155552671"}}},
		{"1-800-555-0199", []found{{detect.Phone, "1-800-555-0199", "+18005550199"}}},
		{"020 7946 0958", []found{{detect.Phone, "020 7946 0958", "02079460958"}}},
		{"01 23 45 67 89", []found{{detect.Phone, "01 23 45 67 89", "0123456789"}}},
		{"030 901820", []found{{detect.Phone, "030 901820", "030901820"}}},
		{"06-12345678", []found{{detect.Phone, "06-12345678", "0612345678"}}},
		{"0 20 7946 0958", []found{}},
		{"00 20 7946 0958", []found{}},
		{"020 7946 09580", []found{}},
		{"02079460958", []found{}},
		{"020-7946-0958", []found{{detect.Phone, "020-7946-0958", "02079460958"}}},
		{"415-555-2671-", []found{{detect.Phone, "415-555-2671", "+14155552671"}}},
		{"+415-555-2671", []found{{detect.Phone, "+415-555-2671", "+4155552671"}}},
		{"(415-555-2671", []found{}},
		{")415-555-2671", []found{}},
		{"a@b.co", []found{{detect.Email, "a@b.co", "a@b.co"}}},
		{"john@example.com-x", []found{}},
		{"john@example.comx", []found{{detect.Email, "john@example.comx", "john@example.comx"}}},
		{"jane@example.com.", []found{{detect.Email, "jane@example.com", "jane@example.com"}}},
		{"x@y.png", []found{}},
		{"icon@2x.png", []found{}},
		{"jane.doe@Example.COM", []found{{detect.Email, "jane.doe@Example.COM", "jane.doe@example.com"}}},
		{"SSN: 123456789", []found{{detect.SSN, "123456789", "123456789"}}},
		{"ssn123456789", []found{}},
		{"lessn 123456789", []found{}},
		{"SSN 123 45 6789", []found{{detect.SSN, "123 45 6789", "123456789"}}},
		{"SSN 123.45.6789", []found{}},
		{"123-45-6789-1", []found{}},
		{"4111 1111 1111 1111 123", []found{{detect.Card, "4111 1111 1111 1111", "4111111111111111"}}},
		{"4111.1111.1111.1111", []found{{detect.Card, "4111.1111.1111.1111", "4111111111111111"}}},
		{"4111\t1111\t1111\t1111", []found{{detect.Card, "4111\t1111\t1111\t1111", "4111111111111111"}}},
		{"4111\n1111\n1111\n1111", []found{{detect.Card, "4111\n1111\n1111\n1111", "4111111111111111"}}},
		{"4111 1111 1111 11 11", []found{}},
		{"41 11 1111 1111 1111", []found{}},
		{"4111-1111-1111-1111 and 5555 5555 5555 4444", []found{{detect.Card, "4111-1111-1111-1111", "4111111111111111"}, {detect.Card, "5555 5555 5555 4444", "5555555555554444"}}},
		{"GB82 WEST 1234 5698 7654 32", []found{{detect.IBAN, "GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432"}}},
		{"GB82WEST12345698765432x", []found{}},
		{"xGB82WEST12345698765432", []found{}},
		{"GB82 WEST 1234 5698 7654 3", []found{}},
		{"GB82  WEST 1234 5698 7654 32", []found{}},
		{"GB82 WE ST1234 5698 7654 32", []found{}},
		{"GB82WEST 12345698765432", []found{{detect.IBAN, "GB82WEST 12345698765432", "GB82WEST12345698765432"}}},
		{"DE89 3704 0044 0532 0130 00 1", []found{{detect.IBAN, "DE89 3704 0044 0532 0130 00", "DE89370400440532013000"}}},
		{"1.2.3", []found{}},
		{"4111111111111111.", []found{{detect.Card, "4111111111111111", "4111111111111111"}}},
		{"-4111111111111111-", []found{{detect.Card, "4111111111111111", "4111111111111111"}}},
		{"+49 30 901820,+44 20 7946 0958", []found{{detect.Phone, "+49 30 901820", "+4930901820"}, {detect.Phone, "+44 20 7946 0958", "+442079460958"}}},
		{"0049 30 901820,0044 20 7946 0958", []found{{detect.Phone, "0049 30 901820", "+4930901820"}, {detect.Phone, "0044 20 7946 0958", "+442079460958"}}},
		{"(415) 555-2671,(212) 555-0100", []found{{detect.Phone, "(415) 555-2671", "+14155552671"}, {detect.Phone, "(212) 555-0100", "+12125550100"}}},
		{"+49 (1234) 901820", []found{{detect.Phone, "+49 (1234) 901820", "+491234901820"}}},
		{"+49309018", []found{{detect.Phone, "+49309018", "+49309018"}}},
		{"215-255-2671", []found{{detect.Phone, "215-255-2671", "+12152552671"}}},
		{"415-155-2671", []found{}},
		{"115-555-2671", []found{}},
		{"jane@example.com,john@example.org", []found{{detect.Email, "jane@example.com", "jane@example.com"}, {detect.Email, "john@example.org", "john@example.org"}}},
		{"4111111111111111,5555555555554444", []found{{detect.Card, "4111111111111111", "4111111111111111"}, {detect.Card, "5555555555554444", "5555555555554444"}}},
		{"SSN 123-45-6789,4111111111111111", []found{{detect.SSN, "123-45-6789", "123456789"}, {detect.Card, "4111111111111111", "4111111111111111"}}},
		{"call 020 7946 0958, or 0044 20 7946 0958", []found{{detect.Phone, "020 7946 0958", "02079460958"}, {detect.Phone, "0044 20 7946 0958", "+442079460958"}}},
		{"GB82WEST12345698765432,DE89370400440532013000", []found{{detect.IBAN, "GB82WEST12345698765432", "GB82WEST12345698765432"}, {detect.IBAN, "DE89370400440532013000", "DE89370400440532013000"}}},
		{"jane@example.com-", []found{}},
		// Overlaps: the kind that ranks higher wins even when the other starts
		// first; of two phones, the one that starts first.
		{"+44.20.7946.0958@example.com", []found{{detect.Email, "44.20.7946.0958@example.com", "44.20.7946.0958@example.com"}}},
		{"+49 030-901820", []found{{detect.Phone, "+49 030-901820", "+49030901820"}}},
		// A trailing separator does not join the run; a short last group
		// does not join a card; a space at the end of an IBAN's group.
		{"SSN 123-45-6789- x", []found{{detect.SSN, "123-45-6789", "123456789"}}},
		{"4111 1111 1111 111 1", []found{}},
		{"IBAN GB82 WEST ", []found{}},
		{"+49 30 901820 (12", []found{{detect.Phone, "+49 30 901820", "+4930901820"}}},
		{"0049 30901820", []found{{detect.Phone, "0049 30901820", "+4930901820"}}},
		{"call (415)", []found{}},
		// An IBAN whose length is a multiple of four ends there, even with
		// a group after it.
		{"BE68 5390 0754 7034 12", []found{{detect.IBAN, "BE68 5390 0754 7034", "BE68539007547034"}}},
		// A phone and an SSN sharing a group: the SSN ranks higher, though
		// the phone was found first.
		{"020 7946 095-12-3456", []found{{detect.SSN, "095-12-3456", "095123456"}}},
		// RFC 5321: a local part of at most 64 bytes, an address of at most 254.
		{strings.Repeat("a", 64) + "@example.com", []found{{detect.Email, strings.Repeat("a", 64) + "@example.com", strings.Repeat("a", 64) + "@example.com"}}},
		{strings.Repeat("a", 65) + "@example.com", []found{}},
		{longEmail(57), []found{{detect.Email, longEmail(57), longEmail(57)}}},
		{longEmail(58), []found{}},
	} {
		got := detect.Text(tc.text)
		ok := len(got) == len(tc.want)
		for i := 0; ok && i < len(got); i++ {
			g, w := got[i], tc.want[i]
			ok = g.Kind == w.kind && tc.text[g.Start:g.End] == w.span && g.Value == w.value
		}
		if !ok {
			var desc []string
			for _, g := range got {
				desc = append(desc, string(g.Kind)+" "+tc.text[g.Start:g.End]+" = "+g.Value)
			}
			t.Errorf("%q: found [%s], want %v", tc.text, strings.Join(desc, "; "), tc.want)
		}
	}
}

// longEmail is an address of 197+k bytes: a 64-byte local part and a domain
// of four labels, the third k bytes long.
func longEmail(k int) string {
	return strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", k) + ".com"
}

// Normalize accepts each kind's shape up to its limits and not past them.
func TestNormalizeLimits(t *testing.T) {
	d := func(n int) string { return strings.Repeat("4", n) }
	for _, tc := range []struct {
		kind   detect.Kind
		in     string
		want   string // "" = refused
		reason string
	}{
		{detect.Card, d(12), d(12), "12 digits"},
		{detect.Card, d(11), "", "11 digits"},
		{detect.Card, d(19), d(19), "19 digits"},
		{detect.Card, d(20), "", "20 digits"},
		{detect.Card, "4111\t1111\n1111 1111", "4111111111111111", "tabs and newlines"},
		{detect.SSN, "123 45 6789", "123456789", "spaces"},
		{detect.SSN, "1234567890", "", "10 digits"},
		{detect.SSN, "12345678x", "", "a letter"},
		{detect.IBAN, "NO9386011117947", "NO9386011117947", "15 characters"},
		{detect.IBAN, "NO938601111794", "", "14 characters"},
		{detect.IBAN, "LC55HEMM000100010012001200023015", "LC55HEMM000100010012001200023015", "32 characters"},
		{detect.IBAN, "XX00" + d(30), "XX00" + d(30), "34 characters"},
		{detect.IBAN, "XX00" + d(31), "", "35 characters"},
		{detect.IBAN, "1B82WEST12345698765432", "", "a digit for a country letter"},
		{detect.IBAN, "G282WEST12345698765432", "", "a digit for the second country letter"},
		{detect.IBAN, "GBX2WEST12345698765432", "", "a letter for a check digit"},
		{detect.IBAN, "GB8XWEST12345698765432", "", "a letter for the second check digit"},
		{detect.IBAN, "GB82WEST1234569876543.", "", "a dot"},
		{detect.Email, "a@b", "a@b", "shortest"},
		{detect.Email, "@b.io", "", "no local part"},
		{detect.Email, "a@", "", "no domain"},
		{detect.Email, "a@b@c.io", "", "two @"},
		{detect.Email, "a b@c.io", "", "a space in the local part"},
		{detect.Email, "a@b c.io", "", "a space in the domain"},
		{detect.Phone, "1234567", "1234567", "7 digits"},
		{detect.Phone, "123456", "", "6 digits"},
		{detect.Phone, "+" + d(15), "+" + d(15), "15 digits"},
		{detect.Phone, "+" + d(16), "", "16 digits"},
		{detect.Phone, " +1 415 555 2671", "+14155552671", "a space before the +"},
		{detect.Phone, "020/7946 0958", "02079460958", "a slash"},
		{detect.Card, "4111 " + strings.Repeat(" ", detect.MaxValueLen-19) + "1111 1111 1111", "4111111111111111", "MaxValueLen bytes"},
		{detect.Card, "4111 " + strings.Repeat(" ", detect.MaxValueLen-18) + "1111 1111 1111", "", "MaxValueLen+1 bytes"},
	} {
		got, err := detect.Normalize(tc.kind, tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s, %s: Normalize(%q) = %q, want an error", tc.kind, tc.reason, tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s, %s: Normalize(%q) = %q, %v; want %q", tc.kind, tc.reason, tc.in, got, err, tc.want)
		}
	}
}

// Words at the edges of a transcript: values in neighbouring words, in one
// word, spoken digits running to the last word, a last word that would
// continue a value.
func TestWordsEdges(t *testing.T) {
	type span struct {
		kind        detect.Kind
		first, last int
	}
	card := strings.Fields("four two four two four two four two four two four two four two four two")
	for _, tc := range []struct {
		words []string
		want  []span
	}{
		{[]string{"mail", "a@x.io", "b@y.io"}, []span{{detect.Email, 1, 2}, {detect.Email, 2, 3}}},
		{[]string{"mail", "a@x.io,b@y.io", "now"}, []span{{detect.Email, 1, 2}}},
		{append([]string{"card"}, card...), []span{{detect.Card, 1, 17}}},
		{append(append([]string{"card"}, card...), "for"), []span{{detect.Card, 1, 17}}},
		{[]string{"my", "number", "is", "double"}, nil},
		{append([]string{"pay", "to"}, card...), []span{{detect.Card, 2, 18}}},
		// A homophone or a filler between digits belongs to the value, also
		// as its last digit.
		{strings.Fields("card four two four two four two four two four two four two four two four to one"), []span{{detect.Card, 1, 17}}},
		{strings.Fields("card four two four two four two four two four two four two four two four uh two one"), []span{{detect.Card, 1, 18}}},
		{strings.Fields("card four one one one 1111-1111 1111 thanks"), []span{{detect.Card, 1, 7}}},
		{strings.Fields("card four one one one 1111.1111 1111"), []span{{detect.Card, 1, 7}}},
	} {
		got := detect.Words(tc.words)
		ok := len(got) == len(tc.want)
		for i := 0; ok && i < len(got); i++ {
			ok = got[i].Kind == tc.want[i].kind && got[i].First == tc.want[i].first && got[i].Last == tc.want[i].last
		}
		if !ok {
			t.Errorf("%q: got %+v, want %+v", tc.words, got, tc.want)
		}
	}
}

package detect_test

import (
	"fmt"
	"strings"
	"testing"

	"filesight/internal/detect"
)

// The labelled corpus. Every expected value is written out by hand: card
// numbers are published test numbers of the card schemes' acquirers and
// gateways (Stripe's testing page, Worldpay's and Access PaySuite's test
// values, Adyen's point-of-sale test cards, Worldnet's and Ingenico's test
// cards), IBANs are the example IBANs of the SWIFT IBAN registry, phone
// numbers are in ranges reserved for fiction or documentation where a
// country has one (Ofcom's 020 7946 0xxx, 0161 496 0xxx, 07700 900xxx; US
// 555-01xx). None of them is computed by the code under test.
//
// A positive is found when a match of its kind has the labelled value or
// contains it (a card read together with the CVV that follows it is
// redacted completely). Precision counts every match made on the corpus,
// negatives included.

type positive struct {
	kind  detect.Kind
	value string // normal form, see detect.Normalize
	text  string
}

// spoken marks a transcript: the text is split into words and given to Words.
const spoken = "🗣 "

var positives = []positive{
	// Visa
	{detect.Card, "4242424242424242", "Visa 4242 4242 4242 4242"},
	{detect.Card, "4000056655665556", "pay with 4000 0566 5566 5556 today"},
	{detect.Card, "4111111111111111", "4111-1111-1111-1111"},
	{detect.Card, "4012888888881881", "Card no. 4012.8888.8888.1881"},
	{detect.Card, "4444333322221111", "4444333322221111"},
	{detect.Card, "4911830000000", "Visa (13 digits): 4911830000000"},
	{detect.Card, "4917610000000000003", "Visa debit 4917 6100 0000 0000 003"},
	{detect.Card, "4462030000000000", "VISA DEBIT 4462 0300 0000 0000"},
	{detect.Card, "4543059790016721", "credit: 4543 0597 9001 6721."},
	{detect.Card, "4715059999000437", "purchasing card 4715-0599-9900-0437"},
	{detect.Card, "4917300800000000", "Visa Electron 4917 3008 0000 0000"},
	{detect.Card, "4151500000000008", "MSR 4151 5000 0000 0008"},
	{detect.Card, "4539858876047062", "Visa Credit 4539858876047062 Y"},
	{detect.Card, "4000060000000006", "Visa Debit\t4000060000000006"},
	{detect.Card, "4844215500115643", "VISA ELECTRON | 4844 2155 0011 5643 |"},
	// Mastercard, including the 2-series
	{detect.Card, "5555555555554444", "Mastercard: 5555 5555 5555 4444"},
	{detect.Card, "2223003122003222", "Mastercard (2-series) 2223 0031 2200 3222"},
	{detect.Card, "5200828282828210", "debit card 5200-8282-8282-8210"},
	{detect.Card, "5105105105105100", "5105 1051 0510 5100 exp 09/29 cvc 123"},
	{detect.Card, "2221000000000009", "2221 0000 0000 0009"},
	{detect.Card, "5163613613613613", "MasterCard Debit 5163613613613613"},
	{detect.Card, "5454545454545454", "5454545454545454"},
	{detect.Card, "5413330089099999", "PAN 5413 3300 8909 9999"},
	{detect.Card, "5100060000000002", "5100 0600 0000 0002 (12/29)"},
	{detect.Card, "5520330000000001", "5520.3300.0000.0001"},
	{detect.Card, "2308880000000000", "installments on 2308 8800 0000 0000"},
	{detect.Card, "5454609899026213", "MASTERCARD CREDIT 5454 6098 9902 6213"},
	{detect.Card, "5573489900000028", "5573 4899 0000 0028"},
	{detect.Card, "5569500000002312", "MASTERCARD PURCHASING 5569 5000 0000 2312"},
	{detect.Card, "5100270000000007", "Debit MasterCard 5100270000000007"},
	// American Express
	{detect.Card, "378282246310005", "Amex 3782 822463 10005"},
	{detect.Card, "371449635398431", "Amex 3714-496353-98431"},
	{detect.Card, "343434343434343", "American Express | 343434343434343 |"},
	// Discover
	{detect.Card, "6011111111111117", "Discover 6011 1111 1111 1117"},
	{detect.Card, "6011000990139424", "6011 0009 9013 9424"},
	{detect.Card, "6011981111111113", "Discover (debit) 6011981111111113"},
	{detect.Card, "6011000400000000", "Discover/Diners 6011.0004.0000.0000"},
	{detect.Card, "6555900000604105", "BCcard and DinaCard 6555 9000 0060 4105"},
	{detect.Card, "6011000000000004", "Discover 6011000000000004"},
	// JCB
	{detect.Card, "3566002020360505", "JCB 3566 0020 2036 0505"},
	{detect.Card, "3530111333300000", "JCB 3530111333300000"},
	{detect.Card, "3528000700000000", "3528 0007 0000 0000"},
	{detect.Card, "3528000000000007", "JCB: 3528-0000-0000-0007"},
	// Diners Club
	{detect.Card, "3056930009020004", "Diners Club 3056 9300 0902 0004"},
	{detect.Card, "36227206271667", "Diners 3622 720627 1667"},
	{detect.Card, "30569309025904", "30569309025904"},
	{detect.Card, "38520000023237", "3852 000002 3237"},
	{detect.Card, "3600000000000008", "Diners 3600 0000 0000 0008"},
	// UnionPay
	{detect.Card, "6200000000000005", "UnionPay 6200 0000 0000 0005"},
	{detect.Card, "6200000000000047", "UnionPay debit 6200000000000047"},
	{detect.Card, "6205500000000000004", "UnionPay 19 digits: 6205 5000 0000 0000 004"},
	{detect.Card, "6243030000000001", "CNY card 6243 0300 0000 0001"},
	// Maestro
	{detect.Card, "6759649826438453", "Maestro 6759 6498 2643 8453"},
	{detect.Card, "6799998900000099990", "Maestro 6799 9989 0000 0099 990"},
	{detect.Card, "6000070736169237003", "ms nl 6000 0707 3616 9237 003"},
	{detect.Card, "6331101999990073", "6331101999990073 321"},
	{detect.Card, "633478111298873700", "card 633478111298873700"},
	{detect.Card, "6304939304310009610", "6304939304310009610"},
	{detect.Card, "5641820000000005", "MAESTRO INTERNATIONAL 5641 8200 0000 0005"},
	// followed by more digits (CVV, expiry)
	{detect.Card, "4242424242424242", "4242424242424242 123"},
	{detect.Card, "4111111111111111", "41111111111111111234"},
	{detect.Card, "5555555555554444", "5555555555554444 737 0327"},
	{detect.Card, "378282246310005", "Card: 3782-822463-10005 CID 1234"},
	{detect.Card, "4000056655665556", "4000 0566 5566 5556 09/28 123"},
	{detect.Card, "6011111111111117", "Number 6011111111111117, CVV 123, expiry 11/29"},
	{detect.Card, "5105105105105100", "5105 1051 0510 5100 123"},
	{detect.Card, "3566002020360505", "3566002020360505 1229 456"},
	// in running text, more than one
	{detect.Card, "4242424242424242", "cards 4242 4242 4242 4242 and 5555 5555 5555 4444 on file"},
	{detect.Card, "5555555555554444", "cards 4242 4242 4242 4242 and 5555 5555 5555 4444 on file"},
	// punctuation, line breaks and case as OCR gives them
	{detect.Card, "4242424242424242", "(4242 4242 4242 4242)"},
	{detect.Card, "4242424242424242", "card:4242424242424242"},
	{detect.Card, "5555555555554444", "5555 5555\n5555 4444"},
	{detect.Card, "4111111111111111", "4111-1111-1111-1111/12/30"},
	// spoken (transcripts)
	{detect.Card, "4242424242424242", spoken + "my card number is four two four two four two four two four two four two four two four two thanks"},
	{detect.Card, "4111111111111111", spoken + "four one one one one one one one one one one one one one one one"},
	{detect.Card, "5555555555554444", spoken + "it's five five five five five five five five five five five five four four four four"},
	{detect.Card, "5555555555554444", spoken + "double five double five double five double five double five double five double four double four"},
	{detect.Card, "378282246310005", spoken + "three seven eight two eight two two four six three one oh oh oh five"},
	{detect.Card, "6011111111111117", spoken + "six zero one one triple one one triple one one one one one seven"},
	{detect.Card, "4012888888881881", spoken + "card four oh one two eight eight eight eight eight eight eight eight one eight eight one"},
	{detect.Card, "5105105105105100", spoken + "number is five one oh five one oh five one oh five one oh five one oh oh"},
	{detect.Card, "3566002020360505", spoken + "um three five six six oh oh two oh two oh three six oh five oh five"},
	{detect.Card, "6200000000000005", spoken + "six two zero zero zero zero zero zero zero zero zero zero zero zero zero five"},
	{detect.Card, "4242424242424242", spoken + "four two four two uh four two four two four two four two four two four two"},
	{detect.Card, "4242424242424242", spoken + "four two four two for two four two four two four two four two four two"},
	{detect.Card, "4242424242424242", spoken + "card four two four two four two four two four two four two four two four two security code one two three"},
	{detect.Card, "2223003122003222", spoken + "two two two three oh oh three one two two oh oh three two two two"},
	{detect.Card, "4242424242424242", spoken + "card 4242 4242 4242 4242 please"},
	{detect.Card, "3056930009020004", spoken + "three oh five six nine three oh oh oh nine oh two oh oh oh four"},
	{detect.Card, "4242424242424242", spoken + "four two four two 4242 4242 four two four two"},
	{detect.Card, "6759649826438453", spoken + "it is six seven five nine six four nine eight two six four three eight four five three okay"},
	// SSNs
	{detect.SSN, "123456789", "SSN: 123-45-6789"},
	{detect.SSN, "078051120", "social security number 078-05-1120"},
	{detect.SSN, "219099999", "219-09-9999"},
	{detect.SSN, "536904399", "ssn 536 90 4399"},
	{detect.SSN, "457555462", "SSN 457555462"},
	{detect.SSN, "321549876", "Social Security No. 321549876"},
	{detect.SSN, "001010001", "his SSN is 001-01-0001."},
	{detect.SSN, "665123456", "SS# 665-12-3456"},
	{detect.SSN, "123456789", "SSN 123-45-6789 2024"},
	{detect.SSN, "123456789", "SSN:123-45-6789"},
	{detect.SSN, "123456789", spoken + "my social security number is one two three four five six seven eight nine"},
	{detect.SSN, "536904399", spoken + "s s n five three six nine oh four three nine nine"},
	// e-mail addresses
	{detect.Email, "jane.doe@example.com", "Contact jane.doe@example.com"},
	{detect.Email, "john.smith+news@example.co.uk", "Email: John.Smith+news@Example.co.uk"},
	{detect.Email, "support@filesight.example.org", "write to support@filesight.example.org."},
	{detect.Email, "ops-team@corp.example", "(ops-team@corp.example)"},
	{detect.Email, "a.b_c@sub.domain.io", "mailto:a.b_c@sub.domain.io"},
	{detect.Email, "o'brien@example.ie", "o'brien@example.ie"},
	{detect.Email, "user123@example.net", "USER123@EXAMPLE.NET"},
	{detect.Email, "info@example-shop.de", "Fragen? info@example-shop.de"},
	{detect.Email, "x@y.fr", "x@y.fr"},
	{detect.Email, "jane.doe@example.com", "JANE.DOE@EXAMPLE.COM"},
	{detect.Email, "jane.doe@example.com", spoken + "write to jane.doe@example.com today"},
	// phone numbers
	{detect.Phone, "+14155552671", "+1 415 555 2671"},
	{detect.Phone, "+442079460958", "+44 20 7946 0958"},
	{detect.Phone, "+442079460958", "+44 (0)20 7946 0958"},
	{detect.Phone, "+442079460958", "0044 20 7946 0958"},
	{detect.Phone, "+14155552671", "(415) 555-2671"},
	{detect.Phone, "+14155550132", "415-555-0132"},
	{detect.Phone, "+12025550143", "202.555.0143"},
	{detect.Phone, "+18005550199", "1-800-555-0199"},
	{detect.Phone, "02079460958", "Tel 020 7946 0958"},
	{detect.Phone, "07700900123", "mobile 07700 900123"},
	{detect.Phone, "01614960000", "0161 496 0000"},
	{detect.Phone, "+4930901820", "+49 30 901820"},
	{detect.Phone, "030901820", "Telefon 030 901820"},
	{detect.Phone, "+33123456789", "+33 1 23 45 67 89"},
	{detect.Phone, "0123456789", "01 23 45 67 89"},
	{detect.Phone, "+31201234567", "+31 20 123 4567"},
	{detect.Phone, "0612345678", "06-12345678"},
	{detect.Phone, "+390212345678", "+39 02 1234 5678"},
	{detect.Phone, "+34912345678", "+34 912 345 678"},
	{detect.Phone, "+14155552671", "E.164: +14155552671"},
	{detect.Phone, "+41446681800", "Tel.: +41 44 668 18 00"},
	{detect.Phone, "+14155552671", "call 415 555 2671 now"},
	{detect.Phone, "+14155552671", "+1-415-555-2671"},
	{detect.Phone, "+447700900123", "+44 7700 900123"},
	{detect.Phone, "+14155552671", spoken + "call me at four one five five five five two six seven one"},
	// IBANs
	{detect.IBAN, "GB82WEST12345698765432", "IBAN: GB82 WEST 1234 5698 7654 32"},
	{detect.IBAN, "GB29NWBK60161331926819", "GB29NWBK60161331926819"},
	{detect.IBAN, "GB33BUKB20201555555555", "pay to gb33 bukb 2020 1555 5555 55 today"},
	{detect.IBAN, "DE89370400440532013000", "DE89 3704 0044 0532 0130 00."},
	{detect.IBAN, "DE75512108001245126199", "de75512108001245126199"},
	{detect.IBAN, "FR1420041010050500013M02606", "FR14 2004 1010 0505 0001 3M02 606"},
	{detect.IBAN, "NL91ABNA0417164300", "NL91 ABNA 0417 1643 00, BIC ABNANL2A"},
	{detect.IBAN, "BE68539007547034", "BE68 5390 0754 7034"},
	{detect.IBAN, "CH9300762011623852957", "ch93 0076 2011 6238 5295 7"},
	{detect.IBAN, "ES9121000418450200051332", "ES91 2100 0418 4502 0005 1332"},
	{detect.IBAN, "IT60X0542811101000000123456", "IT60 X054 2811 1010 0000 0123 456"},
	{detect.IBAN, "AT611904300234573201", "Konto AT61 1904 3002 3457 3201"},
	{detect.IBAN, "DK5000400440116243", "DK50 0040 0440 1162 43"},
	{detect.IBAN, "FI2112345600000785", "FI2112345600000785"},
	{detect.IBAN, "NO9386011117947", "NO93 8601 1117 947"},
	{detect.IBAN, "SE4550000000058398257466", "SE45 5000 0000 0583 9825 7466"},
	{detect.IBAN, "PL61109010140000071219812874", "PL61 1090 1014 0000 0712 1981 2874"},
	{detect.IBAN, "PT50000201231234567890154", "PT50 0002 0123 1234 5678 9015 4"},
	{detect.IBAN, "IE29AIBK93115212345678", "IE29 AIBK 9311 5212 3456 78"},
	{detect.IBAN, "LU280019400644750000", "LU28 0019 4006 4475 0000"},
	{detect.IBAN, "GR1601101250000000012300695", "GR16 0110 1250 0000 0001 2300 695"},
	{detect.IBAN, "CZ6508000000192000145399", "CZ65 0800 0000 1920 0014 5399"},
	{detect.IBAN, "HU42117730161111101800000000", "HU42 1177 3016 1111 1018 0000 0000"},
	{detect.IBAN, "MT84MALT011000012345MTLCAST001S", "MT84 MALT 0110 0001 2345 MTLC AST0 01S"},
	{detect.IBAN, "LI21088100002324013AA", "li21 0881 0000 2324 013a a"},
	{detect.IBAN, "SA0380000000608010167519", "SA03 8000 0000 6080 1016 7519"},
	{detect.IBAN, "TR330006100519786457841326", "TR33 0006 1005 1978 6457 8413 26"},
	{detect.IBAN, "BR1800360305000010009795493C1", "BR18 0036 0305 0000 1000 9795 493C 1"},
	{detect.IBAN, "HR1210010051863000160", "HR12 1001 0051 8630 0016 0"},
	{detect.IBAN, "EE382200221020145685", "EE38 2200 2210 2014 5685"},
	{detect.IBAN, "IS140159260076545510730339", "IS14 0159 2600 7654 5510 7303 39"},
	{detect.IBAN, "AE070331234567890123456", "AE07 0331 2345 6789 0123 456"},
	{detect.IBAN, "KW81CBKU0000000000001234560101", "KW81 CBKU 0000 0000 0000 1234 5601 01"},
	{detect.IBAN, "GB82WEST12345698765432", spoken + "gb82 west 1234 5698 7654 32"},
}

// negatives must come out of detection untouched.
var negatives = []string{
	// dates
	"2026-12-02", "12/02/2026", "02.12.2026", "December 2, 2026", "2026-12-02T14:30:00Z",
	"31.12.2025 23:59", "Q3 2025", "01.01.2026 - 31.12.2026", "2025-01-15 2025-02-15", "06-15-2024",
	"Mon, 02 Dec 2026 10:00:00 +0000", "20261202", "1999-2024", "30.06.2025 31.07.2025", "12.03.2025 14.03.2025",
	"from 2024-11-28 to 2024-12-05", "week 48/2026",
	// times
	"14:30", "10:15:30", "2:45 PM", "00:00:00.000", "duration 01:23:45", "at 9.30", "12h30",
	"01:02:03:04", "timestamp 1733139600", "1733139600123",
	// order numbers, tickets, references
	"Order #100234", "Order no. 2024-00123", "PO 4500012345", "Invoice INV-0001234", "Ticket 5512345",
	"Ref: 2024/11/000123", "Tracking 1Z999AA10123456784", "Case 00123456", "SKU 123-456-789",
	"order 987654321012", "customer 1000123456789", "Booking 7700123456", "Auftrag 2024 000 1234",
	"order 1234 5678 9012", "PR #4521", "issue 10",
	// ISBNs
	"ISBN 978-3-16-148410-0", "ISBN 0-306-40615-2", "ISBN-13: 9780306406157", "ISBN 978 0 13 468599 1",
	"isbn 979-10-90636-07-1", "9781492052593",
	// Luhn-invalid or out-of-range card-like runs
	"4111 1111 1111 1112", "4242424242424241", "5555 5555 5555 4445", "3782 822463 10006",
	"6011-1111-1111-1118", "1234 5678 9012 3456", "0000 0000 0000 0000", "9999 9999 9999 9999",
	"4000 0000 0000 0001", "5105105105105101", "3566 0020 2036 0506", "7000 1234 5678 9012",
	// years
	"1999", "in 2026", "2019 2020 2021 2022", "from 1980 to 2025", "the 1990s", "FY2025",
	// version numbers
	"v1.2.3", "1.29.1", "Temporal CLI 1.5.1", "Go 1.26.8", "10.0.19045.3803", "build 2024.11.28.1",
	"version 13.4.1 (22F82)", "Chrome 156.0.8078.73", "go.temporal.io/sdk v1.51.0", "kernel 6.1.0-27-amd64",
	// prices and amounts
	"$1,299.99", "€ 49.95", "1.234,56 €", "£12,345,678.90", "USD 4,111.11", "Total: 1 234 567,89 €",
	"$4111.11", "EUR 5.555.555,55",
	// other numbers
	"slide 3 of 12", "page 4111", "Room 1101", "pi = 3.14159265358979", "e = 2.718281828459045",
	"192.168.100.200", "10.0.0.1", "2001:db8::1", "48.8584, 2.2945", "40.7128° N, 74.0060° W",
	"1920x1080", "3840 x 2160", "44100 Hz", "1 048 576 bytes", "1 + 1 = 2", "+5 10 20 30",
	"room 555-1234", "extension 1234", "zip 94103-1234", "uuid 123e4567-e89b-12d3-a456-426614174000",
	"commit c15c6bc", "sha256 4f2e8a1b3c5d7e9f0a1b2c3d4e5f6a7b", "#2026", "@jane_doe",
	// IBAN-like, invalid
	"GB82 WEST 1234 5698 7654 33", "DE89 3704 0044 0532 0130 01", "XX12 3456 7890 1234 56",
	"NL91 ABNA 0417 1643 0", "GB82WEST1234569876543299",
	// SSN-like, invalid or without context
	"000-12-3456", "666-12-3456", "912-34-5678", "123-00-4567", "123-45-0000", "id 123456789",
	"987-65-4321",
	// not e-mail addresses
	"jane.doe@", "@example.com", "jane@localhost", "icon@2x.png", "photo@3x.jpg", "a@b.c",
	// transcripts
	spoken + "we shipped version one two three",
	spoken + "one two three four five six seven eight nine ten",
	spoken + "the year twenty twenty six",
	spoken + "for two weeks and then for four days",
	spoken + "i have two kids one dog and a cat",
	spoken + "the score was four to one",
	spoken + "one two three four five six seven eight nine zero one two three four five six",
	spoken + "four one one one one one one one one one one one one one one two",
	spoken + "oh well one more thing",
	spoken + "we grew from 2019 2020 2021 to 2022",
	spoken + "nine eight seven six five four three two one",
}

// detections runs the detector on one corpus text.
func detections(text string) []detect.Match {
	if rest, ok := strings.CutPrefix(text, spoken); ok {
		var out []detect.Match
		for _, m := range detect.Words(strings.Fields(rest)) {
			out = append(out, detect.Match{Kind: m.Kind, Value: m.Value})
		}
		return out
	}
	return detect.Text(text)
}

func TestCorpus(t *testing.T) {
	if len(positives) < 100 || len(negatives) < 100 {
		t.Fatalf("corpus too small: %d positives, %d negatives", len(positives), len(negatives))
	}
	kinds := map[detect.Kind]int{}
	found, matches, correct := 0, 0, 0
	// Several positives may share one text: count each text's matches once.
	seen := map[string]bool{}
	for _, p := range positives {
		kinds[p.kind]++
		ms := detections(p.text)
		hit := false
		for _, m := range ms {
			if m.Kind == p.kind && strings.Contains(m.Value, p.value) {
				hit = true
			}
		}
		if hit {
			found++
		} else {
			t.Errorf("missed %s %s in %q; got %v", p.kind, p.value, p.text, ms)
		}
		if seen[p.text] {
			continue
		}
		seen[p.text] = true
		for _, m := range ms {
			matches++
			if labelled(p.text, m) {
				correct++
			} else {
				t.Errorf("false positive in %q: %s %s", p.text, m.Kind, m.Value)
			}
		}
	}
	falsePositives := 0
	for _, n := range negatives {
		for _, m := range detections(n) {
			matches++
			falsePositives++
			t.Errorf("false positive in negative %q: %s %s", n, m.Kind, m.Value)
		}
	}
	for _, k := range detect.Kinds() {
		if kinds[k] < 5 {
			t.Errorf("only %d positives of kind %s", kinds[k], k)
		}
	}
	recall := float64(found) / float64(len(positives))
	precision := 1.0
	if matches > 0 {
		precision = float64(correct) / float64(matches)
	}
	fmt.Printf("RESULT detection recall=%.4f precision=%.4f positives=%d negatives=%d found=%d matches=%d false_positives_on_negatives=%d\n",
		recall, precision, len(positives), len(negatives), found, matches, falsePositives)
	if recall < 0.98 {
		t.Errorf("recall %.4f < 0.98", recall)
	}
	if falsePositives > 0 {
		t.Errorf("%d false positives on the negatives", falsePositives)
	}
}

// labelled reports whether a match in text is one of the values labelled
// for that text.
func labelled(text string, m detect.Match) bool {
	for _, p := range positives {
		if p.text == text && p.kind == m.Kind && strings.Contains(m.Value, p.value) {
			return true
		}
	}
	return false
}

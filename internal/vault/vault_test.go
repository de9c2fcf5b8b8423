package vault_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"filesight/internal/provider"
	"filesight/internal/vault"
)

// counting wraps a Tokenizer and counts its calls.
type counting struct {
	next  vault.Tokenizer
	calls atomic.Int32
	items atomic.Int32
	err   error
}

func (c *counting) Tokenize(ctx context.Context, items []vault.Item) ([]string, error) {
	c.calls.Add(1)
	c.items.Add(int32(len(items)))
	if c.err != nil {
		return nil, c.err
	}
	return c.next.Tokenize(ctx, items)
}

func keyed(t *testing.T) *vault.Keyed {
	t.Helper()
	k, err := vault.NewKeyed("test-key-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestTokenFormat(t *testing.T) {
	mac := vault.MAC([]byte("k"), vault.KindCard, "4111111111111111")
	if !bytes.Equal(mac, vault.MAC([]byte("k"), vault.KindCard, "4111111111111111")) {
		t.Fatal("MAC is not deterministic")
	}
	if bytes.Equal(mac, vault.MAC([]byte("k"), vault.KindSSN, "4111111111111111")) || bytes.Equal(mac, vault.MAC([]byte("k2"), vault.KindCard, "4111111111111111")) {
		t.Fatal("MAC ignores the kind or the key")
	}
	opaque := vault.NewToken(vault.KindCard, mac, vault.FormatOpaque, "4111111111111111").String()
	last4 := vault.NewToken(vault.KindCard, mac, vault.FormatLast4, "4111111111111111").String()
	if len(opaque) != len("[card:]")+vault.TokenIDLen || !strings.HasSuffix(last4, ":1111]") || !strings.HasPrefix(last4, opaque[:len(opaque)-1]) {
		t.Fatalf("tokens %s %s", opaque, last4)
	}
	for _, s := range []string{opaque, last4} {
		tok, err := vault.ParseToken(s)
		if err != nil || tok.String() != s {
			t.Errorf("ParseToken(%s) = %+v, %v", s, tok, err)
		}
	}
	for _, bad := range []string{"", "[card:123]", "[pin:0123456789abcdef0123]", "[iban:0123456789abcdef0123:1111]", "x[card:0123456789abcdef0123]",
		"[card:0123456789ABCDEF0123]", "[card:0123456789abcd]", "4111111111111111"} {
		if _, err := vault.ParseToken(bad); err == nil {
			t.Errorf("ParseToken(%q) accepted", bad)
		} else if strings.Contains(err.Error(), "4111") {
			t.Errorf("error repeats the input: %v", err)
		}
	}
}

func TestKeyedTokenizer(t *testing.T) {
	if _, err := vault.NewKeyed("short"); err == nil {
		t.Fatal("short key accepted")
	}
	k := keyed(t)
	toks, err := k.Tokenize(context.Background(), []vault.Item{
		{Kind: vault.KindCard, Value: "4111 1111 1111 1111"},
		{Kind: vault.KindCard, Value: "4111-1111-1111-1111"},
		{Kind: vault.KindCard, Value: "4111111111111111", Format: vault.FormatLast4},
		{Kind: vault.KindEmail, Value: "Jane@Example.com"},
		{Kind: vault.KindEmail, Value: "jane@example.com"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if toks[0] != toks[1] || toks[3] != toks[4] || !strings.HasSuffix(toks[2], ":1111]") || toks[0] == toks[3] {
		t.Errorf("tokens %v", toks)
	}
	if _, err := k.Tokenize(context.Background(), []vault.Item{{Kind: vault.KindIBAN, Value: "GB82WEST12345698765432", Format: vault.FormatLast4}}); err == nil {
		t.Error("last4 accepted for an IBAN")
	}
	if s := fmt.Sprintf("%v %+v %#v", k, k, k); strings.Contains(s, "test-key") {
		t.Errorf("key printed: %s", s)
	}
}

func TestRedactMakesOneCallPerDocument(t *testing.T) {
	c := &counting{next: keyed(t)}
	r := vault.NewRedactor(c, vault.RedactorOptions{CardFormat: vault.FormatLast4})
	doc := vault.Document{
		Texts: []string{
			"Contact jane.doe@example.com",
			"card 4111 1111 1111 1111 and again 4111-1111-1111-1111",
			"IBAN GB82 WEST 1234 5698 7654 32",
			"nothing here, slide 3 of 12",
		},
		Words: [][]string{strings.Fields("my card is four one one one one one one one one one one one one one one one thanks")},
	}
	out, err := r.Redact(context.Background(), doc)
	if err != nil {
		t.Fatal(err)
	}
	if c.calls.Load() != 1 || c.items.Load() != 3 { // the card three times, the e-mail, the IBAN: 3 distinct
		t.Errorf("%d calls with %d items", c.calls.Load(), c.items.Load())
	}
	if len(out.Findings) != 5 {
		t.Errorf("findings %v", out.Findings)
	}
	joined := strings.Join(out.Texts, "|") + "|" + strings.Join(out.Words[0], " ")
	for _, leak := range []string{"jane", "example.com", "4111 1111", "4111-1111", "WEST", "four one one"} {
		if strings.Contains(joined, leak) {
			t.Errorf("%q left in %s", leak, joined)
		}
	}
	if out.Texts[3] != doc.Texts[3] || out.Words[0][0] != "my" || out.Words[0][len(out.Words[0])-1] != "thanks" || len(out.Words[0]) != len(doc.Words[0]) {
		t.Errorf("untouched parts changed: %q %v", out.Texts[3], out.Words[0])
	}
	card := out.Findings[1].Token
	if !strings.HasSuffix(card, ":1111]") || out.Findings[2].Token != card || out.Words[0][3] != card || out.Words[0][18] != card {
		t.Errorf("card tokens differ: %v %v", out.Findings, out.Words[0])
	}
	// Nothing found: no call at all.
	if _, err := r.Redact(context.Background(), vault.Document{Texts: []string{"2026-12-02 14:30, order 100234"}}); err != nil || c.calls.Load() != 1 {
		t.Errorf("a clean document called the tokenizer (%d calls, %v)", c.calls.Load(), err)
	}
	// Redacting redacted text changes nothing and finds nothing.
	again, err := r.Redact(context.Background(), vault.Document{Texts: out.Texts, Words: out.Words})
	if err != nil || len(again.Findings) != 0 || !slices.Equal(again.Texts, out.Texts) {
		t.Errorf("not idempotent: %v %v", again.Findings, err)
	}
	// The input is not modified.
	if doc.Words[0][3] != "four" {
		t.Error("Redact modified its input")
	}
}

func TestRedactReturnsTheTokenizerError(t *testing.T) {
	boom := errors.New("vault down")
	r := vault.NewRedactor(&counting{err: boom}, vault.RedactorOptions{})
	if _, err := r.Redact(context.Background(), vault.Document{Texts: []string{"4111111111111111"}}); !errors.Is(err, boom) {
		t.Fatalf("error %v", err)
	}
}

func TestContextFreeMethodsWithholdOnFailure(t *testing.T) {
	var logs bytes.Buffer
	r := vault.NewRedactor(&counting{err: errors.New("vault down")}, vault.RedactorOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	text, found := r.RedactText("call +44 20 7946 0958 about 4111 1111 1111 1111")
	if text != "call [phone:withheld] about [card:withheld]" || len(found) != 2 {
		t.Errorf("%q %v", text, found)
	}
	words, found := r.RedactWords(strings.Fields("four one one one one one one one one one one one one one one one"))
	if len(found) != 1 || words[0] != "[card:withheld]" || words[15] != "[card:withheld]" {
		t.Errorf("%v %v", words, found)
	}
	if !strings.Contains(logs.String(), "vault down") || strings.Contains(logs.String(), "4111") || strings.Contains(logs.String(), "7946") {
		t.Errorf("log: %s", logs.String())
	}
}

func TestNewKeepsTheCardWritersInterface(t *testing.T) {
	r, err := vault.New("activities-test-vault-key-000")
	if err != nil {
		t.Fatal(err)
	}
	var _ interface {
		RedactText(string) (string, []vault.Finding)
		RedactWords([]string) ([]string, []vault.Finding)
	} = r
	out, found := r.RedactText("card 4111 1111 1111 1111 exp 12/30")
	if len(found) != 1 || found[0].Kind != vault.KindCard || strings.Contains(out, "4111") || !strings.Contains(out, found[0].Token) {
		t.Errorf("%q %v", out, found)
	}
	a, _ := r.RedactText("4111111111111111")
	b, _ := r.RedactText("4111 1111 1111 1111")
	if a != b {
		t.Errorf("same card, different tokens: %q %q", a, b)
	}
	if _, err := vault.New("short"); err == nil {
		t.Error("short key accepted")
	}
}

func TestRedactResultAndKeywords(t *testing.T) {
	c := &counting{next: keyed(t)}
	r := vault.NewRedactor(c, vault.RedactorOptions{})
	words := strings.Fields("please call me my card is four two four two four two four two four two four two four two four two thanks")
	res := &provider.Result{
		Media: &provider.MediaInfo{Duration: 30},
		Transcript: &provider.Transcript{
			Text:  strings.Join(words, " "),
			Words: make([]provider.Word, len(words)),
		},
		OCR: []provider.OCRText{
			{Text: "Quarterly Review", Start: 1, End: 2},
			{Text: "Contact jane.doe@example.com", Start: 3, End: 5},
		},
		Keywords: []provider.Keyword{
			{Text: "quarterly review", Score: 1}, {Text: "jane", Score: 0.9}, {Text: "Doe", Score: 0.8},
			{Text: "example", Score: 0.7}, {Text: "com", Score: 0.6}, {Text: "contact", Score: 0.5},
			{Text: "card 4242424242424242", Score: 0.4}, {Text: "thanks", Score: 0.3},
		},
		Scenes: []provider.Scene{{Start: 0, End: 30}},
	}
	for i, w := range words {
		res.Transcript.Words[i] = provider.Word{Word: w, Start: float64(i), End: float64(i) + 0.5}
	}
	out, found, err := r.RedactResult(context.Background(), res)
	if err != nil {
		t.Fatal(err)
	}
	if c.calls.Load() != 1 || len(found) != 2 {
		t.Errorf("%d calls, findings %v", c.calls.Load(), found)
	}
	var kws []string
	for _, k := range out.Keywords {
		kws = append(kws, k.Text)
	}
	if !slices.Equal(kws, []string{"quarterly review", "contact", "thanks"}) {
		t.Errorf("keywords %v", kws)
	}
	if out.OCR[0].Text != "Quarterly Review" || strings.Contains(out.OCR[1].Text, "jane") || !strings.HasPrefix(out.OCR[1].Text, "Contact [email:") {
		t.Errorf("ocr %+v", out.OCR)
	}
	if out.Transcript.Words[6].Word != found[1].Token || out.Transcript.Words[6].Start != 6 || len(out.Transcript.Words) != len(words) {
		t.Errorf("words %+v", out.Transcript.Words[5:8])
	}
	if want := "please call me my card is " + found[1].Token + " thanks"; out.Transcript.Text != want {
		t.Errorf("text %q, want %q", out.Transcript.Text, want)
	}
	if res.OCR[1].Text != "Contact jane.doe@example.com" || res.Transcript.Words[6].Word != "four" || len(res.Keywords) != 8 {
		t.Error("RedactResult modified its input")
	}
	if out.Media != res.Media || len(out.Scenes) != 1 {
		t.Error("untouched fields lost")
	}
	// An empty keyword list stays an empty list ("found nothing"), nil stays nil.
	res.Keywords = []provider.Keyword{{Text: "jane"}}
	if out, _, _ := r.RedactResult(context.Background(), res); out.Keywords == nil || len(out.Keywords) != 0 {
		t.Errorf("keywords %#v", out.Keywords)
	}
	res.Keywords = nil
	if out, _, _ := r.RedactResult(context.Background(), res); out.Keywords != nil {
		t.Errorf("keywords %#v", out.Keywords)
	}
}

func TestKeepKeyword(t *testing.T) {
	red, err := vault.NewRedactor(keyed(t), vault.RedactorOptions{}).Redact(context.Background(), vault.Document{Texts: []string{"Contact jane.doe@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	frags := red.Fragments
	for kw, want := range map[string]bool{
		"jane": false, "Doe": false, "does": false, "example": false, "COM": false, "jane's": false,
		"contact": true, "quarterly review": true, "": true,
		"4111 1111 1111 1111": false, "call +44 20 7946 0958": false, "four one one one one one one one one one one one one one one one": false,
	} {
		if got := vault.KeepKeyword(kw, frags); got != want {
			t.Errorf("KeepKeyword(%q) = %v, want %v", kw, got, want)
		}
	}
	if !vault.KeepKeyword("jane", nil) {
		t.Error("nil fragments share something")
	}
}

func FuzzRedact(f *testing.F) {
	f.Add("card 4111 1111 1111 1111, jane@example.com, GB82 WEST 1234 5698 7654 32")
	f.Add("four one one one one one one one one one one one one one one one")
	f.Fuzz(func(t *testing.T, s string) {
		k, _ := vault.NewKeyed("fuzz-key-0123456789abcdef")
		r := vault.NewRedactor(k, vault.RedactorOptions{})
		out, err := r.Redact(context.Background(), vault.Document{Texts: []string{s}, Words: [][]string{strings.Fields(s)}})
		if err != nil {
			t.Fatal(err)
		}
		for _, fd := range out.Findings {
			if !strings.Contains(out.Texts[0]+strings.Join(out.Words[0], " "), fd.Token) {
				t.Fatalf("token %s missing from the output", fd.Token)
			}
		}
		again, err := r.Redact(context.Background(), vault.Document{Texts: out.Texts, Words: out.Words})
		if err != nil || again.Texts[0] != out.Texts[0] || len(again.Findings) != 0 {
			t.Fatalf("redaction not idempotent: %q -> %q (%v)", out.Texts[0], again.Texts[0], again.Findings)
		}
	})
}

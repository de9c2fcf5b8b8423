package vault_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filesight/internal/provider"
	"filesight/internal/secret"
	"filesight/internal/vault"
)

// echoing answers every value with a "token" that is itself a card number,
// so that each pass of Redact finds something again.
type echoing struct{ calls atomic.Int32 }

func (e *echoing) Tokenize(ctx context.Context, items []vault.Item) ([]string, error) {
	if e.calls.Add(1) > 10 {
		return nil, errors.New("called again and again")
	}
	out := make([]string, len(items))
	for i := range out {
		out[i] = "5555 5555 5555 4444"
	}
	return out, nil
}

// A tokenizer whose tokens are found again is called three times, not
// more; what is still found after that is withheld, never left in clear.
func TestRedactRoundsAreBounded(t *testing.T) {
	e := &echoing{}
	r := vault.NewRedactor(e, vault.RedactorOptions{})
	out, err := r.Redact(context.Background(), vault.Document{Texts: []string{"card 4111 1111 1111 1111"}})
	if err != nil {
		t.Fatal(err)
	}
	if n := e.calls.Load(); n != 3 {
		t.Errorf("%d Tokenize calls, want 3", n)
	}
	if out.Texts[0] != "card [card:withheld]" || len(out.Findings) != 4 {
		t.Errorf("%q, %d findings", out.Texts[0], len(out.Findings))
	}
}

// Redact returns copies: changing what it returned leaves the caller's
// document alone, also when nothing was found.
func TestRedactReturnsCopies(t *testing.T) {
	r := vault.NewRedactor(keyed(t), vault.RedactorOptions{})
	doc := vault.Document{Texts: []string{"nothing here"}, Words: [][]string{{"nor", "here"}}}
	out, err := r.Redact(context.Background(), doc)
	if err != nil {
		t.Fatal(err)
	}
	out.Texts[0], out.Words[0][0] = "changed", "changed"
	if doc.Texts[0] != "nothing here" || doc.Words[0][0] != "nor" {
		t.Errorf("the caller's document changed: %+v", doc)
	}
}

// deadlines records the deadline of each Tokenize call.
type deadlines struct{ got []time.Duration }

func (d *deadlines) Tokenize(ctx context.Context, items []vault.Item) ([]string, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		d.got = append(d.got, -1)
	} else {
		d.got = append(d.got, time.Until(dl))
	}
	return make([]string, len(items)), nil
}

// The context-free methods bound the tokenisation by Timeout, 30 s unless
// set.
func TestRedactTextTimeout(t *testing.T) {
	for _, tc := range []struct {
		set, want time.Duration
	}{{0, 30 * time.Second}, {-time.Second, 30 * time.Second}, {5 * time.Second, 5 * time.Second}} {
		d := &deadlines{}
		vault.NewRedactor(d, vault.RedactorOptions{Timeout: tc.set}).RedactText("4111 1111 1111 1111")
		// Measured right after the deadline was set: not more than the
		// timeout, and within 10 s of it even on a busy machine.
		if len(d.got) != 1 || d.got[0] > tc.want || d.got[0] < tc.want-10*time.Second {
			t.Errorf("Timeout %v: deadlines %v, want about %v", tc.set, d.got, tc.want)
		}
	}
}

func TestKeyLengths(t *testing.T) {
	if _, err := vault.NewKeyed(secret.String(strings.Repeat("k", vault.MinKeyedKeyLen))); err != nil {
		t.Errorf("a key of %d bytes: %v", vault.MinKeyedKeyLen, err)
	}
	if _, err := vault.NewKeyed(secret.String(strings.Repeat("k", vault.MinKeyedKeyLen-1))); err == nil {
		t.Errorf("a key of %d bytes accepted", vault.MinKeyedKeyLen-1)
	}
}

// A transcript given as text alone (no word timings, as some providers
// answer) is redacted as text.
func TestRedactResultTranscriptWithoutWords(t *testing.T) {
	r := vault.NewRedactor(keyed(t), vault.RedactorOptions{})
	for _, words := range [][]provider.Word{nil, {}} {
		res := &provider.Result{Transcript: &provider.Transcript{Text: "my card is 4111 1111 1111 1111", Words: words}}
		out, found, err := r.RedactResult(context.Background(), res)
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != 1 || strings.Contains(out.Transcript.Text, "4111") || !strings.Contains(out.Transcript.Text, found[0].Token) {
			t.Errorf("words %v: transcript %q, findings %v", words, out.Transcript.Text, found)
		}
	}
}

// Tokens already in a text are not redacted again, however many there are,
// even when their IDs are all digits that would read as a card number.
func TestTokensInTextAreLeftAlone(t *testing.T) {
	r := vault.NewRedactor(keyed(t), vault.RedactorOptions{})
	tok := "[card:41111111111111111234]"
	for _, text := range []string{"a " + tok + " b", "a " + tok + " b " + tok + " c " + tok} {
		out, found := r.RedactText(text)
		if out != text || len(found) != 0 {
			t.Errorf("%q redacted to %q (%v)", text, out, found)
		}
	}
}

func TestLast4OfAShortValue(t *testing.T) {
	mac := vault.MAC([]byte("k"), vault.KindCard, "1234")
	if tk := vault.NewToken(vault.KindCard, mac, vault.FormatLast4, "1234"); tk.Last4 != "1234" {
		t.Errorf("last four of a four-digit value: %q", tk.Last4)
	}
	if tk := vault.NewToken(vault.KindCard, mac, vault.FormatLast4, "123"); tk.Last4 != "" {
		t.Errorf("last four of a three-digit value: %q", tk.Last4)
	}
}

package vault

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"

	"filesight/internal/detect"
	"filesight/internal/provider"
	"filesight/internal/secret"
)

// RedactorOptions configure a Redactor. The zero value is the default.
type RedactorOptions struct {
	// CardFormat is the format of card tokens: FormatOpaque (default) or
	// FormatLast4, which keeps the last four digits visible.
	CardFormat Format
	// Timeout bounds the tokenisation done by RedactText and RedactWords,
	// which take no context (default 30s).
	Timeout time.Duration
	// Logger receives the errors RedactText and RedactWords cannot return
	// (default: discard).
	Logger *slog.Logger
}

// Redactor finds sensitive values (internal/detect) and replaces them by
// tokens from a Tokenizer. It is safe for concurrent use.
type Redactor struct {
	tok  Tokenizer
	opts RedactorOptions
}

// NewRedactor returns a Redactor over t.
func NewRedactor(t Tokenizer, opts RedactorOptions) *Redactor {
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Redactor{tok: t, opts: opts}
}

// Document is everything a card writer writes for one file: free texts
// (on-screen text, keywords, messages) and transcripts given as words.
type Document struct {
	Texts []string
	Words [][]string
}

// Redacted is a Document with every sensitive value replaced by its token.
type Redacted struct {
	Texts []string
	Words [][]string // same lengths as the input; every word of a value holds its token
	// Findings lists the replaced values in document order (texts, then
	// transcripts).
	Findings []Finding
	// Fragments are the words of the replaced values, for checking text
	// derived from the same document (keywords) against them. They are
	// parts of sensitive values: keep them in memory only.
	Fragments Fragments
}

// occurrence is one value found in a document.
type occurrence struct {
	list, index int // Texts[index] (list 0) or Words[index] (list 1)
	start, end  int // byte offsets in a text, word indexes in a transcript
	item        int // index into the items to tokenize
}

// maxRounds bounds the passes of Redact that call the Tokenizer.
const maxRounds = 3

// Redact replaces every sensitive value in doc with one Tokenize call for
// all distinct values (none when nothing is found). An error means nothing
// was replaced; the caller may retry.
//
// The result is checked again: replacing a value can expose another that
// was glued to it ("a@x.io2b@y.io"); such values are replaced in a further
// pass (another Tokenize call). After maxRounds passes, whatever is still
// found is withheld without a token.
func (r *Redactor) Redact(ctx context.Context, doc Document) (Redacted, error) {
	out := Redacted{Texts: doc.Texts, Words: doc.Words, Fragments: Fragments{}}
	for round := 0; ; round++ {
		tok := r.tok
		if round >= maxRounds {
			tok = withheld{} // every pass shrinks the raw text, so this ends
		}
		next, err := r.redactOnce(ctx, tok, Document{Texts: out.Texts, Words: out.Words})
		if err != nil {
			return Redacted{}, err
		}
		if len(next.Findings) == 0 {
			if round == 0 {
				out.Texts, out.Words = next.Texts, next.Words // copies, never the caller's slices
			}
			return out, nil
		}
		out.Texts, out.Words = next.Texts, next.Words
		out.Findings = append(out.Findings, next.Findings...)
		for w := range next.Fragments {
			out.Fragments[w] = true
		}
	}
}

// redactOnce is one pass of Redact.
func (r *Redactor) redactOnce(ctx context.Context, tok Tokenizer, doc Document) (Redacted, error) {
	var (
		items []Item
		index = map[Item]int{}
		occs  []occurrence
		frags = Fragments{}
	)
	add := func(kind Kind, value string) int {
		it := Item{Kind: kind, Value: secret.String(value)}
		if kind == KindCard {
			it.Format = r.opts.CardFormat
		}
		i, ok := index[it]
		if !ok {
			i = len(items)
			index[it] = i
			items = append(items, it)
		}
		return i
	}
	for ti, t := range doc.Texts {
		for _, m := range detect.Text(maskTokens(t)) {
			occs = append(occs, occurrence{0, ti, m.Start, m.End, add(m.Kind, m.Value)})
			frags.add(t[m.Start:m.End])
		}
	}
	for wi, words := range doc.Words {
		masked := make([]string, len(words))
		for i, w := range words {
			masked[i] = maskTokens(w)
		}
		for _, m := range detect.Words(masked) {
			occs = append(occs, occurrence{1, wi, m.First, m.Last, add(m.Kind, m.Value)})
			frags.add(strings.Join(words[m.First:m.Last], " "))
		}
	}
	var tokens []string
	if len(items) > 0 {
		var err error
		if tokens, err = tok.Tokenize(ctx, items); err != nil {
			return Redacted{}, fmt.Errorf("tokenizing %d sensitive values: %w", len(items), err)
		}
		if len(tokens) != len(items) {
			return Redacted{}, fmt.Errorf("tokenizing %d sensitive values: got %d tokens", len(items), len(tokens))
		}
	}

	out := Redacted{Texts: make([]string, len(doc.Texts)), Words: make([][]string, len(doc.Words)), Fragments: frags}
	copy(out.Texts, doc.Texts)
	for i, w := range doc.Words {
		out.Words[i] = append([]string(nil), w...)
	}
	// Replace from the end of each text so earlier offsets stay valid.
	for k := len(occs) - 1; k >= 0; k-- {
		o := occs[k]
		if o.list == 0 {
			t := out.Texts[o.index]
			out.Texts[o.index] = t[:o.start] + tokens[o.item] + t[o.end:]
		} else {
			for w := o.start; w < o.end; w++ {
				out.Words[o.index][w] = tokens[o.item]
			}
		}
	}
	for _, o := range occs {
		out.Findings = append(out.Findings, Finding{Kind: items[o.item].Kind, Token: tokens[o.item]})
	}
	return out, nil
}

// RedactText replaces the sensitive values in s. It implements the card
// writer's context-free interface: when tokenisation fails it cannot return
// the error, so it logs it and replaces each value by "[kind:withheld]"
// rather than let a value through. Prefer Redact or RedactResult, which
// return the error so the caller can retry.
func (r *Redactor) RedactText(s string) (string, []Finding) {
	out := r.redactOrWithhold(Document{Texts: []string{s}})
	return out.Texts[0], out.Findings
}

// RedactWords replaces the sensitive values in a transcript given as words;
// every word of a value becomes the value's token (so a card number read
// out as sixteen words becomes sixteen copies of one token, and word timings
// stay aligned). Failures are handled as in RedactText.
func (r *Redactor) RedactWords(words []string) ([]string, []Finding) {
	out := r.redactOrWithhold(Document{Words: [][]string{words}})
	return out.Words[0], out.Findings
}

func (r *Redactor) redactOrWithhold(doc Document) Redacted {
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.Timeout)
	defer cancel()
	out, err := r.Redact(ctx, doc)
	if err == nil {
		return out
	}
	out, _ = (&Redactor{tok: withheld{}, opts: r.opts}).Redact(ctx, doc)
	r.opts.Logger.Error("vault: tokenisation failed; sensitive values withheld without a token", "error", err, "values", len(out.Findings))
	return out
}

// RedactResult returns a copy of an ML result document fit for the metadata
// store: transcript words and text and on-screen texts hold tokens instead
// of sensitive values, and keywords that contain a sensitive value or share
// a word with one that was redacted (so "jane", "doe", "example" and "com"
// after jane.doe@example.com) are left out (see KeepKeyword). It makes one
// Tokenize call for the whole document. res is not modified.
func (r *Redactor) RedactResult(ctx context.Context, res *provider.Result) (*provider.Result, []Finding, error) {
	if res == nil {
		return nil, nil, nil
	}
	var doc Document
	for _, o := range res.OCR {
		doc.Texts = append(doc.Texts, o.Text)
	}
	transcriptText := res.Transcript != nil && len(res.Transcript.Words) == 0
	if transcriptText {
		doc.Texts = append(doc.Texts, res.Transcript.Text)
	}
	if res.Transcript != nil && len(res.Transcript.Words) > 0 {
		words := make([]string, len(res.Transcript.Words))
		for i, w := range res.Transcript.Words {
			words[i] = w.Word
		}
		doc.Words = [][]string{words}
	}
	red, err := r.Redact(ctx, doc)
	if err != nil {
		return nil, nil, err
	}

	out := *res
	if res.OCR != nil {
		out.OCR = make([]provider.OCRText, len(res.OCR))
		for i, o := range res.OCR {
			o.Text = red.Texts[i]
			out.OCR[i] = o
		}
	}
	if res.Transcript != nil {
		t := provider.Transcript{Text: res.Transcript.Text}
		if transcriptText {
			t.Text = red.Texts[len(red.Texts)-1]
		} else {
			t.Words = make([]provider.Word, len(res.Transcript.Words))
			var text []string
			for i, w := range res.Transcript.Words {
				w.Word = red.Words[0][i]
				t.Words[i] = w
				if i == 0 || w.Word != red.Words[0][i-1] || tokenRe.FindString(w.Word) != w.Word {
					text = append(text, w.Word)
				}
			}
			t.Text = strings.Join(text, " ")
		}
		out.Transcript = &t
	}
	if res.Keywords != nil {
		out.Keywords = []provider.Keyword{}
		for _, k := range res.Keywords {
			if KeepKeyword(k.Text, red.Fragments) {
				out.Keywords = append(out.Keywords, k)
			}
		}
	}
	return &out, red.Findings, nil
}

// KeepKeyword reports whether a keyword may be written next to a redacted
// document: it holds no sensitive value of its own and shares no word with a
// value redacted from the document (fragments). Keywords are computed from
// the raw text, so "Contact jane.doe@example.com" yields "jane", "doe",
// "example" and "com"; none of them survives.
func KeepKeyword(keyword string, fragments Fragments) bool {
	if len(detect.Text(keyword)) > 0 || len(detect.Words(strings.Fields(keyword))) > 0 {
		return false
	}
	return !fragments.Shares(keyword)
}

// Fragments is a set of words taken from sensitive values. The zero value
// is empty (and Shares is false).
type Fragments map[string]bool

func (f Fragments) add(raw string) {
	for _, w := range fragmentWords(raw) {
		f[w] = true
	}
}

// Shares reports whether text has a word in common with the set (compared
// in lower case, with a plural "s" or possessive "'s" removed).
func (f Fragments) Shares(text string) bool {
	for _, w := range fragmentWords(text) {
		if f[w] {
			return true
		}
	}
	return false
}

// fragmentWords splits text the way keyword extraction does (letters,
// digits and apostrophes) and normalises each word.
func fragmentWords(text string) []string {
	fields := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '\''
	})
	out := fields[:0]
	for _, w := range fields {
		w = strings.TrimSuffix(strings.Trim(w, "'"), "'s")
		if len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "is") {
			w = w[:len(w)-1]
		}
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}

package vault

import (
	"strings"
	"testing"
)

func tk(t *testing.T) *Tokenizer {
	t.Helper()
	v, err := New("test-key-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRedactText(t *testing.T) {
	v := tk(t)
	tests := []struct {
		in        string
		kinds     []Kind
		mustNotIn []string
	}{
		{"card 4111 1111 1111 1111 exp 12/30", []Kind{KindCard}, []string{"4111"}},
		{"card 4111-1111-1111-1111", []Kind{KindCard}, []string{"1111-1111"}},
		{"order 4111 1111 1111 1112 is not a card", nil, nil},
		{"ssn 123-45-6789 on file", []Kind{KindSSN}, []string{"6789"}},
		{"ssn 000-12-3456 invalid", nil, nil},
		{"pay to GB82 WEST 1234 5698 7654 32 today", []Kind{KindIBAN}, []string{"WEST"}},
		{"GB82 WEST 1234 5698 7654 33 fails mod 97", nil, nil},
		{"slide 3 of 12, 2026 roadmap", nil, nil},
	}
	for _, tt := range tests {
		out, found := v.RedactText(tt.in)
		if len(found) != len(tt.kinds) {
			t.Errorf("%q: found %v, want kinds %v (out %q)", tt.in, found, tt.kinds, out)
			continue
		}
		for i, f := range found {
			if f.Kind != tt.kinds[i] || !strings.Contains(out, f.Token) {
				t.Errorf("%q: finding %v not in %q", tt.in, f, out)
			}
		}
		for _, s := range tt.mustNotIn {
			if strings.Contains(out, s) {
				t.Errorf("%q: %q still present in %q", tt.in, s, out)
			}
		}
		if len(tt.kinds) == 0 && out != tt.in {
			t.Errorf("%q changed to %q", tt.in, out)
		}
	}
	a, _ := v.RedactText("4111111111111111")
	b, _ := v.RedactText("4111 1111 1111 1111")
	if a != b {
		t.Errorf("same card, different tokens: %q %q", a, b)
	}
	other, _ := New("another-key-0123456789")
	c, _ := other.RedactText("4111111111111111")
	if c == a {
		t.Error("token must depend on the key")
	}
}

func TestRedactWords(t *testing.T) {
	v := tk(t)
	words := strings.Fields("my card is four one one one one one one one one one one one one one one one thanks")
	out, found := v.RedactWords(words)
	if len(found) != 1 || len(out) != len(words) {
		t.Fatalf("found %v, %d words", found, len(out))
	}
	for i, w := range out {
		if i >= 3 && i < 19 && w != found[0].Token {
			t.Fatalf("word %d = %q", i, w)
		}
	}
	if out[0] != "my" || out[len(out)-1] != "thanks" {
		t.Fatalf("neighbours changed: %v", out)
	}
	short := strings.Fields("call one two three four five")
	if out, f := v.RedactWords(short); len(f) != 0 || strings.Join(out, " ") != strings.Join(short, " ") {
		t.Fatal("short digit run redacted")
	}
}

func TestNewRejectsShortKey(t *testing.T) {
	if _, err := New("short"); err == nil {
		t.Fatal("short key accepted")
	}
}

func FuzzRedactText(f *testing.F) {
	f.Add("card 4111 1111 1111 1111")
	f.Add("GB82 WEST 1234 5698 7654 32")
	f.Fuzz(func(t *testing.T, s string) {
		v, _ := New("fuzz-key-0123456789abcdef")
		out, found := v.RedactText(s)
		for _, fd := range found {
			if !strings.Contains(out, fd.Token) {
				t.Fatalf("token %s missing from output", fd.Token)
			}
		}
		again, more := v.RedactText(out)
		if again != out || len(more) != 0 {
			t.Fatalf("redaction not idempotent: %q -> %q", out, again)
		}
	})
}

package provider

import (
	"net/url"
	"strings"
	"testing"

	"filesight/internal/secret"
)

func TestRedact(t *testing.T) {
	const tok = "tok-0123456789abcdef"
	for _, tc := range []struct {
		name, in, want string
		secrets        []secret.String
	}{
		{"url query", "Download error, unable to download https://api.box.com/2.0/files/1/content?access_token=" + tok + ". Please retry.",
			"Download error, unable to download https://api.box.com/2.0/files/1/content. Please retry.", nil},
		{"user info and fragment", `Post "https://user:pw@host.example/v2/x?a=b#frag": dial tcp: refused`,
			`Post "https://host.example/v2/x": dial tcp: refused`, nil},
		{"bearer", "sent Authorization: Bearer abc.def.ghi to the service", "sent Authorization: Bearer [REDACTED] to the service", nil},
		{"key value", `invalid api_key=sk-123456 and token: "xyz987"`, `invalid api_key=[REDACTED] and token: "[REDACTED]"`, nil},
		{"named secret", "the key sk-live-42424242 was refused", "the key [REDACTED] was refused", []secret.String{"sk-live-42424242"}},
		{"short secrets are not searched", "a b c", "a b c", []secret.String{"a"}},
		{"masked api key", "Incorrect API key provided: sk-abc12***********wxyz.", "Incorrect API key provided: [REDACTED].", nil},
		{"whitespace folded", "line one\n\tline   two", "line one line two", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Redact(tc.in, tc.secrets...); got != tc.want {
				t.Fatalf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// A long message is cut after redaction, so no prefix of a secret remains.
func TestRedactTruncatesAfterRedacting(t *testing.T) {
	tok := secret.String(strings.Repeat("s", 40))
	msg := strings.Repeat("é", MaxMessage/2-5) + " " + tok.Reveal() + " tail"
	got := Redact(msg, tok)
	if len(got) > MaxMessage || strings.Contains(got, "sssss") || !strings.HasSuffix(got, "…") {
		t.Fatalf("got %d bytes: %q", len(got), got)
	}
	if !strings.HasPrefix(got, "é") || strings.ContainsRune(got, '\uFFFD') {
		t.Fatal("cut inside a rune")
	}
}

func TestTokenURL(t *testing.T) {
	u, err := TokenURL("https://api.box.com/2.0/files/42/content?version=7", "tok/with+chars")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := url.Parse(u.Reveal())
	if p.Query().Get("access_token") != "tok/with+chars" || p.Query().Get("version") != "7" || p.Path != "/2.0/files/42/content" {
		t.Fatalf("got %s", u.Reveal())
	}
	if u.String() != secret.Redacted {
		t.Fatal("the URL with its token must format as redacted")
	}
	for _, bad := range []struct{ url, tok string }{{"ftp://x/y", "t"}, {"/relative", "t"}, {"https://x/y", ""}} {
		if _, err := TokenURL(bad.url, secret.String(bad.tok)); err == nil {
			t.Errorf("TokenURL(%q, %q) must fail", bad.url, bad.tok)
		}
	}
}

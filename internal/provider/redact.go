package provider

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"filesight/internal/secret"
)

// MaxMessage is how long (in bytes) a message from a third-party service
// may be once redacted: enough to explain, short enough for a status card.
const MaxMessage = 300

var (
	// urlPattern finds URLs, whose query, fragment and user info may hold
	// credentials (Box's access_token parameter, signed callback URLs, SAS
	// tokens): Redact keeps scheme, host and path only.
	urlPattern = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://[^\s"'<>]+`)
	// credPattern finds credentials written out in text: bearer tokens and
	// key=value pairs whose name says what they are.
	// keyPattern finds API keys in the sk-... form (OpenAI-compatible
	// services quote a refused key, partly masked, in their error text).
	keyPattern  = regexp.MustCompile(`\bsk-[A-Za-z0-9_*-]{3,}`)
	credPattern = regexp.MustCompile(`(?i)(bearer\s+|(?:access_?token|api_?key|token|sig|signature|secret|password)\s*[=:]\s*"?)([^\s"&,;]+)`)
)

// Redact makes a message from a provider (an error body, a job's failure
// text, a network error naming a URL) safe to log, to keep in workflow
// history and to show on a status card, then truncates it to MaxMessage
// bytes: every given secret value is replaced, URLs lose their query,
// fragment and user info, and bearer tokens or token=... pairs are blanked.
// Redaction comes first, so truncation cannot cut a secret in half and
// leave its beginning behind.
func Redact(msg string, secrets ...secret.String) string {
	for _, s := range secrets {
		if v := s.Reveal(); len(v) >= 4 {
			msg = strings.ReplaceAll(msg, v, secret.Redacted)
		}
	}
	msg = urlPattern.ReplaceAllStringFunc(msg, stripURL)
	msg = credPattern.ReplaceAllString(msg, "${1}"+secret.Redacted)
	msg = keyPattern.ReplaceAllString(msg, secret.Redacted)
	msg = strings.Join(strings.Fields(msg), " ")
	return Truncate(msg, MaxMessage)
}

// stripURL keeps scheme://host/path of a URL found in text (and the
// punctuation that ended the sentence around it).
func stripURL(u string) string {
	trimmed := strings.TrimRight(u, ".,;:!?)")
	tail := u[len(trimmed):]
	scheme, rest, _ := strings.Cut(trimmed, "://")
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
	}
	if at := strings.LastIndex(strings.SplitN(rest, "/", 2)[0], "@"); at >= 0 {
		rest = rest[at+1:]
	}
	return scheme + "://" + rest + tail
}

// Truncate shortens s to at most n bytes, cutting at a rune boundary and
// marking the cut with "…".
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ell = "…"
	cut := max(n-len(ell), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ell
}

package detect

import (
	"regexp"
	"slices"
	"strings"
)

// emailRe: a local part that starts with a letter or digit, "@", and a
// domain of dot-separated labels ending in a top-level domain of letters.
var emailRe = regexp.MustCompile(`[A-Za-z0-9][A-Za-z0-9._%+'-]*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}`)

// fileExtensions are not top-level domains: "icon@2x.png" is a file name.
var fileExtensions = []string{"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "tif", "tiff", "pdf", "mp4", "mov", "webm", "heic"}

// emails finds e-mail addresses; the value is the address in lower case.
func emails(s string) []Match {
	var out []Match
	for _, loc := range emailRe.FindAllStringIndex(s, -1) {
		start, end := loc[0], loc[1]
		if alnumAt(s, end) || end < len(s) && s[end] == '-' {
			continue // the TLD continues: not a domain we can read
		}
		addr := strings.ToLower(s[start:end])
		if len(addr) > 254 || strings.IndexByte(addr, '@') > 64 {
			continue // longer than an address can be (RFC 5321)
		}
		if slices.Contains(fileExtensions, addr[strings.LastIndexByte(addr, '.')+1:]) {
			continue
		}
		out = append(out, Match{Kind: Email, Start: start, End: end, Value: addr})
	}
	return out
}

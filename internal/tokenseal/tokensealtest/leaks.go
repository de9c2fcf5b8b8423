package tokensealtest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
)

// HistoryPayloads returns every payload of h as stored (still encoded):
// inputs and results, signals, markers, memos, headers, search attributes
// and the encoded attributes of every failure.
func HistoryPayloads(ctx context.Context, h *historypb.History) ([]*commonpb.Payload, error) {
	var out []*commonpb.Payload
	err := proxy.VisitPayloads(ctx, h, proxy.VisitPayloadsOptions{
		Visitor: func(_ *proxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
			out = append(out, ps...)
			return ps, nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("walking the history's payloads: %w", err)
	}
	return out, nil
}

// tokenChar is a character of an RFC 6750 bearer token (b64token), which
// covers Box's alphanumeric tokens, JWTs and base64 of either kind.
func tokenChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~+/=", r)
}

func alnum(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' }

// minToken is the shortest string worth hashing: no credential is shorter.
const minToken = 16

// FindTokens returns the hash prefixes (from hashPrefixes, lower-case hex
// SHA-256 prefixes such as localbox's admin API lists) of every token
// found in data: each maximal run of token characters, each maximal
// alphanumeric run within it (a token inside a URL or after "Bearer"), and
// the same again inside whatever of it decodes as base64. It reports hash
// prefixes only, never a value, so a failing test prints no secret.
func FindTokens(data []byte, hashPrefixes []string) []string {
	want := map[string]bool{}
	for _, p := range hashPrefixes {
		want[strings.ToLower(p)] = true
	}
	found := map[string]bool{}
	seen := map[string]bool{}
	var scan func(s string, depth int)
	check := func(c string) {
		if len(c) < minToken || seen[c] {
			return
		}
		seen[c] = true
		sum := sha256.Sum256([]byte(c))
		h := hex.EncodeToString(sum[:])
		for p := range want {
			if strings.HasPrefix(h, p) {
				found[p] = true
			}
		}
	}
	scan = func(s string, depth int) {
		for _, run := range strings.FieldsFunc(s, func(r rune) bool { return !tokenChar(r) }) {
			check(run)
			check(strings.TrimRight(run, "="))
			for _, part := range strings.FieldsFunc(run, func(r rune) bool { return !alnum(r) }) {
				check(part)
			}
			if depth > 0 || len(run) < minToken {
				continue
			}
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
				if b, err := enc.DecodeString(run); err == nil {
					scan(string(b), depth+1)
					break
				}
			}
		}
	}
	if len(want) > 0 {
		scan(string(data), 0)
	}
	out := make([]string, 0, len(found))
	for p := range found {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Package vault keeps sensitive values found in ML output (payment card
// numbers, SSNs, IBANs, e-mail addresses, phone numbers) out of the metadata
// store, following the tokenisation pattern: a value goes in, a token comes
// out, and only the vault service maps a token back to its value.
//
// The package holds what both sides share: the token format, the Tokenizer
// interface, the HTTP API's wire types, and the Redactor, which finds values
// with internal/detect and replaces them through any Tokenizer:
//
//   - vaultclient.Client, the vault service (vault/ and internal/vault/vaultserver):
//     values are stored encrypted and can be detokenized, with audit, by
//     holders of a separate credential;
//   - Keyed, a local keyed HMAC that stores nothing (tokens can never be
//     reversed), for tests and for deployments without the service.
//
// Both derive a token the same way from (kind, value) with the token key, so
// equal values get equal tokens across files, runs and workers.
package vault

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"

	"filesight/internal/detect"
	"filesight/internal/secret"
)

// Kind names a class of sensitive value.
type Kind = detect.Kind

// The kinds of value the vault tokenizes.
const (
	KindCard  = detect.Card
	KindSSN   = detect.SSN
	KindIBAN  = detect.IBAN
	KindEmail = detect.Email
	KindPhone = detect.Phone
)

// Format is the form of a token.
type Format string

const (
	// FormatOpaque tokens reveal only the kind: "[card:5d41402abc4b2a76b971]".
	FormatOpaque Format = ""
	// FormatLast4 keeps a card's last four digits, after the opaque part:
	// "[card:5d41402abc4b2a76b971:1111]". It applies to cards only.
	FormatLast4 Format = "last4"
)

// Item is one value to tokenize.
type Item struct {
	Kind   Kind          `json:"kind"`
	Value  secret.String `json:"value"`
	Format Format        `json:"format,omitempty"`
}

// Finding is one replaced value; it carries no part of the value.
type Finding struct {
	Kind  Kind   `json:"kind"`
	Token string `json:"token"`
}

// Tokenizer maps sensitive values to tokens. The same (kind, value) always
// gets the same token (in its format), so retries are idempotent and equal
// values stay correlatable. Tokenize returns one token per item, in order.
type Tokenizer interface {
	Tokenize(ctx context.Context, items []Item) ([]string, error)
}

// TokenIDLen is the length of a token's opaque part: 20 hex digits, the
// first 80 bits of the value's HMAC.
const TokenIDLen = 20

// MAC is the keyed HMAC-SHA256 of a value of a kind, from which its token is
// derived. value must be in normal form (detect.Normalize).
func MAC(key []byte, kind Kind, value string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("filesight-vault-token/v1\x00"))
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return m.Sum(nil)
}

// Token is a parsed token.
type Token struct {
	Kind  Kind
	ID    string // hex, TokenIDLen digits (12 in tokens of earlier versions)
	Last4 string // FormatLast4 only
}

// NewToken returns the token of a value of a kind with the given MAC.
func NewToken(kind Kind, mac []byte, format Format, value string) Token {
	t := Token{Kind: kind, ID: hex.EncodeToString(mac)[:TokenIDLen]}
	if format == FormatLast4 && len(value) >= 4 {
		t.Last4 = value[len(value)-4:]
	}
	return t
}

// String renders the token as it appears in text.
func (t Token) String() string {
	if t.Last4 != "" {
		return "[" + string(t.Kind) + ":" + t.ID + ":" + t.Last4 + "]"
	}
	return "[" + string(t.Kind) + ":" + t.ID + "]"
}

// tokenRe matches tokens in text: this version's and the 12-digit tokens
// written by earlier versions of the local tokenizer.
var tokenRe = regexp.MustCompile(`\[(card|ssn|iban|email|phone):([0-9a-f]{20}|[0-9a-f]{12})(?::([0-9]{4}))?\]`)

// ParseToken parses a token as String renders it.
func ParseToken(s string) (Token, error) {
	m := tokenRe.FindStringSubmatch(s)
	if m == nil || len(m[0]) != len(s) || len(m[2]) != TokenIDLen {
		return Token{}, fmt.Errorf("not a vault token (want [kind:%d hex digits] or [card:%d hex digits:last four])", TokenIDLen, TokenIDLen)
	}
	if m[3] != "" && Kind(m[1]) != KindCard {
		return Token{}, fmt.Errorf("only card tokens carry last four digits")
	}
	return Token{Kind: Kind(m[1]), ID: m[2], Last4: m[3]}, nil
}

// maskTokens blanks the tokens in s (same length, so offsets hold), so that
// redacting redacted text changes nothing.
func maskTokens(s string) string {
	locs := tokenRe.FindAllStringIndex(s, -1)
	if locs == nil {
		return s
	}
	b := []byte(s)
	for _, l := range locs {
		for i := l[0]; i < l[1]; i++ {
			b[i] = ' '
		}
	}
	return string(b)
}

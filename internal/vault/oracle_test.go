package vault_test

import (
	"encoding/hex"
	"strings"
	"testing"

	"filesight/internal/vault"
)

// TestMACFixedVector pins the vault's token derivation to a value computed
// outside this code:
//
//	printf 'filesight-vault-token/v1\0card\0%s' 5555555555554444 |
//	  openssl dgst -sha256 -hmac test-key-0123456789abcdef -hex
//
// Tokens issued earlier must keep matching their values: a change to the
// domain separation, the order or the separators would silently give every
// value a new token.
func TestMACFixedVector(t *testing.T) {
	const want = "614cc0710cefbf9d51b02c26b73184af4bae1d95b5699bc4181184671f6e6215"
	mac := vault.MAC([]byte("test-key-0123456789abcdef"), vault.KindCard, "5555555555554444")
	if got := hex.EncodeToString(mac); got != want {
		t.Fatalf("MAC = %s, want %s", got, want)
	}
	if got := vault.NewToken(vault.KindCard, mac, vault.FormatOpaque, "5555555555554444").String(); got != "[card:"+want[:vault.TokenIDLen]+"]" {
		t.Fatalf("token %s", got)
	}
	if got := vault.NewToken(vault.KindCard, mac, vault.FormatLast4, "5555555555554444").String(); got != "[card:"+want[:vault.TokenIDLen]+":4444]" {
		t.Fatalf("last-4 token %s", got)
	}
}

// Published test numbers of every major scheme are replaced, whether shown
// (on-screen text) or spoken (a transcript, digit by digit).
func TestRedactsPublishedCardsOfEveryScheme(t *testing.T) {
	r, err := vault.New("activities-test-vault-key-000")
	if err != nil {
		t.Fatal(err)
	}
	spoken := []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
	for _, n := range []string{
		"5555555555554444", "5105105105105100", "2223003122003222", // Mastercard, 2-series
		"378282246310005", "371449635398431", // American Express
		"6011111111111117", "6011000990139424", // Discover
		"3530111333300000", "3566002020360505", // JCB
		"30569309025904", "38520000023237", // Diners Club
		"4012888888881881", "6200000000000005", // Visa, UnionPay
	} {
		out, found := r.RedactText("card " + n + " exp 12/30")
		if len(found) != 1 || found[0].Kind != vault.KindCard || strings.Contains(out, n[len(n)-4:]) {
			t.Errorf("text with %s: %q %v", n, out, found)
		}
		words := []string{"my", "card", "is"}
		for _, c := range n {
			words = append(words, spoken[c-'0'])
		}
		got, found := r.RedactWords(words)
		if len(found) != 1 || found[0].Kind != vault.KindCard {
			t.Errorf("spoken %s: %v %v", n, got, found)
			continue
		}
		for i, w := range got[3:] {
			if w != found[0].Token {
				t.Errorf("spoken %s: word %d is %q, want the token", n, i+3, w)
			}
		}
	}
}

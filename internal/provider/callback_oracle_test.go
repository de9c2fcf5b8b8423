package provider

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"filesight/internal/secret"
)

// TestCallbackMACFixedVector pins the signed callback URL's MAC to a value
// computed outside this code:
//
//	printf 'filesight-callback-v1\n%s\n%s\n%s' mlengine file-42-v7 1767225600 |
//	  openssl dgst -sha256 -hmac callback-key-0123456789abcdefghijkl -binary | base64 | tr '+/' '-_' | tr -d =
//
// A change to the signed fields, their order or separators, or the encoding
// invalidates every callback URL already handed to a provider.
func TestCallbackMACFixedVector(t *testing.T) {
	const want = "82-ngje6LDVqrhRnm6yE3hf3SPytZ_inzOmv7tsSXYY"
	const exp = 1767225600 // 2026-01-01T00:00:00Z
	s := CallbackSigner{Provider: "mlengine", Key: "callback-key-0123456789abcdefghijkl",
		Now: func() time.Time { return time.Unix(exp-3600, 0) }}
	signed, err := s.Sign("https://starter.example/callbacks/mlengine", "file-42-v7", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(signed.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get(CallbackParamSignature) != want || q.Get(CallbackParamExpires) != "1767225600" || q.Get(CallbackParamWorkflow) != "file-42-v7" {
		t.Fatalf("signed URL %s: want signature %s, expiry 1767225600", u, want)
	}
	if wf, err := s.Verify(q); err != nil || wf != "file-42-v7" {
		t.Fatalf("Verify = %q, %v", wf, err)
	}
	// Valid until the second of its expiry, not after.
	s.Now = func() time.Time { return time.Unix(exp, 0) }
	if _, err := s.Verify(q); err != nil {
		t.Fatalf("at expiry: %v", err)
	}
	s.Now = func() time.Time { return time.Unix(exp+1, 0) }
	if _, err := s.Verify(q); err == nil {
		t.Fatal("accepted after its expiry")
	}
	// Another provider's endpoint does not accept it.
	other := CallbackSigner{Provider: "whisper", Key: s.Key, Now: func() time.Time { return time.Unix(exp-60, 0) }}
	if _, err := other.Verify(q); err == nil {
		t.Fatal("accepted for another provider")
	}
}

func TestCallbackKeyLength(t *testing.T) {
	exact := strings.Repeat("k", MinCallbackKeyBytes)
	for _, s := range []CallbackSigner{{Key: secret.String(exact)}, {Key: secret.String(exact), Secondary: secret.String(exact)}} {
		if err := s.Validate(); err != nil {
			t.Errorf("keys of %d bytes: %v", MinCallbackKeyBytes, err)
		}
	}
	short := secret.String(exact[1:])
	for _, s := range []CallbackSigner{{Key: short}, {Key: secret.String(exact), Secondary: short}} {
		if err := s.Validate(); err == nil {
			t.Errorf("a key of %d bytes accepted", MinCallbackKeyBytes-1)
		}
	}
}

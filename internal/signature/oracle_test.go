package signature

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

// Vectors computed outside this package, so that a change to how the HMAC's
// input is put together (order, separators, encoding) fails here, not only
// where another implementation meets ours.

// boxSample is the sample webhook delivery that Box's official SDKs verify
// in their webhook tests (the raw body, BOX-DELIVERY-TIMESTAMP and both
// BOX-SIGNATURE-* headers, signed with the keys "SamplePrimaryKey" and
// "SampleSecondaryKey"). Box's developer guide describes the scheme
// (developer.box.com, "Signature Verification": the body's bytes, then the
// timestamp's, HMAC-SHA256, base64) but prints no key; the two signatures
// below were also recomputed with
//
//	printf '%s%s' "$body" "$ts" | openssl dgst -sha256 -hmac SamplePrimaryKey -binary | base64
var boxSample = struct {
	body, timestamp, primary, secondary string
	primaryKey, secondaryKey            string
}{
	body:         `{"type":"webhook_event","webhook":{"id":"1234567890"},"trigger":"FILE.UPLOADED","source":{"id":"1234567890","type":"file","name":"Test.txt"}}`,
	timestamp:    "2020-01-01T00:00:00-07:00",
	primary:      "6TfeAW3A1PASkgboxxA5yqHNKOwFyMWuEXny/FPD5hI=",
	secondary:    "v+1CD1Jdo3muIcbpv5lxxgPglOqMfsNHPV899xWYydo=",
	primaryKey:   "SamplePrimaryKey",
	secondaryKey: "SampleSecondaryKey",
}

func TestBoxPublishedWebhookSignature(t *testing.T) {
	s := boxSample
	body := []byte(s.body)
	if got := Sign([]byte(s.primaryKey), body, s.timestamp); got != s.primary {
		t.Errorf("Sign(primary) = %s, want Box's %s", got, s.primary)
	}
	if got := Sign([]byte(s.secondaryKey), body, s.timestamp); got != s.secondary {
		t.Errorf("Sign(secondary) = %s, want Box's %s", got, s.secondary)
	}

	sent, err := time.Parse(time.RFC3339, s.timestamp)
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier([]byte(s.primaryKey), []byte(s.secondaryKey))
	v.Now = func() time.Time { return sent.Add(2 * time.Minute) }
	for _, tc := range []struct {
		name       string
		body, ts   string
		prim, sec  string
		want       error
		wantAccept bool
	}{
		{"both headers", s.body, s.timestamp, s.primary, s.secondary, nil, true},
		{"primary only", s.body, s.timestamp, s.primary, "", nil, true},
		{"secondary only", s.body, s.timestamp, "", s.secondary, nil, true},
		{"headers swapped", s.body, s.timestamp, s.secondary, s.primary, ErrMismatch, false},
		{"body with a trailing newline", s.body + "\n", s.timestamp, s.primary, s.secondary, ErrMismatch, false},
		{"same instant written in UTC", s.body, "2020-01-01T07:00:00Z", s.primary, s.secondary, ErrMismatch, false},
	} {
		err := v.Verify([]byte(tc.body), tc.ts, tc.prim, tc.sec)
		if tc.wantAccept != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: Verify = %v, want %v", tc.name, err, tc.want)
		}
	}
	// Box's 10-minute window, measured from the timestamp as written.
	v.Now = func() time.Time { return sent.Add(10*time.Minute + time.Second) }
	if err := v.Verify(body, s.timestamp, s.primary, s.secondary); !errors.Is(err, ErrTimestamp) {
		t.Errorf("11 minutes late: %v, want ErrTimestamp", err)
	}
	v.Now = func() time.Time { return sent.Add(10 * time.Minute) }
	if err := v.Verify(body, s.timestamp, s.primary, s.secondary); err != nil {
		t.Errorf("exactly 10 minutes late: %v, want accepted", err)
	}
	v.Now = func() time.Time { return sent.Add(-time.Minute) }
	if err := v.Verify(body, s.timestamp, s.primary, s.secondary); err != nil {
		t.Errorf("1 minute early (clock skew): %v, want accepted", err)
	}
	v.Now = func() time.Time { return sent.Add(-time.Minute - time.Second) }
	if err := v.Verify(body, s.timestamp, s.primary, s.secondary); !errors.Is(err, ErrTimestamp) {
		t.Errorf("61 s early: %v, want ErrTimestamp", err)
	}
}

// TestSignDeliveryFixedVector: SignDelivery is our extension of Box's scheme
// (nobody publishes a vector for it). This one was computed with
//
//	printf '%s%s\n%s' "$body" "$ts" "$id" | openssl dgst -sha256 -hmac SamplePrimaryKey -binary | base64
func TestSignDeliveryFixedVector(t *testing.T) {
	const id = "f96bb54b-ee16-4fc5-aa65-8c2d9e5b546f"
	const want = "O0p1Tzn50XsYGd7S6EIU+fNUkw2O+qvdn3Yb8ZRpaC0="
	if got := SignDelivery([]byte(boxSample.primaryKey), []byte(boxSample.body), boxSample.timestamp, id); got != want {
		t.Fatalf("SignDelivery = %s, want %s", got, want)
	}
	sent, _ := time.Parse(time.RFC3339, boxSample.timestamp)
	v := NewVerifier([]byte(boxSample.primaryKey), nil)
	v.Now = func() time.Time { return sent }
	if err := v.VerifyDelivery([]byte(boxSample.body), boxSample.timestamp, id, want, ""); err != nil {
		t.Fatalf("VerifyDelivery: %v", err)
	}
	// Box's own signature (no delivery ID) is not a delivery signature.
	if err := v.VerifyDelivery([]byte(boxSample.body), boxSample.timestamp, id, boxSample.primary, ""); !errors.Is(err, ErrMismatch) {
		t.Fatalf("VerifyDelivery accepted Box's body signature: %v", err)
	}
}

// RFC 4231's HMAC-SHA-256 test cases (test case 5, a truncated output, does
// not apply). Sign(key, data, "") is the base64 of HMAC-SHA256(key, data);
// splitting data between body and timestamp must not change it, which pins
// the order: body first, then timestamp.
func TestRFC4231(t *testing.T) {
	rep := func(b byte, n int) string { return strings.Repeat(string([]byte{b}), n) }
	key4 := make([]byte, 25)
	for i := range key4 {
		key4[i] = byte(i + 1)
	}
	for _, tc := range []struct {
		name      string
		key, data string
		want      string // hex, from the RFC
	}{
		{"1", rep(0x0b, 20), "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
		{"2", "Jefe", "what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{"3", rep(0xaa, 20), rep(0xdd, 50), "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
		{"4", string(key4), rep(0xcd, 50), "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
		{"6", rep(0xaa, 131), "Test Using Larger Than Block-Size Key - Hash Key First", "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
		{"7", rep(0xaa, 131), "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.", "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
	} {
		mac, _ := hex.DecodeString(tc.want)
		want := base64.StdEncoding.EncodeToString(mac)
		for _, split := range []int{0, len(tc.data) / 3, len(tc.data)} {
			if got := Sign([]byte(tc.key), []byte(tc.data[:split]), tc.data[split:]); got != want {
				t.Errorf("test case %s split at %d: %s, want %s", tc.name, split, got, want)
			}
		}
	}
}

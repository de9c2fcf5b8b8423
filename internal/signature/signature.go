// Package signature signs and verifies webhook-style HTTP deliveries:
// base64(HMAC-SHA256(key, rawBody ‖ timestamp)), with a primary and a
// secondary key so keys can rotate, and a replay window on the timestamp.
//
// Box signs its v2 webhooks this way; localbox does the same. mlengine signs
// its job callbacks with SignDelivery, which also covers the delivery ID, so
// that a receiver can remember IDs (Replays) without an attacker being able
// to replay a recorded callback under a fresh ID. One verifier serves the
// starter's webhook and callback endpoints.
package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// Sign returns base64(HMAC-SHA256(key, body ‖ timestamp)).
func Sign(key []byte, body []byte, timestamp string) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	m.Write([]byte(timestamp))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// SignDelivery returns base64(HMAC-SHA256(key, body ‖ timestamp ‖ "\n" ‖
// deliveryID)): Sign's scheme extended to the delivery ID. The ID holds no
// newline (CheckDeliveryID), and an RFC 3339 timestamp none either, so the
// last newline of the signed bytes separates them unambiguously.
func SignDelivery(key []byte, body []byte, timestamp, deliveryID string) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	m.Write([]byte(timestamp))
	m.Write([]byte{'\n'})
	m.Write([]byte(deliveryID))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// MaxDeliveryID is the longest delivery ID accepted.
const MaxDeliveryID = 128

// CheckDeliveryID reports whether id can identify a delivery: 1 to
// MaxDeliveryID printable ASCII characters, no spaces.
func CheckDeliveryID(id string) error {
	if id == "" || len(id) > MaxDeliveryID {
		return fmt.Errorf("%w: delivery ID must have 1 to %d characters", ErrMissing, MaxDeliveryID)
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return fmt.Errorf("%w: delivery ID holds a character that is not printable ASCII", ErrMissing)
		}
	}
	return nil
}

// Errors returned by Verify. They are deliberately terse: a caller answering
// an HTTP request should map all of them to one 401 without detail.
var (
	ErrMissing   = errors.New("signature or timestamp missing")
	ErrTimestamp = errors.New("timestamp malformed or outside the allowed window")
	ErrMismatch  = errors.New("no signature matches")
	ErrNoKey     = errors.New("no verification key configured")
)

// Verifier checks signatures made by Sign with either of two keys.
type Verifier struct {
	Primary   []byte
	Secondary []byte
	// MaxAge is how old a timestamp may be; Box's rule is 10 minutes.
	MaxAge time.Duration
	// MaxSkew is how far in the future a timestamp may be (clock skew).
	MaxSkew time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// NewVerifier returns a Verifier with Box's window: 10 minutes back, 1 minute ahead.
func NewVerifier(primary, secondary []byte) *Verifier {
	return &Verifier{Primary: primary, Secondary: secondary, MaxAge: 10 * time.Minute, MaxSkew: time.Minute}
}

// Verify checks body against the RFC 3339 timestamp and the signatures sent
// for the primary and secondary keys (either may be empty). It runs on the raw
// bytes, before any decoding, and compares in constant time.
func (v *Verifier) Verify(body []byte, timestamp, sigPrimary, sigSecondary string) error {
	return v.verify(timestamp, sigPrimary, sigSecondary, func(key []byte) string { return Sign(key, body, timestamp) })
}

// VerifyDelivery is Verify for signatures made by SignDelivery: the
// delivery ID is signed too, and must pass CheckDeliveryID.
func (v *Verifier) VerifyDelivery(body []byte, timestamp, deliveryID, sigPrimary, sigSecondary string) error {
	if len(v.Primary) > 0 || len(v.Secondary) > 0 {
		if err := CheckDeliveryID(deliveryID); err != nil {
			return err
		}
	}
	return v.verify(timestamp, sigPrimary, sigSecondary, func(key []byte) string {
		return SignDelivery(key, body, timestamp, deliveryID)
	})
}

func (v *Verifier) verify(timestamp, sigPrimary, sigSecondary string, sign func(key []byte) string) error {
	if len(v.Primary) == 0 && len(v.Secondary) == 0 {
		return ErrNoKey
	}
	if timestamp == "" || (sigPrimary == "" && sigSecondary == "") {
		return ErrMissing
	}
	ts, err := time.Parse(time.RFC3339, timestamp)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrTimestamp, err)
	}
	now := v.now()
	if now.Sub(ts) > v.MaxAge || ts.Sub(now) > v.MaxSkew {
		return ErrTimestamp
	}
	ok := false
	// Check both pairs always, so timing does not reveal which key matched.
	if len(v.Primary) > 0 && sigPrimary != "" {
		ok = hmac.Equal([]byte(sign(v.Primary)), []byte(sigPrimary)) || ok
	}
	if len(v.Secondary) > 0 && sigSecondary != "" {
		ok = hmac.Equal([]byte(sign(v.Secondary)), []byte(sigSecondary)) || ok
	}
	if !ok {
		return ErrMismatch
	}
	return nil
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Until is when a delivery stamped timestamp stops being accepted (its
// time plus MaxAge): how long a receiver must remember it to recognise a
// replay. A malformed timestamp gives the zero time.
func (v *Verifier) Until(timestamp string) time.Time {
	ts, err := time.Parse(time.RFC3339, timestamp)
	if err != nil {
		return time.Time{}
	}
	return ts.Add(v.MaxAge)
}

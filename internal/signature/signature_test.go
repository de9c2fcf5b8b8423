package signature

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"type":"webhook_event","id":"1"}`)
	p, s := []byte("primary-key"), []byte("secondary-key")
	ts := now.Add(-time.Minute).Format(time.RFC3339)
	v := NewVerifier(p, s)
	v.Now = func() time.Time { return now }
	tests := []struct {
		name           string
		body           []byte
		ts, sigP, sigS string
		want           error
	}{
		{"primary ok", body, ts, Sign(p, body, ts), "", nil},
		{"secondary ok", body, ts, "garbage", Sign(s, body, ts), nil},
		{"both ok", body, ts, Sign(p, body, ts), Sign(s, body, ts), nil},
		{"swapped keys", body, ts, Sign(s, body, ts), Sign(p, body, ts), ErrMismatch},
		{"tampered body", []byte(`{"type":"webhook_event","id":"2"}`), ts, Sign(p, body, ts), "", ErrMismatch},
		{"missing sigs", body, ts, "", "", ErrMissing},
		{"missing ts", body, "", Sign(p, body, ts), "", ErrMissing},
		{"bad ts", body, "yesterday", Sign(p, body, "yesterday"), "", ErrTimestamp},
		{"too old", body, now.Add(-11 * time.Minute).Format(time.RFC3339), Sign(p, body, now.Add(-11*time.Minute).Format(time.RFC3339)), "", ErrTimestamp},
		{"future skew ok", body, now.Add(30 * time.Second).Format(time.RFC3339), Sign(p, body, now.Add(30*time.Second).Format(time.RFC3339)), "", nil},
		{"far future", body, now.Add(5 * time.Minute).Format(time.RFC3339), Sign(p, body, now.Add(5*time.Minute).Format(time.RFC3339)), "", ErrTimestamp},
		{"timestamp not signed", body, now.Format(time.RFC3339), Sign(p, body, ts), "", ErrMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.Verify(tt.body, tt.ts, tt.sigP, tt.sigS)
			if !errors.Is(err, tt.want) && !(err == nil && tt.want == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
	if err := (&Verifier{}).Verify(body, ts, "x", ""); !errors.Is(err, ErrNoKey) {
		t.Fatalf("no keys: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	ts := now.Format(time.RFC3339)
	f.Add([]byte(`{"id":"1"}`), ts, Sign([]byte("k"), []byte(`{"id":"1"}`), ts), "")
	f.Add([]byte{}, "", "", "")
	f.Fuzz(func(t *testing.T, body []byte, ts, sp, ss string) {
		v := NewVerifier([]byte("k"), nil)
		v.Now = func() time.Time { return now }
		err := v.Verify(body, ts, sp, ss)
		if err == nil && sp != Sign([]byte("k"), body, ts) {
			t.Fatalf("accepted a signature that is not the HMAC of body and timestamp")
		}
	})
}

func TestVerifyDelivery(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"job_id":"j1","status":"succeeded"}`)
	k, old := []byte("callback-key"), []byte("old-callback-key")
	ts := now.Add(-time.Minute).Format(time.RFC3339)
	v := NewVerifier(k, old)
	v.Now = func() time.Time { return now }
	sig := SignDelivery(k, body, ts, "d-1")
	tests := []struct {
		name, ts, id, sig string
		want              error
	}{
		{"ok", ts, "d-1", sig, nil},
		{"old key", ts, "d-1", SignDelivery(old, body, ts, "d-1"), nil},
		{"another delivery ID", ts, "d-2", sig, ErrMismatch},
		{"ID moved into the timestamp", ts + "d-1", "", Sign(k, body, ts+"\nd-1"), ErrMissing},
		{"signature without the ID", ts, "d-1", Sign(k, body, ts), ErrMismatch},
		{"missing ID", ts, "", sig, ErrMissing},
		{"ID with a newline", ts, "d\n1", SignDelivery(k, body, ts, "d\n1"), ErrMissing},
		{"ID too long", ts, strings.Repeat("d", MaxDeliveryID+1), SignDelivery(k, body, ts, strings.Repeat("d", MaxDeliveryID+1)), ErrMissing},
		{"stale", now.Add(-11 * time.Minute).Format(time.RFC3339), "d-1", SignDelivery(k, body, now.Add(-11*time.Minute).Format(time.RFC3339), "d-1"), ErrTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.VerifyDelivery(body, tt.ts, tt.id, tt.sig, tt.sig)
			if !errors.Is(err, tt.want) && !(err == nil && tt.want == nil) {
				t.Fatalf("VerifyDelivery = %v, want %v", err, tt.want)
			}
		})
	}
	if u := v.Until(ts); !u.Equal(now.Add(9 * time.Minute)) {
		t.Fatalf("Until = %v", u)
	}
}

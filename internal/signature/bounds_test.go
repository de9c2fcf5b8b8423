package signature

import (
	"errors"
	"filesight/internal/testutil"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The memory of Replays stays bounded however it is used: by entries (at
// most max), and by the queue behind them (stale items dropped, popped ones
// reclaimed), not only in the live part of the queue.
func TestReplaysMemoryBounds(t *testing.T) {
	t.Run("at most max entries, oldest forgotten first", func(t *testing.T) {
		c := testutil.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
		r := NewReplays(3, c.Now)
		until := c.Now().Add(time.Hour)
		for _, k := range []string{"a", "b", "c", "d"} {
			r.Begin(k, until)
			r.Done(k, nil)
		}
		if r.Len() != 3 {
			t.Fatalf("%d entries remembered, max 3", r.Len())
		}
		if s, _ := r.Begin("a", until); s != New {
			t.Fatalf("the oldest was not forgotten: %v", s)
		}
		if s, _ := r.Begin("d", until); s != Done {
			t.Fatalf("the newest was forgotten: %v", s)
		}
	})
	t.Run("forgotten deliveries leave no queue behind", func(t *testing.T) {
		c := testutil.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
		const max = 10
		r := NewReplays(max, c.Now)
		for i := range 1000 {
			key := fmt.Sprint("f-", i)
			r.Begin(key, c.Now().Add(time.Hour))
			r.Forget(key)
			if len(r.queue) > 2*max+1 {
				t.Fatalf("after %d forgotten deliveries the queue holds %d items", i+1, len(r.queue))
			}
		}
		if r.Len() != 0 {
			t.Fatalf("%d entries after forgetting all", r.Len())
		}
	})
	t.Run("expired deliveries are dropped and their queue reclaimed", func(t *testing.T) {
		c := testutil.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
		r := NewReplays(10, c.Now)
		for i := range 1000 {
			key := fmt.Sprint("e-", i)
			if s, _ := r.Begin(key, c.Now().Add(time.Second)); s != New {
				t.Fatalf("%s: %v", key, s)
			}
			r.Done(key, nil)
			c.Add(2 * time.Second)
			if r.Len() != 1 || len(r.queue) > 2 {
				t.Fatalf("after %d expired deliveries: %d entries, %d queued items (%d popped)", i, r.Len(), len(r.queue), r.head)
			}
		}
		// Expired means forgotten: the same delivery is new again.
		if s, _ := r.Begin("e-999", c.Now().Add(time.Second)); s != New {
			t.Fatalf("an expired delivery is still remembered: %v", s)
		}
	})
	t.Run("remembered until the instant given, not after", func(t *testing.T) {
		c := testutil.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
		r := NewReplays(10, c.Now)
		r.Begin("x", c.Now().Add(time.Minute))
		r.Done("x", "first")
		c.Add(time.Minute - time.Nanosecond)
		if s, v := r.Begin("x", c.Now().Add(time.Minute)); s != Done || v != "first" {
			t.Fatalf("just before its time: %v %v", s, v)
		}
		c.Add(time.Nanosecond)
		if s, _ := r.Begin("x", c.Now().Add(time.Minute)); s != New {
			t.Fatalf("at its time: %v", s)
		}
	})
}

func TestCheckDeliveryIDBounds(t *testing.T) {
	for id, ok := range map[string]bool{
		strings.Repeat("d", MaxDeliveryID):   true,
		strings.Repeat("d", MaxDeliveryID+1): false,
		"!":                                  true, // first printable after the space
		"~":                                  true, // last printable
		"a b":                                false,
		"a\x7f":                              false,
		"a\x1f":                              false,
		"é":                                  false,
		"":                                   false,
	} {
		if err := CheckDeliveryID(id); (err == nil) != ok {
			t.Errorf("CheckDeliveryID(%q) = %v, want ok=%v", id, err, ok)
		}
	}
}

// A key that is not configured verifies nothing: in particular not a
// signature made with an empty key.
func TestUnconfiguredKeyVerifiesNothing(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	ts := now.Format(time.RFC3339)
	body := []byte(`{"id":"1"}`)
	withEmptyKey := Sign(nil, body, ts)
	onlyPrimary := NewVerifier([]byte("primary-key-0123456789abcdef0123"), nil)
	onlySecondary := NewVerifier(nil, []byte("secondary-key-0123456789abcdef01"))
	for _, v := range []*Verifier{onlyPrimary, onlySecondary} {
		v.Now = func() time.Time { return now }
	}
	if err := onlyPrimary.Verify(body, ts, "", withEmptyKey); !errors.Is(err, ErrMismatch) {
		t.Errorf("no secondary key, secondary signature made with an empty key: %v", err)
	}
	if err := onlySecondary.Verify(body, ts, withEmptyKey, ""); !errors.Is(err, ErrMismatch) {
		t.Errorf("no primary key, primary signature made with an empty key: %v", err)
	}
	if err := onlySecondary.Verify(body, ts, "", Sign(onlySecondary.Secondary, body, ts)); err != nil {
		t.Errorf("secondary key alone: %v", err)
	}
	// Delivery IDs are checked with either key alone, and not without keys.
	for name, v := range map[string]*Verifier{"primary": onlyPrimary, "secondary": onlySecondary} {
		key := v.Primary
		if key == nil {
			key = v.Secondary
		}
		sig := SignDelivery(key, body, ts, "d\n1")
		if err := v.VerifyDelivery(body, ts, "d\n1", sig, sig); !errors.Is(err, ErrMissing) {
			t.Errorf("%s key alone, ID with a newline: %v", name, err)
		}
	}
	if err := (&Verifier{}).VerifyDelivery(body, ts, "", "x", "x"); !errors.Is(err, ErrNoKey) {
		t.Errorf("no keys: %v, want ErrNoKey", err)
	}
}

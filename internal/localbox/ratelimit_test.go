package localbox

import (
	"testing"
	"time"
)

func TestRateLimiterRefills(t *testing.T) {
	l := newRateLimiter(10, 2)
	t0 := time.Unix(1000, 0)
	for i := range 2 {
		if ok, _ := l.allow("k", t0); !ok {
			t.Fatalf("request %d refused within the burst", i)
		}
	}
	ok, wait := l.allow("k", t0)
	if ok || wait <= 0 || wait > 100*time.Millisecond {
		t.Fatalf("third request: ok=%v wait=%s, want refused with ≤ 100ms", ok, wait)
	}
	if ok, _ := l.allow("k", t0.Add(100*time.Millisecond)); !ok {
		t.Fatal("not refilled after 100ms at 10/s")
	}
	l.prune(t0.Add(time.Hour))
	if len(l.buckets) != 0 {
		t.Fatal("prune kept a full bucket")
	}
	if ok, _ := newRateLimiter(0, 0).allow("k", t0); !ok {
		t.Fatal("a disabled limiter refused")
	}
}

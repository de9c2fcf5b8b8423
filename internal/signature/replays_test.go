package signature

import (
	"filesight/internal/testutil"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestReplays(t *testing.T) {
	c := testutil.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	r := NewReplays(0, c.Now)
	until := c.Now().Add(10 * time.Minute)
	begin := func(key string, until time.Time) Seen { s, _ := r.Begin(key, until); return s }
	steps := []struct {
		do   func() Seen
		want Seen
	}{
		{func() Seen { return begin("a", until) }, New},
		{func() Seen { return begin("a", until) }, InFlight}, // concurrent duplicate
		{func() Seen { r.Done("a", "answer"); return begin("a", until) }, Done},
		{func() Seen { return begin("b", until) }, New},
		{func() Seen { r.Forget("b"); return begin("b", until) }, New}, // failed: a retry is handled
		{func() Seen { c.Add(9 * time.Minute); return begin("a", until) }, Done},
		{func() Seen { c.Add(2 * time.Minute); return begin("a", c.Now().Add(time.Minute)) }, New}, // out of the window
	}
	for i, s := range steps {
		if got := s.do(); got != s.want {
			t.Fatalf("step %d: %v, want %v", i, got, s.want)
		}
		if i == 2 {
			if _, v := r.Begin("a", until); v != "answer" {
				t.Fatalf("the first handling's value: %v", v)
			}
		}
	}
	if n := r.Len(); n != 1 {
		t.Fatalf("%d entries after expiry, want 1 (b expired, a begun again)", n)
	}
}

func TestReplaysBounded(t *testing.T) {
	c := testutil.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	r := NewReplays(100, c.Now)
	until := c.Now().Add(10 * time.Minute)
	for i := range 10_000 {
		key := fmt.Sprintf("d-%d", i)
		if s, _ := r.Begin(key, until); s != New {
			t.Fatalf("%s not new", key)
		}
		if i%3 == 0 {
			r.Forget(key)
		} else {
			r.Done(key, nil)
		}
	}
	if r.Len() > 100 || len(r.queue)-r.head > 2*100+1 {
		t.Fatalf("%d entries, %d queued: not bounded", r.Len(), len(r.queue)-r.head)
	}
	// The newest are remembered, the oldest forgotten first.
	if s, _ := r.Begin("d-9998", until); s != Done {
		t.Fatal("the newest delivery was forgotten")
	}
	if s, _ := r.Begin("d-1", until); s != New {
		t.Fatal("eviction is not oldest first")
	}
}

func TestReplaysConcurrent(t *testing.T) {
	r := NewReplays(0, nil)
	until := time.Now().Add(time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	news := 0
	for range 50 {
		wg.Go(func() {
			if s, _ := r.Begin("same", until); s == New {
				mu.Lock()
				news++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if news != 1 {
		t.Fatalf("%d callers were told to handle the same delivery", news)
	}
}

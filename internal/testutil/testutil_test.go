package testutil

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSyncBufferConcurrentWriters(t *testing.T) {
	var b SyncBuffer
	const writers, lines = 8, 100
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				fmt.Fprintf(&b, "w%d-%d\n", w, i)
			}
		}()
	}
	wg.Wait()
	got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(got) != writers*lines {
		t.Fatalf("got %d lines, want %d", len(got), writers*lines)
	}
	seen := map[string]bool{}
	for _, l := range got {
		seen[l] = true
	}
	if len(seen) != writers*lines {
		t.Fatalf("got %d distinct lines, want %d (interleaved writes?)", len(seen), writers*lines)
	}
}

func TestWaitForReturnsOnceTheConditionHolds(t *testing.T) {
	n := 0
	WaitFor(t, 5*time.Second, "the third call", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("cond called %d times, want 3", n)
	}
}

// recorder is a testing.TB whose Fatalf records the message and stops the
// goroutine, as the real one does.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestWaitForFailsAfterTheDeadline(t *testing.T) {
	rec := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		WaitFor(rec, 30*time.Millisecond, "never", func() bool { return false })
	}()
	<-done
	if !strings.Contains(rec.msg, "timed out after 30ms waiting for never") {
		t.Fatalf("failure message %q", rec.msg)
	}
}

var sink []byte

func TestMeasureMemorySeesAnAllocation(t *testing.T) {
	const size = 64 << 20
	m := MeasureMemory(func() {
		sink = make([]byte, size)
		for i := 0; i < len(sink); i += 4096 {
			sink[i] = 1 // touch every page, so it is resident
		}
	})
	sink = nil
	t.Logf("64 MiB allocation: %s", m)
	if m.Allocated < size {
		t.Errorf("allocated %d bytes, want at least %d", m.Allocated, size)
	}
	if m.PeakRSSGrowth >= 0 && m.PeakRSSGrowth < size/2 {
		t.Errorf("peak RSS grew by %d bytes, want at least %d", m.PeakRSSGrowth, size/2)
	}
	if small := MeasureMemory(func() {}); small.Allocated > 1<<20 {
		t.Errorf("nothing allocated, yet %d bytes counted", small.Allocated)
	}
}

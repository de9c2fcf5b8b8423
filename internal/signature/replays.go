package signature

import (
	"sync"
	"time"
)

// Seen says what Replays knew of a delivery when Begin was called.
type Seen int

const (
	// New: not seen within its window; the caller handles it.
	New Seen = iota
	// InFlight: the same delivery is being handled right now (a concurrent
	// duplicate); the caller should answer "try again later".
	InFlight
	// Done: the delivery was handled already (a replay, or a retry after a
	// lost answer); the caller answers without acting again.
	Done
)

// DefaultMaxReplays is how many deliveries Replays remembers by default:
// more than 100 a second for the 10-minute window, in a few megabytes.
const DefaultMaxReplays = 1 << 16

// Replays remembers the deliveries a receiver has accepted for as long as
// the verifier would accept them again (until their timestamp leaves the
// window), so that a recorded delivery sent again is recognised. Only
// deliveries whose signature has been verified should be recorded, so only
// a key holder can fill it; its memory is bounded all the same: past Max
// entries the oldest are forgotten first. It lives in memory: a restart
// forgets, which receivers cover with an idempotent effect (a workflow ID,
// a signal's request ID) where it matters. The zero value is not usable;
// use NewReplays.
type Replays struct {
	max int
	now func() time.Time

	mu      sync.Mutex
	entries map[string]replayEntry
	queue   []queued // in insertion order; stale items are skipped
	head    int
	seq     uint64
}

type replayEntry struct {
	until time.Time
	done  bool
	value any
	seq   uint64
}

type queued struct {
	key string
	seq uint64
}

// NewReplays returns a memory of at most max deliveries (default
// DefaultMaxReplays when max <= 0) on the clock now (time.Now when nil).
func NewReplays(max int, now func() time.Time) *Replays {
	if max <= 0 {
		max = DefaultMaxReplays
	}
	if now == nil {
		now = time.Now
	}
	return &Replays{max: max, now: now, entries: map[string]replayEntry{}}
}

// Begin records the delivery key as being handled until it is Done or
// Forgotten, and remembered until the time until, and reports what was
// known of it before (with Done, the value the first handling left): only
// New asks the caller to act.
func (r *Replays) Begin(key string, until time.Time) (Seen, any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	r.expire(now)
	if e, ok := r.entries[key]; ok && e.until.After(now) {
		if e.done {
			return Done, e.value
		}
		return InFlight, nil
	}
	for len(r.entries) >= r.max {
		r.evictOldest()
	}
	if len(r.queue)-r.head > 2*r.max {
		r.dropStale() // many Forgets: queued items whose entries are gone
	}
	r.seq++
	r.entries[key] = replayEntry{until: until, seq: r.seq}
	r.queue = append(r.queue, queued{key: key, seq: r.seq})
	return New, nil
}

// Done marks key as handled, keeping value (what was answered, say): from
// now on Begin answers Done and value for it.
func (r *Replays) Done(key string, value any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.entries[key]; ok {
		e.done, e.value = true, value
		r.entries[key] = e
	}
}

// Forget drops key, whose handling failed in a way a retry may cure, so
// that the next delivery of it is handled again.
func (r *Replays) Forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.entries, key)
}

// Len is how many deliveries are remembered.
func (r *Replays) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.entries)
}

// expire drops entries from the front of the queue whose time has passed
// (an entry behind a longer-lived one waits for it; Begin checks times
// itself, so a late drop changes no answer).
func (r *Replays) expire(now time.Time) {
	for r.head < len(r.queue) {
		q := r.queue[r.head]
		if e, ok := r.entries[q.key]; ok && e.seq == q.seq && e.until.After(now) {
			break
		}
		r.pop()
	}
	r.compact()
}

// evictOldest forgets the oldest remembered delivery.
func (r *Replays) evictOldest() {
	for r.head < len(r.queue) {
		q := r.queue[r.head]
		r.pop()
		if e, ok := r.entries[q.key]; ok && e.seq == q.seq {
			delete(r.entries, q.key)
			return
		}
	}
}

// pop removes the front of the queue, and its entry if it is the one the
// item was queued for.
func (r *Replays) pop() {
	q := r.queue[r.head]
	if e, ok := r.entries[q.key]; ok && e.seq == q.seq && !e.until.After(r.now()) {
		delete(r.entries, q.key)
	}
	r.queue[r.head] = queued{}
	r.head++
}

// compact reclaims the space of popped items once they are half the queue.
func (r *Replays) compact() {
	if r.head > 0 && r.head >= len(r.queue)/2 {
		r.queue = append(r.queue[:0], r.queue[r.head:]...)
		r.head = 0
	}
}

// dropStale rebuilds the queue from the items whose entries still exist.
func (r *Replays) dropStale() {
	live := r.queue[:0]
	for _, q := range r.queue[r.head:] {
		if e, ok := r.entries[q.key]; ok && e.seq == q.seq {
			live = append(live, q)
		}
	}
	clear(r.queue[len(live):])
	r.queue, r.head = live, 0
}

package starter

import (
	"context"
	"time"
)

// SetBackfillClock replaces b's clock: now tells the time and sleep waits
// (or pretends to).
func SetBackfillClock(b *Backfill, now func() time.Time, sleep func(context.Context, time.Duration) error) {
	b.now, b.sleep = now, sleep
}

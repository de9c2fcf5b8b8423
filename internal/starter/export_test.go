package starter

import (
	"context"
	"time"
)

// RunBackfillWithSleep runs b with a replaced sleep function.
func RunBackfillWithSleep(b *Backfill, ctx context.Context, folderID string, sleep func(context.Context, time.Duration) error) (BackfillReport, error) {
	b.sleep = sleep
	return b.Run(ctx, folderID)
}

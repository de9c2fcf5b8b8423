// Package testutil holds small helpers shared by tests across filesight:
// WaitFor, the one way a test waits for a condition (polling with a
// deadline, never a sleep), SyncBuffer, and MeasureMemory for tests of
// inputs built to exhaust memory. It imports nothing from
// filesight, so any package's internal tests may use it without an import
// cycle.
package testutil

import (
	"bytes"
	"sync"
)

// SyncBuffer is a bytes.Buffer that is safe for concurrent writers, such as
// a slog handler or a child process's output copied by several goroutines.
// The zero value is ready to use.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p to the buffer.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

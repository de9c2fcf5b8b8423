package testutil

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// Memory is what a piece of work cost in memory, as MeasureMemory saw it.
type Memory struct {
	// Allocated is the Go heap allocated while the work ran (the growth of
	// runtime.MemStats.TotalAlloc): a cumulative count that the garbage
	// collector cannot hide, and that also counts what other goroutines of
	// the test binary allocated meanwhile, so it is an upper bound.
	Allocated uint64
	// PeakRSSGrowth is how far the process's peak resident set (VmHWM) rose
	// above its resident set before the work; -1 when the kernel does not
	// let the test reset the peak (/proc/self/clear_refs).
	PeakRSSGrowth int64
}

// String formats m for a test log: "allocated 12.3 MiB, peak RSS +8.1 MiB".
func (m Memory) String() string {
	rss := "peak RSS not measured"
	if m.PeakRSSGrowth >= 0 {
		rss = fmt.Sprintf("peak RSS +%.1f MiB", float64(m.PeakRSSGrowth)/(1<<20))
	}
	return fmt.Sprintf("allocated %.1f MiB, %s", float64(m.Allocated)/(1<<20), rss)
}

// MeasureMemory runs work and reports the heap it allocated and how much the
// process's peak resident set grew. Tests of inputs built to exhaust memory
// (decompression bombs, documents that grow themselves) assert on Allocated,
// which a bomb cannot keep small, and report both.
func MeasureMemory(work func()) Memory {
	// Return the free heap to the system first, so that memory the work
	// needs shows in the resident set instead of being reused unseen.
	debug.FreeOSMemory()
	resetPeak := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	baseRSS := procStatusBytes("VmRSS:")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	work()
	runtime.ReadMemStats(&after)
	m := Memory{Allocated: after.TotalAlloc - before.TotalAlloc, PeakRSSGrowth: -1}
	if peak := procStatusBytes("VmHWM:"); resetPeak && peak >= 0 && baseRSS >= 0 {
		m.PeakRSSGrowth = max(0, peak-baseRSS)
	}
	return m
}

// procStatusBytes reads a "kB" field of /proc/self/status, in bytes; -1 if
// it is not there.
func procStatusBytes(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		rest, ok := strings.CutPrefix(s.Text(), field)
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return -1
		}
		return kb << 10
	}
	return -1
}

package mlengine_test

import (
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filesight/internal/mlengine"
	"filesight/internal/mlengine/mlenginetest"
	"filesight/internal/provider"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/testutil"
)

// logAfter reports whether the log holds a line containing want after the
// last line containing after.
func logAfter(logs string, after, want string) bool {
	i := strings.LastIndex(logs, after)
	return i >= 0 && strings.Contains(logs[i:], want)
}

// TestPrefetchBoundedInBytes: with the analysis of one job blocked, queued
// jobs are downloaded ahead only until their media reaches
// MLENGINE_PREFETCH_BYTES; the rest wait, and are fetched as analysis
// makes room.
func TestPrefetchBoundedInBytes(t *testing.T) {
	media := []byte(strings.Repeat("m", 1000))
	ms := newMediaServer(t, media, "tok")
	fake := newFake(t, media)
	fake.block.Store(true)
	var logs testutil.SyncBuffer
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake), mlengine.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))),
		mlengine.WithConfig(func(c *mlengine.Config) { c.PrefetchBytes, c.FetchConcurrency = 1500, 1 }))
	req := mlengineapi.SubmitRequest{MediaURL: ms.URL + "/m", MediaToken: "tok", Analyses: []string{"media"}}
	var ids []string
	for i := range 5 {
		ids = append(ids, submit(t, ts, fmt.Sprint("job-", i), req))
	}
	fake.waitStarted() // job 0 runs (and stays running); 1 and 2 make 2000 bytes waiting
	testutil.WaitFor(t, 10*time.Second, "jobs 1 and 2 to be downloaded", func() bool {
		return getJob(t, ts, ids[1]).MediaFetched && getJob(t, ts, ids[2]).MediaFetched
	})
	testutil.WaitFor(t, 10*time.Second, "the downloader to pause after job 2", func() bool {
		return logAfter(logs.String(), ids[2]+`","bytes":1000`, "downloads ahead of analysis paused")
	})
	for _, id := range ids[3:] {
		if getJob(t, ts, id).MediaFetched {
			t.Fatalf("job %s downloaded past MLENGINE_PREFETCH_BYTES", id)
		}
	}
	if n := ms.hits.Load(); n != 3 {
		t.Fatalf("%d downloads, want 3", n)
	}
	close(fake.release)
	for _, id := range ids {
		waitStatus(t, ts, id, provider.StateSucceeded)
	}
	if !strings.Contains(logs.String(), "downloads ahead of analysis resumed") {
		t.Error("the resumption is not logged")
	}
}

// TestDownloadsWatchFreeDisk: below MLENGINE_MIN_FREE_BYTES no download
// ahead of analysis starts (it resumes when space returns); one that would
// cross the minimum is postponed while other media waits, and the next job
// to analyse fails with insufficient_storage (retryable) when nothing else
// would free space.
func TestDownloadsWatchFreeDisk(t *testing.T) {
	media := []byte(strings.Repeat("m", 1000))
	ms := newMediaServer(t, media, "tok")
	fake := newFake(t, media)
	fake.block.Store(true)
	var free atomic.Int64
	free.Store(1 << 30)
	var logs testutil.SyncBuffer
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake), mlengine.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))),
		mlengine.WithConfig(func(c *mlengine.Config) {
			c.FetchConcurrency, c.MinFreeBytes, c.PrefetchRecheck = 1, 10_000, 20*time.Millisecond
			c.DiskFree = func(string) int64 { return free.Load() }
		}))
	req := mlengineapi.SubmitRequest{MediaURL: ms.URL + "/m", MediaToken: "tok", Analyses: []string{"media"}}
	running := submit(t, ts, "running", req)
	fake.waitStarted()
	waiting := submit(t, ts, "waiting", req)
	testutil.WaitFor(t, 10*time.Second, "the second job to be downloaded", func() bool { return getJob(t, ts, waiting).MediaFetched })

	// Below the minimum: the third job waits.
	free.Store(9_000)
	third := submit(t, ts, "third", req)
	testutil.WaitFor(t, 10*time.Second, "the downloader to pause", func() bool {
		return logAfter(logs.String(), third, "bytes are free on the data directory's disk")
	})
	if getJob(t, ts, third).MediaFetched || ms.hits.Load() != 2 {
		t.Fatalf("downloaded with the disk below MLENGINE_MIN_FREE_BYTES (%d downloads)", ms.hits.Load())
	}
	// Enough to start, not to store 1000 bytes: postponed, nothing kept.
	free.Store(10_500)
	testutil.WaitFor(t, 10*time.Second, "the download to be postponed", func() bool {
		return strings.Contains(logs.String(), "download postponed until analysis frees disk space")
	})
	if j := getJob(t, ts, third); j.MediaFetched || j.Status != provider.StateQueued {
		t.Fatalf("postponed job %+v", j)
	}
	free.Store(1 << 30)
	testutil.WaitFor(t, 10*time.Second, "the third job to be downloaded", func() bool { return getJob(t, ts, third).MediaFetched })

	// Nothing else would free space: the next job to analyse fails, retryable.
	close(fake.release)
	for _, id := range []string{running, waiting, third} {
		waitStatus(t, ts, id, provider.StateSucceeded)
	}
	free.Store(5_000)
	last := submit(t, ts, "last", req)
	j := waitStatus(t, ts, last, provider.StateFailed)
	if j.Error == nil || j.Error.Code != mlengine.CodeInsufficientStorage || !j.Error.Retryable || !strings.Contains(j.Error.Message, "MLENGINE_MIN_FREE_BYTES") {
		t.Fatalf("job error %+v", j.Error)
	}
}

package mlengine_test

import (
	"net/http"
	"testing"
	"time"

	"filesight/internal/mlengine"
	"filesight/internal/mlengine/mlenginetest"

	"filesight/internal/provider"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/testutil"
)

// TestRestartPersistence stops the service with one job finished, one
// running and one queued: after the restart the finished job is untouched
// (not run again), the running one is re-run from its stored media and the
// queued one runs; no media is downloaded twice.
func TestRestartPersistence(t *testing.T) {
	media := []byte("some media bytes")
	ms := newMediaServer(t, media, "tok")
	fake := newFake(t, media)
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake), mlengine.WithConfig(func(c *mlengine.Config) { c.ParallelJobs = 1 }))
	cr := newCallbackReceiver(t, ts.CallbackKey)
	req := mlengineapi.SubmitRequest{MediaURL: ms.URL + "/m", MediaToken: "tok", Analyses: []string{"media", "transcript"}, CallbackURL: cr.URL}

	done := submit(t, ts, "done", req)
	waitStatus(t, ts, done, provider.StateSucceeded)
	testutil.WaitFor(t, 10*time.Second, "the first callback", func() bool { return len(cr.received()) == 1 })
	fake.block.Store(true)
	running := submit(t, ts, "running", req)
	fake.waitStarted()
	queued := submit(t, ts, "queued", req)
	testutil.WaitFor(t, 10*time.Second, "the queued job's download", func() bool { return getJob(t, ts, queued).MediaFetched })
	if got := getJob(t, ts, running); got.Status != provider.StateRunning {
		t.Fatalf("job is %s before the restart", got.Status)
	}
	calls := fake.calls.Load()

	ts.Restart(t)

	if j := getJob(t, ts, done); j.Status != provider.StateSucceeded {
		t.Fatalf("finished job is %s after the restart", j.Status)
	}
	if code, _, body := call(t, ts, "GET", "/v1/jobs/"+done+"/result", nil, nil); code != 200 {
		t.Fatalf("result after restart: HTTP %d %s", code, body)
	}
	// The interrupted job runs again from its stored media.
	fake.waitStarted()
	j := getJob(t, ts, running)
	if j.Status != provider.StateRunning || !j.MediaFetched {
		t.Fatalf("interrupted job after restart: %+v", j)
	}
	// The same idempotency key still finds it.
	code, _, body := call(t, ts, "POST", "/v1/jobs", req, map[string]string{"Idempotency-Key": "running"})
	if code != 200 || decodeJSON[mlengineapi.SubmitResponse](t, body).ID != running {
		t.Fatalf("idempotent repeat after restart: HTTP %d %s", code, body)
	}
	close(fake.release)
	waitStatus(t, ts, running, provider.StateSucceeded)
	waitStatus(t, ts, queued, provider.StateSucceeded)
	if got := fake.calls.Load() - calls; got != 2 {
		t.Fatalf("analyzer ran %d times after the restart, want 2 (interrupted + queued)", got)
	}
	if got := ms.hits.Load(); got != 3 {
		t.Fatalf("media fetched %d times, want 3 (once per job)", got)
	}
	attempts, err := ts.Server().JobAttempts(t.Context(), running)
	if err != nil || attempts != 2 {
		t.Fatalf("interrupted job attempts = %v (%v), want 2", attempts, err)
	}
	testutil.WaitFor(t, 10*time.Second, "three callbacks", func() bool { return len(cr.received()) == 3 })
	seen := map[string]int{}
	for _, c := range cr.received() {
		if c.err != nil || c.cb.Status != provider.StateSucceeded {
			t.Fatalf("callback %+v (%v)", c.cb, c.err)
		}
		seen[c.cb.JobID]++
	}
	if seen[done] != 1 || seen[running] != 1 || seen[queued] != 1 {
		t.Fatalf("callbacks per job: %v", seen)
	}
}

// TestRestartGivesUp fails a job that was interrupted MaxJobAttempts times.
func TestRestartGivesUp(t *testing.T) {
	media := []byte("m")
	ms := newMediaServer(t, media, "tok")
	fake := newFake(t, media)
	fake.block.Store(true)
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake), mlengine.WithConfig(func(c *mlengine.Config) { c.MaxJobAttempts = 1 }))
	id := submit(t, ts, "", mlengineapi.SubmitRequest{MediaURL: ms.URL + "/m", MediaToken: "tok"})
	fake.waitStarted()
	ts.Restart(t)
	j := getJob(t, ts, id)
	if j.Status != provider.StateFailed || j.Error == nil || j.Error.Code != mlengine.CodeInterrupted || !j.Error.Retryable {
		t.Fatalf("job after restart: %+v", j)
	}
	if got := filesUnder(t, ts.Server().JobDir(id)); len(got) != 0 {
		t.Fatalf("files left: %v", got)
	}
}

// TestRestartDuringDownload restarts while the media is being downloaded:
// the token is still stored, so the download starts over.
func TestRestartDuringDownload(t *testing.T) {
	media := []byte("media")
	ms := newMediaServer(t, media, "tok")
	inFlight := make(chan struct{}, 1)
	ms.override = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == 1 {
			w.Header().Set("Content-Length", "5")
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			inFlight <- struct{}{}
			<-r.Context().Done() // hang until the client goes away
			return true
		}
		return false
	}
	fake := newFake(t, media)
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake))
	id := submit(t, ts, "", mlengineapi.SubmitRequest{MediaURL: ms.URL + "/m", MediaToken: "tok"})
	<-inFlight
	ts.Restart(t)
	j := waitStatus(t, ts, id, provider.StateSucceeded)
	if !j.MediaFetched || ms.hits.Load() != 2 {
		t.Fatalf("job %+v after %d downloads", j, ms.hits.Load())
	}
}

func TestCallbackRetries(t *testing.T) {
	media := []byte("m")
	ms := newMediaServer(t, media, "tok")
	fake := newFake(t, media)
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake), mlengine.WithConfig(func(c *mlengine.Config) { c.CallbackAttempts = 4 }))
	req := mlengineapi.SubmitRequest{MediaURL: ms.URL + "/m", MediaToken: "tok", Analyses: []string{"media"}}

	t.Run("retried until accepted", func(t *testing.T) {
		cr := newCallbackReceiver(t, ts.CallbackKey)
		cr.status = func(n int) int {
			if n <= 2 {
				return http.StatusInternalServerError
			}
			return http.StatusNoContent
		}
		r := req
		r.CallbackURL = cr.URL
		submit(t, ts, "", r)
		testutil.WaitFor(t, 10*time.Second, "three attempts", func() bool { return cr.attempts.Load() == 3 })
		got := cr.received()
		for _, c := range got {
			if c.err != nil {
				t.Fatalf("attempt not verifiable: %v", c.err)
			}
			if c.header.Get(mlengineapi.HeaderDeliveryID) != got[0].header.Get(mlengineapi.HeaderDeliveryID) {
				t.Fatal("delivery id changed between retries")
			}
		}
	})
	t.Run("given up", func(t *testing.T) {
		cr := newCallbackReceiver(t, ts.CallbackKey)
		cr.status = func(int) int { return http.StatusBadGateway }
		r := req
		r.CallbackURL = cr.URL
		id := submit(t, ts, "", r)
		testutil.WaitFor(t, 10*time.Second, "the callback to be given up", func() bool {
			var n int
			ts.Server().DB().QueryRow(`SELECT COUNT(*) FROM callbacks WHERE job_id = ? AND gave_up_at IS NOT NULL`, id).Scan(&n)
			return n == 1
		})
		if got := cr.attempts.Load(); got != 4 {
			t.Fatalf("%d attempts, want 4", got)
		}
	})
	t.Run("pending across a restart", func(t *testing.T) {
		cr := newCallbackReceiver(t, ts.CallbackKey)
		var up = make(chan struct{})
		cr.status = func(int) int {
			select {
			case <-up:
				return http.StatusOK
			default:
				return http.StatusServiceUnavailable
			}
		}
		r := req
		r.CallbackURL = cr.URL
		id := submit(t, ts, "", r)
		testutil.WaitFor(t, 10*time.Second, "a failed attempt", func() bool { return cr.attempts.Load() >= 1 })
		ts.Restart(t)
		close(up)
		testutil.WaitFor(t, 10*time.Second, "delivery after the restart", func() bool {
			var n int
			ts.Server().DB().QueryRow(`SELECT COUNT(*) FROM callbacks WHERE job_id = ? AND delivered_at IS NOT NULL`, id).Scan(&n)
			return n == 1
		})
		last := cr.received()[len(cr.received())-1]
		if last.err != nil || last.cb.JobID != id {
			t.Fatalf("delivered callback %+v (%v)", last.cb, last.err)
		}
	})
}

func TestRetention(t *testing.T) {
	ms := newMediaServer(t, []byte("m"), "tok")
	fake := newFake(t, nil)
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake), mlengine.WithConfig(func(c *mlengine.Config) {
		c.Retention, c.JanitorInterval = 200*time.Millisecond, 20*time.Millisecond
	}))
	req := mlengineapi.SubmitRequest{MediaURL: ms.URL + "/m", MediaToken: "tok", Analyses: []string{"scenes"}}
	id := submit(t, ts, "k", req)
	waitStatus(t, ts, id, provider.StateSucceeded)
	if len(filesUnder(t, ts.Server().JobDir(id))) == 0 {
		t.Fatal("no result files right after the job")
	}
	testutil.WaitFor(t, 10*time.Second, "the job to expire", func() bool {
		code, _, _ := call(t, ts, "GET", "/v1/jobs/"+id, nil, nil)
		return code == http.StatusNotFound
	})
	if got := filesUnder(t, ts.Server().JobDir(id)); len(got) != 0 {
		t.Fatalf("expired job's files left: %v", got)
	}
	// The key is free again: a new job.
	if again := submit(t, ts, "k", req); again == id {
		t.Fatal("expired idempotency key returned the old job")
	}
}

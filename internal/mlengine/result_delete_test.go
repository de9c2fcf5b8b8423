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

// DELETE /v1/jobs/{id}/result removes the result document and thumbnails at
// once and keeps the job: its status, its idempotency key, and a 410 for
// the result from then on.
func TestDeleteResult(t *testing.T) {
	media := []byte("m")
	ms := newMediaServer(t, media, "tok")
	fake := newFake(t, media)
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake))
	req := mlengineapi.SubmitRequest{MediaURL: ms.URL + "/m", MediaToken: "tok", Analyses: []string{"scenes", "transcript"}}
	id := submit(t, ts, "file-1-v1/mlengine", req)
	waitStatus(t, ts, id, provider.StateSucceeded)
	if got := filesUnder(t, ts.Server().JobDir(id)); len(got) != 2 {
		t.Fatalf("files of the succeeded job: %v", got)
	}

	for i := range 2 { // the second time there is nothing left: still 204
		if code, _, body := call(t, ts, "DELETE", "/v1/jobs/"+id+"/result", nil, nil); code != http.StatusNoContent || len(body) != 0 {
			t.Fatalf("delete %d: HTTP %d %s", i+1, code, body)
		}
	}
	if got := filesUnder(t, ts.Server().JobDir(id)); len(got) != 0 {
		t.Fatalf("files left after the result was deleted: %v", got)
	}
	for _, path := range []string{"/result", "/artifacts/" + fakeResult.Scenes[0].Thumbnail} {
		code, _, body := call(t, ts, "GET", "/v1/jobs/"+id+path, nil, nil)
		if eb := decodeJSON[mlengineapi.ErrorBody](t, body); code != http.StatusGone || eb.Error.Code != mlengine.CodeResultDeleted || eb.Error.Retryable {
			t.Fatalf("GET %s after the delete: HTTP %d %s", path, code, body)
		}
	}
	j := getJob(t, ts, id)
	if j.Status != provider.StateSucceeded || j.ResultDeletedAt == nil || j.ResultDeletedAt.Before(j.UpdatedAt) {
		t.Fatalf("job after the delete: %+v", j)
	}
	// The job is still known by its key: a retried submission is the same job, not a new run.
	code, _, body := call(t, ts, "POST", "/v1/jobs", req, map[string]string{"Idempotency-Key": "file-1-v1/mlengine"})
	if r := decodeJSON[mlengineapi.SubmitResponse](t, body); code != http.StatusOK || r.ID != id || fake.calls.Load() != 1 {
		t.Fatalf("resubmission after the delete: HTTP %d %s (%d runs)", code, body, fake.calls.Load())
	}
	// After a restart the result stays deleted.
	ts.Restart(t)
	if code, _, _ := call(t, ts, "GET", "/v1/jobs/"+id+"/result", nil, nil); code != http.StatusGone {
		t.Fatalf("result after a restart: HTTP %d", code)
	}

	if code, _, _ := call(t, ts, "DELETE", "/v1/jobs/nope/result", nil, nil); code != http.StatusNotFound {
		t.Fatalf("unknown job: HTTP %d", code)
	}
	// A running job keeps its result-to-be: 409, retryable.
	fake.block.Store(true)
	running := submit(t, ts, "", req)
	fake.waitStarted()
	code, hdr, body := call(t, ts, "DELETE", "/v1/jobs/"+running+"/result", nil, nil)
	if eb := decodeJSON[mlengineapi.ErrorBody](t, body); code != http.StatusConflict || eb.Error.Code != mlengine.CodeNotFinished || !eb.Error.Retryable || hdr.Get("Retry-After") == "" {
		t.Fatalf("delete while running: HTTP %d %s", code, body)
	}
	// A job that ended without a result: nothing to delete, 204.
	if code, _, _ := call(t, ts, "DELETE", "/v1/jobs/"+running, nil, nil); code != http.StatusOK {
		t.Fatalf("cancel: HTTP %d", code)
	}
	if code, _, body := call(t, ts, "DELETE", "/v1/jobs/"+running+"/result", nil, nil); code != http.StatusNoContent {
		t.Fatalf("delete the result of a canceled job: HTTP %d %s", code, body)
	}
}

// A result nobody deleted is deleted MLENGINE_RESULT_RETENTION after the job
// ended; the job record stays until MLENGINE_RETENTION.
func TestResultRetention(t *testing.T) {
	media := []byte("m")
	ms := newMediaServer(t, media, "tok")
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(newFake(t, media)), mlengine.WithConfig(func(c *mlengine.Config) {
		c.ResultRetention, c.JanitorInterval = 300*time.Millisecond, 20*time.Millisecond
	}))
	id := submit(t, ts, "k", mlengineapi.SubmitRequest{MediaURL: ms.URL + "/m", MediaToken: "tok", Analyses: []string{"scenes"}})
	j := waitStatus(t, ts, id, provider.StateSucceeded)
	// The result is marked deleted first (410 from then on), then its files go.
	testutil.WaitFor(t, 10*time.Second, "the result to expire and its files to go", func() bool {
		code, _, _ := call(t, ts, "GET", "/v1/jobs/"+id+"/result", nil, nil)
		return code == http.StatusGone && len(filesUnder(t, ts.Server().JobDir(id))) == 0
	})
	after := getJob(t, ts, id)
	if after.ResultDeletedAt == nil || after.ResultDeletedAt.Sub(j.UpdatedAt) < 300*time.Millisecond || after.Status != provider.StateSucceeded {
		t.Fatalf("job after the result expired: %+v (ended %v)", after, j.UpdatedAt)
	}
}

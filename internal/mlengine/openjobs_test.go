package mlengine_test

import (
	"context"
	"testing"

	"filesight/internal/mlengine"
	"filesight/internal/mlengine/mlenginetest"
	"filesight/internal/provider"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/secret"
)

// The job listing says how many jobs are open (queued or running) and the
// most that were open at once: what a client's cap on open jobs (filesight's
// FILESIGHT_PROVIDER_MAX_OPEN_JOBS) is checked against. A repeated
// submission does not open a job; ended jobs close theirs; the high-water
// mark stays.
func TestListingCountsOpenJobs(t *testing.T) {
	media := []byte("media")
	ms := newMediaServer(t, media, "tok")
	fake := newFake(t, media)
	fake.block.Store(true)
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake))
	client := mlengineapi.New(mlengineapi.Config{BaseURL: ts.URL, APIKey: secret.String(ts.APIKey)})
	ctx := context.Background()
	counts := func() (int, int) {
		t.Helper()
		l, err := client.ListJobs(ctx, mlengineapi.ListOptions{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		return l.Open, l.MaxOpen
	}
	if open, maxOpen := counts(); open != 0 || maxOpen != 0 {
		t.Fatalf("before any job: open %d, max %d", open, maxOpen)
	}
	req := mlengineapi.SubmitRequest{MediaURL: ms.URL + "/m", MediaToken: "tok", Analyses: []string{"media"}}
	ids := []string{submit(t, ts, "key-1", req), submit(t, ts, "key-2", req), submit(t, ts, "key-3", req)}
	if code, _, body := call(t, ts, "POST", "/v1/jobs", req, map[string]string{"Idempotency-Key": "key-2"}); code != 200 {
		t.Fatalf("a retry of job 2: HTTP %d %s", code, body) // lands on job 2
	}
	if open, maxOpen := counts(); open != 3 || maxOpen != 3 {
		t.Fatalf("three jobs submitted: open %d, max %d; want 3, 3", open, maxOpen)
	}
	close(fake.release)
	for _, id := range ids {
		waitStatus(t, ts, id, provider.StateSucceeded)
	}
	if open, maxOpen := counts(); open != 0 || maxOpen != 3 {
		t.Fatalf("all ended: open %d, max %d; want 0, 3", open, maxOpen)
	}
	waitStatus(t, ts, submit(t, ts, "key-4", req), provider.StateSucceeded)
	if open, maxOpen := counts(); open != 0 || maxOpen != 3 {
		t.Fatalf("one more, ended: open %d, max %d; want 0, 3", open, maxOpen)
	}
}

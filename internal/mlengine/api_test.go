package mlengine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"filesight/internal/mlengine"
	"filesight/internal/mlengine/mlenginetest"

	"filesight/internal/provider"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/secret"
	"filesight/internal/testutil"
)

func TestAuth(t *testing.T) {
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(newFake(t, nil)))
	for _, tc := range []struct {
		name, method, path, auth string
		want                     int
	}{
		{"no key", "GET", "/v1/jobs/x", "", 401},
		{"wrong key", "GET", "/v1/jobs/x", "Bearer nope", 401},
		{"key without scheme", "GET", "/v1/jobs/x", ts.APIKey, 401},
		{"submit without key", "POST", "/v1/jobs", "", 401},
		{"delete without key", "DELETE", "/v1/jobs/x", "", 401},
		{"unknown endpoint without key", "GET", "/v2/whatever", "", 401},
		{"good key, unknown job", "GET", "/v1/jobs/x", "Bearer " + ts.APIKey, 404},
		{"good key, unknown endpoint", "GET", "/v2/whatever", "Bearer " + ts.APIKey, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, body := call(t, ts, tc.method, tc.path, nil, map[string]string{"Authorization": tc.auth})
			if code != tc.want {
				t.Fatalf("HTTP %d, want %d: %s", code, tc.want, body)
			}
			eb := decodeJSON[mlengineapi.ErrorBody](t, body)
			if eb.Error.Code == "" || eb.Error.Message == "" {
				t.Fatalf("error body without code or message: %s", body)
			}
			if tc.want == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("401 without WWW-Authenticate: %v", hdr)
			}
		})
	}
	resp, err := http.Get(ts.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz: HTTP %d", resp.StatusCode)
	}
}

func TestSubmitValidation(t *testing.T) {
	fake := newFake(t, nil)
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake))
	for _, tc := range []struct {
		name, body, wantMsg string
		want                int
	}{
		{"missing url", `{"analyses":["media"]}`, "media_url is required", 400},
		{"ftp url", `{"media_url":"ftp://x/y"}`, "http or https", 400},
		{"file url", `{"media_url":"file:///etc/passwd"}`, "http or https", 400},
		{"relative url", `{"media_url":"/files/1"}`, "http or https", 400},
		{"unknown analysis", `{"media_url":"http://x/y","analyses":["media","faces"]}`, `unknown analysis "faces"`, 400},
		{"bad callback", `{"media_url":"http://x/y","callback_url":"gopher://x"}`, "callback_url", 400},
		{"unknown field", `{"media_url":"http://x/y","analysis":["media"]}`, `unknown field "analysis"`, 400},
		{"not json", `media_url=x`, "JSON", 400},
		{"empty body", ``, "empty body", 400},
		{"wrong type", `{"media_url":"http://x/y","analyses":"media"}`, `"analyses"`, 400},
		{"too large", `{"media_url":"http://x/` + strings.Repeat("a", 2<<20) + `"}`, "larger than", 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := call(t, ts, "POST", "/v1/jobs", tc.body, nil)
			if code != tc.want {
				t.Fatalf("HTTP %d, want %d: %s", code, tc.want, body)
			}
			eb := decodeJSON[mlengineapi.ErrorBody](t, body)
			if !strings.Contains(eb.Error.Message, tc.wantMsg) || eb.Error.Retryable {
				t.Fatalf("error %+v, want a non-retryable message containing %q", eb.Error, tc.wantMsg)
			}
		})
	}
	if n := fake.calls.Load(); n != 0 {
		t.Fatalf("analyzer ran %d times for invalid requests", n)
	}
}

// TestJobLifecycle runs a job end to end with a fake analyzer and checks the
// API documents, the callback, the token handling and the files left behind.
func TestJobLifecycle(t *testing.T) {
	media := bytes.Repeat([]byte("fake media "), 10000)
	const token = "read-token-7f3a9c1e5b"
	ms := newMediaServer(t, media, token)
	fake := newFake(t, media)
	var logs testutil.SyncBuffer
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake), mlengine.WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	cr := newCallbackReceiver(t, ts.CallbackKey)

	id := submit(t, ts, "key-1", mlengineapi.SubmitRequest{
		MediaURL: ms.URL + "/2.0/files/42/content", MediaToken: token,
		Analyses: []string{"transcript", "media", "transcript"}, CallbackURL: cr.URL + "/callbacks/mlengine",
		Labels: map[string]string{"workflow_id": "file-42-v7"},
	})
	j := waitStatus(t, ts, id, provider.StateSucceeded)
	if !j.MediaFetched || j.Progress != 1 || j.Error != nil {
		t.Fatalf("finished job: %+v", j)
	}
	wantStates := map[string]provider.State{"media": "succeeded", "transcript": "succeeded"}
	if fmt.Sprint(j.Analyses) != fmt.Sprint(wantStates) {
		t.Fatalf("analyses %v, want %v", j.Analyses, wantStates)
	}
	if j.Labels["workflow_id"] != "file-42-v7" || j.CreatedAt.IsZero() || j.UpdatedAt.Before(j.CreatedAt) {
		t.Fatalf("job document %+v", j)
	}
	if got := fake.tasks[0]; !slices.Equal(got.Analyses, []string{"media", "transcript"}) || got.Concurrency < 1 || got.MaxDuration != 2*time.Hour {
		t.Fatalf("analyzer task %+v", got)
	}

	code, hdr, body := call(t, ts, "GET", "/v1/jobs/"+id, nil, nil)
	if code != 200 || hdr.Get("Retry-After") != "" {
		t.Fatalf("terminal job: HTTP %d, Retry-After %q", code, hdr.Get("Retry-After"))
	}
	if bytes.Contains(body, []byte(token)) {
		t.Fatal("GET returned the media token")
	}

	code, _, body = call(t, ts, "GET", "/v1/jobs/"+id+"/result", nil, nil)
	if code != 200 {
		t.Fatalf("result: HTTP %d %s", code, body)
	}
	res := decodeJSON[provider.Result](t, body)
	if res.Transcript == nil || res.Transcript.Text != "hello world" || len(res.Scenes) != 1 {
		t.Fatalf("result %s", body)
	}

	code, hdr, body = call(t, ts, "GET", "/v1/jobs/"+id+"/artifacts/"+res.Scenes[0].Thumbnail, nil, nil)
	if code != 200 || hdr.Get("Content-Type") != "image/png" || !bytes.Equal(body, fake.thumb) {
		t.Fatalf("artifact: HTTP %d %s, %d bytes", code, hdr.Get("Content-Type"), len(body))
	}
	for _, name := range []string{"nope.png", "..%2fresult.json", "%2e%2e"} {
		if code, _, _ := call(t, ts, "GET", "/v1/jobs/"+id+"/artifacts/"+name, nil, nil); code != 404 {
			t.Fatalf("artifact %s: HTTP %d, want 404", name, code)
		}
	}

	// Only the result and the artifact remain; media and work files are gone.
	if got := filesUnder(t, ts.Server().JobDir(id)); !slices.Equal(got, []string{"artifacts/scene-0001.png", "result.json"}) {
		t.Fatalf("files left for the job: %v", got)
	}
	// The token is gone from the database and was never logged.
	var stored int
	if err := ts.Server().DB().QueryRow(`SELECT COUNT(*) FROM jobs WHERE media_token IS NOT NULL`).Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("tokens still stored: %d (%v)", stored, err)
	}
	if f := fmt.Sprintf("%v %+v %#v", ts.Server(), ts.Server(), ts.Server()); strings.Contains(f, ts.APIKey) || strings.Contains(f, ts.CallbackKey) {
		t.Fatalf("formatting the server shows a key: %s", f)
	}
	if strings.Contains(logs.String(), token) || strings.Contains(logs.String(), ts.APIKey) || strings.Contains(logs.String(), ts.CallbackKey) {
		t.Fatal("a secret appears in the logs")
	}
	if !strings.Contains(logs.String(), id) {
		t.Fatal("the logs do not mention the job (is the logger wired?)")
	}

	testutil.WaitFor(t, 10*time.Second, "the callback", func() bool { return len(cr.received()) == 1 })
	got := cr.received()[0]
	if got.err != nil {
		t.Fatalf("callback rejected: %v (body %s)", got.err, got.body)
	}
	if got.cb.JobID != id || got.cb.Status != provider.StateSucceeded || got.cb.Labels["workflow_id"] != "file-42-v7" {
		t.Fatalf("callback %+v", got.cb)
	}
	if got.header.Get(mlengineapi.HeaderDeliveryID) == "" || got.header.Get("Content-Type") != "application/json" {
		t.Fatalf("callback headers %v", got.header)
	}
	// Tampering is detected.
	if err := mlengineapi.VerifyCallback(signatureVerifier(ts.CallbackKey), got.header, bytes.Replace(got.body, []byte("succeeded"), []byte("failed"), 1)); !errors.Is(err, mlengineapi.ErrCallbackSignature) {
		t.Fatalf("tampered callback verified: %v", err)
	}
	if err := mlengineapi.VerifyCallback(signatureVerifier("other-key"), got.header, got.body); err == nil {
		t.Fatal("callback verified with the wrong key")
	}
}

func TestIdempotency(t *testing.T) {
	media := []byte("media")
	ms := newMediaServer(t, media, "tok")
	fake := newFake(t, media)
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake))
	req := mlengineapi.SubmitRequest{MediaURL: ms.URL + "/m", MediaToken: "tok", Analyses: []string{"media"}, Labels: map[string]string{"a": "1"}}
	id := submit(t, ts, "idem-1", req)

	// Same key, same request (even with a new token): the same job, 200.
	req2 := req
	req2.MediaToken = "a-fresh-token"
	code, _, body := call(t, ts, "POST", "/v1/jobs", req2, map[string]string{"Idempotency-Key": "idem-1"})
	if code != 200 || decodeJSON[mlengineapi.SubmitResponse](t, body).ID != id {
		t.Fatalf("repeat: HTTP %d %s, want 200 with job %s", code, body, id)
	}
	// Same key, different request: 409.
	req3 := req
	req3.Analyses = []string{"media", "transcript"}
	code, _, body = call(t, ts, "POST", "/v1/jobs", req3, map[string]string{"Idempotency-Key": "idem-1"})
	if code != 409 || decodeJSON[mlengineapi.ErrorBody](t, body).Error.Code != mlengine.CodeIdempotencyConflict {
		t.Fatalf("conflict: HTTP %d %s", code, body)
	}
	// Another key: another job.
	if other := submit(t, ts, "idem-2", req); other == id {
		t.Fatal("a different key returned the same job")
	}
	waitStatus(t, ts, id, provider.StateSucceeded)
	// After the job ended the key still returns it (and nothing runs again).
	code, _, body = call(t, ts, "POST", "/v1/jobs", req, map[string]string{"Idempotency-Key": "idem-1"})
	if r := decodeJSON[mlengineapi.SubmitResponse](t, body); code != 200 || r.ID != id || r.Status != provider.StateSucceeded {
		t.Fatalf("repeat after the end: HTTP %d %s", code, body)
	}
}

func TestListJobs(t *testing.T) {
	media := []byte("media")
	ms := newMediaServer(t, media, "tok")
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(newFake(t, media)))
	req := mlengineapi.SubmitRequest{MediaURL: ms.URL + "/m", MediaToken: "tok", Analyses: []string{"media"}}
	a := submit(t, ts, "key-a", req)
	b := submit(t, ts, "key-b", req)
	// A retry of a's submission lands on a and is counted.
	if code, _, body := call(t, ts, "POST", "/v1/jobs", req, map[string]string{"Idempotency-Key": "key-a"}); code != 200 {
		t.Fatalf("repeat: HTTP %d %s", code, body)
	}
	c := submit(t, ts, "key-c", req)
	waitStatus(t, ts, c, provider.StateSucceeded)

	client := mlengineapi.New(mlengineapi.Config{BaseURL: ts.URL, APIKey: secret.String(ts.APIKey)})
	ctx := context.Background()
	p1, err := client.ListJobs(ctx, mlengineapi.ListOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(p1.Jobs) != 2 || p1.Jobs[0].ID != a || p1.Jobs[1].ID != b || p1.Next == "" {
		t.Fatalf("first page: %+v", p1)
	}
	if j := p1.Jobs[0]; j.IdempotencyKey != "key-a" || j.Submissions != 2 {
		t.Errorf("job a: key %q, %d submissions; want key-a, 2", j.IdempotencyKey, j.Submissions)
	}
	if j := p1.Jobs[1]; j.Submissions != 1 {
		t.Errorf("job b: %d submissions, want 1", j.Submissions)
	}
	p2, err := client.ListJobs(ctx, mlengineapi.ListOptions{Limit: 2, After: p1.Next})
	if err != nil {
		t.Fatal(err)
	}
	if len(p2.Jobs) != 1 || p2.Jobs[0].ID != c || p2.Next != "" {
		t.Fatalf("second page: %+v", p2)
	}
	if got := getJob(t, ts, a); got.Submissions != 2 || got.IdempotencyKey != "key-a" {
		t.Errorf("GET job a: key %q, %d submissions", got.IdempotencyKey, got.Submissions)
	}
	done, err := client.ListJobs(ctx, mlengineapi.ListOptions{Status: provider.StateSucceeded})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range done.Jobs {
		if j.Status != provider.StateSucceeded {
			t.Errorf("status filter succeeded returned a %s job", j.Status)
		}
	}
	if !slices.ContainsFunc(done.Jobs, func(j mlengineapi.Job) bool { return j.ID == c }) {
		t.Error("status filter succeeded misses job c")
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "after=-1", "after=x", "status=done"} {
		code, _, body := call(t, ts, "GET", "/v1/jobs?"+q, nil, nil)
		if code != http.StatusBadRequest || decodeJSON[mlengineapi.ErrorBody](t, body).Error.Code != mlengine.CodeInvalidRequest {
			t.Errorf("?%s: HTTP %d %s", q, code, body)
		}
	}
	if code, _, _ := call(t, ts, "GET", "/v1/jobs", nil, map[string]string{"Authorization": ""}); code != http.StatusUnauthorized {
		t.Errorf("without the API key: HTTP %d", code)
	}
}

func TestMediaFetch(t *testing.T) {
	media := bytes.Repeat([]byte("0123456789"), 1000) // 10 000 bytes
	tests := []struct {
		name     string
		override func(w http.ResponseWriter, r *http.Request, n int) bool
		token    string
		maxBytes int64
		wantCode string // "" = succeeds
		wantHits int32
	}{
		{name: "wrong token", token: "wrong", wantCode: mlengine.CodeMediaUnauthorized, wantHits: 1},
		{name: "403", override: status(403), wantCode: mlengine.CodeMediaForbidden, wantHits: 1},
		{name: "404", override: status(404), wantCode: mlengine.CodeMediaNotFound, wantHits: 1},
		{name: "400", override: status(400), wantCode: mlengine.CodeMediaRejected, wantHits: 1},
		{name: "too large by Content-Length", maxBytes: 9999, wantCode: mlengine.CodeMediaTooLarge, wantHits: 1},
		{name: "too large while streaming", maxBytes: 9999, wantCode: mlengine.CodeMediaTooLarge, wantHits: 1,
			override: func(w http.ResponseWriter, r *http.Request, n int) bool {
				// No Content-Length: chunked.
				for i := 0; i < 10; i++ {
					w.Write(media[i*1000 : (i+1)*1000])
					w.(http.Flusher).Flush()
				}
				return true
			}},
		{name: "exactly at the limit", maxBytes: 10000, wantHits: 1},
		{name: "not ready twice, then ready", wantHits: 3, override: func(w http.ResponseWriter, r *http.Request, n int) bool {
			if n <= 2 {
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(http.StatusAccepted)
				return true
			}
			return false
		}},
		{name: "5xx and 429, then ok", wantHits: 3, override: func(w http.ResponseWriter, r *http.Request, n int) bool {
			switch n {
			case 1:
				w.WriteHeader(503)
			case 2:
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(429)
			default:
				return false
			}
			return true
		}},
		{name: "5xx forever", override: status(500), wantCode: mlengine.CodeMediaFetchFailed, wantHits: 4},
		{name: "truncated body, then ok", wantHits: 2, override: func(w http.ResponseWriter, r *http.Request, n int) bool {
			if n == 1 {
				w.Header().Set("Content-Length", "10000")
				w.Write(media[:500])
				return true
			}
			return false
		}},
		{name: "redirect to a pre-signed URL", wantHits: 2, override: func(w http.ResponseWriter, r *http.Request, n int) bool {
			if r.URL.Path == "/m" {
				http.Redirect(w, r, "/signed?sig=abc", http.StatusFound)
				return true
			}
			return false
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms := newMediaServer(t, media, "tok")
			ms.override = tc.override
			fake := newFake(t, media)
			ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake), mlengine.WithConfig(func(c *mlengine.Config) {
				if tc.maxBytes > 0 {
					c.MaxMediaBytes = tc.maxBytes
				}
				c.FetchBackoff = time.Millisecond
			}))
			tok := "tok"
			if tc.token != "" {
				tok = tc.token
			}
			id := submit(t, ts, "", mlengineapi.SubmitRequest{MediaURL: ms.URL + "/m", MediaToken: tok, Analyses: []string{"media"}})
			if tc.wantCode == "" {
				waitStatus(t, ts, id, provider.StateSucceeded)
			} else {
				j := waitStatus(t, ts, id, provider.StateFailed)
				if j.Error == nil || j.Error.Code != tc.wantCode || j.Error.Message == "" || j.MediaFetched {
					t.Fatalf("job %+v error %+v, want code %s", j, j.Error, tc.wantCode)
				}
				wantRetryable := tc.wantCode == mlengine.CodeMediaFetchFailed
				if j.Error.Retryable != wantRetryable {
					t.Fatalf("retryable = %v, want %v", j.Error.Retryable, wantRetryable)
				}
				if fake.calls.Load() != 0 {
					t.Fatal("analyzer ran without media")
				}
				if _, err := os.Stat(ts.Server().JobDir(id)); !os.IsNotExist(err) {
					t.Fatalf("job directory left behind: %v", err)
				}
			}
			if got := ms.hits.Load(); got != tc.wantHits {
				t.Fatalf("media server hit %d times, want %d", got, tc.wantHits)
			}
		})
	}
}

func status(code int) func(w http.ResponseWriter, r *http.Request, n int) bool {
	return func(w http.ResponseWriter, r *http.Request, n int) bool { w.WriteHeader(code); return true }
}

func TestQueueLimit(t *testing.T) {
	media := []byte("m")
	ms := newMediaServer(t, media, "tok")
	fake := newFake(t, media)
	fake.block.Store(true)
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake), mlengine.WithConfig(func(c *mlengine.Config) {
		c.ParallelJobs, c.QueueLimit, c.QueueRetryAfter = 1, 1, 7*time.Second
	}))
	req := mlengineapi.SubmitRequest{MediaURL: ms.URL + "/m", MediaToken: "tok", Analyses: []string{"media"}}
	running := submit(t, ts, "a", req)
	fake.waitStarted()
	waitStatus(t, ts, running, provider.StateRunning)
	queued := submit(t, ts, "b", req)
	code, hdr, body := call(t, ts, "POST", "/v1/jobs", req, map[string]string{"Idempotency-Key": "c"})
	if code != 429 || hdr.Get("Retry-After") != "7" || !decodeJSON[mlengineapi.ErrorBody](t, body).Error.Retryable {
		t.Fatalf("full queue: HTTP %d Retry-After %q %s", code, hdr.Get("Retry-After"), body)
	}
	// A repeat of an accepted submission is still answered.
	if code, _, _ := call(t, ts, "POST", "/v1/jobs", req, map[string]string{"Idempotency-Key": "b"}); code != 200 {
		t.Fatalf("idempotent repeat with a full queue: HTTP %d", code)
	}
	j := getJob(t, ts, queued)
	if j.Status != provider.StateQueued {
		t.Fatalf("second job is %s while the first runs (ParallelJobs=1)", j.Status)
	}
	close(fake.release)
	waitStatus(t, ts, running, provider.StateSucceeded)
	waitStatus(t, ts, queued, provider.StateSucceeded)
	submit(t, ts, "c", req) // room again
}

func TestCancel(t *testing.T) {
	media := []byte("m")
	ms := newMediaServer(t, media, "tok")
	fake := newFake(t, media)
	fake.block.Store(true)
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake), mlengine.WithConfig(func(c *mlengine.Config) { c.ParallelJobs = 1 }))
	cr := newCallbackReceiver(t, ts.CallbackKey)
	req := mlengineapi.SubmitRequest{MediaURL: ms.URL + "/m", MediaToken: "tok", Analyses: []string{"media", "scenes"}, CallbackURL: cr.URL}

	running := submit(t, ts, "a", req)
	work := fake.waitStarted()
	queued := submit(t, ts, "b", req)

	// Cancel the running job: DELETE returns once the run has stopped.
	code, hdr, body := call(t, ts, "DELETE", "/v1/jobs/"+running, nil, nil)
	if code != 200 {
		t.Fatalf("DELETE running: HTTP %d %s", code, body)
	}
	j := decodeJSON[mlengineapi.Job](t, body)
	if j.Status != provider.StateCanceled || j.Error == nil || j.Error.Code != mlengine.CodeCanceled || hdr.Get("Retry-After") != "" {
		t.Fatalf("canceled job %+v", j)
	}
	for a, s := range j.Analyses {
		if s != provider.StateCanceled {
			t.Fatalf("analysis %s is %s after cancel", a, s)
		}
	}
	if _, err := os.Stat(work); !os.IsNotExist(err) {
		t.Fatalf("work dir still there after cancel: %v", err)
	}
	if _, err := os.Stat(ts.Server().JobDir(running)); !os.IsNotExist(err) {
		t.Fatalf("job dir still there after cancel: %v", err)
	}
	// The queued job starts after the cancel; cancel it while it runs too,
	// and a third one while queued behind it.
	fake.waitStarted()
	third := submit(t, ts, "c", req)
	testutil.WaitFor(t, 10*time.Second, "the third job to be fetched", func() bool { return getJob(t, ts, third).MediaFetched })
	code, _, body = call(t, ts, "DELETE", "/v1/jobs/"+third, nil, nil)
	if code != 200 || decodeJSON[mlengineapi.Job](t, body).Status != provider.StateCanceled {
		t.Fatalf("DELETE queued: HTTP %d %s", code, body)
	}
	if _, err := os.Stat(ts.Server().JobDir(third)); !os.IsNotExist(err) {
		t.Fatalf("queued job's media still there after cancel: %v", err)
	}
	if code, _, body := call(t, ts, "DELETE", "/v1/jobs/"+queued, nil, nil); code != 200 {
		t.Fatalf("DELETE second: HTTP %d %s", code, body)
	}
	// Canceling again, or a finished job, changes nothing.
	code, _, body = call(t, ts, "DELETE", "/v1/jobs/"+running, nil, nil)
	if code != 200 || decodeJSON[mlengineapi.Job](t, body).Status != provider.StateCanceled {
		t.Fatalf("DELETE twice: HTTP %d %s", code, body)
	}
	if code, _, _ := call(t, ts, "DELETE", "/v1/jobs/no-such-job", nil, nil); code != 404 {
		t.Fatalf("DELETE unknown: HTTP %d", code)
	}
	// No result for a canceled job.
	code, _, body = call(t, ts, "GET", "/v1/jobs/"+running+"/result", nil, nil)
	if eb := decodeJSON[mlengineapi.ErrorBody](t, body); code != 409 || eb.Error.Code != mlengine.CodeNoResult || eb.Error.Retryable {
		t.Fatalf("result of a canceled job: HTTP %d %s", code, body)
	}
	testutil.WaitFor(t, 10*time.Second, "three callbacks", func() bool { return len(cr.received()) == 3 })
	for _, c := range cr.received() {
		if c.err != nil || c.cb.Status != provider.StateCanceled {
			t.Fatalf("callback %+v (%v)", c.cb, c.err)
		}
	}
	if n := fake.calls.Load(); n != 2 {
		t.Fatalf("analyzer ran %d times, want 2", n)
	}
}

func TestResultNotFinished(t *testing.T) {
	media := []byte("m")
	ms := newMediaServer(t, media, "tok")
	fake := newFake(t, media)
	fake.block.Store(true)
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake))
	id := submit(t, ts, "", mlengineapi.SubmitRequest{MediaURL: ms.URL + "/m", MediaToken: "tok"})
	fake.waitStarted()
	code, hdr, body := call(t, ts, "GET", "/v1/jobs/"+id+"/result", nil, nil)
	if eb := decodeJSON[mlengineapi.ErrorBody](t, body); code != 409 || eb.Error.Code != mlengine.CodeNotFinished || !eb.Error.Retryable || hdr.Get("Retry-After") == "" {
		t.Fatalf("result while running: HTTP %d %s", code, body)
	}
	code, hdr, body = call(t, ts, "GET", "/v1/jobs/"+id, nil, nil)
	j := decodeJSON[mlengineapi.Job](t, body)
	if code != 200 || j.Status != provider.StateRunning || hdr.Get("Retry-After") != "1" {
		t.Fatalf("running job: HTTP %d Retry-After %q %s", code, hdr.Get("Retry-After"), body)
	}
	// Every analysis reported running at 0.5.
	if j.Progress != 0.5 || len(j.Analyses) != len(provider.AllAnalyses) || j.Analyses["ocr"] != provider.StateRunning {
		t.Fatalf("live progress %v %v", j.Progress, j.Analyses)
	}
	if code, _, _ := call(t, ts, "GET", "/v1/jobs/nope/result", nil, nil); code != 404 {
		t.Fatalf("result of unknown job: HTTP %d", code)
	}
	close(fake.release)
	waitStatus(t, ts, id, provider.StateSucceeded)
}

func TestAnalysisFailures(t *testing.T) {
	media := []byte("m")
	ms := newMediaServer(t, media, "tok")
	req := mlengineapi.SubmitRequest{MediaURL: ms.URL + "/m", MediaToken: "tok", Analyses: []string{"media", "transcript", "ocr"}}

	t.Run("partial", func(t *testing.T) {
		fake := newFake(t, media)
		fake.states = map[string]provider.State{"transcript": provider.StateFailed, "ocr": provider.StateSkipped}
		fake.errors = map[string]string{"transcript": "pocketsphinx exited 1"}
		ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake))
		j := waitStatus(t, ts, submit(t, ts, "", req), provider.StateSucceeded)
		if j.Analyses["transcript"] != provider.StateFailed || j.Analyses["ocr"] != provider.StateSkipped ||
			j.AnalysisErrors["transcript"] != "pocketsphinx exited 1" {
			t.Fatalf("job %+v", j)
		}
	})
	t.Run("all failed", func(t *testing.T) {
		fake := newFake(t, media)
		fake.states = map[string]provider.State{"media": provider.StateFailed, "transcript": provider.StateFailed, "ocr": provider.StateFailed}
		ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake))
		id := submit(t, ts, "", req)
		j := waitStatus(t, ts, id, provider.StateFailed)
		if j.Error == nil || j.Error.Code != mlengine.CodeAnalysesFailed || j.Error.Retryable {
			t.Fatalf("job error %+v", j.Error)
		}
		if _, err := os.Stat(ts.Server().JobDir(id)); !os.IsNotExist(err) {
			t.Fatalf("files of a failed job left: %v", filesUnder(t, ts.Server().JobDir(id)))
		}
	})
	t.Run("whole job failure", func(t *testing.T) {
		fake := newFake(t, media)
		fake.fail = &mlengine.Failure{Code: "media_too_long", Message: "media lasts 3h, the limit is 2h"}
		ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake))
		j := waitStatus(t, ts, submit(t, ts, "", req), provider.StateFailed)
		if j.Error == nil || j.Error.Code != "media_too_long" || j.Error.Retryable || !strings.Contains(j.Error.Message, "2h") {
			t.Fatalf("job error %+v", j.Error)
		}
	})
	t.Run("unexpected error", func(t *testing.T) {
		fake := newFake(t, media)
		fake.fail = errors.New("disk on fire")
		ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake))
		j := waitStatus(t, ts, submit(t, ts, "", req), provider.StateFailed)
		if j.Error == nil || j.Error.Code != mlengine.CodeInternal || !j.Error.Retryable {
			t.Fatalf("job error %+v", j.Error)
		}
	})
}

func TestCancelDuringDownload(t *testing.T) {
	ms := newMediaServer(t, []byte("media"), "tok")
	inFlight := make(chan struct{}, 1)
	ms.override = func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.Header().Set("Content-Length", "5")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		inFlight <- struct{}{}
		<-r.Context().Done()
		return true
	}
	fake := newFake(t, nil)
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake))
	id := submit(t, ts, "", mlengineapi.SubmitRequest{MediaURL: ms.URL + "/m", MediaToken: "tok"})
	<-inFlight
	code, _, body := call(t, ts, "DELETE", "/v1/jobs/"+id, nil, nil)
	if j := decodeJSON[mlengineapi.Job](t, body); code != 200 || j.Status != provider.StateCanceled || j.MediaFetched {
		t.Fatalf("DELETE during download: HTTP %d %s", code, body)
	}
	if _, err := os.Stat(ts.Server().JobDir(id)); !os.IsNotExist(err) {
		t.Fatalf("partial download left: %v", filesUnder(t, ts.Server().JobDir(id)))
	}
	if fake.calls.Load() != 0 {
		t.Fatal("analyzer ran for a canceled job")
	}
}

func TestJobTimeout(t *testing.T) {
	ms := newMediaServer(t, []byte("m"), "tok")
	fake := newFake(t, nil)
	fake.block.Store(true)
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake), mlengine.WithConfig(func(c *mlengine.Config) { c.JobTimeout = 100 * time.Millisecond }))
	id := submit(t, ts, "", mlengineapi.SubmitRequest{MediaURL: ms.URL + "/m", MediaToken: "tok"})
	j := waitStatus(t, ts, id, provider.StateFailed)
	if j.Error == nil || j.Error.Code != mlengine.CodeTimeout || !j.Error.Retryable {
		t.Fatalf("timed-out job error %+v", j.Error)
	}
}

package mlengineapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filesight/internal/mlengine"
	"filesight/internal/mlengine/mlenginetest"
	"filesight/internal/provider"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/secret"
	"filesight/internal/signature"
	"filesight/internal/testutil"
)

func provErr(t *testing.T, err error) *provider.Error {
	t.Helper()
	pe, ok := provider.AsError(err)
	if !ok {
		t.Fatalf("error %v (%T) is not a *provider.Error", err, err)
	}
	return pe
}

// TestClient drives a real mlengine (with a fake analyzer) through the client.
func TestClient(t *testing.T) {
	const token = "media-token-1f2e3d"
	media := []byte("media bytes")
	mediaSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(401)
			return
		}
		w.Write(media)
	}))
	defer mediaSrv.Close()
	release := make(chan struct{})
	thumb := []byte("\x89PNG\r\n\x1a\nnot really")
	fake := mlengine.AnalyzerFunc(func(ctx context.Context, task mlengine.Task) (*mlengine.Output, error) {
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		p := filepath.Join(task.WorkDir, "t.png")
		if err := os.WriteFile(p, thumb, 0o600); err != nil {
			return nil, err
		}
		return &mlengine.Output{
			Result:    provider.Result{Keywords: []provider.Keyword{{Text: "data", Score: 1}}, Scenes: []provider.Scene{{Start: 0, End: 1, Thumbnail: "scene-1.png"}}},
			Artifacts: map[string]string{"scene-1.png": p},
		}, nil
	})
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake))
	ctx := t.Context()
	c := mlengineapi.New(mlengineapi.Config{BaseURL: ts.URL + "/", APIKey: secret.String(ts.APIKey)})
	if c.Name() != "mlengine" {
		t.Fatalf("name %q", c.Name())
	}
	req := provider.JobRequest{IdempotencyKey: "file-1-v1/mlengine", MediaURL: mediaSrv.URL + "/f", MediaToken: token,
		Analyses: []string{"scenes", "keywords", "media"}, Labels: map[string]string{"workflow_id": "file-1-v1"}}

	ref, err := c.Submit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Provider != "mlengine" || ref.ID == "" {
		t.Fatalf("ref %+v", ref)
	}
	if again, err := c.Submit(ctx, req); err != nil || again != ref {
		t.Fatalf("repeat submit: %+v %v", again, err)
	}

	var st provider.JobStatus
	testutil.WaitFor(t, 20*time.Second, "the job to run", func() bool {
		st, err = c.Status(ctx, ref)
		return err == nil && st.State == provider.StateRunning
	})
	if st.Ref != ref || !st.MediaFetched || st.RetryAfter != time.Second || st.UpdatedAt.IsZero() {
		t.Fatalf("running status %+v", st)
	}
	names := []string{}
	for _, a := range st.Analyses {
		names = append(names, a.Name)
	}
	if !slices.Equal(names, []string{"keywords", "media", "scenes"}) {
		t.Fatalf("analyses not sorted by name: %v", names)
	}
	_, err = c.Result(ctx, ref)
	if pe := provErr(t, err); pe.StatusCode != 409 || !pe.Retryable || pe.Code != "not_finished" || pe.RetryAfter <= 0 {
		t.Fatalf("result while running: %+v", pe)
	}

	close(release)
	testutil.WaitFor(t, 20*time.Second, "the job to succeed", func() bool {
		st, err = c.Status(ctx, ref)
		return err == nil && st.State == provider.StateSucceeded
	})
	if st.RetryAfter != 0 || st.Progress != 1 {
		t.Fatalf("final status %+v", st)
	}
	res, err := c.Result(ctx, ref)
	if err != nil || len(res.Keywords) != 1 || res.Keywords[0].Text != "data" {
		t.Fatalf("result %+v %v", res, err)
	}
	rc, err := c.Artifact(ctx, ref, res.Scenes[0].Thumbnail)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, thumb) {
		t.Fatalf("artifact %q", got)
	}
	if _, err := c.Artifact(ctx, ref, "other.png"); provErr(t, err).StatusCode != 404 {
		t.Fatalf("missing artifact: %v", err)
	}
	// Canceling a finished job is a no-op success; it stays succeeded.
	if err := c.Cancel(ctx, ref); err != nil {
		t.Fatalf("cancel finished job: %v", err)
	}
	if st, _ := c.Status(ctx, ref); st.State != provider.StateSucceeded {
		t.Fatalf("finished job became %s", st.State)
	}

	unknown := provider.JobRef{Provider: "mlengine", ID: "no-such-job"}
	for name, f := range map[string]func() error{
		"status": func() error { _, err := c.Status(ctx, unknown); return err },
		"result": func() error { _, err := c.Result(ctx, unknown); return err },
		"cancel": func() error { return c.Cancel(ctx, unknown) },
	} {
		if pe := provErr(t, f()); pe.StatusCode != 404 || pe.Retryable || pe.Op != name || pe.Code != "not_found" {
			t.Fatalf("%s of unknown job: %+v", name, pe)
		}
	}
	if _, err := c.Status(ctx, provider.JobRef{Provider: "other", ID: ref.ID}); err == nil {
		t.Fatal("a ref of another provider was accepted")
	}

	bad := req
	bad.IdempotencyKey, bad.MediaURL = "bad", "ftp://example/x"
	_, err = c.Submit(ctx, bad)
	if pe := provErr(t, err); pe.StatusCode != 400 || pe.Retryable || !strings.Contains(pe.Message, "http or https") {
		t.Fatalf("invalid submit: %+v", pe)
	}
	if strings.Contains(err.Error(), token) {
		t.Fatal("error shows the media token")
	}

	wrong := mlengineapi.New(mlengineapi.Config{BaseURL: ts.URL, APIKey: "wrong-key-abc"})
	_, err = wrong.Status(ctx, ref)
	if pe := provErr(t, err); pe.StatusCode != 401 || pe.Retryable {
		t.Fatalf("wrong key: %+v", pe)
	}
	if strings.Contains(err.Error(), "wrong-key-abc") || strings.Contains(fmt.Sprintf("%v %+v %#v %s", wrong, wrong, wrong, wrong), "wrong-key-abc") {
		t.Fatal("API key leaked in an error or in the client's formatting")
	}
}

func TestClientCancelRunning(t *testing.T) {
	mediaSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("m")) }))
	defer mediaSrv.Close()
	started := make(chan struct{}, 1)
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(mlengine.AnalyzerFunc(func(ctx context.Context, task mlengine.Task) (*mlengine.Output, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	})))
	c := mlengineapi.New(mlengineapi.Config{BaseURL: ts.URL, APIKey: secret.String(ts.APIKey), Name: "local"})
	ref, err := c.Submit(t.Context(), provider.JobRequest{MediaURL: mediaSrv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if ref.Provider != "local" {
		t.Fatalf("ref %+v", ref)
	}
	<-started
	if err := c.Cancel(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(t.Context(), ref)
	if err != nil || st.State != provider.StateCanceled || st.Error == nil || st.Error.Code != "canceled" {
		t.Fatalf("after cancel: %+v %v", st, err)
	}
	_, err = c.Result(t.Context(), ref)
	if pe := provErr(t, err); pe.StatusCode != 409 || pe.Retryable {
		t.Fatalf("result of canceled job: %+v", pe)
	}
}

func TestClientErrorMapping(t *testing.T) {
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		status     int
		retryable  bool
		retryAfter time.Duration
		code       string
	}{
		{"queue full", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(429)
			w.Write([]byte(`{"error":{"code":"queue_full","message":"full","retryable":true}}`))
		}, 429, true, 7 * time.Second, "queue_full"},
		{"5xx without body", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(502) }, 502, true, 0, ""},
		{"503 says not retryable: still retryable", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(503)
			w.Write([]byte(`{"error":{"code":"unavailable","message":"x","retryable":false}}`))
		}, 503, true, 0, "unavailable"},
		{"400", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(400)
			w.Write([]byte(`{"error":{"code":"invalid_request","message":"bad","retryable":false}}`))
		}, 400, false, 0, "invalid_request"},
		{"413 html", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(413); w.Write([]byte("<html>")) }, 413, false, 0, ""},
		{"garbage 200", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(202); w.Write([]byte("{")) }, 202, true, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			c := mlengineapi.New(mlengineapi.Config{BaseURL: srv.URL, APIKey: "k"})
			_, err := c.Submit(t.Context(), provider.JobRequest{MediaURL: "http://x/y"})
			pe := provErr(t, err)
			if pe.Op != "submit" || pe.StatusCode != tc.status || pe.Retryable != tc.retryable || pe.RetryAfter != tc.retryAfter || pe.Code != tc.code {
				t.Fatalf("error %+v", pe)
			}
		})
	}
	t.Run("network error", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		c := mlengineapi.New(mlengineapi.Config{BaseURL: srv.URL, APIKey: "k"})
		_, err := c.Status(t.Context(), provider.JobRef{ID: "x"})
		if pe := provErr(t, err); pe.StatusCode != 0 || !pe.Retryable || pe.Err == nil {
			t.Fatalf("error %+v", pe)
		}
	})
	t.Run("caller canceled", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		defer srv.Close()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		c := mlengineapi.New(mlengineapi.Config{BaseURL: srv.URL, APIKey: "k"})
		_, err := c.Status(ctx, provider.JobRef{ID: "x"})
		if pe := provErr(t, err); pe.Retryable || !errors.Is(err, context.Canceled) {
			t.Fatalf("error %+v", pe)
		}
	})
}

func TestVerifyCallback(t *testing.T) {
	body := []byte(`{"job_id":"j1","status":"succeeded","labels":{"workflow_id":"file-1-v1"}}`)
	now := time.Now().UTC()
	sign := func(key string, ts time.Time, b []byte) http.Header {
		h := http.Header{}
		mlengineapi.SignCallback(h, []byte(key), b, ts.Format(time.RFC3339), "d1")
		return h
	}
	renamed := sign("new-key", now, body)
	renamed.Set(mlengineapi.HeaderDeliveryID, "d2")
	unsignedID := sign("new-key", now, body)
	unsignedID.Set(mlengineapi.HeaderSignature, signature.Sign([]byte("new-key"), body, unsignedID.Get(mlengineapi.HeaderTimestamp)))
	v := signature.NewVerifier([]byte("new-key"), []byte("old-key"))
	if err := mlengineapi.VerifyCallback(v, sign("new-key", now, body), body); err != nil {
		t.Fatalf("primary key: %v", err)
	}
	if err := mlengineapi.VerifyCallback(v, sign("old-key", now, body), body); err != nil {
		t.Fatalf("secondary key (rotation): %v", err)
	}
	for name, tc := range map[string]struct {
		h http.Header
		b []byte
	}{
		"other key":  {sign("evil", now, body), body},
		"tampered":   {sign("new-key", now, body), bytes.Replace(body, []byte("succeeded"), []byte("failed"), 1)},
		"stale":      {sign("new-key", now.Add(-11*time.Minute), body), body},
		"no headers": {http.Header{}, body},
		// The delivery ID is signed: a recorded callback cannot be
		// replayed under a fresh ID, nor signed without one.
		"another delivery ID":      {renamed, body},
		"signature without the ID": {unsignedID, body},
	} {
		if err := mlengineapi.VerifyCallback(v, tc.h, tc.b); !errors.Is(err, mlengineapi.ErrCallbackSignature) {
			t.Errorf("%s: %v, want ErrCallbackSignature", name, err)
		}
	}
	if err := mlengineapi.VerifyCallback(nil, sign("new-key", now, body), body); err == nil {
		t.Error("nil verifier accepted a callback")
	}
}

// TestClientLimitsAndRedaction: answers past the size limits are errors
// (not truncated documents), and what the service says about an error or
// a failed job is redacted, then truncated.
func TestClientLimitsAndRedaction(t *testing.T) {
	const key = "api-key-0123456789abcdef0123456789"
	long := "sent with " + key + ": media https://box.example/2.0/files/1/content?access_token=tok-0123456789abcdef " + strings.Repeat("é", 200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/jobs/big":
			w.Write([]byte(`{"id":"big","status":"running","labels":{"x":"` + strings.Repeat("x", 2<<10) + `"}}`))
		case "/v1/jobs/failed":
			json.NewEncoder(w).Encode(mlengineapi.Job{ID: "failed", Status: provider.StateFailed,
				Error: &provider.JobError{Code: "media_fetch_rejected", Message: long}})
		case "/v1/jobs/refused":
			w.WriteHeader(400)
			json.NewEncoder(w).Encode(mlengineapi.ErrorBody{Error: mlengineapi.APIError{Code: "invalid_request", Message: long}})
		case "/v1/jobs/j/artifacts/big.png":
			w.Write(bytes.Repeat([]byte{0x89}, 3<<10))
		case "/v1/jobs/j/artifacts/chunked.png":
			w.(http.Flusher).Flush() // no Content-Length: the limit is met while reading
			w.Write(bytes.Repeat([]byte{0x89}, 3<<10))
		case "/v1/jobs/j/artifacts/ok.png":
			w.Write(bytes.Repeat([]byte{0x89}, 1<<10))
		}
	}))
	defer srv.Close()
	c := mlengineapi.New(mlengineapi.Config{BaseURL: srv.URL, APIKey: key, MaxResponseBytes: 1 << 10, MaxArtifactBytes: 2 << 10})
	ctx := t.Context()
	if _, err := c.Status(ctx, provider.JobRef{ID: "big"}); provErr(t, err).Code != "answer_too_large" || provErr(t, err).Retryable {
		t.Fatalf("oversized status: %v", err)
	}
	for _, text := range func() []string {
		st, err := c.Status(ctx, provider.JobRef{ID: "failed"})
		if err != nil || st.Error == nil {
			t.Fatalf("failed job: %+v %v", st, err)
		}
		_, err = c.Status(ctx, provider.JobRef{ID: "refused"})
		return []string{st.Error.Message, provErr(t, err).Message, err.Error()}
	}() {
		if strings.Contains(text, "tok-0123") || strings.Contains(text, key[:12]) || len(text) > provider.MaxMessage+64 {
			t.Errorf("not redacted or not truncated (%d bytes): %q", len(text), text)
		}
	}
	for name, wantErr := range map[string]bool{"big.png": true, "chunked.png": true, "ok.png": false} {
		rc, err := c.Artifact(ctx, provider.JobRef{ID: "j"}, name)
		if err == nil {
			_, err = io.ReadAll(rc)
			rc.Close()
		}
		if (err != nil) != wantErr {
			t.Errorf("artifact %s: %v, want an error: %v", name, err, wantErr)
		}
	}
}

// DeleteResult removes a finished job's result; Result then fails for good
// (410 result_deleted), and deleting again is no error.
func TestClientDeleteResult(t *testing.T) {
	fake := mlengine.AnalyzerFunc(func(ctx context.Context, task mlengine.Task) (*mlengine.Output, error) {
		return &mlengine.Output{Result: provider.Result{Keywords: []provider.Keyword{{Text: "data", Score: 1}}}}, nil
	})
	mediaSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("m")) }))
	defer mediaSrv.Close()
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake))
	ctx := t.Context()
	c := mlengineapi.New(mlengineapi.Config{BaseURL: ts.URL, APIKey: secret.String(ts.APIKey)})
	ref, err := c.Submit(ctx, provider.JobRequest{MediaURL: mediaSrv.URL + "/f", MediaToken: "t", Analyses: []string{"keywords"}})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, "the job to succeed", func() bool {
		st, err := c.Status(ctx, ref)
		return err == nil && st.State == provider.StateSucceeded
	})
	if _, err := c.Result(ctx, ref); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := c.DeleteResult(ctx, ref); err != nil {
			t.Fatalf("delete result: %v", err)
		}
	}
	_, err = c.Result(ctx, ref)
	if pe := provErr(t, err); pe.StatusCode != http.StatusGone || pe.Code != "result_deleted" || pe.Retryable {
		t.Fatalf("result after the delete: %+v", pe)
	}
	j, _, err := c.Job(ctx, ref)
	if err != nil || j.ResultDeletedAt == nil || j.Status != provider.StateSucceeded {
		t.Fatalf("job after the delete: %+v %v", j, err)
	}
	err = c.DeleteResult(ctx, provider.JobRef{Provider: "mlengine", ID: "no-such-job"})
	if pe := provErr(t, err); pe.StatusCode != http.StatusNotFound || pe.Retryable || pe.Op != "delete result" {
		t.Fatalf("delete the result of an unknown job: %+v", pe)
	}
}

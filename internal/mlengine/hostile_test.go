package mlengine_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"filesight/internal/mediatest"
	"filesight/internal/mlengine"
	"filesight/internal/mlengine/mlenginetest"
	"filesight/internal/provider"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/secret"
	"filesight/internal/testutil"
)

// TestHostileMediaThroughTheAPI submits every file of the hostile-media
// corpus to a real mlengine (real analyzers, real HTTP) the way a provider
// client does. Each job must fail for good with its reason and a fixed
// message for people; what the tools said, the job's files and its ID
// appear in the service's log only; no tool opens the canary outside the
// job directory, and its content appears nowhere.
func TestHostileMediaThroughTheAPI(t *testing.T) {
	mediatest.Require(t)
	canary := mediatest.NewCanary(t)
	corpus := mediatest.HostileCorpus(t, canary)

	const token = "hostile-read-token"
	ms := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var i int
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		if _, err := fmt.Sscanf(r.URL.Path, "/%d/", &i); err != nil || i < 0 || i >= len(corpus) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(corpus[i].Content)
	}))
	t.Cleanup(ms.Close)

	var logs testutil.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ts := mlenginetest.Start(t, mlengine.WithLogger(log), mlengine.WithConfig(func(c *mlengine.Config) {
		c.Concurrency = 2
		c.MaxDuration = 4 * time.Hour
	}))
	client := mlengineapi.New(mlengineapi.Config{BaseURL: ts.URL, APIKey: secret.String(ts.APIKey)})
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Minute)
	defer cancel()

	refs := make([]provider.JobRef, len(corpus))
	for i, f := range corpus {
		ref, err := client.Submit(ctx, provider.JobRequest{
			IdempotencyKey: fmt.Sprintf("hostile-%d", i), MediaURL: fmt.Sprintf("%s/%d/%s", ms.URL, i, f.Name), MediaToken: token,
		})
		if err != nil {
			t.Fatalf("%s: submit: %v", f.What, err)
		}
		refs[i] = ref
	}
	for i, f := range corpus {
		t.Run(f.What, func(t *testing.T) {
			var st provider.JobStatus
			testutil.WaitFor(t, 2*time.Minute, "the job to end", func() bool {
				var err error
				if st, err = client.Status(ctx, refs[i]); err != nil {
					t.Fatalf("status: %v", err)
				}
				return st.State.Terminal()
			})
			if st.State != provider.StateFailed || st.Error == nil {
				t.Fatalf("job ended %s (error %+v), want failed", st.State, st.Error)
			}
			je := st.Error
			if je.Code != string(f.Want) || je.Retryable {
				t.Errorf("error %+v, want a permanent %s", je, f.Want)
			}
			if text, ok := provider.MediaFailureText(je.Code, je.Message); !ok || text != je.Message {
				t.Errorf("message %q is not a fixed text for people", je.Message)
			}
			// The whole answer, as any API client sees it.
			_, _, raw := call(t, ts, "GET", "/v1/jobs/"+refs[i].ID, nil, nil)
			for _, leak := range []string{canary.Secret, canary.Dir, ts.Server().JobDir(refs[i].ID), "ffprobe", "ffmpeg", "whitelist"} {
				if bytes.Contains(raw, []byte(leak)) {
					t.Errorf("the job's answer holds %q: %s", leak, raw)
				}
			}
			if strings.Count(string(raw), refs[i].ID) != 1 {
				t.Errorf("the job ID appears elsewhere than in its id field: %s", raw)
			}
			if code, _, body := call(t, ts, "GET", "/v1/jobs/"+refs[i].ID+"/result", nil, nil); code == http.StatusOK {
				t.Errorf("a failed job has a result: %s", body)
			}
			t.Logf("%s: %s", je.Code, je.Message)
		})
	}
	// The details went to the log, with the job's ID.
	for _, want := range []string{"Format not on whitelist", "moov atom not found", refs[0].ID} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	if strings.Contains(logs.String(), canary.Secret) {
		t.Error("the canary's content is in the log: a tool read it")
	}
	if n := canary.Opened(); n > 0 {
		t.Fatalf("a tool opened the canary pipe outside the job's directory %d time(s)", n)
	}
}

//go:build integration

package worker_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"filesight/internal/box"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/secret"
	"filesight/internal/signature"
	"filesight/internal/starter"
	"filesight/internal/testutil"
	"filesight/internal/worker"
	"filesight/workflows"
	"filesight/workflows/semaphore"
)

const (
	capFiles = 20
	capLimit = 3
)

// A cap on mlengine's jobs in flight holds across worker processes: two
// real workers (worker.Run) configured with
// FILESIGHT_PROVIDER_MAX_OPEN_JOBS=mlengine=3 process 20 files (real
// analyzers, callbacks through the starter's handler); mlengine, which
// counts the jobs open at once, never sees more than 3, and all 20 complete.
func TestProviderCapAcrossWorkers(t *testing.T) {
	srv := startServers(t)
	lb, ml, c := srv.lb, srv.ml, srv.c
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	// The starter: mlengine's signed callbacks become signals.
	svc := starter.NewService(c, starter.Options{SetSearchAttributes: true, Logger: log})
	v := signature.NewVerifier([]byte(ml.CallbackKey), nil)
	h, err := starter.NewHandler(starter.HandlerConfig{
		Service: svc, BoxVerifier: box.NewWebhookVerifier(lb.WebhookPrimaryKey, lb.WebhookSecondaryKey), ParseBoxEvent: starter.ParseBoxEvent, Logger: log,
		Callbacks: map[string]starter.CallbackProvider{"mlengine": {Verifier: starter.VerifierFunc(func(h http.Header, body []byte) error {
			return mlengineapi.VerifyCallback(v, h, body)
		})}},
	})
	if err != nil {
		t.Fatal(err)
	}
	hooks := httptest.NewServer(h)
	defer hooks.Close()

	// Two worker processes' worth of worker.Run, each with the cap.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	for i := range 2 {
		cfg := srv.config()
		cfg.CallbackBaseURL = hooks.URL
		cfg.Providers.MaxOpenJobs = fmt.Sprintf("mlengine=%d", capLimit)
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan string, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := worker.Run(ctx, cfg, log.With("worker", i+1), func(addr string) { ready <- addr }); err != nil {
				t.Errorf("worker %d: %v", i+1, err)
			}
		}()
		select {
		case <-ready:
		case <-time.After(time.Minute):
			t.Fatalf("worker %d did not start", i+1)
		}
	}
	defer func() { stop(); wg.Wait() }()

	gctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	media := clip(t, "Twenty files share three slots.\nEach waits for its lease.")
	folder := lb.CreateFolder(t, "0", "cap")
	var inputs []workflows.ProcessFileInput
	for i := range capFiles {
		f := lb.UploadFile(t, folder, fmt.Sprintf("cap-%02d.m4a", i), media)
		inputs = append(inputs, workflows.ProcessFileInput{FileID: f.ID, FileVersionID: f.VersionID, FileName: fmt.Sprintf("cap-%02d.m4a", len(inputs)), Source: starter.SourceManual})
	}

	began := time.Now()
	var ids []string
	for _, in := range inputs {
		d, err := svc.Start(gctx, in)
		if err != nil || d.Outcome != starter.OutcomeStarted {
			t.Fatalf("start: %+v %v", d, err)
		}
		ids = append(ids, d.WorkflowID)
	}
	// The semaphore's state, sampled while the files are processed.
	semID := semaphore.WorkflowID(workflows.LeaseResource("mlengine"))
	var maxWaiting int
	sample := func(qctx context.Context) (semaphore.State, bool) {
		v, err := c.QueryWorkflow(qctx, semID, "", semaphore.QueryState)
		if err != nil {
			return semaphore.State{}, false
		}
		var st semaphore.State
		return st, v.Get(&st) == nil
	}
	done := make([]bool, len(ids))
	testutil.WaitFor(t, 10*time.Minute, fmt.Sprintf("%d workflows to complete", capFiles), func() bool {
		qctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if st, ok := sample(qctx); ok {
			maxWaiting = max(maxWaiting, len(st.Waiting))
		}
		n := 0
		for i, id := range ids {
			if !done[i] {
				d, err := c.DescribeWorkflowExecution(qctx, id, "")
				done[i] = err == nil && d.WorkflowExecutionInfo.GetCloseTime() != nil
			}
			if done[i] {
				n++
			}
		}
		return n == len(ids)
	})
	took := time.Since(began)

	for _, id := range ids {
		var res workflows.ProcessFileResult
		if err := c.GetWorkflow(context.Background(), id, "").Get(context.Background(), &res); err != nil || res.Outcome != workflows.OutcomeSuccess {
			t.Errorf("%s: %+v %v", id, res, err)
		}
	}
	mlc := mlengineapi.New(mlengineapi.Config{BaseURL: ml.URL, APIKey: secret.String(ml.APIKey)})
	list, err := mlc.ListJobs(context.Background(), mlengineapi.ListOptions{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	st, ok := sample(context.Background())
	if !ok {
		t.Fatal("the semaphore cannot be queried")
	}
	t.Logf("RESULT cap files=%d cap=%d completed_in=%s mlengine_jobs=%d mlengine_max_open=%d semaphore_max_held=%d max_waiting=%d granted=%d released=%d reclaimed=%d",
		capFiles, capLimit, took.Round(100*time.Millisecond), len(list.Jobs), list.MaxOpen, st.Stats.MaxHeld, maxWaiting,
		st.Stats.Granted, st.Stats.Released, st.Stats.Gone+st.Stats.Expired)
	if len(list.Jobs) != capFiles || list.Open != 0 {
		t.Errorf("mlengine has %d jobs (%d open), want %d (0 open)", len(list.Jobs), list.Open, capFiles)
	}
	if list.MaxOpen > capLimit {
		t.Errorf("mlengine saw %d jobs open at once; the cap is %d", list.MaxOpen, capLimit)
	}
	// The cap was exercised: jobs overlapped at mlengine, three leases
	// were held at once while others waited.
	if list.MaxOpen < 2 || st.Stats.MaxHeld != capLimit || maxWaiting == 0 {
		t.Errorf("the cap was not exercised: mlengine max open %d, semaphore max held %d, max waiting %d", list.MaxOpen, st.Stats.MaxHeld, maxWaiting)
	}
	if st.Stats.Granted != capFiles || st.Stats.Released != capFiles || len(st.Held) != 0 || len(st.Waiting) != 0 || st.Limit != capLimit {
		t.Errorf("semaphore %+v", st)
	}
}

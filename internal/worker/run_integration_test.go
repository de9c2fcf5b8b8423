//go:build integration

package worker_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"filesight/internal/codec"
	"filesight/internal/codec/codectest"
	"filesight/internal/localbox/localboxtest"
	"filesight/internal/mlengine/mlenginetest"
	"filesight/internal/replay"
	"filesight/internal/secret"
	"filesight/internal/testenv"
	"filesight/internal/testutil"
	"filesight/internal/worker"
	"filesight/internal/worker/workertest"
	"filesight/workflows"
)

// The real worker program (worker.Run) against the dev server, localbox and
// mlengine: it serves health and metrics, processes work, and on shutdown
// drains an activity that is in flight instead of abandoning it.
func TestWorkerDrainsInFlightActivityOnShutdown(t *testing.T) {
	tm := testenv.StartTemporal(t)
	lb := localboxtest.Start(t)
	ml := mlenginetest.Start(t)

	cfg := workertest.Config(tm, lb, codectest.KeysString(codectest.NewKey(t, "worker-test")), ml.URL, secret.String(ml.APIKey))
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var logs testutil.SyncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	metricsAddr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- worker.Run(ctx, cfg, log, func(addr string) { metricsAddr <- addr }) }()
	var addr string
	select {
	case addr = <-metricsAddr:
	case err := <-done:
		t.Fatalf("worker exited: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("worker did not start")
	}
	if code, _ := get(t, "http://"+addr+"/healthz"); code != http.StatusOK {
		t.Fatalf("healthz %d", code)
	}
	// The SDK reports through our handler as soon as it polls.
	testutil.WaitFor(t, 30*time.Second, "SDK metrics on /metrics", func() bool {
		_, body := get(t, "http://"+addr+"/metrics")
		return strings.Contains(body, "temporal_")
	})

	// The worker's converter, to start workflows and read results.
	kr, _ := cfg.Codec.Keyring()
	c, err := client.Dial(client.Options{HostPort: tm.HostPort, Namespace: tm.Namespace, DataConverter: codec.NewDataConverter(kr, codec.Options{Compress: true})})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// Slow down the "processing" card write by 3 s, then stop the worker
	// while that activity runs.
	setFaults(t, lb, `{"rules":[{"path_prefix":"/2.0/files/","method":"POST","latency_ms":3000,"count":1}]}`)
	f := lb.UploadFile(t, "0", "clip.mp4", []byte("not a real video"))
	id := workflows.WorkflowID(f.ID, f.VersionID)
	_, err = c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue},
		workflows.ProcessFileName, workflows.ProcessFileInput{FileID: f.ID, FileVersionID: f.VersionID})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.TerminateWorkflow(context.Background(), id, "", "test over") }()
	testutil.WaitFor(t, 30*time.Second, "WriteStatus to be running", func() bool {
		d, err := c.DescribeWorkflowExecution(context.Background(), id, "")
		if err != nil {
			return false
		}
		for _, pa := range d.PendingActivities {
			if pa.ActivityType.GetName() == "WriteStatus" && pa.State == enumspb.PENDING_ACTIVITY_STATE_STARTED {
				return true
			}
		}
		return false
	})
	stopAt := time.Now()
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("worker did not stop")
	}
	t.Logf("worker stopped %v after the signal", time.Since(stopAt).Round(time.Millisecond))

	h, err := replay.History(context.Background(), c, id, "")
	if err != nil {
		t.Fatal(err)
	}
	completed := false
	var scheduled int64
	for _, ev := range h.Events {
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.ActivityType.GetName() == "WriteStatus" {
			scheduled = ev.EventId
		}
		if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil && a.ScheduledEventId == scheduled && scheduled != 0 {
			completed = true
		}
		if a := ev.GetActivityTaskFailedEventAttributes(); a != nil && a.ScheduledEventId == scheduled && scheduled != 0 {
			t.Fatalf("the in-flight activity failed on shutdown: %v", a.Failure)
		}
	}
	if !completed {
		t.Fatal("the in-flight WriteStatus did not complete before the worker exited")
	}
	if !strings.Contains(logs.String(), `"msg":"worker stopped"`) || strings.Contains(logs.String(), ml.APIKey) || strings.Contains(logs.String(), lb.ClientSecret.Reveal()) {
		t.Errorf("logs: %s", logs.String())
	}
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func setFaults(t *testing.T, lb *localboxtest.Server, body string) {
	t.Helper()
	if !json.Valid([]byte(body)) {
		t.Fatal("bad faults JSON")
	}
	req, _ := http.NewRequest(http.MethodPut, lb.URL+"/_localbox/faults", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+lb.AdminKey.Reveal())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("faults: HTTP %d", resp.StatusCode)
	}
}

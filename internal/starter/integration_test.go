//go:build integration

package starter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"filesight/internal/box"
	"filesight/internal/secret"
	"filesight/internal/starter"
	"filesight/internal/testenv"
	"filesight/workflows"
)

// realStarter serves the starter's handler on a loopback listener, backed by
// a real Temporal dev server. No worker runs, so started workflows stay open.
func realStarter(t testing.TB) (*testenv.Temporal, *httptest.Server) {
	t.Helper()
	tm := testenv.StartTemporal(t)
	return tm, serveStarter(t, tm.Client)
}

// serveStarter serves a starter handler, with a replay memory of its own,
// over tc on a loopback listener.
func serveStarter(t testing.TB, tc starter.TemporalClient) *httptest.Server {
	t.Helper()
	h, err := starter.NewHandler(starter.HandlerConfig{
		Service:       starter.NewService(tc, starter.Options{SetSearchAttributes: true}),
		BoxVerifier:   box.NewWebhookVerifier(secret.String(primaryKey), secret.String(secondaryKey)),
		ParseBoxEvent: starter.ParseBoxEvent,
		Callbacks:     map[string]starter.CallbackProvider{"mlengine": starter.MLEngineCallbacks(callbackKey, "")},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func postWebhook(hc *http.Client, url string, body []byte) (int, decisionBody, error) {
	req, err := http.NewRequest(http.MethodPost, url+"/webhooks/box", bytes.NewReader(body))
	if err != nil {
		return 0, decisionBody{}, err
	}
	signBox(req.Header, body, time.Now(), primaryKey, secondaryKey)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, decisionBody{}, err
	}
	defer resp.Body.Close()
	var d decisionBody
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &d); err != nil {
		return resp.StatusCode, d, fmt.Errorf("answer %q: %w", raw, err)
	}
	return resp.StatusCode, d, nil
}

func TestConcurrentDuplicateDeliveriesStartOneWorkflow(t *testing.T) {
	tm, srv := realStarter(t)
	ctx := context.Background()
	body := boxEventJSON(t, "ev-dup", "FILE.UPLOADED", "7001", "8001", "talk.mp4", 4096)
	const n = 50
	type answer struct {
		code int
		d    decisionBody
		err  error
	}
	answers := make([]answer, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			code, d, err := postWebhook(srv.Client(), srv.URL, body)
			answers[i] = answer{code, d, err}
		}()
	}
	close(gate)
	wg.Wait()

	started, dup := 0, 0
	runIDs := map[string]bool{}
	for i, a := range answers {
		if a.err != nil {
			t.Fatalf("delivery %d: %v", i, a.err)
		}
		switch {
		case a.code == http.StatusAccepted && a.d.Status == "started":
			started++
		case a.code == http.StatusOK && a.d.Status == "duplicate":
			dup++
		default:
			t.Fatalf("delivery %d: %d %+v", i, a.code, a.d)
		}
		if a.d.WorkflowID != "file-7001-v8001" {
			t.Fatalf("delivery %d: workflow id %q", i, a.d.WorkflowID)
		}
		runIDs[a.d.RunID] = true
	}
	if started != 1 || dup != n-1 || len(runIDs) != 1 {
		t.Fatalf("started=%d duplicates=%d distinct run ids=%d; want 1, %d, 1", started, dup, len(runIDs), n-1)
	}

	// The server agrees: one execution under this ID, with the FileID
	// attribute and the static summary set at start.
	resp, err := tm.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: tm.Namespace, Query: `WorkflowId = "file-7001-v8001"`,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Executions) != 1 {
		t.Fatalf("%d executions with the workflow id, want 1", len(resp.Executions))
	}
	var runID string
	for id := range runIDs {
		runID = id
	}
	desc, err := tm.Client.DescribeWorkflowExecution(ctx, "file-7001-v8001", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := desc.WorkflowExecutionInfo.Execution.RunId; got != runID {
		t.Fatalf("current run %s, answers said %s", got, runID)
	}
	if fa := desc.WorkflowExecutionInfo.SearchAttributes.GetIndexedFields()[workflows.SearchAttrFileID]; fa == nil || !bytes.Contains(fa.Data, []byte("7001")) {
		t.Fatalf("FileID search attribute %v", fa)
	}
	if desc.ExecutionConfig.GetUserMetadata().GetSummary() == nil {
		t.Fatal("no static summary")
	}

	// Box redelivers after the run has closed: still one execution, 200.
	if err := tm.Client.TerminateWorkflow(ctx, "file-7001-v8001", "", "test"); err != nil {
		t.Fatal(err)
	}
	code, d, err := postWebhook(srv.Client(), srv.URL, body)
	if err != nil || code != http.StatusOK || d.Status != "duplicate" || d.RunID != runID {
		t.Fatalf("redelivery after close: %d %+v %v", code, d, err)
	}
}

func TestCallbackSignalsRealWorkflow(t *testing.T) {
	tm, srv := realStarter(t)
	ctx := context.Background()
	body := boxEventJSON(t, "ev-cb", "FILE.UPLOADED", "9001", "9002", "talk.mp4", 1)
	if code, d, err := postWebhook(srv.Client(), srv.URL, body); err != nil || code != http.StatusAccepted {
		t.Fatalf("start: %d %+v %v", code, d, err)
	}
	send := func(wf string) int {
		cb, _ := json.Marshal(map[string]any{"job_id": "job-77", "status": "succeeded", "labels": map[string]string{"workflow_id": wf}})
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/callbacks/mlengine", bytes.NewReader(cb))
		signCallback(req.Header, cb, time.Now(), callbackKey)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send("file-9001-v9002"); code != 200 {
		t.Fatalf("callback: %d", code)
	}
	if code := send("file-0-v0"); code != 404 {
		t.Fatalf("callback for an unknown workflow: %d", code)
	}
	// The signal is in the workflow's history, decoded with the codec.
	got := callbackSignals(ctx, t, tm, "file-9001-v9002")
	want := []workflows.JobCallback{{Provider: "mlengine", JobID: "job-77", Status: "succeeded"}}
	if !slices.Equal(got, want) {
		t.Fatalf("signals %+v, want %+v", got, want)
	}
}

// callbackSignals reads the job-callback signals in a workflow's history.
func callbackSignals(ctx context.Context, t *testing.T, tm *testenv.Temporal, workflowID string) []workflows.JobCallback {
	t.Helper()
	it := tm.Client.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var got []workflows.JobCallback
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetWorkflowExecutionSignaledEventAttributes(); a != nil && a.SignalName == workflows.SignalJobCallback {
			var cb workflows.JobCallback
			if err := tm.DataConverter.FromPayloads(a.Input, &cb); err != nil {
				t.Fatal(err)
			}
			got = append(got, cb)
		}
	}
	return got
}

// TestCallbackReplayAfterRestart replays a recorded callback to the same
// starter (its memory answers "duplicate") and to a second one that has
// never seen it, as after a restart or on another replica: the signal's
// request ID, derived from the delivery, lets Temporal drop it. The
// workflow's history holds the callback once.
func TestCallbackReplayAfterRestart(t *testing.T) {
	tm := testenv.StartTemporal(t)
	ctx := context.Background()
	tc, err := client.Dial(starter.WithSignalRequestIDs(client.Options{HostPort: tm.HostPort, Namespace: tm.Namespace, DataConverter: tm.DataConverter}))
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	first, restarted := serveStarter(t, tc), serveStarter(t, tc)
	body := boxEventJSON(t, "ev-replay", "FILE.UPLOADED", "9101", "9102", "talk.mp4", 1)
	if code, d, err := postWebhook(first.Client(), first.URL, body); err != nil || code != http.StatusAccepted {
		t.Fatalf("start: %d %+v %v", code, d, err)
	}
	cb, _ := json.Marshal(map[string]any{"job_id": "job-88", "status": "succeeded", "labels": map[string]string{"workflow_id": "file-9101-v9102"}})
	recorded := http.Header{}
	signCallbackID(recorded, cb, time.Now(), callbackKey, "delivery-88")
	send := func(srv *httptest.Server) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/callbacks/mlengine", bytes.NewReader(cb))
		req.Header = recorded.Clone()
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&a)
		return resp.StatusCode, a["status"]
	}
	for i, tc := range []struct {
		srv    *httptest.Server
		status string
	}{{first, "delivered"}, {first, "duplicate"}, {restarted, "delivered"}, {restarted, "duplicate"}} {
		if code, status := send(tc.srv); code != 200 || status != tc.status {
			t.Fatalf("delivery %d: %d %q, want 200 %q", i, code, status, tc.status)
		}
	}
	want := []workflows.JobCallback{{Provider: "mlengine", JobID: "job-88", Status: "succeeded"}}
	if got := callbackSignals(ctx, t, tm, "file-9101-v9102"); !slices.Equal(got, want) {
		t.Fatalf("signals %+v, want the callback once", got)
	}
}

// BenchmarkWebhookLoopback measures a webhook's round trip on loopback,
// through signature verification, parsing and a real StartWorkflowExecution
// on the dev server; it reports p50/p99 latency in ms.
//
//	go test -tags integration -run '^$' -bench WebhookLoopback -benchtime 300x ./internal/starter/
func BenchmarkWebhookLoopback(b *testing.B) {
	_, srv := realStarter(b)
	hc := srv.Client()
	// Warm up connections and the server.
	for i := range 10 {
		if code, _, err := postWebhook(hc, srv.URL, boxEventJSON(b, "warm", "FILE.UPLOADED", fmt.Sprint("w", i), "1", "a.mp4", 1)); err != nil || code != 202 {
			b.Fatalf("warm-up: %d %v", code, err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		body := boxEventJSON(b, fmt.Sprint("ev", i), "FILE.UPLOADED", fmt.Sprint("b", i), "1", "a.mp4", 1)
		t0 := time.Now()
		code, _, err := postWebhook(hc, srv.URL, body)
		lat = append(lat, time.Since(t0))
		if err != nil || code != 202 {
			b.Fatalf("request %d: %d %v", i, code, err)
		}
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	pct := func(p float64) float64 {
		i := int(float64(len(lat)-1) * p)
		return float64(lat[i].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

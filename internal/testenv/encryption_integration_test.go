//go:build integration

package testenv

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"filesight/internal/codec"
	"filesight/internal/codec/codectest"
	"filesight/internal/testutil"
	"filesight/workflows"
)

func TestSearchAttributesRegistered(t *testing.T) {
	tm := StartTemporal(t)
	resp, err := tm.Client.OperatorService().ListSearchAttributes(context.Background(), &operatorservice.ListSearchAttributesRequest{Namespace: tm.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{workflows.SearchAttrFileID, workflows.SearchAttrMediaKind, workflows.SearchAttrStage} {
		if typ, ok := resp.GetCustomAttributes()[name]; !ok || typ != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			t.Errorf("search attribute %s: registered=%v type=%v", name, ok, typ)
		}
	}
}

type echoInput struct {
	FileID string
	Marker string
}

func echoWorkflow(ctx workflow.Context, in echoInput) (string, error) {
	if in.FileID == "fail" {
		return "", errors.New("failed on " + in.Marker)
	}
	return "seen " + in.Marker, nil
}

// startEcho starts a worker for echoWorkflow on queue (stopped when the test
// ends) and starts the workflow with id and in through the codec client.
func startEcho(ctx context.Context, t *testing.T, tm *Temporal, queue, id string, in echoInput) client.WorkflowRun {
	t.Helper()
	w := worker.New(tm.Client, queue, worker.Options{})
	w.RegisterWorkflow(echoWorkflow)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	run, err := tm.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, echoWorkflow, in)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// storedHistory reads run's history as the server stores it, through a
// client without the codec.
func storedHistory(ctx context.Context, t *testing.T, tm *Temporal, run client.WorkflowRun, filter enumspb.HistoryEventFilterType) []*historypb.HistoryEvent {
	t.Helper()
	raw := tm.NewClient(t, converter.GetDefaultDataConverter())
	it := raw.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, filter)
	var events []*historypb.HistoryEvent
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	return events
}

// TestFailureMessagesStoredEncrypted: Temporal keeps failure messages in
// plain text unless the failure converter encodes them; ours does.
func TestFailureMessagesStoredEncrypted(t *testing.T) {
	tm := StartTemporal(t)
	const marker = "failure-marker-91c2"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := startEcho(ctx, t, tm, "testenv-failure", "failure-check", echoInput{FileID: "fail", Marker: marker})
	if err := run.Get(ctx, nil); err == nil || !strings.Contains(err.Error(), marker) {
		t.Fatalf("the codec client must see the decoded failure, got %v", err)
	}
	found := false
	for _, ev := range storedHistory(ctx, t, tm, run, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT) {
		if a := ev.GetWorkflowExecutionFailedEventAttributes(); a != nil {
			found = true
			if strings.Contains(a.GetFailure().GetMessage(), marker) || a.GetFailure().GetEncodedAttributes() == nil {
				t.Fatalf("failure stored in plain text: %q", a.GetFailure().GetMessage())
			}
		}
	}
	if !found {
		t.Fatal("no failed event")
	}
}

// TestPayloadsStoredEncrypted runs a workflow through the real dev server and
// reads its history back without the codec: every payload must be
// binary/encrypted and hide the plaintext; the codec server decodes them.
func TestPayloadsStoredEncrypted(t *testing.T) {
	tm := StartTemporal(t)
	const marker = "plaintext-marker-7f3a"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := startEcho(ctx, t, tm, "testenv-encryption", "encryption-check", echoInput{FileID: "1", Marker: marker})
	var out string
	if err := run.Get(ctx, &out); err != nil || out != "seen "+marker {
		t.Fatalf("workflow result %q, %v", out, err)
	}

	var payloads []*commonpb.Payload
	for _, ev := range storedHistory(ctx, t, tm, run, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT) {
		if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			payloads = append(payloads, a.GetInput().GetPayloads()...)
		}
		if a := ev.GetWorkflowExecutionCompletedEventAttributes(); a != nil {
			payloads = append(payloads, a.GetResult().GetPayloads()...)
		}
	}
	if len(payloads) != 2 {
		t.Fatalf("want input and result payloads, got %d", len(payloads))
	}
	for _, p := range payloads {
		if enc := string(p.GetMetadata()["encoding"]); enc != codec.EncodingEncrypted {
			t.Fatalf("payload stored with encoding %q", enc)
		}
		if string(p.GetMetadata()[codec.MetadataKeyID]) != tm.Keyring.ActiveKeyID() {
			t.Fatalf("key id %q", p.GetMetadata()[codec.MetadataKeyID])
		}
		if bytes.Contains(p.GetData(), []byte(marker)) {
			t.Fatal("plaintext visible on the server")
		}
	}

	// Decode the server's payloads through the codec server's HTTP endpoint.
	const token = "integration-codec-token"
	srv := httptest.NewServer(codec.NewHTTPHandler(codec.Codecs(tm.Keyring, codec.Options{Compress: true}), codec.HTTPOptions{Token: token}))
	defer srv.Close()
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: payloads})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/decode", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	decoded, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("codec server: %d %s", resp.StatusCode, decoded)
	}
	var got commonpb.Payloads
	if err := protojson.Unmarshal(decoded, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Payloads) != 2 || !strings.Contains(string(got.Payloads[0].Data), marker) || !strings.Contains(string(got.Payloads[1].Data), "seen "+marker) {
		t.Fatalf("decoded: %s", decoded)
	}
}

const signalNote = "note"

// notesWorkflow collects the string signals it receives until one says
// "stop", and answers the "notes" query with them.
func notesWorkflow(ctx workflow.Context) ([]string, error) {
	var notes []string
	if err := workflow.SetQueryHandler(ctx, "notes", func() ([]string, error) { return notes, nil }); err != nil {
		return nil, err
	}
	ch := workflow.GetSignalChannel(ctx, signalNote)
	for {
		var s string
		ch.Receive(ctx, &s)
		if s == "stop" {
			return notes, nil
		}
		notes = append(notes, s)
	}
}

// TestPlainZlibSignalRefused sends a running workflow a signal whose
// payload is a 2 MB plain zlib stream that inflates to 1.9 GiB, as anyone
// who can reach the Temporal frontend can, without the codec key. The
// worker's data converter refuses it before inflating anything (the SDK
// drops a signal it cannot decode and logs why), the workflow goes on with
// the next genuine signal, and the worker's memory stays bounded.
func TestPlainZlibSignalRefused(t *testing.T) {
	tm := StartTemporal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var logs testutil.SyncBuffer
	wc, err := client.Dial(client.Options{HostPort: tm.HostPort, Namespace: tm.Namespace, DataConverter: tm.DataConverter,
		Logger: tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})))})
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	w := worker.New(wc, "testenv-bomb", worker.Options{})
	w.RegisterWorkflow(notesWorkflow)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	run, err := tm.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "bomb-check", TaskQueue: "testenv-bomb"}, notesWorkflow)
	if err != nil {
		t.Fatal(err)
	}
	notes := func() []string {
		v, err := tm.Client.QueryWorkflow(ctx, run.GetID(), run.GetRunID(), "notes")
		var out []string
		if err == nil {
			err = v.Get(&out)
		}
		if err != nil {
			return []string{"query failed: " + err.Error()}
		}
		return out
	}
	testutil.WaitFor(t, time.Minute, "the workflow to answer queries", func() bool { return len(notes()) == 0 })

	bomb := codectest.ZlibBomb(t, 1900<<20)
	mem := testutil.MeasureMemory(func() {
		if _, err := tm.Client.WorkflowService().SignalWorkflowExecution(ctx, &workflowservice.SignalWorkflowExecutionRequest{
			Namespace: tm.Namespace, WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: run.GetID()},
			SignalName: signalNote, Input: &commonpb.Payloads{Payloads: []*commonpb.Payload{bomb}}, Identity: "attacker",
		}); err != nil {
			t.Errorf("sending the plain signal: %v", err)
			return
		}
		if err := tm.Client.SignalWorkflow(ctx, run.GetID(), "", signalNote, "genuine"); err != nil {
			t.Errorf("sending the genuine signal: %v", err)
			return
		}
		testutil.WaitFor(t, time.Minute, "the genuine signal to be handled", func() bool {
			n := notes()
			return len(n) == 1 && n[0] == "genuine"
		})
	})
	t.Logf("a %d-byte plain zlib signal inflating to 1.9 GiB, then a genuine one: %s", len(bomb.Data), mem)
	if mem.Allocated > 128<<20 {
		t.Errorf("the worker allocated %d bytes while refusing the bomb, want at most 128 MiB", mem.Allocated)
	}
	if got := logs.String(); !strings.Contains(got, "Corrupted signal") || !strings.Contains(got, "refusing a payload that is not encrypted") {
		t.Errorf("the worker's log does not say why the signal was dropped:\n%s", got)
	}
	if err := tm.Client.SignalWorkflow(ctx, run.GetID(), "", signalNote, "stop"); err != nil {
		t.Fatal(err)
	}
	var out []string
	if err := run.Get(ctx, &out); err != nil || len(out) != 1 || out[0] != "genuine" {
		t.Fatalf("workflow result %q, %v", out, err)
	}
}

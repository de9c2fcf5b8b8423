//go:build integration

package replayer

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"filesight/internal/codec"
	"filesight/internal/codec/codectest"
	"filesight/internal/config"
	"filesight/internal/localbox"
	"filesight/internal/localbox/localboxtest"
	"filesight/internal/temporalclient"
	"filesight/internal/testenv"
	"filesight/internal/testutil"
	"filesight/internal/worker"
	"filesight/internal/worker/workertest"
	"filesight/workflows"
)

// A ProcessFile run fails for real (the worker program over localbox, which
// answers 403 to the file's description) and its failure is encrypted in
// history. The pinned Temporal CLI, given the codec server, still shows
// "Encoded failure" (the limitation docs/workflow.md describes);
// `replayer describe` shows the decoded failure, its causes and the failed
// activity, and no secret.
func TestDescribeDecodesAFailedRun(t *testing.T) {
	tm := testenv.StartTemporal(t)
	lb := localboxtest.Start(t)
	key := codectest.NewKey(t, "describe-test")
	keys := codectest.KeysString(key)
	kr := codectest.NewKeyring(t, key)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	cfg := workertest.Config(tm, lb, keys, "http://127.0.0.1:1", "never-used-engine-key-0123456789abcdef")
	cfg.LogLevel = "warn"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var workerLog testutil.SyncBuffer
	done := make(chan error, 1)
	go func() { done <- worker.Run(ctx, cfg, slog.New(slog.NewJSONHandler(&workerLog, nil)), nil) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})

	// The file's description fails with 403 (a permanent error): the run
	// fails in stage "describing" with DescribeFile's error as its cause.
	f := lb.UploadFile(t, "0", "clip.mp4", []byte("not a real video"))
	lb.SetFaults(t, localbox.FaultRule{PathPrefix: "/2.0/files/" + f.ID, Method: "GET", ErrorRate: 1, ErrorStatus: 403})
	dc := codec.NewDataConverter(kr, codec.Options{Compress: true})
	copts, err := temporalclient.Config{Address: tm.HostPort, Namespace: tm.Namespace}.ClientOptions(nil, dc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(copts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := workflows.WorkflowID(f.ID, f.VersionID)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue},
		workflows.ProcessFileName, workflows.ProcessFileInput{FileID: f.ID, FileVersionID: f.VersionID, FileName: "clip.mp4", Source: "manual"})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	runErr := run.Get(wctx, nil)
	if runErr == nil || !strings.Contains(runErr.Error(), "describing file "+f.ID) {
		t.Fatalf("the run should fail describing the file, got %v\nworker log:\n%s", runErr, workerLog.String())
	}

	// The pinned CLI, with the codec server, decodes payloads but not
	// failure messages: its text output says "Encoded failure"; its JSON
	// output shows the decoded message as the payload under
	// encodedAttributes.
	const codecToken = "describe-test-codec-token-0123456789"
	codecSrv := httptest.NewServer(codec.NewHTTPHandler(codec.Codecs(kr, codec.Options{Compress: true}), codec.HTTPOptions{Token: codecToken}))
	defer codecSrv.Close()
	temporalCLI := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(wctx, testenv.TemporalCLI(t), append(args, "--address", tm.HostPort, "--namespace", tm.Namespace,
			"--codec-endpoint", codecSrv.URL, "--codec-auth", "Bearer "+codecToken)...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("temporal %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := temporalCLI("workflow", "describe", "--workflow-id", id); !strings.Contains(out, "Encoded failure") || strings.Contains(out, "describing file "+f.ID) {
		t.Errorf("the pinned CLI's text output now decodes failures (update docs/workflow.md): %s", out)
	}
	if out := temporalCLI("workflow", "describe", "-o", "json", "--workflow-id", id); !strings.Contains(out, `"encodedAttributes": {`) ||
		!strings.Contains(out, `"message": "describing file `+f.ID) {
		t.Errorf("the pinned CLI's JSON output no longer shows decoded failure attributes (update docs/workflow.md): %s", out)
	}

	// replayer describe decodes them with the codec keys.
	env := config.MapLookuper(map[string]string{
		"TEMPORAL_ADDRESS": tm.HostPort, "TEMPORAL_NAMESPACE": tm.Namespace, "FILESIGHT_CODEC_KEYS": keys.Reveal(),
	})
	var stdout, stderr strings.Builder
	if code := Main(ctx, []string{"describe", id}, &stdout, &stderr, env); code != 0 {
		t.Fatalf("replayer describe: exit %d: %s%s", code, stdout.String(), stderr.String())
	}
	got := stdout.String()
	t.Logf("replayer describe %s:\n%s", id, got)
	for _, want := range []string{
		"workflow    " + id,
		"status      Failed at ",
		"input       file " + f.ID + " version " + f.VersionID + " (clip.mp4), started by manual",
		"stage       failed",
		"failure     describing file " + f.ID + ": ",
		"caused by: ", "[activity DescribeFile]",
		"[application error Forbidden, non-retryable]",
		"failed activities:",
		"  DescribeFile (attempt 1) ",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("replayer describe output lacks %q", want)
		}
	}
	for _, secret := range []string{"Encoded failure", keys.Reveal(), lb.ClientSecret.Reveal(), lb.AdminKey.Reveal()} {
		if strings.Contains(got, secret) {
			t.Errorf("replayer describe output shows %q", secret)
		}
	}

	// With keys that cannot decrypt the run, it says so instead of failing.
	other := codectest.KeysString(codectest.NewKey(t, "other"))
	stdout.Reset()
	stderr.Reset()
	env = config.MapLookuper(map[string]string{
		"TEMPORAL_ADDRESS": tm.HostPort, "TEMPORAL_NAMESPACE": tm.Namespace, "FILESIGHT_CODEC_KEYS": other.Reveal(),
	})
	if code := Main(ctx, []string{"describe", id}, &stdout, &stderr, env); code != 0 || !strings.Contains(stdout.String(), "cannot decode the failure message") {
		t.Errorf("describe with another key: exit %d: %s%s", code, stdout.String(), stderr.String())
	}

	// An unknown workflow is a failure (1), a missing ID a usage error (2).
	stderr.Reset()
	if code := Main(ctx, []string{"describe", "file-none-v1"}, &stdout, &stderr, env); code != 1 || !strings.Contains(stderr.String(), "file-none-v1") {
		t.Errorf("unknown workflow: exit %d: %s", code, stderr.String())
	}
	if code := Main(ctx, []string{"describe"}, &stdout, &stderr, env); code != 2 {
		t.Errorf("no workflow ID: exit %d", code)
	}
}

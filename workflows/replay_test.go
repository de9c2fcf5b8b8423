package workflows_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"filesight/internal/codec"
	"filesight/internal/provider"
	"filesight/internal/replay"
	"filesight/internal/secret"
	"filesight/workflows"
)

// testKeys reads the committed, test-only codec key the recorded histories
// are encrypted with (see testdata/README.md).
func testKeys(t testing.TB) []codec.Key {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "TEST-ONLY-codec-key.txt"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := codec.ParseKeys(secret.String(strings.TrimSpace(string(b))))
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// The histories in testdata were recorded from real runs on the Temporal
// dev server (the integration test, FILESIGHT_RECORD_HISTORIES=1) and are
// encrypted with the production codec under a committed, test-only key.
func productionConverter(t *testing.T) converter.DataConverter {
	t.Helper()
	keys := testKeys(t)
	// Histories exported from another server (make replay-export) are
	// encrypted with that server's keys: pass them to replay such files
	// locally. Committed histories use the test key only.
	if extra := os.Getenv("FILESIGHT_REPLAY_CODEC_KEYS"); extra != "" {
		more, err := codec.ParseKeys(secret.String(extra))
		if err != nil {
			t.Fatalf("FILESIGHT_REPLAY_CODEC_KEYS: %v", err)
		}
		keys = append(more, keys...)
	}
	kr, err := codec.NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return codec.NewDataConverter(kr, codec.Options{Compress: true})
}

func histories(t *testing.T) []string {
	t.Helper()
	paths, err := replay.Histories("testdata")
	if err != nil {
		t.Fatal(err)
	}
	// The runs recorded before the provider plan (changeProviderPlan) are
	// kept beside those recorded since: both must keep replaying.
	var want []string
	for _, name := range []string{"success", "partial-failure", "cancelled", "job-timeout", "resubmission"} {
		want = append(want, name, name+".before-provider-plan")
	}
	want = append(want, "capped")
	for _, want := range want {
		found := false
		for _, p := range paths {
			found = found || filepath.Base(p) == want+".json"
		}
		if !found {
			t.Errorf("testdata/%s.json is missing (record it with FILESIGHT_RECORD_HISTORIES=1 go test -tags integration -run TestIntegration ./workflows/)", want)
		}
	}
	return paths
}

func TestReplayRecordedHistories(t *testing.T) {
	r, err := replay.NewReplayer(productionConverter(t))
	if err != nil {
		t.Fatal(err)
	}
	paths := histories(t)
	for _, res := range replay.ReplayFiles(r, nil, paths...) {
		if res.Err != nil {
			t.Errorf("%s does not replay: %v", res.Name, res.Err)
		}
	}
}

// The replay test is only worth something if it catches a change that
// would break running workflows. Adding an activity in front of the
// existing ones, unguarded, must fail; the same change behind
// workflow.GetVersion must replay.
func TestReplayCatchesUnversionedChange(t *testing.T) {
	dc := productionConverter(t)
	paths := histories(t)

	extraStep := func(ctx workflow.Context) error {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
		return workflow.ExecuteActivity(ctx, "GetJobStatus", provider.JobRef{Provider: "mlengine", ID: "x"}).Get(ctx, nil)
	}
	unversioned := func(ctx workflow.Context, in workflows.ProcessFileInput) (*workflows.ProcessFileResult, error) {
		if err := extraStep(ctx); err != nil {
			return nil, err
		}
		return workflows.ProcessFile(ctx, in)
	}
	versioned := func(ctx workflow.Context, in workflows.ProcessFileInput) (*workflows.ProcessFileResult, error) {
		if workflow.GetVersion(ctx, "extra-status-read", workflow.DefaultVersion, 1) == 1 {
			if err := extraStep(ctx); err != nil {
				return nil, err
			}
		}
		return workflows.ProcessFile(ctx, in)
	}
	replayWith := func(fn any) []replay.Result {
		r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: dc, DisableDeadlockDetection: true})
		if err != nil {
			t.Fatal(err)
		}
		r.RegisterWorkflowWithOptions(fn, workflow.RegisterOptions{Name: workflows.ProcessFileName})
		return replay.ReplayFiles(r, nil, paths...)
	}
	for _, res := range replayWith(unversioned) {
		if res.Err == nil {
			t.Errorf("%s replayed although an activity was added without GetVersion", res.Name)
		} else if msg := res.Err.Error(); !strings.Contains(msg, "TMPRL1100") && !strings.Contains(strings.ToLower(msg), "nondetermin") {
			// TMPRL1100 is the SDK's code for a non-determinism error.
			t.Errorf("%s failed for another reason than non-determinism: %v", res.Name, res.Err)
		}
	}
	for _, res := range replayWith(versioned) {
		if res.Err != nil {
			t.Errorf("%s: the change behind GetVersion should replay: %v", res.Name, res.Err)
		}
	}
}

// Replaying is a check of determinism, not of speed: on a busy machine (CI
// with every test package running at once) a workflow task can take more
// than the SDK's one-second deadlock detection, which then failed replays
// that were fine ("TMPRL1101 Potential deadlock detected"). The replayer
// must not time workflow tasks; here a task is made to take 1.2 s.
func TestReplayIsNotTimed(t *testing.T) {
	r, err := replay.NewReplayer(productionConverter(t))
	if err != nil {
		t.Fatal(err)
	}
	slow := func(ctx workflow.Context, in workflows.ProcessFileInput) (*workflows.ProcessFileResult, error) {
		if !workflow.IsReplaying(ctx) {
			t.Error("a replayed workflow is not replaying")
		}
		time.Sleep(1200 * time.Millisecond) // a starved CPU, not workflow logic
		return workflows.ProcessFile(ctx, in)
	}
	r.RegisterWorkflowWithOptions(slow, workflow.RegisterOptions{Name: workflows.ProcessFileName, DisableAlreadyRegisteredCheck: true})
	for _, res := range replay.ReplayFiles(r, nil, filepath.Join("testdata", "success.json")) {
		if res.Err != nil {
			t.Errorf("%s: %v", res.Name, res.Err)
		}
	}
}

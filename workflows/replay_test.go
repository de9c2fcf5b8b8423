package workflows_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"filesight/internal/codec"
	"filesight/internal/provider"
	"filesight/internal/replay"
	"filesight/internal/secret"
	"filesight/internal/tokenseal"
	"filesight/internal/tokenseal/tokensealtest"
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

// recorded are the corpus' current histories, recorded with sealed tokens,
// the provider plan (changeProviderPlan) and search attributes upserted at
// published stages only (changeStageUpserts).
var recorded = []string{"success", "partial-failure", "cancelled", "job-timeout", "resubmission", "capped"}

// beforeStageUpserts are the same runs recorded before changeStageUpserts
// (every stage upserted as it came): kept, so that runs started then keep
// replaying.
func beforeStageUpserts() []string {
	out := make([]string, len(recorded))
	for i, n := range recorded {
		out[i] = n + ".before-stage-upserts"
	}
	return out
}

// beforePlan are the runs of the corpus that were also recorded before
// the provider plan (capped needs it, so it has no older recording).
var beforePlan = []string{"success", "partial-failure", "cancelled", "job-timeout", "resubmission"}

// sealedBeforePlanRecordings are those runs recorded with sealed tokens
// but before the provider plan: kept, so that runs started then keep
// replaying.
func sealedBeforePlanRecordings() []string {
	out := make([]string, len(beforePlan))
	for i, n := range beforePlan {
		out[i] = n + ".before-provider-plan"
	}
	return out
}

// clearTokenRecordings are the same runs recorded before tokens were
// sealed (and before the provider plan), when the token values travelled
// in clear ("access_token"): kept, so that the workflow and the activities
// keep accepting runs started then.
func clearTokenRecordings() []string {
	out := make([]string, len(beforePlan))
	for i, n := range beforePlan {
		out[i] = n + "-clear-tokens"
	}
	return out
}

func histories(t *testing.T) []string {
	t.Helper()
	paths, err := replay.Histories("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range slices.Concat(recorded, beforeStageUpserts(), sealedBeforePlanRecordings(), clearTokenRecordings()) {
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

// readHistory reads a history file in the format of `temporal workflow
// show -o json`.
func readHistory(t *testing.T, path string) *historypb.History {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return h
}

// decodedPayloads decodes every payload of a recorded history with the
// codec keys alone, as the Temporal UI, the CLI or the codec server would.
func decodedPayloads(t *testing.T, path string) []byte {
	t.Helper()
	h := readHistory(t, path)
	payloads, err := tokensealtest.HistoryPayloads(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := codec.NewKeyring(testKeys(t)...)
	if err != nil {
		t.Fatal(err)
	}
	// As the codec server decodes: what is encrypted, and plain payloads
	// (search attributes, Temporal's own details) as they are.
	for _, c := range codec.Codecs(kr, codec.Options{Compress: true, Plain: codec.ReturnPlain}) {
		if payloads, err = c.Decode(payloads); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	var b bytes.Buffer
	for _, p := range payloads {
		b.Write(p.GetData())
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// The current corpus carries tokens sealed only (the integration test that
// recorded it checked, against every token localbox issued, that none is
// readable); the older one carries them in clear, so the replay test
// covers both.
func TestRecordedHistoriesCarrySealedTokens(t *testing.T) {
	for _, name := range slices.Concat(recorded, beforeStageUpserts(), sealedBeforePlanRecordings()) {
		data := decodedPayloads(t, filepath.Join("testdata", name+".json"))
		if bytes.Contains(data, []byte(`"access_token"`)) || !bytes.Contains(data, []byte(`"sealed":"`+tokenseal.Prefix)) {
			t.Errorf("%s.json: tokens are not sealed", name)
		}
	}
	for _, name := range clearTokenRecordings() {
		data := decodedPayloads(t, filepath.Join("testdata", name+".json"))
		if !bytes.Contains(data, []byte(`"access_token":"`)) || bytes.Contains(data, []byte(`"sealed"`)) {
			t.Errorf("%s.json: not a recording with tokens in clear", name)
		}
	}
}

// The corpus covers both sides of changeStageUpserts: the current
// recordings carry its version marker and upsert Stage at most three
// times (start, processing, end), each upsert a single event; the older
// ones have no marker and upsert every stage.
func TestRecordedHistoriesCoverStageUpserts(t *testing.T) {
	for _, tc := range []struct {
		names        []string
		marker       bool
		minUp, maxUp int // upserts that set Stage
	}{
		{recorded, true, 1, 3},
		{beforeStageUpserts(), false, 5, 100},
	} {
		for _, name := range tc.names {
			marker, stageUpserts := stageUpsertsOf(t, filepath.Join("testdata", name+".json"))
			if marker != tc.marker {
				t.Errorf("%s.json: version marker stage-upserts-at-transitions present = %v, want %v", name, marker, tc.marker)
			}
			if stageUpserts < tc.minUp || stageUpserts > tc.maxUp {
				t.Errorf("%s.json: %d upserts of Stage, want %d–%d", name, stageUpserts, tc.minUp, tc.maxUp)
			}
		}
	}
}

// stageUpsertsOf reads a recorded history: whether it recorded the change
// stage-upserts-at-transitions, and how many upserts set Stage.
func stageUpsertsOf(t *testing.T, path string) (marker bool, stageUpserts int) {
	t.Helper()
	h := readHistory(t, path)
	for _, e := range h.GetEvents() {
		// The marker's details are encrypted like every payload; the SDK
		// also upserts the change in TemporalChangeVersion, which is not.
		if u := e.GetUpsertWorkflowSearchAttributesEventAttributes(); u != nil {
			fields := u.GetSearchAttributes().GetIndexedFields()
			if _, ok := fields[workflows.SearchAttrStage]; ok {
				stageUpserts++
			}
			marker = marker || bytes.Contains(fields["TemporalChangeVersion"].GetData(), []byte(`"stage-upserts-at-transitions-`))
		}
	}
	return marker, stageUpserts
}

//go:build cluster

// The cluster test (make test-cluster) runs the whole system on the
// production-shaped cluster and takes pieces of it away while it works.
// It needs the cluster tools (make cluster-tools), PostgreSQL (make
// cluster-deps) and the analyzers' Debian packages (make deps).
package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"filesight/internal/box"
	"filesight/internal/cluster"
	"filesight/internal/devstack"
	"filesight/internal/localbox"
	"filesight/internal/mediatest"
	"filesight/internal/provider"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/samplemedia"
	"filesight/internal/secret"
	"filesight/internal/testenv"
	"filesight/internal/testutil"
	"filesight/workflows"
	"filesight/workflows/semaphore"
)

const (
	files = 50
	// killAfter is how many workflows complete before the kills: the
	// rest are in flight or not yet started.
	killAfter = 10
	// maxOpenJobs caps mlengine's jobs in flight across both workers
	// (FILESIGHT_PROVIDER_MAX_OPEN_JOBS): the cap must hold through the
	// kills.
	maxOpenJobs = 3
)

// TestClusterSurvivesKills uploads 50 files into localbox's inbox (each
// upload's signed webhook starts a workflow through the starter); once 10
// have completed it SIGKILLs worker-1 and the history service, restarts
// the history service, and lets worker-2 finish. Then every file must have
// exactly one final success card, mlengine must have seen exactly one job
// per workflow, job and attempt, no downscoped token may be live, and
// visibility queries by FileID, Stage and MediaKind must answer correctly.
// mlengine is capped at 3 jobs in flight across both workers: it must
// never have seen more open at once, and the cap's semaphore must have
// granted and taken back one lease per job.
func TestClusterSurvivesKills(t *testing.T) {
	mediatest.Require(t)
	began := time.Now()
	root := testenv.ModuleRoot(t)
	binDir := buildPrograms(t, root)

	dataDir := t.TempDir()
	base := freePortBlock(t)
	seed := fmt.Sprintf("CLUSTER_PORT_BASE=%d\nLOG_LEVEL=warn\nFILESIGHT_PROVIDER_MAX_OPEN_JOBS=mlengine=%d\n", base, maxOpenJobs)
	if err := os.WriteFile(filepath.Join(dataDir, "dev.env"), []byte(seed), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	var out testutil.SyncBuffer
	startBegan := time.Now()
	s, err := devstack.Start(ctx, devstack.Options{Mode: devstack.ModeCluster, DataDir: dataDir, BinDir: binDir, Workers: 2, NoSample: true, Out: &out})
	if err != nil {
		t.Fatalf("starting the cluster: %v\noutput:\n%s", err, tail(out.String(), 8000))
	}
	startTook := time.Since(startBegan)
	defer func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping: %v", err)
		}
		if t.Failed() {
			t.Logf("output:\n%s", tail(out.String(), 12000))
		}
	}()
	tc, bc, env := s.Temporal(), s.Box(), s.Env()

	clip, err := samplemedia.GenerateAudio(ctx, t.TempDir(), "Filesight runs on a Temporal cluster.\nEvery file gets a transcript and keywords.")
	if err != nil {
		t.Fatal(err)
	}
	folder, _ := env.Get("FILESIGHT_INBOX_FOLDER_ID")
	uploadBegan := time.Now()
	var uploaded []*box.File
	for i := range files {
		f, err := devstack.Upload(ctx, bc, folder, clip, fmt.Sprintf("cluster-%02d.m4a", i))
		if err != nil {
			t.Fatal(err)
		}
		uploaded = append(uploaded, f)
	}
	uploadTook := time.Since(uploadBegan)

	// Progress comes from visibility, once a second (one query).
	completed := func() int {
		n, err := count(ctx, tc, `WorkflowType = "ProcessFile" AND ExecutionStatus = "Completed"`)
		if err != nil {
			return -1
		}
		return n
	}
	alive := func() {
		if err := s.Err(); err != nil {
			t.Fatalf("the stack failed: %v", err)
		}
	}
	testutil.WaitFor(t, 10*time.Minute, fmt.Sprintf("%d completed workflows", killAfter), throttled(time.Second, func() bool {
		alive()
		return completed() >= killAfter
	}))
	doneAtKill := completed()
	running, _ := count(ctx, tc, `WorkflowType = "ProcessFile" AND ExecutionStatus = "Running"`)
	killedAt := time.Now()
	if err := s.Kill("worker-1"); err != nil {
		t.Fatal(err)
	}
	history := cluster.History.ProcessName()
	if err := s.Kill(history); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(history); err != nil {
		t.Fatalf("restarting the history service: %v", err)
	}
	historyBack := time.Since(killedAt)

	var firstAfterKill time.Duration
	testutil.WaitFor(t, 15*time.Minute, fmt.Sprintf("%d completed workflows", files), throttled(time.Second, func() bool {
		alive()
		n := completed()
		if n > doneAtKill && firstAfterKill == 0 {
			firstAfterKill = time.Since(killedAt)
		}
		return n >= files
	}))
	allDone := time.Since(uploadBegan)

	// Every workflow: completed with outcome success, every token revoked.
	ids := map[string]*box.File{}
	succeeded := 0
	for _, f := range uploaded {
		id := workflows.WorkflowID(f.ID, f.VersionID())
		ids[id] = f
		var res workflows.ProcessFileResult
		if err := tc.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
			t.Errorf("workflow %s: %v", id, err)
			continue
		}
		if res.Outcome != workflows.OutcomeSuccess || res.TokensIssued == 0 || res.TokensIssued != res.TokensRevoked {
			t.Errorf("workflow %s: outcome %s (%s), %d tokens issued, %d revoked", id, res.Outcome, res.Message, res.TokensIssued, res.TokensRevoked)
			continue
		}
		succeeded++
	}

	// Cards: exactly one status card per file, and it says success.
	successCards := 0
	for _, f := range uploaded {
		doc, err := bc.GetSkillsCards(ctx, "", f.ID)
		if err != nil {
			t.Errorf("cards of file %s: %v", f.ID, err)
			continue
		}
		var status []box.Card
		for _, c := range doc.Cards {
			if c.SkillCardType == box.CardTypeStatus {
				status = append(status, c)
			}
		}
		if len(status) != 1 || status[0].Status == nil || status[0].Status.Code != box.StatusSuccess {
			t.Errorf("file %s: %d status cards %+v, want exactly one success card", f.ID, len(status), status)
			continue
		}
		successCards++
	}

	// mlengine: one job per workflow, job and attempt, keyed as the
	// workflow keys its submissions, all succeeded.
	jobs, maxOpen := listJobs(ctx, t, env)
	if maxOpen > maxOpenJobs {
		t.Errorf("mlengine saw %d jobs open at once; the cap is %d", maxOpen, maxOpenJobs)
	}
	var leases semaphore.State
	if v, err := tc.QueryWorkflow(ctx, semaphore.WorkflowID(workflows.LeaseResource("mlengine")), "", semaphore.QueryState); err != nil {
		t.Errorf("querying mlengine's semaphore: %v", err)
	} else if err := v.Get(&leases); err != nil {
		t.Errorf("decoding the semaphore's state: %v", err)
	}
	leasesOK := leases.Stats.Granted == len(jobs) && leases.Stats.Released == len(jobs) && len(leases.Held) == 0 && leases.Stats.MaxHeld <= maxOpenJobs
	if !leasesOK {
		t.Errorf("semaphore %+v: want %d leases granted and released, none held, at most %d at once", leases, len(jobs), maxOpenJobs)
	}
	perAttempt := map[string]int{}
	perWorkflow := map[string]int{}
	repeated := 0
	for _, j := range jobs {
		wf, name, attempt := j.Labels["workflow_id"], j.Labels["job"], j.Labels["attempt"]
		if _, ok := ids[wf]; !ok {
			t.Errorf("mlengine job %s belongs to no workflow of this test (labels %v)", j.ID, j.Labels)
			continue
		}
		wantKey := wf + "/" + name
		if attempt != "" {
			wantKey += "/attempt-" + attempt
		}
		if j.IdempotencyKey != wantKey {
			t.Errorf("mlengine job %s: idempotency key %q, want %q", j.ID, j.IdempotencyKey, wantKey)
		}
		perAttempt[wantKey]++
		perWorkflow[wf]++
		repeated += j.Submissions - 1
		if j.Status != provider.StateSucceeded {
			t.Errorf("mlengine job %s (%s): %s", j.ID, wantKey, j.Status)
		}
	}
	duplicates := 0
	for key, n := range perAttempt {
		if n != 1 {
			duplicates += n - 1
			t.Errorf("%d mlengine jobs for %s", n, key)
		}
	}
	for id := range ids {
		if perWorkflow[id] == 0 {
			t.Errorf("workflow %s submitted no job", id)
		}
	}

	// localbox: no downscoped token left alive.
	live := tokens(ctx, t, env, "live")
	issued := tokens(ctx, t, env, "all")
	if live != 0 {
		t.Errorf("%d downscoped tokens still live", live)
	}

	// Visibility (SQL, eventually consistent): by FileID one workflow each;
	// by Stage and MediaKind all of them.
	visBegan := time.Now()
	testutil.WaitFor(t, 2*time.Minute, "visibility to record every final stage", throttled(time.Second, func() bool {
		n, err := count(ctx, tc, fmt.Sprintf(`%s = "%s"`, workflows.SearchAttrStage, workflows.StageDone))
		return err == nil && n == files
	}))
	visLag := time.Since(visBegan)
	byFileID := 0
	for id, f := range ids {
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf(`%s = "%s"`, workflows.SearchAttrFileID, f.ID)})
		if err != nil {
			t.Errorf("query by FileID %s: %v", f.ID, err)
			continue
		}
		ex := resp.GetExecutions()
		if len(ex) != 1 || ex[0].GetExecution().GetWorkflowId() != id || ex[0].GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			t.Errorf("query by FileID %s: %d executions %v, want %s completed", f.ID, len(ex), ex, id)
			continue
		}
		byFileID++
	}
	for q, want := range map[string]int{
		fmt.Sprintf(`%s = "%s"`, workflows.SearchAttrStage, workflows.StageProcessing):    0,
		fmt.Sprintf(`%s = "%s"`, workflows.SearchAttrMediaKind, workflows.MediaAudio):     files,
		fmt.Sprintf(`%s = "%s"`, workflows.SearchAttrFileID, "no-such-file"):              0,
		fmt.Sprintf(`%s IN ("%s", "%s")`, workflows.SearchAttrStage, "failed", "partial"): 0,
	} {
		if n, err := count(ctx, tc, q); err != nil || n != want {
			t.Errorf("visibility %s: %d (%v), want %d", q, n, err, want)
		}
	}
	testutil.AssertNoSecretsLogged(t, secretsOf(t, env), out.String(), filepath.Join(dataDir, "logs"))

	ok := func(b bool) string {
		if b {
			return "ok"
		}
		return "FAILED"
	}
	total := time.Since(began)
	fmt.Printf("\ncluster kill test: %d files through signed webhooks; 4 Temporal services on PostgreSQL, 2 workers\n", files)
	row := func(what string, v any, check string) { fmt.Printf("  %-52s %12v  %s\n", what, v, check) }
	row("cluster start (PostgreSQL, schema, services, programs)", startTook.Round(100*time.Millisecond), "")
	row("upload of all files", uploadTook.Round(100*time.Millisecond), "")
	row("workflows completed before the kills", doneAtKill, "")
	row("workflows running at the kills", running, "")
	row("history service SIGKILLed → SERVING again", historyBack.Round(100*time.Millisecond), "")
	row("kills → next workflow completed", firstAfterKill.Round(time.Second), "")
	row("first upload → all workflows completed", allDone.Round(time.Second), "")
	row("workflows completed with outcome success", fmt.Sprintf("%d/%d", succeeded, files), ok(succeeded == files))
	row("files with exactly one final success card", fmt.Sprintf("%d/%d", successCards, files), ok(successCards == files))
	row("mlengine jobs (one per workflow, job, attempt)", len(jobs), ok(duplicates == 0))
	row("duplicate jobs for one attempt", duplicates, ok(duplicates == 0))
	row("repeated submissions answered with the same job", repeated, "")
	row(fmt.Sprintf("mlengine jobs open at once, at most (cap %d)", maxOpenJobs), maxOpen, ok(maxOpen <= maxOpenJobs))
	row("leases granted / released / reclaimed", fmt.Sprintf("%d/%d/%d", leases.Stats.Granted, leases.Stats.Released, leases.Stats.Gone+leases.Stats.Expired), ok(leasesOK))
	row("downscoped tokens issued / live", fmt.Sprintf("%d/%d", issued, live), ok(live == 0))
	row("FileID queries answering their one workflow", fmt.Sprintf("%d/%d", byFileID, files), ok(byFileID == files))
	row("visibility lag after the last completion", visLag.Round(time.Second), "")
	row("test total", total.Round(time.Second), "")
	fmt.Printf("RESULT cluster files=%d completed=%d success_cards=%d ml_jobs=%d duplicate_jobs=%d repeated_submits=%d cap=%d ml_max_open=%d leases_granted=%d leases_released=%d live_tokens=%d visibility_fileid=%d/%d start_s=%.1f history_back_s=%.1f recover_s=%.0f wall_s=%.0f total_s=%.0f pass=%t\n",
		files, succeeded, successCards, len(jobs), duplicates, repeated, maxOpenJobs, maxOpen, leases.Stats.Granted, leases.Stats.Released, live, byFileID, files,
		startTook.Seconds(), historyBack.Seconds(), firstAfterKill.Seconds(), allDone.Seconds(), total.Seconds(), !t.Failed())
}

// TestClusterConfigLoads has the real temporal-server load and render the
// configuration WriteConfig generates, for each service.
func TestClusterConfigLoads(t *testing.T) {
	root := testenv.ModuleRoot(t)
	const password = "a-password-of-some-length-42"
	c, err := cluster.New(cluster.Config{Ports: cluster.Ports{Base: 20000}, Dir: t.TempDir(), BinDir: filepath.Join(root, "bin"), PostgresPassword: password})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteConfig(); err != nil {
		t.Fatal(err)
	}
	for _, svc := range cluster.Services() {
		cmd := c.Service(svc)
		args := slices.Clone(cmd.Args)
		args = append(args[:slices.Index(args, "--allow-no-auth")], "render-config")
		render := exec.Command(cmd.Path, args...)
		render.Dir, render.Env = cmd.Dir, []string{"CLUSTER_POSTGRES_PASSWORD=" + password}
		out, err := render.CombinedOutput()
		if err != nil {
			t.Fatalf("%s render-config: %v\n%s", svc, err, out)
		}
		text := string(out)
		for _, want := range []string{"numHistoryShards: 4", "connectAddr: 127.0.0.1:20000", "pluginName: postgres12",
			"listenAddress: " + c.Ports().Metrics(svc), "rpcAddress: " + c.FrontendAddress()} {
			if !strings.Contains(text, want) {
				t.Errorf("%s: the rendered configuration lacks %q:\n%s", svc, want, text)
			}
		}
		if strings.Contains(text, password) {
			t.Errorf("%s: render-config printed the password", svc)
		}
	}
}

// buildPrograms builds filesight's programs into a temporary directory and
// links the cluster tools from bin/ next to them.
func buildPrograms(t *testing.T, root string) string {
	t.Helper()
	binDir := t.TempDir()
	build := exec.Command("go", "build", "-o", binDir+"/", "./localbox", "./mlengine", "./starter", "./worker")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, tool := range []string{"temporal-server", "temporal-sql-tool", "temporal-ui-server"} {
		src := filepath.Join(root, "bin", tool)
		if _, err := os.Stat(src); err != nil {
			t.Fatalf("%s is missing: run `make cluster-tools` (make test-cluster does)", src)
		}
		if err := os.Symlink(src, filepath.Join(binDir, tool)); err != nil {
			t.Fatal(err)
		}
	}
	return binDir
}

// freePortBlock finds a base port whose whole block is free, away from the
// default block so that a developer's `make cluster` keeps running.
func freePortBlock(t *testing.T) int {
	t.Helper()
	for range 50 {
		base := 20000 + rand.IntN(10000)
		free := true
		for _, addr := range (cluster.Ports{Base: base}).All() {
			l, err := net.Listen("tcp", addr)
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			return base
		}
	}
	t.Fatal("no free block of ports for the cluster")
	return 0
}

// throttled asks cond at most once per interval and repeats its last
// answer in between, so that a poll every few milliseconds costs one
// query a second.
func throttled(interval time.Duration, cond func() bool) func() bool {
	var last time.Time
	var answer bool
	return func() bool {
		if time.Since(last) >= interval {
			answer, last = cond(), time.Now()
		}
		return answer
	}
}

func count(ctx context.Context, tc client.Client, query string) (int, error) {
	resp, err := tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query})
	if err != nil {
		return -1, fmt.Errorf("count %s: %w", query, err)
	}
	return int(resp.GetCount()), nil
}

// listJobs reads every job mlengine holds, through its job listing, and
// the most jobs it had open at once.
func listJobs(ctx context.Context, t *testing.T, env *devstack.EnvFile) ([]mlengineapi.Job, int) {
	t.Helper()
	u, _ := env.Get("MLENGINE_URL")
	key, _ := env.Get("MLENGINE_API_KEY")
	c := mlengineapi.New(mlengineapi.Config{BaseURL: u, APIKey: secret.String(key)})
	var all []mlengineapi.Job
	o := mlengineapi.ListOptions{Limit: 1000}
	for {
		page, err := c.ListJobs(ctx, o)
		if err != nil {
			t.Fatalf("listing mlengine's jobs: %v", err)
		}
		all = append(all, page.Jobs...)
		if page.Next == "" {
			return all, page.MaxOpen
		}
		o.After = page.Next
	}
}

// tokens counts localbox's downscoped tokens in a state (live, all).
func tokens(ctx context.Context, t *testing.T, env *devstack.EnvFile, state string) int {
	t.Helper()
	u, _ := env.Get("LOCALBOX_PUBLIC_URL")
	key, _ := env.Get("LOCALBOX_ADMIN_KEY")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"/_localbox/tokens?state="+state, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		TotalCount int                   `json:"total_count"`
		Entries    []localbox.AdminToken `json:"entries"`
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("localbox tokens: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.TotalCount
}

// secretsOf returns every secret of dev.env by name; the database password
// must be among them.
func secretsOf(t *testing.T, env *devstack.EnvFile) map[string]string {
	t.Helper()
	secrets := map[string]string{}
	for _, k := range env.Keys() {
		for _, marker := range []string{"SECRET", "PASSWORD", "_KEY", "TOKEN", "CODEC_KEYS"} {
			if v, _ := env.Get(k); strings.Contains(k, marker) && len(v) >= 12 {
				secrets[k] = v
				break
			}
		}
	}
	if secrets["CLUSTER_POSTGRES_PASSWORD"] == "" {
		t.Fatalf("dev.env holds no database password")
	}
	return secrets
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

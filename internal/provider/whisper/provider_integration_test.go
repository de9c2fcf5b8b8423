//go:build integration

package whisper_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"filesight/internal/codec"
	"filesight/internal/codec/codectest"
	"filesight/internal/config"
	"filesight/internal/provider"
	"filesight/internal/provider/claimcheck"
	"filesight/internal/provider/providertest"
	"filesight/internal/provider/whisper"
	"filesight/internal/provider/whisper/whispertest"
	"filesight/internal/secret"
	"filesight/internal/temporalclient"
	"filesight/internal/testenv"
	"filesight/internal/testutil"
	"filesight/internal/tokenseal"
	"filesight/internal/tokenseal/tokensealtest"
	"filesight/workflows"
)

// Environment of the helper worker process (TestHelperWorkerProcess).
const (
	envHelper   = "FILESIGHT_WHISPER_HELPER_WORKER"
	envHostPort = "FILESIGHT_WHISPER_HELPER_TEMPORAL"
	envCodecKey = "FILESIGHT_WHISPER_HELPER_CODEC_KEY"
	envSealKey  = "FILESIGHT_WHISPER_HELPER_SEAL_KEY"
)

// cluster is a dev server and the shared pieces every worker process of
// the job uses: the codec key, the store directory, the configuration.
type cluster struct {
	tm       *testenv.Temporal
	key      secret.String
	sealKey  secret.String  // the workers' token sealing key
	dc       client.Options // client options with the codec
	client   client.Client
	srv      *whispertest.Server
	media    *providertest.Media
	cfg      whisper.Config
	env      map[string]string
	provider *whisper.Provider
	store    *claimcheck.Dir
}

func clientOptions(t testing.TB, hostPort string, key secret.String) client.Options {
	t.Helper()
	dc := codec.NewDataConverter(codectest.ParseKeyring(t, key), codec.Options{Compress: true})
	return client.Options{HostPort: hostPort, Namespace: "default", DataConverter: dc, FailureConverter: temporalclient.FailureConverter(dc),
		Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))}
}

func newCluster(t *testing.T, env map[string]string) *cluster {
	t.Helper()
	c := &cluster{tm: testenv.StartTemporal(t), srv: whispertest.Start(t, "", speech), media: providertest.StartMedia(t, readToken, []byte("ID3 audio bytes"))}
	var err error
	if c.key, err = codec.NewKeyString("whisper-it"); err != nil {
		t.Fatal(err)
	}
	if c.sealKey, err = codec.NewKeyString("whisper-it-seal"); err != nil {
		t.Fatal(err)
	}
	c.dc = clientOptions(t, c.tm.HostPort, c.key)
	if c.client, err = client.Dial(c.dc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.client.Close)
	c.env = map[string]string{
		"WHISPER_URL": c.srv.URL, "WHISPER_STORE_DIR": t.TempDir(), "WHISPER_TASK_QUEUE": "whisper-it",
		"WHISPER_HEARTBEAT_TIMEOUT": "2s", "WHISPER_RETRY_INTERVAL": "200ms", "WHISPER_POLL_INTERVAL": "1s",
	}
	for k, v := range env {
		c.env[k] = v
	}
	c.cfg = loadConfig(t, c.env)
	if err := c.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c.store = openStore(t, c.cfg, c.key)
	c.provider = whisper.New(c.cfg, c.client, c.store, sealer(t, c.sealKey))
	return c
}

// sealer is a token sealer over key (FILESIGHT_TOKEN_SEAL_KEYS material).
func sealer(t testing.TB, key secret.String) *tokenseal.Sealer {
	t.Helper()
	s, err := tokenseal.Config{Keys: key}.Sealer()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openStore(t testing.TB, cfg whisper.Config, key secret.String) *claimcheck.Dir {
	t.Helper()
	s, err := claimcheck.NewDir(cfg.StoreDir, claimcheck.DirOptions{Codec: codec.NewCodec(codectest.ParseKeyring(t, key)), Retention: cfg.Retention})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startWorker runs a job worker in this process, with a workflow that
// waits for a job callback (standing in for ProcessFile).
func (c *cluster) startWorker(t *testing.T) worker.Worker {
	t.Helper()
	w := worker.New(c.client, c.cfg.TaskQueue, worker.Options{MaxConcurrentActivityExecutionSize: c.cfg.Concurrency})
	whisper.NewJobs(c.cfg, c.store, sealer(t, c.sealKey), whisper.JobsOptions{TempDir: t.TempDir()}).Register(w)
	w.RegisterWorkflowWithOptions(awaitCallback, workflow.RegisterOptions{Name: "awaitCallback"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return w
}

// awaitCallback stands in for ProcessFile: it returns the first job
// callback it is signalled.
func awaitCallback(ctx workflow.Context) (workflows.JobCallback, error) {
	var cb workflows.JobCallback
	workflow.GetSignalChannel(ctx, workflows.SignalJobCallback).Receive(ctx, &cb)
	return cb, nil
}

func (c *cluster) request(key string) provider.JobRequest {
	return provider.JobRequest{IdempotencyKey: key, MediaURL: c.media.URL, MediaToken: readToken,
		Analyses: []string{provider.AnalysisTranscript, provider.AnalysisMedia},
		Labels:   map[string]string{provider.LabelWorkflowID: "parent-" + strings.ReplaceAll(key, "/", "-"), "job": "transcript"}}
}

func (c *cluster) awaitState(t *testing.T, ref provider.JobRef, want provider.State) provider.JobStatus {
	t.Helper()
	var st provider.JobStatus
	testutil.WaitFor(t, 90*time.Second, fmt.Sprintf("job %s to be %s", ref, want), func() bool {
		var err error
		st, err = c.provider.Status(context.Background(), ref)
		return err == nil && st.State == want
	})
	return st
}

func TestProviderOnTemporal(t *testing.T) {
	c := newCluster(t, nil)
	c.startWorker(t)
	ctx := context.Background()

	parent, err := c.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "parent-file-1-v1-transcript", TaskQueue: c.cfg.TaskQueue}, "awaitCallback")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := c.provider.Submit(ctx, c.request("file-1-v1/transcript"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.provider.Submit(ctx, c.request("file-1-v1/transcript"))
	if err != nil || again != ref {
		t.Fatalf("same key, other job: %v %v", again, err)
	}
	st := c.awaitState(t, ref, provider.StateSucceeded)
	if !st.MediaFetched || st.Error != nil || len(st.Analyses) != 2 {
		t.Fatalf("status %+v", st)
	}
	res, err := c.provider.Result(ctx, ref)
	if err != nil || res.Transcript.Text != speech || len(res.Transcript.Words) != 13 || res.Media.Duration != 6.5 {
		t.Fatalf("result %+v %v", res, err)
	}
	// The finished job is still the job for its key: no second transcription.
	if again, err := c.provider.Submit(ctx, c.request("file-1-v1/transcript")); err != nil || again != ref || len(c.srv.Requests()) != 1 {
		t.Fatalf("resubmitting a finished key: %v %v, %d requests", again, err, len(c.srv.Requests()))
	}
	// The job called back the workflow that submitted it.
	var cb workflows.JobCallback
	if err := parent.Get(ctx, &cb); err != nil || cb != (workflows.JobCallback{Provider: "whisper", JobID: ref.ID, Status: "succeeded"}) {
		t.Fatalf("callback %+v %v", cb, err)
	}
	// The result is at rest only in encrypted form.
	entries, _ := filepath.Glob(filepath.Join(c.cfg.StoreDir, "*", "*.entry"))
	for _, e := range entries {
		if b, _ := os.ReadFile(e); strings.Contains(string(b), "quarterly") {
			t.Fatalf("transcript stored in the clear in %s", e)
		}
	}
	// ... and never in history: the job workflow's history holds no word of
	// it, and the read token only sealed, even decoded with the codec key
	// (as the Temporal UI and CLI decode it).
	plain := c.tm.NewClient(t, nil)
	it := plain.GetWorkflowHistory(ctx, ref.ID, "", false, 0)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := json.Marshal(ev); strings.Contains(string(b), "quarterly") || strings.Contains(string(b), readToken) {
			t.Fatalf("history event %d carries the transcript or the token in the clear", ev.GetEventId())
		}
		h.Events = append(h.Events, ev)
	}
	payloads, err := tokensealtest.HistoryPayloads(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, cd := range codec.Codecs(codectest.ParseKeyring(t, c.key), codec.Options{Compress: true, Plain: codec.ReturnPlain}) {
		if payloads, err = cd.Decode(payloads); err != nil {
			t.Fatal(err)
		}
	}
	var decoded strings.Builder
	for _, p := range payloads {
		decoded.Write(p.GetData())
	}
	if strings.Contains(decoded.String(), readToken) || strings.Contains(decoded.String(), "quarterly") ||
		!strings.Contains(decoded.String(), `"sealed_media_token":"`+tokenseal.Prefix) {
		t.Fatalf("decoded with the codec key, the job's history shows the token or the transcript, or no sealed token")
	}

	if _, err := c.provider.Status(ctx, provider.JobRef{Provider: "whisper", ID: "whisper:no-such-job"}); !isStatus(err, http.StatusNotFound) {
		t.Fatalf("unknown job: %v", err)
	}
	if err := c.provider.Cancel(ctx, ref); err != nil {
		t.Fatalf("cancelling a finished job: %v", err)
	}
}

func TestProviderJobFailure(t *testing.T) {
	c := newCluster(t, nil)
	c.startWorker(t)
	ctx := context.Background()
	c.media.Revoke()
	ref, err := c.provider.Submit(ctx, c.request("file-2-v1/transcript"))
	if err != nil {
		t.Fatal(err)
	}
	st := c.awaitState(t, ref, provider.StateFailed)
	if st.Error == nil || st.Error.Code != whisper.ErrTypeMediaUnauthorized || !st.Error.Retryable || strings.Contains(st.Error.Message, readToken) {
		t.Fatalf("status %+v", st.Error)
	}
	if _, err := c.provider.Result(ctx, ref); err == nil || isRetryableErr(err) {
		t.Fatalf("result of a failed job: %v", err)
	}
}

func TestProviderCancel(t *testing.T) {
	c := newCluster(t, nil)
	c.startWorker(t)
	ctx := context.Background()
	c.srv.Hold()
	ref, err := c.provider.Submit(ctx, c.request("file-3-v1/transcript"))
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 60*time.Second, "the transcription request", func() bool { return c.srv.Entered() == 1 })
	if st, err := c.provider.Status(ctx, ref); err != nil || st.State != provider.StateRunning || st.MediaFetched {
		t.Fatalf("running: %+v %v", st, err)
	}
	if _, err := c.provider.Result(ctx, ref); !isRetryableErr(err) {
		t.Fatalf("result while running: %v", err)
	}
	if err := c.provider.Cancel(ctx, ref); err != nil {
		t.Fatal(err)
	}
	c.awaitState(t, ref, provider.StateCanceled)
}

// TestJobSurvivesWorkerCrash runs the job's first attempt in another
// worker process, kills that process (SIGKILL: nothing reports the
// attempt's end) while its request is in flight, and checks that the
// attempt is retried by the worker of this process, after the heartbeat
// timeout, with the result readable here.
func TestJobSurvivesWorkerCrash(t *testing.T) {
	c := newCluster(t, nil)
	ctx := context.Background()
	c.srv.Hold()

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWorkerProcess$", "-test.v")
	cmd.Env = append(os.Environ(), envHelper+"=1", envHostPort+"="+c.tm.HostPort, envCodecKey+"="+c.key.Reveal(), envSealKey+"="+c.sealKey.Reveal())
	for k, v := range c.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "helper worker polling") {
				close(ready)
				break
			}
		}
		for sc.Scan() {
		}
	}()
	select {
	case <-ready:
	case <-time.After(90 * time.Second):
		t.Fatal("the helper worker process did not start")
	}

	ref, err := c.provider.Submit(ctx, c.request("file-4-v1/transcript"))
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 60*time.Second, "the first attempt's request", func() bool { return c.srv.Entered() == 1 })
	killed := time.Now()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	c.srv.Release()
	c.startWorker(t)

	c.awaitState(t, ref, provider.StateSucceeded)
	recovered := time.Since(killed)
	res, err := c.provider.Result(ctx, ref)
	if err != nil || len(res.Transcript.Words) != 13 {
		t.Fatalf("result %+v %v", res, err)
	}
	if n := len(c.srv.Requests()); n != 2 {
		t.Fatalf("%d transcription requests, want 2 (the killed attempt and its retry)", n)
	}
	t.Logf("job %s succeeded %s after its first worker was killed (heartbeat timeout %s, poll interval %s)",
		ref, recovered.Round(100*time.Millisecond), c.cfg.HeartbeatTimeout, c.cfg.PollInterval)
}

// TestHelperWorkerProcess is the other worker process of
// TestJobSurvivesWorkerCrash; it runs only when that test starts it.
func TestHelperWorkerProcess(t *testing.T) {
	if os.Getenv(envHelper) != "1" {
		t.Skip("helper process of TestJobSurvivesWorkerCrash")
	}
	var cfg whisper.Config
	if err := config.Load(context.Background(), &cfg); err != nil {
		t.Fatal(err)
	}
	key := secret.String(os.Getenv(envCodecKey))
	c, err := client.Dial(clientOptions(t, os.Getenv(envHostPort), key))
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(c, cfg.TaskQueue, worker.Options{})
	whisper.NewJobs(cfg, openStore(t, cfg, key), sealer(t, secret.String(os.Getenv(envSealKey))), whisper.JobsOptions{TempDir: t.TempDir()}).Register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	fmt.Println("helper worker polling")
	select {} // until killed
}

func isStatus(err error, status int) bool {
	pe, ok := provider.AsError(err)
	return ok && pe.StatusCode == status
}

func isRetryableErr(err error) bool {
	var pe *provider.Error
	return errors.As(err, &pe) && pe.Retryable
}

//go:build integration

package worker_test

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"filesight/internal/box"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/provider/whisper/whispertest"
	"filesight/internal/secret"
	"filesight/internal/starter"
	"filesight/workflows"
)

// The worker program with FILESIGHT_ANALYSIS_PROVIDERS=transcript=whisper
// and an OpenAI-compatible server (whispertest) configured: a file's
// transcript comes from the whisper job (a workflow on whisper's own task
// queue, run by the same worker), everything else from mlengine; each
// provider's activities run on its own task queue.
func TestAnalysesSplitOverProviders(t *testing.T) {
	srv := startServers(t)
	lb, ml, c := srv.lb, srv.ml, srv.c
	ws := whispertest.Start(t, "whisper-test-key", "the words whisper heard")

	cfg := srv.config()
	cfg.Providers.Catalog.Analyses = "transcript=whisper"
	cfg.Providers.Catalog.Whisper.URL = ws.URL
	cfg.Providers.Catalog.Whisper.APIKey = "whisper-test-key"
	cfg.Providers.Catalog.Whisper.StoreDir = t.TempDir()
	// envconfig's defaults, as the program would have them.
	w := &cfg.Providers.Catalog.Whisper
	w.Model, w.WordTimestamps, w.MaxMediaBytes, w.MaxResponseBytes = "whisper-1", true, 26148864, 33554432
	w.TaskQueue, w.Concurrency, w.JobTimeout, w.AttemptTimeout, w.HeartbeatTimeout = "filesight-whisper", 1, time.Hour, 20*time.Minute, 30*time.Second
	w.MaxAttempts, w.RetryInterval, w.PollInterval, w.Retention, w.Signal, w.Name = 5, time.Second, time.Second, 168*time.Hour, workflows.SignalJobCallback, "whisper"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	runWorker(t, cfg, slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))

	gctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	media := clip(t, "Speech goes to whisper.\nThe rest stays with the engine.")
	f := lb.UploadFile(t, "0", "split.m4a", media)
	d, err := starter.NewService(c, starter.Options{}).Start(gctx, workflows.ProcessFileInput{FileID: f.ID, FileVersionID: f.VersionID, Source: starter.SourceManual})
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.ProcessFileResult
	if err := c.GetWorkflow(gctx, d.WorkflowID, "").Get(gctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != workflows.OutcomeSuccess {
		t.Fatalf("result %+v", res)
	}
	v, err := c.QueryWorkflow(gctx, d.WorkflowID, "", workflows.QueryProgress)
	if err != nil {
		t.Fatal(err)
	}
	var p workflows.Progress
	if err := v.Get(&p); err != nil {
		t.Fatal(err)
	}
	if len(p.Jobs) != 2 || p.Jobs[0].Provider != "mlengine" || p.Jobs[1].Provider != "whisper" ||
		!slices.Equal(p.Jobs[1].Analyses, []string{"transcript"}) || slices.Contains(p.Jobs[0].Analyses, "transcript") ||
		p.Jobs[0].TaskQueue != "filesight-provider-mlengine" || p.Jobs[1].TaskQueue != "filesight-provider-whisper" {
		t.Fatalf("jobs %+v", p.Jobs)
	}
	if !p.Jobs[1].Callback {
		t.Errorf("the whisper job's end did not reach the run as a callback signal")
	}
	// The transcript card has whisper's words; mlengine was not asked for a transcript.
	bc, err := box.NewClient(box.Config{APIURL: lb.URL, UploadURL: lb.UploadURL, ClientID: lb.ClientID, ClientSecret: lb.ClientSecret,
		SubjectType: "enterprise", SubjectID: lb.EnterpriseID})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := bc.GetSkillsCards(gctx, "", f.ID)
	if err != nil {
		t.Fatal(err)
	}
	var transcript string
	for _, card := range doc.Cards {
		if card.SkillCardType == box.CardTypeTranscript {
			for _, e := range card.Entries {
				transcript += e.Text + " "
			}
		}
	}
	if !strings.Contains(transcript, "whisper heard") {
		t.Errorf("transcript card %q, want whisper's words", transcript)
	}
	mlc := mlengineapi.New(mlengineapi.Config{BaseURL: ml.URL, APIKey: secret.String(ml.APIKey)})
	list, err := mlc.ListJobs(gctx, mlengineapi.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Jobs) != 1 {
		t.Fatalf("mlengine jobs %+v", list.Jobs)
	}
	if _, asked := list.Jobs[0].Analyses["transcript"]; asked {
		t.Errorf("mlengine was asked for the transcript: %v", list.Jobs[0].Analyses)
	}
	if n := len(ws.Requests()); n != 1 {
		t.Errorf("whisper server got %d requests, want 1", n)
	}
}

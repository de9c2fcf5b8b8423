//go:build integration

package worker_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"filesight/internal/box"
	"filesight/internal/mediatest"
	"filesight/internal/provider"
	"filesight/internal/starter"
	"filesight/internal/testutil"
	"filesight/workflows"
)

// TestHostileMediaThroughTheWorker runs the worker program (its own
// configuration, providers and queues) against localbox and a real
// mlengine on a "video" that is an HLS playlist naming a canary outside
// mlengine's job directory: the run ends with a permanent-failure status
// card that holds the fixed sentence alone, and no tool opened the canary.
func TestHostileMediaThroughTheWorker(t *testing.T) {
	srv := startServers(t)
	canary := mediatest.NewCanary(t)
	playlist := mediatest.Hostile(t, canary, "HLS playlist")

	var logs testutil.SyncBuffer
	runWorker(t, srv.config(), slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})))

	gctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	f := srv.lb.UploadFile(t, "0", playlist.Name, playlist.Content)
	d, err := starter.NewService(srv.c, starter.Options{}).Start(gctx, workflows.ProcessFileInput{FileID: f.ID, FileVersionID: f.VersionID, Source: starter.SourceManual})
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.ProcessFileResult
	if err := srv.c.GetWorkflow(gctx, d.WorkflowID, "").Get(gctx, &res); err != nil {
		t.Fatal(err)
	}
	want := provider.ReasonUnsupportedMedia.Text()
	if res.Outcome != workflows.OutcomeFailed || res.Message != want {
		t.Errorf("result %+v, want failed with %q", res, want)
	}
	bc, err := box.NewClient(box.Config{APIURL: srv.lb.URL, UploadURL: srv.lb.UploadURL, ClientID: srv.lb.ClientID, ClientSecret: srv.lb.ClientSecret,
		SubjectType: "enterprise", SubjectID: srv.lb.EnterpriseID})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := bc.GetSkillsCards(gctx, "", f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Cards) != 1 || doc.Cards[0].Status == nil || doc.Cards[0].Status.Code != box.StatusPermanentFailure || doc.Cards[0].Status.Message != want {
		t.Fatalf("cards %+v, want one permanent-failure status card saying %q", doc.Cards, want)
	}
	if n := canary.Opened(); n > 0 {
		t.Fatalf("a tool opened the canary pipe %d time(s)", n)
	}
	if strings.Contains(logs.String(), canary.Secret) {
		t.Error("the canary's content reached the worker")
	}
}

//go:build integration

package workflows_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"filesight/activities"
	"filesight/internal/box"
	"filesight/internal/codec"
	"filesight/internal/provider"
	"filesight/internal/replay"
	"filesight/internal/starter"
	"filesight/internal/testutil"
	"filesight/workflows"
	"filesight/workflows/semaphore"
)

func TestIntegration(t *testing.T) {
	s := startStack(t)
	fast := func(o workflows.Options) *workflows.Options {
		o.PollMinDelay, o.PollMaxDelay = time.Second, 5*time.Second
		return &o
	}

	t.Run("success", func(t *testing.T) {
		s.t = t
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		in := s.upload("talk.mp4", s.talk, fast(workflows.Options{}))
		id := s.start(ctx, in)
		res, err := s.result(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != workflows.OutcomeSuccess || res.MediaKind != workflows.MediaVideo {
			t.Fatalf("result %+v", res)
		}
		cards := s.cards(ctx, in.FileID)
		t.Logf("cards: %v", cardTypes(cards))
		if err := box.ValidateSkillsCards(mustJSON(t, box.SkillsDocument{Cards: cards})); err != nil {
			t.Fatal(err)
		}
		var said []string
		for _, e := range findCard(t, cards, "transcript:transcript").Entries {
			said = append(said, strings.Fields(strings.ToLower(e.Text))...)
		}
		if !slices.Contains(said, "video") && !slices.Contains(said, "machine") && !slices.Contains(said, "data") {
			t.Errorf("the transcript misses the talk's words: %v", said)
		}
		if kw := findCard(t, cards, "keyword:keywords"); len(kw.Entries) == 0 {
			t.Error("no keywords")
		}
		if sc := findCard(t, cards, "timeline:scenes"); len(sc.Entries) < 2 {
			t.Errorf("scenes %+v", sc.Entries)
		}
		var onScreen []string
		for _, e := range findCard(t, cards, "timeline:ocr").Entries {
			onScreen = append(onScreen, strings.ToUpper(e.Text))
		}
		if !strings.Contains(strings.Join(onScreen, " "), "DATA") && !strings.Contains(strings.Join(onScreen, " "), "VIDEO") {
			t.Errorf("on-screen text %v", onScreen)
		}
		if st := findCard(t, cards, "status:status"); st.Status.Code != box.StatusSuccess {
			t.Errorf("status %+v", st.Status)
		}
		p := s.progress(ctx, id)
		t.Logf("progress: stage %s, jobs %+v, callback used: %v", p.Stage, p.Jobs, p.Jobs[0].Callback)
		if p.Stage != workflows.StageDone {
			t.Errorf("stage %s", p.Stage)
		}
		s.assertNoLiveTokens(ctx, in.FileID)
		h := s.record(ctx, id, "success")
		// Two version markers (stage upserts, plan) and the plan's
		// local-activity marker; the provider-facing activities ran on
		// mlengine's task queue. The starter set FileID and Stage, so the
		// run upserted Stage twice (processing with MediaKind, done), and
		// the SDK TemporalChangeVersion once per change.
		var markers, onProviderQueue int
		var upserts []string
		for _, e := range h.Events {
			if e.GetEventType() == enumspb.EVENT_TYPE_MARKER_RECORDED {
				markers++
			}
			if u := e.GetUpsertWorkflowSearchAttributesEventAttributes(); u != nil {
				upserts = append(upserts, strings.Join(slices.Sorted(maps.Keys(u.GetSearchAttributes().GetIndexedFields())), "+"))
			}
			if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
				switch a.ActivityType.GetName() {
				case "SubmitJob", "AwaitJob", "GetJobStatus", "CancelJob":
					if q := a.TaskQueue.GetName(); q != "filesight-provider-mlengine" {
						t.Errorf("%s scheduled on %s", a.ActivityType.GetName(), q)
					}
					onProviderQueue++
				default:
					if q := a.TaskQueue.GetName(); q != workflows.TaskQueue {
						t.Errorf("%s scheduled on %s", a.ActivityType.GetName(), q)
					}
				}
			}
		}
		if markers != 3 || onProviderQueue < 2 {
			t.Errorf("%d markers (want 3: two versions, plan), %d activities on the provider's queue", markers, onProviderQueue)
		}
		wantUpserts := []string{"TemporalChangeVersion", "TemporalChangeVersion", "MediaKind+Stage", "Stage"}
		if !slices.Equal(upserts, wantUpserts) {
			t.Errorf("search attribute upserts %v, want %v", upserts, wantUpserts)
		}
	})

	// A provider capped at one job in flight: two jobs of one run on it
	// take turns, each holding a lease of the provider's semaphore (a real
	// semaphore workflow on the server) from before its submission until
	// it ended.
	t.Run("capped provider", func(t *testing.T) {
		s.t = t
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		in := s.upload("capped.mp4", []byte("not really a video: the capped provider never fetches it"), &workflows.Options{
			VideoJobs: []workflows.JobSpec{
				{Name: "words", Provider: "capped", Analyses: []string{provider.AnalysisMedia, provider.AnalysisTranscript}},
				{Name: "keywords", Provider: "capped", Analyses: []string{provider.AnalysisKeywords}},
			},
			PollMinDelay: 20 * time.Millisecond, PollMaxDelay: 20 * time.Millisecond,
		})
		id := s.start(ctx, in)
		res, err := s.result(ctx, id)
		if err != nil || res.Outcome != workflows.OutcomeSuccess {
			t.Fatalf("%+v %v", res, err)
		}
		jobs := s.capped.Jobs()
		if len(jobs) != 2 {
			t.Fatalf("%d jobs at the provider", len(jobs))
		}
		first, second := jobs[0], jobs[1]
		if second.Submitted.Before(first.Submitted.Add(300 * time.Millisecond)) {
			t.Errorf("the second job was submitted %v after the first, before the first ended (300ms)", second.Submitted.Sub(first.Submitted))
		}
		for _, j := range s.progress(ctx, id).Jobs {
			if j.Lease != "released" || j.State != activities.JobSucceeded {
				t.Errorf("job %+v", j)
			}
		}
		v, err := s.c.QueryWorkflow(ctx, semaphore.WorkflowID(workflows.LeaseResource("capped")), "", semaphore.QueryState)
		if err != nil {
			t.Fatal(err)
		}
		var st semaphore.State
		if err := v.Get(&st); err != nil {
			t.Fatal(err)
		}
		if st.Limit != 1 || st.Stats.Granted != 2 || st.Stats.Released != 2 || st.Stats.MaxHeld != 1 || len(st.Held) != 0 || len(st.Waiting) != 0 {
			t.Errorf("semaphore %+v", st)
		}
		s.assertNoLiveTokens(ctx, in.FileID)
		s.record(ctx, id, "capped")
	})

	// Music or a tone: every analysis runs and finds nothing. That is a
	// success with "nothing to show", not a failure (the empty lists must
	// survive the trip mlengine → JSON → card writer).
	t.Run("audio without speech", func(t *testing.T) {
		s.t = t
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		tonePath := filepath.Join(t.TempDir(), "tone.m4a")
		if out, err := exec.CommandContext(ctx, "ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=4", tonePath).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v: %s", err, out)
		}
		tone, err := os.ReadFile(tonePath)
		if err != nil {
			t.Fatal(err)
		}
		in := s.upload("tone.m4a", tone, fast(workflows.Options{}))
		id := s.start(ctx, in)
		res, err := s.result(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != workflows.OutcomeSuccess || res.MediaKind != workflows.MediaAudio {
			t.Fatalf("result %+v", res)
		}
		st := findCard(t, s.cards(ctx, in.FileID), "status:status")
		if st.Status.Code != box.StatusSuccess || !strings.Contains(st.Status.Message, "no speech") {
			t.Errorf("status %+v", st.Status)
		}
		s.assertNoLiveTokens(ctx, in.FileID)
	})

	t.Run("partial failure", func(t *testing.T) {
		s.t = t
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		in := s.upload("talk-partial.mp4", s.talk, fast(workflows.Options{VideoJobs: []workflows.JobSpec{
			{Name: "speech", Provider: "mlengine", Analyses: []string{provider.AnalysisMedia, provider.AnalysisTranscript, provider.AnalysisKeywords}},
			{Name: "visual", Provider: "vision", Analyses: []string{provider.AnalysisScenes, provider.AnalysisOCR}},
		}}))
		id := s.start(ctx, in)
		res, err := s.result(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		cards := s.cards(ctx, in.FileID)
		st := findCard(t, cards, "status:status")
		if res.Outcome != workflows.OutcomePartial || !slices.Equal(cardTypes(cards), []string{"transcript:transcript", "keyword:keywords", "status:status"}) ||
			!strings.Contains(st.Status.Message, `job "visual" could not be submitted`) {
			t.Fatalf("result %+v cards %v status %+v", res, cardTypes(cards), st.Status)
		}
		s.assertNoLiveTokens(ctx, in.FileID)
		s.record(ctx, id, "partial-failure")
	})

	t.Run("cancellation", func(t *testing.T) {
		s.t = t
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		in := s.upload("talk-cancel.mp4", s.talk, fast(workflows.Options{}))
		id := s.start(ctx, in)
		var jobID string
		testutil.WaitFor(t, time.Minute, "the job to be submitted", func() bool {
			if p := s.progress(ctx, id); len(p.Jobs) > 0 && p.Jobs[0].JobID != "" {
				jobID = p.Jobs[0].JobID
			}
			return jobID != ""
		})
		if err := s.c.CancelWorkflow(ctx, id, ""); err != nil {
			t.Fatal(err)
		}
		_, err := s.result(ctx, id)
		var ce *temporal.CanceledError
		if !errors.As(err, &ce) {
			t.Fatalf("want cancelled, got %v", err)
		}
		st, err := s.mlc.Status(ctx, provider.JobRef{Provider: "mlengine", ID: jobID})
		if err != nil || st.State != provider.StateCanceled {
			t.Fatalf("job %s at mlengine: %+v %v", jobID, st, err)
		}
		cards := s.cards(ctx, in.FileID)
		if stc := findCard(t, cards, "status:status"); !strings.Contains(stc.Status.Message, "cancelled") {
			t.Errorf("status %+v", stc.Status)
		}
		desc, err := s.c.DescribeWorkflowExecution(ctx, id, "")
		if err != nil || desc.WorkflowExecutionInfo.Status != enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED {
			t.Fatalf("describe: %v %v", desc, err)
		}
		s.assertNoLiveTokens(ctx, in.FileID)
		s.record(ctx, id, "cancelled")
	})

	t.Run("job timeout", func(t *testing.T) {
		s.t = t
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		in := s.upload("talk-timeout.mp4", s.talk, fast(workflows.Options{JobTimeout: time.Second}))
		id := s.start(ctx, in)
		res, err := s.result(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		p := s.progress(ctx, id)
		if res.Outcome != workflows.OutcomeFailed || p.Jobs[0].State != activities.JobTimedOut {
			t.Fatalf("result %+v jobs %+v", res, p.Jobs)
		}
		st, err := s.mlc.Status(ctx, provider.JobRef{Provider: "mlengine", ID: p.Jobs[0].JobID})
		if err != nil || st.State != provider.StateCanceled {
			t.Fatalf("job at mlengine after its deadline: %+v %v", st, err)
		}
		if stc := findCard(t, s.cards(ctx, in.FileID), "status:status"); stc.Status.Code != box.StatusTransientFailure || !strings.Contains(stc.Status.Message, "timed out") {
			t.Errorf("status %+v", stc.Status)
		}
		s.assertNoLiveTokens(ctx, in.FileID)
		s.record(ctx, id, "job-timeout")
	})

	// A job failing with a retryable job error is resubmitted as a new job
	// with a read token of its own; the run replays (GetVersion marker) and
	// is part of the recorded corpus.
	t.Run("resubmission", func(t *testing.T) {
		s.t = t
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		in := s.upload("flaky.mp4", []byte("not really a video: the flaky provider never fetches it"), &workflows.Options{
			VideoJobs:    []workflows.JobSpec{{Name: "flaky", Provider: "flaky", Analyses: []string{provider.AnalysisTranscript, provider.AnalysisKeywords}}},
			PollMinDelay: 20 * time.Millisecond, PollMaxDelay: 20 * time.Millisecond,
		})
		id := s.start(ctx, in)
		res, err := s.result(ctx, id)
		if err != nil || res.Outcome != workflows.OutcomeSuccess {
			t.Fatalf("%+v %v", res, err)
		}
		jobs := s.flaky.Jobs()
		if len(jobs) != 2 || jobs[0].Request.IdempotencyKey != id+"/flaky" || jobs[1].Request.IdempotencyKey != id+"/flaky/attempt-2" {
			t.Fatalf("jobs at the provider: %+v", jobs)
		}
		if p := s.progress(ctx, id); p.Jobs[0].Attempt != 2 || len(p.Jobs[0].PreviousAttempts) != 1 || !strings.Contains(p.Jobs[0].PreviousAttempts[0].Error, "interrupted") {
			t.Errorf("job progress %+v", p.Jobs[0])
		}
		if stc := findCard(t, s.cards(ctx, in.FileID), "status:status"); stc.Status.Code != box.StatusSuccess || !strings.Contains(stc.Status.Message, "resubmitted once") {
			t.Errorf("status %+v", stc.Status)
		}
		var reads int
		for _, tk := range s.tokens(ctx, "all") {
			if tk.ResourceID == in.FileID && slices.Contains(tk.Scopes, "item_download") {
				reads++
			}
		}
		if reads != 2 || jobs[0].Request.MediaToken == jobs[1].Request.MediaToken {
			t.Errorf("%d read tokens issued for the file, want 2 (one per attempt)", reads)
		}
		s.assertNoLiveTokens(ctx, in.FileID)
		h := s.record(ctx, id, "resubmission")
		markers := 0
		for _, e := range h.Events {
			if e.GetEventType() == enumspb.EVENT_TYPE_MARKER_RECORDED {
				markers++
			}
		}
		if markers != 4 {
			t.Errorf("%d marker events, want 4 (the versions of the stage upserts, the plan and the resubmission; the plan)", markers)
		}
	})

	// The infrequent-polling pattern on the real server: a job that takes
	// 2 hours of the provider's (simulated) time, asking to be polled every
	// 4 minutes, is polled 31 times; a 2-minute job polled every 30 seconds
	// 5 times; the histories have the same number of events. (The server
	// waits about a second between retries whatever NextRetryDelay says, so
	// each poll costs a second of real time.)
	t.Run("history length does not grow with job duration", func(t *testing.T) {
		s.t = t
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		count := func(name string, d, step time.Duration) (events, polls int) {
			s.sim.set(d, step)
			before := s.sim.polls()
			in := s.upload(name, []byte("not really a video: the simulated provider never fetches it"), &workflows.Options{
				VideoJobs:    []workflows.JobSpec{{Name: "sim", Provider: "simclock", Analyses: []string{provider.AnalysisTranscript}}},
				PollMinDelay: 20 * time.Millisecond, PollMaxDelay: 20 * time.Millisecond,
			})
			id := s.start(ctx, in)
			res, err := s.result(ctx, id)
			if err != nil || res.Outcome != workflows.OutcomeSuccess {
				t.Fatalf("%s: %+v %v", name, res, err)
			}
			s.assertNoLiveTokens(ctx, in.FileID)
			h, err := replay.History(ctx, s.c, id, "")
			if err != nil {
				t.Fatal(err)
			}
			return len(h.Events), s.sim.polls() - before
		}
		shortEvents, shortPolls := count("two-minutes.mp4", 2*time.Minute, 30*time.Second)
		longEvents, longPolls := count("two-hours.mp4", 2*time.Hour, 4*time.Minute)
		t.Logf("2-minute job: %d polls, %d history events; 2-hour job: %d polls, %d history events", shortPolls, shortEvents, longPolls, longEvents)
		if longPolls < 25 || shortPolls > 6 {
			t.Fatalf("the long job was polled only %d times", longPolls)
		}
		if longEvents > shortEvents {
			t.Fatalf("history grew with the job's duration: %d events vs %d", longEvents, shortEvents)
		}
	})

	// A signed webhook for a file that is gone (uploaded, then deleted before
	// the worker got to it) or that never existed (a forged-but-signed event):
	// the token exchange answers 400 invalid_resource, as Box does, and the
	// run ends as not_found, stage skipped, with nothing written and no token.
	t.Run("file gone", func(t *testing.T) {
		s.t = t
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		deleted := s.upload("deleted.mp4", []byte("uploaded, then deleted"), nil)
		req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, s.lb.URL+"/2.0/files/"+deleted.FileID, nil)
		req.Header.Set("Authorization", "Bearer "+s.lb.ParentToken(t))
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
			t.Fatalf("deleting file %s: %v %v", deleted.FileID, resp, err)
		}
		for _, f := range []struct{ name, id, version string }{
			{"deleted", deleted.FileID, deleted.FileVersionID},
			{"never existed", "987654321", "123456789"},
		} {
			body := mustJSON(t, map[string]any{
				"type": "webhook_event", "id": "event-gone-" + f.id, "created_at": time.Now().UTC().Format(time.RFC3339),
				"trigger": starter.TriggerFileUploaded, "webhook": map[string]string{"id": "1", "type": "webhook"},
				"source": map[string]any{"type": "file", "id": f.id, "name": f.name + ".mp4", "size": 22,
					"file_version": map[string]string{"type": "file_version", "id": f.version},
					"parent":       map[string]string{"type": "folder", "id": s.folder}},
			})
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.hooks+"/webhooks/box", bytes.NewReader(body))
			req.Header = box.SignWebhook(s.lb.WebhookPrimaryKey, s.lb.WebhookSecondaryKey, body, time.Now().UTC().Format(time.RFC3339), "delivery-gone-"+f.id)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var d starter.Decision
			err = json.NewDecoder(resp.Body).Decode(&d)
			resp.Body.Close()
			if err != nil || resp.StatusCode/100 != 2 || d.Outcome != starter.OutcomeStarted {
				t.Fatalf("%s: webhook answered %d %+v (%v)", f.name, resp.StatusCode, d, err)
			}
			res, err := s.result(ctx, d.WorkflowID)
			if err != nil {
				t.Fatalf("%s: the run failed instead of ending as not_found: %v", f.name, err)
			}
			if res.Outcome != workflows.OutcomeNotFound || res.MediaKind != workflows.MediaUnknown {
				t.Fatalf("%s: result %+v", f.name, res)
			}
			if p := s.progress(ctx, d.WorkflowID); p.Stage != workflows.StageSkipped || len(p.Jobs) != 0 {
				t.Errorf("%s: progress %+v", f.name, p)
			}
			for _, tk := range s.tokens(ctx, "all") {
				if tk.ResourceID == f.id {
					t.Errorf("%s: a token (%v) was issued for a file that does not exist", f.name, tk.Scopes)
				}
			}
		}
	})

	// The pre-deploy check and the exporter, against this server's runs.
	t.Run("replay from server", func(t *testing.T) {
		s.t = t
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		r, err := replay.NewReplayer(codec.NewDataConverter(testKeyring(t), codec.Options{Compress: true}))
		if err != nil {
			t.Fatal(err)
		}
		// Visibility is eventually consistent: wait for every closed run.
		testutil.WaitFor(t, 30*time.Second, "six closed executions in visibility", func() bool {
			execs, err := replay.List(ctx, s.c, replay.DefaultQuery, 100)
			return err == nil && len(execs) >= 6
		})
		results, err := replay.ReplayFromServer(ctx, s.c, r, nil, replay.DefaultQuery, 50)
		if err != nil {
			t.Fatal(err)
		}
		if err := replay.Failed(results); err != nil || len(results) < 6 {
			t.Fatalf("%d replayed: %v", len(results), err)
		}
		dir := t.TempDir()
		paths, err := replay.Export(ctx, s.c, replay.DefaultQuery, 3, dir)
		if err != nil || len(paths) != 3 {
			t.Fatalf("export: %v %v", paths, err)
		}
		if err := replay.Failed(replay.ReplayFiles(r, nil, paths...)); err != nil {
			t.Fatal(err)
		}
	})
}

package workflows_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"filesight/activities/activitiestest"
	"filesight/internal/box"
	"filesight/workflows"
)

// TestStageUpserts: a run upserts its search attributes only at the stages
// users filter on, each time in one upsert; runs recorded before the change
// "stage-upserts-at-transitions" upsert every stage as before.
func TestStageUpserts(t *testing.T) {
	long := activitiestest.Plan{FetchAfter: 10 * time.Minute, Duration: 2 * time.Hour, RetryAfter: time.Minute}
	for _, tc := range []struct {
		name      string
		file      string // added to the fake Box unless empty
		plan      activitiestest.Plan
		setup     func(h *harness)
		asChild   bool
		wantStage workflows.Stage
		want      []string
	}{
		{
			name: "started without attributes", file: "talk.mp4", wantStage: workflows.StageDone,
			want: []string{"FileID=1001 Stage=starting", "MediaKind=video Stage=processing", "Stage=done"},
		},
		{
			name: "started by the starter, which set FileID and Stage", file: "talk.mp4", wantStage: workflows.StageDone,
			// The test environment gives a workflow the search attributes
			// it was started with only when it is a child: the parent
			// starts ProcessFile with them, as the starter does.
			asChild: true,
			want:    []string{"MediaKind=video Stage=processing", "Stage=done"},
		},
		{
			name: "unsupported file", file: "report.pdf", wantStage: workflows.StageUnsupported,
			want: []string{"FileID=1001 Stage=starting", "MediaKind=unsupported Stage=unsupported"},
		},
		{
			name: "file gone", file: "talk.mp4", wantStage: workflows.StageSkipped,
			setup: func(h *harness) {
				h.box.FailOn("GetFile", 1, &box.Error{StatusCode: http.StatusNotFound, Code: "not_found", Op: "GET /2.0/files/{id}"})
			},
			want: []string{"FileID=1001 Stage=starting", "Stage=skipped"},
		},
		{
			name: "cancelled while the job runs", file: "talk.mp4", plan: long, wantStage: workflows.StageCancelled,
			setup: func(h *harness) { h.env.RegisterDelayedCallback(h.env.CancelWorkflow, 5*time.Minute) },
			want:  []string{"FileID=1001 Stage=starting", "MediaKind=video Stage=processing", "Stage=cancelled"},
		},
		{
			name: "recorded before stage-upserts-at-transitions", file: "talk.mp4", wantStage: workflows.StageDone,
			setup: func(h *harness) {
				h.env.OnGetVersion("stage-upserts-at-transitions", workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
			},
			want: []string{"FileID=1001", "Stage=starting", "Stage=describing", "MediaKind=video", "Stage=submitting",
				"Stage=processing", "Stage=writing", "Stage=done"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := tc.plan
			if plan.Duration == 0 {
				plan = activitiestest.Plan{Duration: time.Minute, Result: activitiestest.TalkResult()}
			}
			h := newHarness(t, plan, withParent("StartedLikeTheStarter", startedLikeTheStarter))
			h.box.AddFile(fileID, tc.file, 10<<20, versionID)
			if tc.setup != nil {
				tc.setup(h)
			}
			if tc.asChild {
				h.env.ExecuteWorkflow("StartedLikeTheStarter", input())
				if err := h.env.GetWorkflowError(); err != nil {
					t.Fatal(err)
				}
			} else {
				_, _ = h.run(input()) // outcomes are other tests' concern
			}
			if !slices.Equal(h.sa, tc.want) {
				t.Errorf("search attribute upserts\n got %q\nwant %q", h.sa, tc.want)
			}
			if tc.asChild {
				return // the query reaches the parent
			}
			if p := h.progress(); p.Stage != tc.wantStage {
				t.Errorf("final stage %q, want %q", p.Stage, tc.wantStage)
			}
		})
	}
}

// startedLikeTheStarter runs ProcessFile as a child started with the
// FileID and Stage search attributes, as the starter sets them.
func startedLikeTheStarter(ctx workflow.Context, in workflows.ProcessFileInput) (*workflows.ProcessFileResult, error) {
	ctx = workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID: workflows.WorkflowID(in.FileID, in.FileVersionID) + "-child", TaskQueue: workflows.TaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrFileID).ValueSet(in.FileID),
			temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrStage).ValueSet(string(workflows.StageStarting)),
		),
	})
	var res workflows.ProcessFileResult
	err := workflow.ExecuteChildWorkflow(ctx, workflows.ProcessFileName, in).Get(ctx, &res)
	return &res, err
}

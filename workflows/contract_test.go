package workflows_test

import (
	"encoding/json"
	"testing"
	"time"

	"filesight/activities"
	"filesight/workflows"
)

// The vocabulary is typed, but what starters, the UI, the card writer and
// recorded histories see is JSON: the names must stay exactly these.
func TestContractJSONNames(t *testing.T) {
	deadline := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"result", workflows.ProcessFileResult{Outcome: workflows.OutcomePartial, MediaKind: workflows.MediaVideo, Cards: []string{"status"}, TokensIssued: 3, TokensRevoked: 3},
			`{"outcome":"partial","media_kind":"video","cards":["status"],"tokens_issued":3,"tokens_revoked":3}`},
		{"progress", workflows.Progress{
			WorkflowID: "w", FileID: "1", Stage: workflows.StageCleaningUp, MediaKind: workflows.MediaUnsupported, Outcome: workflows.OutcomeCancelled,
			Jobs: []workflows.JobProgress{{Name: "j", Provider: "p", Analyses: []string{"ocr"}, State: activities.JobTimedOut, Deadline: deadline, Attempt: 2,
				PreviousAttempts: []workflows.AttemptProgress{{Attempt: 1, State: activities.JobSubmitFailed}}}},
			Tokens: []workflows.TokenProgress{{ID: "f", Purpose: activities.PurposeRead, Scopes: []string{"item_preview"}, State: activities.TokenRevokeFailed}},
		}, `{"workflow_id":"w","file_id":"1","stage":"cleaning_up","media_kind":"unsupported",` +
			`"jobs":[{"name":"j","provider":"p","analyses":["ocr"],"state":"timed_out","media_fetched":false,"deadline":"2026-01-02T03:04:05Z","callback":false,` +
			`"attempt":2,"previous_attempts":[{"attempt":1,"state":"submit_failed"}]}],` +
			`"tokens":[{"id":"f","purpose":"read","scopes":["item_preview"],"state":"revoke_failed"}],"callbacks":0,"outcome":"cancelled"}`},
		{"job outcome", activities.JobOutcome{Name: "j", State: activities.JobSucceeded},
			`{"name":"j","ref":{"provider":"","id":""},"analyses":null,"state":"succeeded"}`},
		{"await", activities.AwaitJobInput{Mode: activities.AwaitMediaFetched},
			`{"ref":{"provider":"","id":""},"mode":"media_fetched","min_delay":0,"max_delay":0}`},
		{"revoke", activities.RevokeTokenResult{State: activities.TokenExpired}, `{"state":"expired"}`},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, b, tc.want)
		}
	}
	if workflows.ErrTypeInvalidInput != "InvalidInput" || activities.ErrTypeStillRunning != "JobStillRunning" {
		t.Error("application error type names changed")
	}
}

package workflows_test

import (
	"strings"
	"testing"
	"time"

	"filesight/activities/activitiestest"
	"filesight/internal/box"
	"filesight/internal/provider"
	"filesight/workflows"
)

// TestMediaFailureShowsOnlyTheFixedText follows a job that failed because of
// the media itself (a provider.Reason) from the provider's status to the
// status card: it is not resubmitted, the card is a permanent failure, and
// it says the provider's fixed message alone — or, when a provider quotes
// its tool, the reason's own text.
func TestMediaFailureShowsOnlyTheFixedText(t *testing.T) {
	for _, tc := range []struct {
		name     string
		jobError provider.JobError
		want     string
	}{
		{"fixed text", provider.JobError{Code: "unsupported_media", Message: "This file is not a readable audio or video file."},
			"This file is not a readable audio or video file."},
		{"limit", provider.JobError{Code: "media_too_long", Message: "This file is longer than the 4-hour limit."},
			"This file is longer than the 4-hour limit."},
		// Even a provider that calls it retryable is not resubmitted.
		{"tool output", provider.JobError{Code: "unsupported_media", Retryable: true,
			Message: "ffprobe failed: exit status 1: /srv/mlengine/jobs/6f1c2a/media: Invalid data found when processing input"},
			"This file is not a readable audio or video file."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			je := tc.jobError
			h := newHarness(t, activitiestest.Plan{Duration: 40 * time.Second, Final: provider.StateFailed, JobError: &je})
			h.box.AddFile(fileID, "talk.mp4", 1000, versionID)
			res, err := h.run(input())
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != workflows.OutcomeFailed || res.Message != tc.want {
				t.Errorf("result %+v, want failed with %q", res, tc.want)
			}
			cards := h.box.Cards(fileID)
			st := statusCard(t, cards)
			if len(cards) != 1 || st.Code != box.StatusPermanentFailure || st.Message != tc.want {
				t.Fatalf("cards %v, status %+v; want only a permanent failure saying %q", cardTypes(cards), st, tc.want)
			}
			if strings.Contains(st.Message, "/") || strings.Contains(st.Message, je.Code) {
				t.Errorf("status message %q", st.Message)
			}
			if n := len(h.ml().Calls("Submit")); n != 1 {
				t.Errorf("the job was submitted %d times, want once", n)
			}
			h.assertTokensClean(res)
		})
	}
}

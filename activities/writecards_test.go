package activities_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"filesight/activities"
	"filesight/activities/activitiestest"
	"filesight/internal/box"
	"filesight/internal/provider"
)

func TestWriteCardsContentLimitsAndRedaction(t *testing.T) {
	res := activitiestest.TalkResult()
	// Many distinct on-screen texts and a long transcript, to hit limits.
	for i := 0; i < 300; i++ {
		res.OCR = append(res.OCR, provider.OCRText{Text: "Slide text number " + string(rune('A'+i%26)) + strings.Repeat("x", i), Start: float64(i), End: float64(i) + 0.2})
	}
	f := newFixture(t, activitiestest.Plan{Duration: 0, Result: res})
	job := succeededJob(t, f, provider.AnalysisTranscript, provider.AnalysisKeywords, provider.AnalysisScenes, provider.AnalysisOCR)
	out, cards, err := writeCards(t, f, []activities.JobOutcome{job})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.Cards, []string{"transcript", "keywords", "timeline:scenes", "timeline:ocr", "status"}) || out.StatusCode != box.StatusSuccess {
		t.Fatalf("%+v", out)
	}
	doc, _ := json.Marshal(box.SkillsDocument{Cards: cards})
	if err := box.ValidateSkillsCards(doc); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(doc), "4111") || out.Redactions < 3 {
		t.Errorf("redactions %d; document %s", out.Redactions, doc)
	}
	tr := cards[0]
	if tr.Duration != 43 || len(tr.Entries) != 2 || tr.Entries[1].Appears[0].Start != 8 {
		t.Errorf("transcript card %+v", tr)
	}
	// The spoken card number is one token, not sixteen.
	if strings.Count(tr.Entries[1].Text, "[card:") != 1 || !strings.HasSuffix(tr.Entries[1].Text, "] thanks") {
		t.Errorf("transcript entry %q", tr.Entries[1].Text)
	}
	ocr := cards[3]
	if len(ocr.Entries) != 200 || !strings.Contains(out.Message, "on-screen text card shows the first 200") {
		t.Errorf("ocr entries %d, message %q", len(ocr.Entries), out.Message)
	}
	// "Quarterly Review" and "Quarterly  Review" are one entry with two spans.
	if ocr.Entries[0].Text != "Quarterly Review" || len(ocr.Entries[0].Appears) != 2 {
		t.Errorf("first ocr entry %+v", ocr.Entries[0])
	}
	for _, e := range append(cards[2].Entries, ocr.Entries...) {
		for _, a := range e.Appears {
			if a.End == nil || *a.End <= a.Start || *a.End > 43 {
				t.Fatalf("bad span %+v in %q", a, e.Text)
			}
		}
	}
	// A retry writes the same list: no duplicates.
	out2, cards2, err := writeCards(t, f, []activities.JobOutcome{job})
	if err != nil || len(cards2) != len(cards) || out2.Message != out.Message {
		t.Fatalf("retry changed the cards: %d vs %d, %v", len(cards2), len(cards), err)
	}
}

func TestWriteCardsPartialAndFailed(t *testing.T) {
	f := newFixture(t, activitiestest.Plan{Duration: 0, Result: activitiestest.TalkResult(),
		Analyses: map[string]provider.State{provider.AnalysisOCR: provider.StateFailed}})
	job := succeededJob(t, f, provider.AnalysisScenes, provider.AnalysisOCR)
	timedOut := activities.JobOutcome{Name: "speech", Ref: provider.JobRef{Provider: "mlengine", ID: "j9"},
		Analyses: []string{provider.AnalysisTranscript}, State: activities.JobTimedOut, Error: "did not finish within 4h0m0s"}
	out, cards, err := writeCards(t, f, []activities.JobOutcome{job, timedOut})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.Failed, []string{"transcript", "on-screen text"}) || out.StatusCode != box.StatusTransientFailure ||
		!strings.Contains(out.Message, `job "speech" timed out`) || !strings.Contains(out.Message, `on-screen text failed in job "mlengine"`) {
		t.Fatalf("%+v", out)
	}
	if len(cards) != 2 || cards[0].SkillCardType != box.CardTypeTimeline {
		t.Fatalf("cards %+v", cards)
	}

	failed := activities.JobOutcome{Name: "mlengine", Ref: provider.JobRef{Provider: "mlengine", ID: "j1"},
		Analyses: []string{provider.AnalysisTranscript}, State: activities.JobFailed, Error: "media_unreadable: no stream"}
	out, cards, err = writeCards(t, f, []activities.JobOutcome{failed})
	if err != nil || out.StatusCode != box.StatusPermanentFailure || len(cards) != 1 || !strings.HasPrefix(out.Message, "Analysis failed: transcript") {
		t.Fatalf("%+v %v", out, err)
	}
}

func TestWriteCardsErrors(t *testing.T) {
	f := newFixture(t, activitiestest.Plan{Duration: 0, Result: activitiestest.TalkResult()})
	job := succeededJob(t, f, provider.AnalysisTranscript)
	f.box.FailOn("UpsertSkillsCards", 1, &box.Error{StatusCode: http.StatusUnauthorized, Code: "invalid_token"})
	_, _, err := writeCards(t, f, []activities.JobOutcome{job})
	if app := appErr(t, err); app.Type() != string(activities.ErrTypeTokenRejected) || !app.NonRetryable() {
		t.Fatalf("got %v", err)
	}
	f.box.FailOn("UpsertSkillsCards", 2, &box.Error{StatusCode: http.StatusTooManyRequests, RetryAfter: 3 * time.Second})
	_, _, err = writeCards(t, f, []activities.JobOutcome{job})
	if app := appErr(t, err); app.NonRetryable() || app.NextRetryDelay() != 3*time.Second {
		t.Fatalf("got %v", err)
	}
	// A token without item_upload is refused for good.
	read, _ := f.acts.IssueToken(context.Background(), activities.IssueTokenInput{FileID: "42", Purpose: "read", Scopes: []string{box.ScopeItemPreview}})
	err = f.acts.WriteStatus(context.Background(), activities.WriteStatusInput{FileID: "42", Token: read, Code: box.StatusProcessing, Message: "x", InvocationID: "i"})
	if app := appErr(t, err); app.Type() != string(activities.ErrTypeForbidden) {
		t.Fatalf("got %v", err)
	}
}

func TestWriteCardsMentionsResubmissions(t *testing.T) {
	f := newFixture(t, activitiestest.Plan{Duration: 0, Result: activitiestest.TalkResult()})

	// Succeeded on its second attempt: a success card that says so.
	job := succeededJob(t, f, provider.AnalysisTranscript)
	job.Attempt, job.PreviousErrors = 2, []string{"interrupted: restarted too often"}
	out, _, err := writeCards(t, f, []activities.JobOutcome{job})
	if err != nil {
		t.Fatal(err)
	}
	want := `Job "mlengine" was resubmitted once after a retryable failure (attempt 1: interrupted: restarted too often); attempt 2 succeeded.`
	if out.StatusCode != box.StatusSuccess || !strings.Contains(out.Message, want) {
		t.Errorf("status %s, message %q; want it to contain %q", out.StatusCode, out.Message, want)
	}

	// Failed retryably on all three attempts: transient (trying later may
	// help), and every attempt's error is named.
	failed := activities.JobOutcome{Name: "mlengine", Ref: provider.JobRef{Provider: "mlengine", ID: "j3"},
		Analyses: []string{provider.AnalysisTranscript}, State: activities.JobFailed, Error: "media_fetch_failed: 503",
		Retryable: true, Attempt: 3, PreviousErrors: []string{"interrupted: restarted too often", "media_fetch_failed: 502"}}
	out, _, err = writeCards(t, f, []activities.JobOutcome{failed})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`job "mlengine" failed: media_fetch_failed: 503`, "resubmitted 2 times",
		"attempt 1: interrupted: restarted too often; attempt 2: media_fetch_failed: 502", "attempt 3 did not succeed either"} {
		if !strings.Contains(out.Message, s) {
			t.Errorf("message %q lacks %q", out.Message, s)
		}
	}
	if out.StatusCode != box.StatusTransientFailure {
		t.Errorf("status %s, want %s for a retryable job failure", out.StatusCode, box.StatusTransientFailure)
	}

	// A job submitted once says nothing about resubmission.
	failed.Attempt, failed.PreviousErrors = 0, nil
	out, _, err = writeCards(t, f, []activities.JobOutcome{failed})
	if err != nil || strings.Contains(out.Message, "resubmitted") {
		t.Errorf("message %q, %v", out.Message, err)
	}
}

// A result that cannot be fetched for good is named on the status card in
// a few words; the details go to the log, under the key "error".
func TestWriteCardsLogsWhyAResultIsMissing(t *testing.T) {
	f := newFixture(t, activitiestest.Plan{Duration: 0, Result: activitiestest.TalkResult()})
	gone := activities.JobOutcome{Name: "mlengine", Ref: provider.JobRef{Provider: "mlengine", ID: "expired-job"},
		Analyses: []string{provider.AnalysisTranscript}, State: activities.JobSucceeded}
	out, _, err := writeCards(t, f, []activities.JobOutcome{gone})
	if err != nil {
		t.Fatal(err)
	}
	if out.StatusCode != box.StatusPermanentFailure || !strings.Contains(out.Message, `job "mlengine": its result could not be fetched`) {
		t.Fatalf("%+v", out)
	}
	found := false
	for _, line := range strings.Split(strings.TrimSpace(f.logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == "the result of a job could not be fetched" {
			found = true
			if e, _ := rec["error"].(string); !strings.Contains(e, "not_succeeded") || rec["job"] != "mlengine/expired-job" || rec["level"] != "WARN" {
				t.Errorf("log record %v", rec)
			}
		}
	}
	if !found {
		t.Errorf("no log record for the missing result in %s", f.logs.String())
	}
}

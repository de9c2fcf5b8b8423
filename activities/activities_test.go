package activities_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"filesight/activities"
	"filesight/activities/activitiestest"
	"filesight/internal/box"
	"filesight/internal/codec/codectest"
	"filesight/internal/provider"
	"filesight/internal/secret"
	"filesight/internal/tokenseal"
	"filesight/internal/tokenseal/tokensealtest"
	"filesight/internal/vault"
)

type fixture struct {
	acts   *activities.Activities
	sealer *tokenseal.Sealer
	box    *activitiestest.Box
	prov   *activitiestest.Provider
	logs   *bytes.Buffer
	now    time.Time
}

// fixtureOptions change newFixture's defaults.
type fixtureOptions struct {
	redactor   activities.Redactor          // default: local keyed tokens (vault.New)
	deleting   bool                         // the provider deletes results (activitiestest.ResultDeleter)
	heartbeats activities.HeartbeatRecorder // Options.Heartbeats
}

func newFixture(t *testing.T, plan activitiestest.Plan, opts ...func(*fixtureOptions)) *fixture {
	t.Helper()
	f := &fixture{logs: &bytes.Buffer{}, now: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return f.now }
	f.box = activitiestest.NewBox(clock, time.Hour)
	f.box.AddFile("42", "talk.mp4", 1000, "7")
	f.prov = activitiestest.NewProvider("mlengine", clock, plan)
	var o fixtureOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.redactor == nil {
		tok, err := vault.New("activities-test-vault-key-000")
		if err != nil {
			t.Fatal(err)
		}
		o.redactor = tok
	}
	var p provider.Provider = f.prov
	if o.deleting {
		p = activitiestest.ResultDeleter{Provider: f.prov}
	}
	var err error
	f.sealer = tokensealtest.New(t)
	f.acts, err = activities.New(f.box, []provider.Provider{p}, o.redactor, f.sealer, activities.Options{
		CallbackBaseURL: "https://starter.example/", Now: clock, Logger: slog.New(slog.NewJSONHandler(f.logs, nil)),
		Heartbeats: o.heartbeats,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func appErr(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	var app *temporal.ApplicationError
	if !errors.As(err, &app) {
		t.Fatalf("want an application error, got %T %v", err, err)
	}
	return app
}

func TestNewValidates(t *testing.T) {
	b := activitiestest.NewBox(nil, time.Hour)
	tok, _ := vault.New("activities-test-vault-key-000")
	p := activitiestest.NewProvider("x", nil, activitiestest.Plan{})
	s := tokensealtest.New(t)
	for name, fn := range map[string]func() error{
		"no box": func() error {
			_, err := activities.New(nil, []provider.Provider{p}, tok, s, activities.Options{})
			return err
		},
		"no redactor": func() error {
			_, err := activities.New(b, []provider.Provider{p}, nil, s, activities.Options{})
			return err
		},
		"no sealer": func() error {
			_, err := activities.New(b, []provider.Provider{p}, tok, nil, activities.Options{})
			return err
		},
		"no provider": func() error { _, err := activities.New(b, nil, tok, s, activities.Options{}); return err },
		"dup provider": func() error {
			_, err := activities.New(b, []provider.Provider{p, p}, tok, s, activities.Options{})
			return err
		},
		"bad callback": func() error {
			_, err := activities.New(b, []provider.Provider{p}, tok, s, activities.Options{CallbackBaseURL: "ftp://x"})
			return err
		},
	} {
		if err := fn(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestTokensIssueRevokeAndNeverLeak(t *testing.T) {
	f := newFixture(t, activitiestest.Plan{})
	ctx := context.Background()
	tok, err := f.acts.IssueToken(ctx, activities.IssueTokenInput{FileID: "42", Purpose: activities.PurposeRead, Scopes: []string{box.ScopeItemPreview}})
	if err != nil {
		t.Fatal(err)
	}
	if tok.ID == "" || tok.Purpose != activities.PurposeRead || tok.FileID != "42" || !tok.LegacyAccessToken.IsZero() ||
		!strings.HasPrefix(tok.Sealed, tokenseal.Prefix) {
		t.Fatalf("token %+v", tok)
	}
	if v, err := f.sealer.Open(tok.Sealed, "box-token/42/read"); err != nil || v.Fingerprint() != tok.ID {
		t.Fatalf("the sealed value is not the token: %v", err)
	}
	res, err := f.acts.RevokeToken(ctx, tok)
	if err != nil || res.State != activities.TokenRevoked || len(f.box.Unrevoked()) != 0 {
		t.Fatalf("revoke: %+v %v %v", res, err, f.box.Unrevoked())
	}
	// Expired (beyond the grace minute): reported, not sent to Box.
	tok2, _ := f.acts.IssueToken(ctx, activities.IssueTokenInput{FileID: "42", Purpose: activities.PurposeWrite, Scopes: []string{box.ScopeItemUpload}})
	f.now = f.now.Add(time.Hour + 2*time.Minute)
	calls := len(f.box.Calls("Revoke"))
	res, err = f.acts.RevokeToken(ctx, tok2)
	if err != nil || res.State != activities.TokenExpired || len(f.box.Calls("Revoke")) != calls {
		t.Fatalf("expired: %+v %v", res, err)
	}
	for _, v := range f.box.TokenValues() {
		if strings.Contains(f.logs.String(), v) {
			t.Fatalf("a token value was logged: %s", f.logs.String())
		}
	}
	if !strings.Contains(f.logs.String(), tok.ID) {
		t.Errorf("the logs do not name the token by fingerprint: %s", f.logs.String())
	}
}

func TestBoxErrorClassification(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		err       error
		typ       activities.ErrorType
		retryable bool
		delay     time.Duration
	}{
		{&box.Error{StatusCode: 429, Code: "rate_limit_exceeded", RetryAfter: 9 * time.Second}, activities.ErrTypeUnavailable, true, 9 * time.Second},
		{&box.Error{StatusCode: 429, RetryAfter: time.Hour}, activities.ErrTypeUnavailable, true, 5 * time.Minute},
		{&box.Error{StatusCode: 503}, activities.ErrTypeUnavailable, true, 0},
		{&box.Error{StatusCode: 0, Err: errors.New("connection refused")}, activities.ErrTypeUnavailable, true, 0},
		{&box.Error{StatusCode: 401, Code: "invalid_token"}, activities.ErrTypeTokenRejected, false, 0},
		{&box.Error{StatusCode: 403, Code: "insufficient_scope"}, activities.ErrTypeForbidden, false, 0},
		{&box.Error{StatusCode: 404, Code: "not_found"}, activities.ErrTypeNotFound, false, 0},
		{&box.Error{StatusCode: 400, Code: box.CodeInvalidResource}, activities.ErrTypeNotFound, false, 0}, // token exchange, missing file
		{&box.Error{StatusCode: 400, Code: "bad_request"}, activities.ErrTypeInvalid, false, 0},
	} {
		f := newFixture(t, activitiestest.Plan{})
		f.box.FailOn("Downscope", 1, tc.err)
		_, err := f.acts.IssueToken(ctx, activities.IssueTokenInput{FileID: "42", Purpose: "read", Scopes: []string{"item_preview"}})
		app := appErr(t, err)
		if app.Type() != string(tc.typ) || app.NonRetryable() == tc.retryable || app.NextRetryDelay() != tc.delay {
			t.Errorf("%v: got type %s nonretryable %v delay %v", tc.err, app.Type(), app.NonRetryable(), app.NextRetryDelay())
		}
	}
}

func TestDescribeFile(t *testing.T) {
	f := newFixture(t, activitiestest.Plan{})
	ctx := context.Background()
	tok, _ := f.acts.IssueToken(ctx, activities.IssueTokenInput{FileID: "42", Purpose: "read", Scopes: []string{box.ScopeItemPreview, box.ScopeItemDownload}})
	info, err := f.acts.DescribeFile(ctx, activities.DescribeFileInput{FileID: "42", Token: tok})
	if err != nil || !info.Found || info.Name != "talk.mp4" || info.Extension != "mp4" || info.Size != 1000 || info.FileVersionID != "7" {
		t.Fatalf("%+v %v", info, err)
	}
	// A write-only token cannot read: 403 is permanent.
	wtok, _ := f.acts.IssueToken(ctx, activities.IssueTokenInput{FileID: "42", Purpose: "write", Scopes: []string{box.ScopeItemUpload}})
	_, err = f.acts.DescribeFile(ctx, activities.DescribeFileInput{FileID: "42", Token: wtok})
	if app := appErr(t, err); app.Type() != string(activities.ErrTypeForbidden) || !app.NonRetryable() {
		t.Fatalf("got %v", err)
	}
	f.box.FailOn("GetFile", 3, &box.Error{StatusCode: 404, Code: "not_found"})
	info, err = f.acts.DescribeFile(ctx, activities.DescribeFileInput{FileID: "42", Token: tok})
	if err != nil || info.Found {
		t.Fatalf("gone file: %+v %v", info, err)
	}
}

func TestSubmitPollCancel(t *testing.T) {
	f := newFixture(t, activitiestest.Plan{FetchAfter: 10 * time.Second, Duration: time.Minute, RetryAfter: 7 * time.Second})
	ctx := context.Background()
	read, _ := f.acts.IssueToken(ctx, activities.IssueTokenInput{FileID: "42", Purpose: "read", Scopes: []string{box.ScopeItemDownload}})
	in := activities.SubmitJobInput{Provider: "mlengine", IdempotencyKey: "file-42-v7/mlengine", FileID: "42", ReadToken: read,
		Analyses: []string{provider.AnalysisTranscript}, Labels: map[string]string{"workflow_id": "file-42-v7"}}
	ref, err := f.acts.SubmitJob(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.acts.SubmitJob(ctx, in)
	if err != nil || again != ref || len(f.prov.Jobs()) != 1 {
		t.Fatalf("resubmission made another job: %v %v %d", again, err, len(f.prov.Jobs()))
	}
	req := f.prov.Jobs()[0].Request
	if req.CallbackURL != "https://starter.example/callbacks/mlengine" || req.MediaToken.Fingerprint() != read.ID ||
		req.MediaURL != "http://box.invalid/2.0/files/42/content" {
		t.Fatalf("request %+v", req)
	}

	poll := activities.AwaitJobInput{Ref: ref, Mode: activities.AwaitMediaFetched, MinDelay: 2 * time.Second, MaxDelay: time.Minute}
	_, err = f.acts.AwaitJob(ctx, poll)
	app := appErr(t, err)
	if app.Type() != string(activities.ErrTypeStillRunning) || app.NonRetryable() || app.NextRetryDelay() != 7*time.Second ||
		app.Category() != temporal.ApplicationErrorCategoryBenign {
		t.Fatalf("still running: %v (delay %v)", err, app.NextRetryDelay())
	}
	f.now = f.now.Add(10 * time.Second)
	st, err := f.acts.AwaitJob(ctx, poll)
	if err != nil || !st.MediaFetched || st.State.Terminal() {
		t.Fatalf("media fetched: %+v %v", st, err)
	}
	poll.Mode = activities.AwaitTerminal
	if _, err := f.acts.AwaitJob(ctx, poll); err == nil {
		t.Fatal("a running job satisfied AwaitTerminal")
	}
	if err := f.acts.CancelJob(ctx, ref); err != nil {
		t.Fatal(err)
	}
	st, err = f.acts.AwaitJob(ctx, poll)
	if err != nil || st.State != provider.StateCanceled {
		t.Fatalf("after cancel: %+v %v", st, err)
	}
	// An unknown job: polling stops for good; cancelling it is a no-op.
	_, err = f.acts.AwaitJob(ctx, activities.AwaitJobInput{Ref: provider.JobRef{Provider: "mlengine", ID: "nope"}, Mode: activities.AwaitTerminal})
	if app := appErr(t, err); app.Type() != string(activities.ErrTypeNotFound) || !app.NonRetryable() {
		t.Fatalf("unknown job: %v", err)
	}
	if err := f.acts.CancelJob(ctx, provider.JobRef{Provider: "mlengine", ID: "nope"}); err != nil {
		t.Fatalf("cancel unknown: %v", err)
	}
	_, err = f.acts.SubmitJob(ctx, activities.SubmitJobInput{Provider: "elsewhere"})
	if app := appErr(t, err); app.Type() != string(activities.ErrTypeUnknownProvider) || !app.NonRetryable() {
		t.Fatalf("unknown provider: %v", err)
	}
}

func TestProviderErrorClassification(t *testing.T) {
	for _, tc := range []struct {
		err       *provider.Error
		typ       activities.ErrorType
		retryable bool
		delay     time.Duration
	}{
		{&provider.Error{Op: "submit", StatusCode: 429, Retryable: true, RetryAfter: 20 * time.Second}, activities.ErrTypeUnavailable, true, 20 * time.Second},
		{&provider.Error{Op: "submit", StatusCode: 401}, activities.ErrTypeProviderAuth, false, 0},
		{&provider.Error{Op: "submit", StatusCode: 415, Code: "unsupported_media"}, activities.ErrTypeUnsupportedMedia, false, 0},
		{&provider.Error{Op: "submit", StatusCode: 400, Code: "invalid_request"}, activities.ErrTypeProviderRejected, false, 0},
	} {
		f := newFixture(t, activitiestest.Plan{SubmitErrors: []error{tc.err}})
		read, _ := f.acts.IssueToken(context.Background(), activities.IssueTokenInput{FileID: "42", Purpose: "read", Scopes: []string{box.ScopeItemDownload}})
		_, err := f.acts.SubmitJob(context.Background(), activities.SubmitJobInput{Provider: "mlengine", FileID: "42", ReadToken: read, IdempotencyKey: "k"})
		app := appErr(t, err)
		if app.Type() != string(tc.typ) || app.NonRetryable() == tc.retryable || app.NextRetryDelay() != tc.delay {
			t.Errorf("%v: type %s nonretryable %v delay %v", tc.err, app.Type(), app.NonRetryable(), app.NextRetryDelay())
		}
	}
}

func TestPollDelay(t *testing.T) {
	for _, tc := range []struct {
		retryAfter time.Duration
		attempt    int32
		want       time.Duration
	}{
		{0, 1, 2 * time.Second},
		{0, 2, 3 * time.Second},
		{0, 3, 4500 * time.Millisecond},
		{0, 40, time.Minute},
		{10 * time.Second, 1, 10 * time.Second},
		{time.Millisecond, 9, 2 * time.Second},
		{time.Hour, 1, time.Minute},
	} {
		if got := activities.PollDelay(tc.retryAfter, tc.attempt, 2*time.Second, time.Minute); got != tc.want {
			t.Errorf("PollDelay(%v, %d) = %v, want %v", tc.retryAfter, tc.attempt, got, tc.want)
		}
	}
}

func writeCards(t *testing.T, f *fixture, jobs []activities.JobOutcome) (activities.WriteCardsResult, []box.Card, error) {
	t.Helper()
	tok, err := f.acts.IssueToken(context.Background(), activities.IssueTokenInput{FileID: "42", Purpose: "write", Scopes: []string{box.ScopeItemUpload}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.acts.WriteCards(context.Background(), activities.WriteCardsInput{FileID: "42", Token: tok, InvocationID: "file-42-v7", Jobs: jobs})
	return res, f.box.Cards("42"), err
}

func succeededJob(t *testing.T, f *fixture, analyses ...string) activities.JobOutcome {
	t.Helper()
	read, _ := f.acts.IssueToken(context.Background(), activities.IssueTokenInput{FileID: "42", Purpose: "read", Scopes: []string{box.ScopeItemDownload}})
	ref, err := f.acts.SubmitJob(context.Background(), activities.SubmitJobInput{Provider: "mlengine", FileID: "42", ReadToken: read, IdempotencyKey: "k", Analyses: analyses})
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.acts.GetJobStatus(context.Background(), ref)
	if err != nil || st.State != provider.StateSucceeded {
		t.Fatalf("%+v %v", st, err)
	}
	return activities.JobOutcome{Name: "mlengine", Ref: ref, Analyses: analyses, State: activities.JobState(st.State), Status: st.Analyses}
}

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

// What the activities hand to Temporal — IssueToken's result and the
// inputs of every activity that uses a token — is what anyone holding the
// payload codec reads. None of it may contain a token value; the workers
// still use the tokens.
func TestTokensTravelSealed(t *testing.T) {
	f := newFixture(t, activitiestest.Plan{Duration: time.Minute})
	ctx := context.Background()
	read, err := f.acts.IssueToken(ctx, activities.IssueTokenInput{FileID: "42", Purpose: activities.PurposeRead, Scopes: []string{box.ScopeItemPreview, box.ScopeItemDownload}})
	if err != nil {
		t.Fatal(err)
	}
	write, err := f.acts.IssueToken(ctx, activities.IssueTokenInput{FileID: "42", Purpose: activities.PurposeWrite, Scopes: []string{box.ScopeItemUpload}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := f.acts.DescribeFile(ctx, activities.DescribeFileInput{FileID: "42", Token: read})
	if err != nil || !info.Found {
		t.Fatalf("describe: %+v %v", info, err)
	}
	submit := activities.SubmitJobInput{Provider: "mlengine", IdempotencyKey: "k", FileID: "42", ReadToken: read, Analyses: []string{provider.AnalysisTranscript}}
	if _, err := f.acts.SubmitJob(ctx, submit); err != nil {
		t.Fatal(err)
	}
	status := activities.WriteStatusInput{FileID: "42", Token: write, InvocationID: "file-42-v7", Code: box.StatusProcessing, Message: "working"}
	if err := f.acts.WriteStatus(ctx, status); err != nil {
		t.Fatal(err)
	}
	cards := activities.WriteCardsInput{FileID: "42", Token: write, InvocationID: "file-42-v7"}
	if _, err := f.acts.WriteCards(ctx, cards); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []activities.Token{read, write} {
		if _, err := f.acts.RevokeToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if live := f.box.Unrevoked(); len(live) != 0 {
		t.Fatalf("tokens left live: %v", live)
	}
	history, err := json.Marshal([]any{read, write, activities.DescribeFileInput{FileID: "42", Token: read}, submit, status, cards})
	if err != nil {
		t.Fatal(err)
	}
	values := f.box.TokenValues()
	if len(values) != 2 {
		t.Fatalf("Box issued %d tokens, want 2", len(values))
	}
	for _, v := range values {
		if strings.Contains(string(history), v) {
			t.Fatalf("a token value is readable in what the activities hand to Temporal: %s", history)
		}
	}
	if strings.Contains(string(history), `"access_token"`) || !strings.Contains(string(history), `"sealed":"`+tokenseal.Prefix) {
		t.Errorf("tokens are not in their sealed form: %s", history)
	}
}

// Any worker with the sealing keys uses and revokes a token another
// worker issued (several workers, a crash between issue and use); a
// worker without the key that sealed it fails retryably (so that a worker
// with it takes the retry); a sealed value that was altered, moved to
// another file or purpose, or does not match the token's fingerprint fails
// for good; a token already expired is reported without opening it.
func TestSealedTokensAcrossWorkers(t *testing.T) {
	k1, k2 := codectest.NewKey(t, "seal-1"), codectest.NewKey(t, "seal-2")
	issuer := newFixture(t, activitiestest.Plan{})
	issuer.sealer = tokensealtest.New(t, k1, k2)
	other := func(s *tokenseal.Sealer) *activities.Activities {
		vt, _ := vault.New("activities-test-vault-key-000")
		a, err := activities.New(issuer.box, []provider.Provider{issuer.prov}, vt, s, activities.Options{
			Now: func() time.Time { return issuer.now }, Logger: slog.New(slog.NewJSONHandler(issuer.logs, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	issuer.acts = other(issuer.sealer)
	ctx := context.Background()
	issue := func(purpose activities.TokenPurpose) activities.Token {
		tok, err := issuer.acts.IssueToken(ctx, activities.IssueTokenInput{FileID: "42", Purpose: purpose, Scopes: []string{box.ScopeItemPreview}})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	peer := other(tokensealtest.New(t, k1, k2))
	tok := issue(activities.PurposeRead)
	if _, err := peer.DescribeFile(ctx, activities.DescribeFileInput{FileID: "42", Token: tok}); err != nil {
		t.Fatalf("a peer worker cannot use the token: %v", err)
	}
	if res, err := peer.RevokeToken(ctx, tok); err != nil || res.State != activities.TokenRevoked {
		t.Fatalf("a peer worker cannot revoke the token: %+v %v", res, err)
	}

	stale := other(tokensealtest.New(t, k1)) // lacks seal-2, which sealed it
	tok = issue(activities.PurposeRead)
	_, err := stale.RevokeToken(ctx, tok)
	if app := appErr(t, err); app.Type() != string(activities.ErrTypeSealedToken) || app.NonRetryable() {
		t.Errorf("a worker without the key: %v (non-retryable %v), want a retryable SealedToken", err, app.NonRetryable())
	}

	altered := func(change func(*activities.Token)) activities.Token {
		c := tok
		change(&c)
		return c
	}
	other2 := tokensealtest.New(t, k2) // same key ID, seal-2, but it is k2: opens
	for name, bad := range map[string]activities.Token{
		"ciphertext altered": altered(func(c *activities.Token) {
			b, i := []byte(c.Sealed), len(c.Sealed)-3
			if b[i] == 'A' {
				b[i] = 'B'
			} else {
				b[i] = 'A'
			}
			c.Sealed = string(b)
		}),
		"moved to another file":    altered(func(c *activities.Token) { c.FileID = "43" }),
		"moved to another purpose": altered(func(c *activities.Token) { c.Purpose = activities.PurposeWrite }),
		"fingerprint changed":      altered(func(c *activities.Token) { c.ID = "000000000000" }),
		"sealed by a stranger": altered(func(c *activities.Token) {
			stranger := tokensealtest.New(t, codectest.NewKey(t, "seal-2"))
			c.Sealed, _ = stranger.Seal(secret.String("a-forged-token-value-000000"), "box-token/42/read")
		}),
		"no value": altered(func(c *activities.Token) { c.Sealed = "" }),
	} {
		_, err := other(other2).RevokeToken(ctx, bad)
		if app := appErr(t, err); !app.NonRetryable() {
			t.Errorf("%s: %v is retryable", name, err)
		}
	}
	if _, err := peer.RevokeToken(ctx, tok); err != nil {
		t.Fatalf("the untouched token: %v", err)
	}

	tok = issue(activities.PurposeWrite)
	issuer.now = issuer.now.Add(2 * time.Hour)
	if res, err := stale.RevokeToken(ctx, tok); err != nil || res.State != activities.TokenExpired {
		t.Errorf("an expired token: %+v %v", res, err)
	}
	for _, v := range issuer.box.TokenValues() {
		if strings.Contains(issuer.logs.String(), v) {
			t.Fatal("a token value was logged")
		}
	}
}

// Runs recorded before tokens were sealed carry them in clear
// ("access_token"): they decode, work and are revoked; they are never
// written back in that form by IssueToken.
func TestLegacyClearTokens(t *testing.T) {
	f := newFixture(t, activitiestest.Plan{})
	ctx := context.Background()
	issued, err := f.acts.IssueToken(ctx, activities.IssueTokenInput{FileID: "42", Purpose: activities.PurposeRead, Scopes: []string{box.ScopeItemPreview}})
	if err != nil {
		t.Fatal(err)
	}
	value, err := f.sealer.Open(issued.Sealed, "box-token/42/read")
	if err != nil {
		t.Fatal(err)
	}
	old := []byte(`{"id":"` + issued.ID + `","purpose":"read","file_id":"42","scopes":["item_preview"],"expires_at":"` +
		issued.ExpiresAt.Format(time.RFC3339Nano) + `","access_token":"` + value.Reveal() + `"}`)
	var tok activities.Token
	if err := json.Unmarshal(old, &tok); err != nil || tok.LegacyAccessToken != value || tok.Sealed != "" {
		t.Fatalf("a recorded clear token does not decode: %v", err)
	}
	if _, err := f.acts.DescribeFile(ctx, activities.DescribeFileInput{FileID: "42", Token: tok}); err != nil {
		t.Fatal(err)
	}
	if res, err := f.acts.RevokeToken(ctx, tok); err != nil || res.State != activities.TokenRevoked || len(f.box.Unrevoked()) != 0 {
		t.Fatalf("revoke: %+v %v", res, err)
	}
}

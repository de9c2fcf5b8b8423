package activities_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"filesight/activities"
	"filesight/activities/activitiestest"
	"filesight/internal/box"
	"filesight/internal/provider"
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

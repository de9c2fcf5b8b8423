package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"filesight/activities"
	"filesight/activities/activitiestest"
	"filesight/internal/box"
	"filesight/internal/provider"
	"filesight/internal/secret"
	"filesight/internal/vault"
	"filesight/internal/vault/vaultclient"
	"filesight/internal/vault/vaulttest"
)

// contactResult is an ML result that shows an e-mail address and a card
// number and reads another card number aloud; its keywords were computed
// from the raw text, as mlengine's are.
func contactResult() *provider.Result {
	words := []provider.Word{}
	t := 0.5
	for _, w := range strings.Fields("please charge card number five five five five five five five five five five five five four four four four thank you") {
		words = append(words, provider.Word{Word: w, Start: t, End: t + 0.4, Confidence: 0.9})
		t += 0.5
	}
	return &provider.Result{
		Media:      &provider.MediaInfo{Format: "mp4", Duration: 16, HasVideo: true, HasAudio: true},
		Transcript: &provider.Transcript{Words: words},
		OCR: []provider.OCRText{
			{Text: "PAYMENT DETAILS", Start: 0, End: 8}, {Text: "4111 1111 1111 1111", Start: 0, End: 8},
			{Text: "Contact", Start: 8, End: 16}, {Text: "jane.doe@example.com", Start: 8, End: 16},
		},
		Keywords: []provider.Keyword{
			{Text: "payment details", Score: 1}, {Text: "card number", Score: 0.8}, {Text: "contact", Score: 0.4},
			{Text: "jane", Score: 0.4}, {Text: "doe", Score: 0.4}, {Text: "example", Score: 0.4}, {Text: "com", Score: 0.4},
			{Text: "five five", Score: 0.3},
		},
	}
}

var tokenRE = regexp.MustCompile(`\[(card|email):[0-9a-f]{20}\]`)

// Against the real vault service: every value on the cards is a vault
// token that the vault maps back to it, no keyword is a fragment of a
// redacted value, and the results are deleted at the provider once the
// cards are written.
func TestWriteCardsWithTheVaultService(t *testing.T) {
	vs := vaulttest.NewServer(t, vaulttest.Options{})
	f := newFixture(t, activitiestest.Plan{Duration: 0, Result: contactResult()}, func(o *fixtureOptions) {
		o.redactor, o.deleting = vs.Redactor(t, vault.RedactorOptions{}), true
	})
	job := succeededJob(t, f, provider.AnalysisTranscript, provider.AnalysisKeywords, provider.AnalysisOCR)
	out, cards, err := writeCards(t, f, []activities.JobOutcome{job})
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(box.SkillsDocument{Cards: cards})
	for _, leak := range []string{"4111", "jane", "doe@", "example", "five five"} {
		if strings.Contains(string(doc), leak) {
			t.Errorf("the cards hold %q: %s", leak, doc)
		}
	}
	// On-screen card, e-mail address, spoken card; the four keywords of the address and "five five" left out.
	if out.Redactions != 3+5 {
		t.Errorf("redactions %d, want 8", out.Redactions)
	}
	var kws []string
	for _, e := range cards[1].Entries {
		kws = append(kws, e.Text)
	}
	if cards[1].SkillCardType != box.CardTypeKeyword || !slices.Equal(kws, []string{"payment details", "card number", "contact"}) {
		t.Errorf("keywords %q", kws)
	}
	tokens := slices.Compact(slices.Sorted(slices.Values(tokenRE.FindAllString(string(doc), -1))))
	if len(tokens) != 3 {
		t.Fatalf("tokens on the cards: %q", tokens)
	}
	got, err := vs.AdminClient(t).Detokenize(t.Context(), tokens, "test")
	if err != nil {
		t.Fatal(err)
	}
	var values []string
	for _, r := range got {
		values = append(values, r.Value.Reveal())
	}
	slices.Sort(values)
	if want := []string{"4111111111111111", "5555555555554444", "jane.doe@example.com"}; !slices.Equal(values, want) {
		t.Errorf("detokenized %q, want %q", values, want)
	}
	if calls := f.prov.Calls("DeleteResult"); len(calls) != 1 || calls[0].Err != nil {
		t.Errorf("DeleteResult calls %+v", calls)
	}
	if !strings.Contains(f.logs.String(), "results deleted at their providers") {
		t.Errorf("logs: %s", f.logs.String())
	}
}

// What the vault sees is what is written: white space the builder would
// collapse, or empty words it would skip, cannot join the parts of a
// number into one after redaction.
func TestRedactionSeesWhatIsWritten(t *testing.T) {
	res := &provider.Result{
		Transcript: &provider.Transcript{Words: []provider.Word{
			{Word: "card", Start: 0, End: 0.4}, {Word: "4111", Start: 0.5, End: 0.9}, {Word: " ", Start: 1, End: 1},
			{Word: "1111 ", Start: 1, End: 1.4}, {Word: "", Start: 1.5, End: 1.5}, {Word: "1111", Start: 1.5, End: 1.9},
			{Word: "\t1111", Start: 2, End: 2.4},
		}},
		OCR:      []provider.OCRText{{Text: "Card:  4111  1111\t1111 \n 1111", Start: 0, End: 3}},
		Keywords: []provider.Keyword{{Text: " 4111 1111 1111 1111 ", Score: 1}, {Text: "card", Score: 0.5}},
	}
	f := newFixture(t, activitiestest.Plan{Duration: 0, Result: res})
	job := succeededJob(t, f, provider.AnalysisTranscript, provider.AnalysisKeywords, provider.AnalysisOCR)
	out, cards, err := writeCards(t, f, []activities.JobOutcome{job})
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(box.SkillsDocument{Cards: cards})
	if strings.Contains(string(doc), "1111") || out.Redactions != 3 {
		t.Errorf("redactions %d; cards %s", out.Redactions, doc)
	}
}

// A vault that cannot answer fails the write before anything is written:
// retryable (paced by its Retry-After) when it may pass, not when the
// worker's credential is refused. No placeholder is ever written instead
// of a token, and the results stay at the provider for the retry.
func TestWriteCardsVaultErrors(t *testing.T) {
	vs := vaulttest.NewServer(t, vaulttest.Options{})
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":{"code":"unavailable","message":"the database failed","retryable":true}}`))
	}))
	defer busy.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	redactor := func(url, credential string) activities.Redactor {
		c, err := vaultclient.New(vaultclient.Config{URL: url, Credential: secret.String(credential), Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return vault.NewRedactor(c, vault.RedactorOptions{})
	}
	for _, tc := range []struct {
		name      string
		redactor  activities.Redactor
		typ       activities.ErrorType
		retryable bool
		delay     time.Duration
	}{
		{"busy", redactor(busy.URL, "any-credential-of-thirty-two-bytes"), activities.ErrTypeUnavailable, true, 7 * time.Second},
		{"down", redactor(gone.URL, "any-credential-of-thirty-two-bytes"), activities.ErrTypeUnavailable, true, 0},
		{"unknown credential", redactor(vs.URL, "not-a-credential-of-this-vault-0000"), activities.ErrTypeVaultAuth, false, 0},
		{"detokenize credential", vault.NewRedactor(vs.AdminClient(t), vault.RedactorOptions{}), activities.ErrTypeVaultAuth, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, activitiestest.Plan{Duration: 0, Result: contactResult()}, func(o *fixtureOptions) {
				o.redactor, o.deleting = tc.redactor, true
			})
			job := succeededJob(t, f, provider.AnalysisTranscript, provider.AnalysisOCR)
			_, _, err := writeCards(t, f, []activities.JobOutcome{job})
			app := appErr(t, err)
			if app.Type() != string(tc.typ) || app.NonRetryable() == tc.retryable || app.NextRetryDelay() != tc.delay {
				t.Errorf("got type %s nonretryable %v delay %v: %v", app.Type(), app.NonRetryable(), app.NextRetryDelay(), err)
			}
			if n := len(f.box.Calls("UpsertSkillsCards")); n != 0 || len(f.box.Cards("42")) != 0 {
				t.Errorf("%d card writes with the vault failing", n)
			}
			if n := len(f.prov.Calls("DeleteResult")); n != 0 {
				t.Errorf("%d results deleted although no card was written", n)
			}
			for _, v := range []string{"4111", "5555", "jane"} {
				if strings.Contains(err.Error(), v) || strings.Contains(f.logs.String(), v) {
					t.Errorf("a value in the error or the logs: %v", err)
				}
			}
		})
	}
}

// The results are deleted only once the cards are written and that is
// recorded; a retry of the activity (its completion lost) returns what the
// first attempt wrote without the deleted results and without writing
// again; when the record cannot be made, the results are not deleted.
func TestWriteCardsRetryAfterTheResultsAreDeleted(t *testing.T) {
	var recorded []any
	rec := recorderFunc(func(ctx context.Context, taskToken []byte, details ...any) error {
		if len(taskToken) == 0 {
			return errors.New("no task token")
		}
		recorded = append(recorded, details...)
		return nil
	})
	f := newFixture(t, activitiestest.Plan{Duration: 0, Result: contactResult()}, func(o *fixtureOptions) {
		o.deleting, o.heartbeats = true, rec
	})
	job := succeededJob(t, f, provider.AnalysisTranscript, provider.AnalysisOCR)
	tok, err := f.acts.IssueToken(context.Background(), activities.IssueTokenInput{FileID: "42", Purpose: "write", Scopes: []string{box.ScopeItemUpload}})
	if err != nil {
		t.Fatal(err)
	}
	in := activities.WriteCardsInput{FileID: "42", Token: tok, InvocationID: "file-42-v7", Jobs: []activities.JobOutcome{job}}

	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(f.acts)
	v, err := env.ExecuteActivity(f.acts.WriteCards, in)
	if err != nil {
		t.Fatal(err)
	}
	var first activities.WriteCardsResult
	if err := v.Get(&first); err != nil {
		t.Fatal(err)
	}
	if len(recorded) != 1 || len(f.prov.Calls("DeleteResult")) != 1 {
		t.Fatalf("recorded %v, %d deletions", recorded, len(f.prov.Calls("DeleteResult")))
	}
	if _, err := f.prov.Result(context.Background(), job.Ref); err == nil {
		t.Fatal("the result is still at the provider")
	}

	// The retry gets the record the recorder (the worker's client) sent
	// at once, as the server hands heartbeat details over. (The SDK's own
	// heartbeat of it may still sit in its batch: here the last one it
	// sent is the fetch's.)
	raw, _ := json.Marshal(recorded[0])
	var details map[string]any
	if err := json.Unmarshal(raw, &details); err != nil || details["written"] == nil {
		t.Fatalf("recorded %s", raw)
	}
	env2 := s.NewTestActivityEnvironment()
	env2.RegisterActivity(f.acts)
	env2.SetHeartbeatDetails(details)
	writes, fetches := len(f.box.Calls("UpsertSkillsCards")), len(f.prov.Calls("Result"))
	v, err = env2.ExecuteActivity(f.acts.WriteCards, in)
	if err != nil {
		t.Fatal(err)
	}
	var again activities.WriteCardsResult
	if err := v.Get(&again); err != nil {
		t.Fatal(err)
	}
	if again.Message != first.Message || again.StatusCode != box.StatusSuccess || !slices.Equal(again.Cards, first.Cards) || again.Redactions != first.Redactions {
		t.Errorf("retry returned %+v, first attempt %+v", again, first)
	}
	if len(f.box.Calls("UpsertSkillsCards")) != writes || len(f.prov.Calls("Result")) != fetches {
		t.Error("the retry fetched or wrote again")
	}
	if len(f.prov.Calls("DeleteResult")) != 2 {
		t.Error("the retry did not make sure the results are deleted")
	}

	// The record fails: nothing is deleted.
	f2 := newFixture(t, activitiestest.Plan{Duration: 0, Result: contactResult()}, func(o *fixtureOptions) {
		o.deleting = true
		o.heartbeats = recorderFunc(func(context.Context, []byte, ...any) error { return errors.New("frontend unavailable") })
	})
	job2 := succeededJob(t, f2, provider.AnalysisOCR)
	tok2, _ := f2.acts.IssueToken(context.Background(), activities.IssueTokenInput{FileID: "42", Purpose: "write", Scopes: []string{box.ScopeItemUpload}})
	env3 := s.NewTestActivityEnvironment()
	env3.RegisterActivity(f2.acts)
	if _, err := env3.ExecuteActivity(f2.acts.WriteCards, activities.WriteCardsInput{FileID: "42", Token: tok2, InvocationID: "i", Jobs: []activities.JobOutcome{job2}}); err != nil {
		t.Fatal(err)
	}
	if n := len(f2.prov.Calls("DeleteResult")); n != 0 || len(f2.box.Cards("42")) == 0 {
		t.Errorf("%d deletions without a record of the written cards", n)
	}
}

type recorderFunc func(ctx context.Context, taskToken []byte, details ...any) error

func (f recorderFunc) RecordActivityHeartbeat(ctx context.Context, taskToken []byte, details ...any) error {
	return f(ctx, taskToken, details...)
}

// A write that fails leaves the results where they are: the retry needs them.
func TestWriteCardsKeepsResultsWhenTheWriteFails(t *testing.T) {
	f := newFixture(t, activitiestest.Plan{Duration: 0, Result: contactResult()}, func(o *fixtureOptions) { o.deleting = true })
	job := succeededJob(t, f, provider.AnalysisOCR)
	f.box.FailOn("UpsertSkillsCards", 1, &box.Error{StatusCode: http.StatusServiceUnavailable})
	if _, _, err := writeCards(t, f, []activities.JobOutcome{job}); err == nil {
		t.Fatal("the write did not fail")
	}
	if n := len(f.prov.Calls("DeleteResult")); n != 0 {
		t.Fatalf("%d results deleted after a failed write", n)
	}
	if _, _, err := writeCards(t, f, []activities.JobOutcome{job}); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	if n := len(f.prov.Calls("DeleteResult")); n != 1 {
		t.Fatalf("%d deletions after the successful retry", n)
	}
}

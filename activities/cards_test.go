package activities

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"filesight/activities/activitiestest"
	"filesight/internal/box"
	"filesight/internal/provider"
	"filesight/internal/vault"
)

// The card builder is pure: these tests give it job outcomes and results
// and read the cards and the summary, with no content store or provider.

func testBuilder(t *testing.T) cardBuilder {
	t.Helper()
	return cardBuilder{skillID: "filesight-test", limits: cardLimits{
		transcriptEntries: defaultMaxTranscriptEntries, keywords: defaultMaxKeywords, timelineEntries: defaultMaxTimelineEntries,
	}}
}

// testRedactor tokenizes locally (vault.Keyed), as the vault service would.
func testRedactor(t *testing.T) *vault.Redactor {
	t.Helper()
	red, err := vault.New("card-builder-test-vault-key-0")
	if err != nil {
		t.Fatal(err)
	}
	return red
}

var allCardAnalyses = []string{provider.AnalysisTranscript, provider.AnalysisKeywords, provider.AnalysisScenes, provider.AnalysisOCR}

// done is a succeeded job with its result.
func done(name string, r *provider.Result, analyses ...string) fetchedJob {
	return fetchedJob{JobOutcome: JobOutcome{Name: name, Ref: provider.JobRef{Provider: "mlengine", ID: name + "-1"}, Analyses: analyses, State: JobSucceeded}, result: r}
}

// mediaFailed is a job that failed because of the media, as the workflow
// reports it (Error is "code: message").
func mediaFailed(name, code, message string, analyses ...string) fetchedJob {
	j := ended(name, JobFailed, code+": "+message, analyses...)
	j.ErrorCode = code
	return j
}

// ended is a job that gave no result.
func ended(name string, state JobState, errText string, analyses ...string) fetchedJob {
	return fetchedJob{JobOutcome: JobOutcome{Name: name, Ref: provider.JobRef{Provider: "mlengine", ID: name + "-1"}, Analyses: analyses, State: state, Error: errText}}
}

func TestCardBuilder(t *testing.T) {
	talk := activitiestest.TalkResult()
	silent := activitiestest.TalkResult()
	silent.Transcript = &provider.Transcript{}
	noOCR := activitiestest.TalkResult()
	noOCR.OCR = nil
	withStates := func(j fetchedJob, states map[string]provider.State) fetchedJob {
		for _, a := range j.Analyses {
			if s, ok := states[a]; ok {
				j.Status = append(j.Status, provider.AnalysisState{Name: a, State: s})
			}
		}
		return j
	}
	resubmitted := func(j fetchedJob, attempt int, prev ...string) fetchedJob {
		j.Attempt, j.PreviousErrors = attempt, prev
		return j
	}
	unfetched := done("speech", nil, provider.AnalysisTranscript)
	unfetched.fetchErr = errors.New("result expired at the provider")
	retryable := ended("speech", JobFailed, "interrupted: restarted", provider.AnalysisTranscript)
	retryable.Retryable = true

	for _, tc := range []struct {
		name    string
		limits  *cardLimits
		jobs    []fetchedJob
		cards   []string // WriteCardsResult.Cards, status last
		code    string
		failed  []string
		says    []string // in the status message
		neverIn []string // not in the status message
	}{
		{name: "every analysis",
			jobs:  []fetchedJob{done("mlengine", talk, allCardAnalyses...)},
			cards: []string{CardTranscript, CardKeywords, CardScenes, CardOCR, CardStatus}, code: box.StatusSuccess,
			says: []string{"Analysed: transcript (31 words), 3 keywords, 3 scenes, 2 on-screen texts."}, neverIn: []string{"Missing"}},
		{name: "no card analysis asked for",
			jobs:  []fetchedJob{done("mlengine", talk, provider.AnalysisMedia, provider.AnalysisLoudness)},
			cards: []string{CardStatus}, code: box.StatusSuccess,
			says: []string{"Analysed: nothing to show (no speech, scenes or on-screen text found)."}},
		{name: "no speech is a success without a card",
			jobs:  []fetchedJob{done("mlengine", silent, provider.AnalysisTranscript)},
			cards: []string{CardStatus}, code: box.StatusSuccess, says: []string{"Analysed: no speech found."}},
		{name: "a skipped analysis is not a failure",
			jobs:  []fetchedJob{withStates(done("mlengine", noOCR, provider.AnalysisScenes, provider.AnalysisOCR), map[string]provider.State{provider.AnalysisOCR: provider.StateSkipped})},
			cards: []string{CardScenes, CardStatus}, code: box.StatusSuccess, says: []string{"Analysed: 3 scenes."}},
		{name: "an analysis failed within a job",
			jobs:  []fetchedJob{withStates(done("mlengine", talk, allCardAnalyses...), map[string]provider.State{provider.AnalysisTranscript: provider.StateFailed})},
			cards: []string{CardKeywords, CardScenes, CardOCR, CardStatus}, code: box.StatusPermanentFailure, failed: []string{"transcript"},
			says: []string{`Partly analysed. Missing: transcript — transcript failed in job "mlengine". Written: 3 keywords, 3 scenes, 2 on-screen texts.`}},
		{name: "one job timed out, the other produced",
			jobs: []fetchedJob{
				ended("speech", JobTimedOut, "did not finish within 4h0m0s", provider.AnalysisTranscript, provider.AnalysisKeywords),
				done("visual", talk, provider.AnalysisScenes, provider.AnalysisOCR),
			},
			cards: []string{CardScenes, CardOCR, CardStatus}, code: box.StatusTransientFailure, failed: []string{"transcript", "keywords"},
			says: []string{`Missing: transcript, keywords — job "speech" timed out (did not finish within 4h0m0s) and was cancelled.`}},
		{name: "not submitted",
			jobs:  []fetchedJob{ended("mlengine", JobSubmitFailed, "queue full", allCardAnalyses...)},
			cards: []string{CardStatus}, code: box.StatusTransientFailure, failed: []string{"transcript", "keywords", "scenes", "on-screen text"},
			says: []string{`Analysis failed: transcript, keywords, scenes, on-screen text — job "mlengine" could not be submitted: queue full.`}},
		{name: "cancelled",
			jobs:  []fetchedJob{ended("mlengine", JobCanceled, "", provider.AnalysisOCR)},
			cards: []string{CardStatus}, code: box.StatusPermanentFailure, failed: []string{"on-screen text"},
			says: []string{`job "mlengine" was cancelled`}},
		{name: "failed for good",
			jobs:  []fetchedJob{ended("mlengine", JobFailed, "media_unreadable: no stream", provider.AnalysisTranscript)},
			cards: []string{CardStatus}, code: box.StatusPermanentFailure, failed: []string{"transcript"},
			says: []string{`job "mlengine" failed: media_unreadable: no stream`}},
		{name: "unreadable media",
			jobs:  []fetchedJob{mediaFailed("mlengine", "unsupported_media", "This file is not a readable audio or video file.", allCardAnalyses...)},
			cards: []string{CardStatus}, code: box.StatusPermanentFailure, failed: []string{"transcript", "keywords", "scenes", "on-screen text"},
			says: []string{"This file is not a readable audio or video file."}, neverIn: []string{"unsupported_media", "Analysis failed", "mlengine"}},
		{name: "media too long",
			jobs:  []fetchedJob{mediaFailed("mlengine", "media_too_long", "This file is longer than the 4-hour limit.", provider.AnalysisTranscript)},
			cards: []string{CardStatus}, code: box.StatusPermanentFailure, failed: []string{"transcript"},
			says: []string{"This file is longer than the 4-hour limit."}, neverIn: []string{"media_too_long"}},
		{name: "a media failure quoting its tool",
			jobs: []fetchedJob{mediaFailed("mlengine", "unsupported_media",
				"ffprobe failed: exit status 1: /srv/mlengine/jobs/6f1c2a/media: Invalid data found when processing input", provider.AnalysisTranscript)},
			cards: []string{CardStatus}, code: box.StatusPermanentFailure, failed: []string{"transcript"},
			says: []string{"This file is not a readable audio or video file."}, neverIn: []string{"/srv", "6f1c2a", "ffprobe"}},
		{name: "a media failure beside cards of another job",
			jobs: []fetchedJob{done("vision", talk, provider.AnalysisScenes),
				mediaFailed("speech", "decode_too_slow", "This file took too long to decode; it may be damaged.", provider.AnalysisTranscript)},
			cards: []string{CardScenes, CardStatus}, code: box.StatusPermanentFailure, failed: []string{"transcript"},
			says: []string{`Missing: transcript — job "speech": This file took too long to decode; it may be damaged.`}, neverIn: []string{"decode_too_slow"}},
		{name: "failed retryably",
			jobs:  []fetchedJob{retryable},
			cards: []string{CardStatus}, code: box.StatusTransientFailure, failed: []string{"transcript"}},
		{name: "result could not be fetched",
			jobs:  []fetchedJob{unfetched},
			cards: []string{CardStatus}, code: box.StatusPermanentFailure, failed: []string{"transcript"},
			says: []string{`job "speech": its result could not be fetched (result expired at the provider)`}},
		{name: "a job without an analysis it was asked for",
			jobs:  []fetchedJob{done("mlengine", &provider.Result{Scenes: talk.Scenes}, provider.AnalysisScenes, provider.AnalysisOCR)},
			cards: []string{CardScenes, CardStatus}, code: box.StatusPermanentFailure, failed: []string{"on-screen text"},
			says: []string{"Missing: on-screen text"}},
		{name: "the first job with a result makes the card",
			jobs:  []fetchedJob{done("a", noOCR, provider.AnalysisScenes), done("b", talk, provider.AnalysisScenes, provider.AnalysisOCR)},
			cards: []string{CardScenes, CardOCR, CardStatus}, code: box.StatusSuccess},
		{name: "resubmitted, then succeeded",
			jobs:  []fetchedJob{resubmitted(done("mlengine", talk, provider.AnalysisKeywords), 2, "interrupted: restarted")},
			cards: []string{CardKeywords, CardStatus}, code: box.StatusSuccess,
			says: []string{`Job "mlengine" was resubmitted once after a retryable failure (attempt 1: interrupted: restarted); attempt 2 succeeded.`}},
		{name: "limits",
			limits: &cardLimits{transcriptEntries: 1, keywords: 1, timelineEntries: 2},
			jobs:   []fetchedJob{done("mlengine", talk, allCardAnalyses...)},
			cards:  []string{CardTranscript, CardKeywords, CardScenes, CardOCR, CardStatus}, code: box.StatusSuccess,
			says: []string{"1 keywords", "The transcript card shows the first 1 passages.", "The scenes card shows the first 2 scenes of 3."},
			// the two OCR texts are two entries: within the limit
			neverIn: []string{"on-screen text card shows"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testBuilder(t)
			if tc.limits != nil {
				b.limits = *tc.limits
			}
			cards, res := b.build("file-1-v2", tc.jobs)
			if !slices.Equal(res.Cards, tc.cards) {
				t.Errorf("cards %v, want %v", res.Cards, tc.cards)
			}
			if len(cards) != len(res.Cards) {
				t.Fatalf("%d cards built, %d named", len(cards), len(res.Cards))
			}
			if res.StatusCode != tc.code || !slices.Equal(res.Failed, tc.failed) {
				t.Errorf("status %s failed %q, want %s %q (message %q)", res.StatusCode, res.Failed, tc.code, tc.failed, res.Message)
			}
			for _, s := range tc.says {
				if !strings.Contains(res.Message, s) {
					t.Errorf("message %q lacks %q", res.Message, s)
				}
			}
			for _, s := range tc.neverIn {
				if strings.Contains(res.Message, s) {
					t.Errorf("message %q has %q", res.Message, s)
				}
			}
			st := cards[len(cards)-1]
			if st.SkillCardType != box.CardTypeStatus || st.Status.Code != res.StatusCode || st.Status.Message != res.Message {
				t.Errorf("last card %+v, want the status card of %+v", st, res)
			}
			for _, c := range cards {
				if c.Skill.ID != "filesight-test" || c.Invocation.ID != "file-1-v2" {
					t.Errorf("card %s: skill %+v invocation %+v", c.SkillCardType, c.Skill, c.Invocation)
				}
			}
			doc, _ := json.Marshal(box.SkillsDocument{Cards: cards})
			if err := box.ValidateSkillsCards(doc); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestCardBuilderIsPure(t *testing.T) {
	b := testBuilder(t)
	talk := activitiestest.TalkResult()
	jobs := []fetchedJob{done("mlengine", talk, allCardAnalyses...)}
	if err := redactJobs(t.Context(), testRedactor(t), jobs); err != nil {
		t.Fatal(err)
	}
	cards1, res1 := b.build("inv", jobs)
	cards2, res2 := b.build("inv", jobs)
	if !reflect.DeepEqual(cards1, cards2) || !reflect.DeepEqual(res1, res2) {
		t.Fatal("two builds of the same input differ")
	}
	// The input is left as it was: the talk's card number is still there.
	if !strings.Contains(talk.Keywords[2].Text, "4111") {
		t.Fatal("the redaction or the builder changed its input")
	}
	doc, _ := json.Marshal(cards1)
	if strings.Contains(string(doc), "4111") || strings.Contains(string(doc), "four one one one") || res1.Redactions < 3 {
		t.Errorf("redactions %d; cards %s", res1.Redactions, doc)
	}
}

func TestStatusCardIsBounded(t *testing.T) {
	b := testBuilder(t)
	c := b.status("inv", box.StatusPermanentFailure, strings.Repeat("é", maxStatusMessage))
	if n := len(c.Status.Message); n > maxStatusMessage || !strings.HasSuffix(c.Status.Message, "…") {
		t.Fatalf("status message of %d bytes: %q", n, c.Status.Message[n-10:])
	}
	jobs := []fetchedJob{ended("mlengine", JobFailed, strings.Repeat("x", 5000), provider.AnalysisTranscript)}
	_, res := b.build("inv", jobs)
	if len(res.Message) > maxStatusMessage {
		t.Fatalf("result message of %d bytes", len(res.Message))
	}
}

// prepareResult gives the card builder (and the vault) the texts as the
// cards show them, without touching its input.
func TestPrepareResultTrims(t *testing.T) {
	in := &provider.Result{
		Transcript: &provider.Transcript{Text: "hello  world", Words: []provider.Word{{Word: " hello "}, {Word: "  "}, {Word: "world"}}},
		OCR:        []provider.OCRText{{Text: "Q3\n  budget\tplan"}},
		Keywords:   []provider.Keyword{{Text: "  budget "}, {Text: "plan"}},
	}
	before, _ := json.Marshal(in)
	out := prepareResult(in)
	if after, _ := json.Marshal(in); string(after) != string(before) {
		t.Fatalf("the input was modified: %s", after)
	}
	var words []string
	for _, w := range out.Transcript.Words {
		words = append(words, w.Word)
	}
	if !slices.Equal(words, []string{"hello", "world"}) || out.OCR[0].Text != "Q3 budget plan" ||
		out.Keywords[0].Text != "budget" || out.Keywords[1].Text != "plan" {
		t.Errorf("prepared: words %q, OCR %q, keywords %+v", words, out.OCR[0].Text, out.Keywords)
	}
	// What is absent stays absent, what is empty stays empty.
	empty := prepareResult(&provider.Result{Transcript: &provider.Transcript{Words: []provider.Word{}}})
	if empty.Transcript.Words == nil || empty.Keywords != nil || empty.OCR != nil {
		t.Errorf("empty result prepared as %+v", empty)
	}
	if none := prepareResult(&provider.Result{Transcript: &provider.Transcript{Text: "x"}}); none.Transcript.Words != nil {
		t.Errorf("a transcript without words got %v", none.Transcript.Words)
	}
}

// A job resubmitted after retryable failures says which attempt ended how,
// counting the attempts from the failures when the attempt is not known.
func TestResubmissionNote(t *testing.T) {
	for _, tc := range []struct {
		j    JobOutcome
		want string
	}{
		{JobOutcome{Name: "speech", State: JobSucceeded}, ""},
		{JobOutcome{Name: "speech", State: JobSucceeded, Attempt: 2, PreviousErrors: []string{"interrupted"}},
			`Job "speech" was resubmitted once after a retryable failure (attempt 1: interrupted); attempt 2 succeeded.`},
		{JobOutcome{Name: "speech", State: JobFailed, PreviousErrors: []string{"a", ""}},
			`Job "speech" was resubmitted 2 times after a retryable failure (attempt 1: a; attempt 2: failed); attempt 3 did not succeed either.`},
		{JobOutcome{Name: "speech", State: JobSucceeded, Attempt: 5, PreviousErrors: []string{"a"}},
			`Job "speech" was resubmitted once after a retryable failure (attempt 1: a); attempt 5 succeeded.`},
	} {
		if got := resubmissionNote(tc.j); got != tc.want {
			t.Errorf("resubmissionNote(%+v) =\n%q, want\n%q", tc.j, got, tc.want)
		}
	}
}

// truncate cuts at most n bytes on a rune boundary and marks the cut.
func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"abcdef", 6, "abcdef"},
		{"abcdef", 7, "abcdef"},
		{"abcdef", 5, "ab…"},
		{"ééé", 6, "ééé"},
		{"ééé", 5, "é…"}, // the cut falls on the second é's first byte
		{"ééé", 4, "…"},  // ... inside the first é: back to its start
		{"\x80\x80\x80\x80\x80", 4, "…"},
	} {
		if got := truncate(tc.s, tc.n); got != tc.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

// TestCardTimesRoundToNearestSecond: card times are rounded to the nearest
// second, not truncated (a cut at 30.8 s is at 31 s), and neighbouring
// scenes share their boundary.
func TestCardTimesRoundToNearestSecond(t *testing.T) {
	r := &provider.Result{
		Media: &provider.MediaInfo{Duration: 42.5, HasVideo: true, HasAudio: true},
		Transcript: &provider.Transcript{Words: []provider.Word{
			{Word: "hello", Start: 0.4, End: 0.8}, {Word: "again", Start: 30.6, End: 31}, {Word: "late", Start: 41.7, End: 42.4},
		}},
		Scenes: []provider.Scene{{Start: 0, End: 12.2}, {Start: 12.2, End: 30.8}, {Start: 30.8, End: 42.5}},
		OCR: []provider.OCRText{
			{Text: "Title", Start: 7.9, End: 12.49}, {Text: "Blink", Start: 20.1, End: 20.3}, {Text: "Last", Start: 41.6, End: 42.5},
		},
	}
	cards, _ := testBuilder(t).build("file-1-v1", []fetchedJob{done("mlengine", r, provider.AnalysisTranscript, provider.AnalysisScenes, provider.AnalysisOCR)})
	type span struct{ s, e int }
	spans := func(c box.Card) []span {
		var out []span
		for _, e := range c.Entries {
			for _, a := range e.Appears {
				end := -1
				if a.End != nil {
					end = *a.End
				}
				out = append(out, span{a.Start, end})
			}
		}
		return out
	}
	if len(cards) != 4 {
		t.Fatalf("%d cards, want transcript, scenes, on-screen text and status", len(cards))
	}
	if tr, want := spans(cards[0]), []span{{0, -1}, {31, -1}, {42, -1}}; !slices.Equal(tr, want) {
		t.Errorf("transcript entries start at %v, want %v", tr, want)
	}
	if sc, want := spans(cards[1]), []span{{0, 12}, {12, 31}, {31, 43}}; !slices.Equal(sc, want) {
		t.Errorf("scenes %v, want %v", sc, want)
	}
	if got := cards[1].Entries[2].Text; got != "Scene 3 (0:31)" {
		t.Errorf("third scene is named %q, want \"Scene 3 (0:31)\"", got)
	}
	// A span shorter than a second still lasts one; the last stays within the media.
	if oc, want := spans(cards[2]), []span{{8, 12}, {20, 21}, {42, 43}}; !slices.Equal(oc, want) {
		t.Errorf("on-screen text spans %v, want %v", oc, want)
	}
}

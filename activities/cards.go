package activities

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"filesight/internal/box"
	"filesight/internal/provider"
)

// Card document limits. Box keeps a file's cards in one metadata instance,
// which the Box UI renders whole: a modest document is a usable one.
const (
	defaultMaxTranscriptEntries = 1000
	defaultMaxKeywords          = 25
	defaultMaxTimelineEntries   = 200
	maxStatusMessage            = 1000
	maxEntryText                = 500
	// transcriptGap starts a new transcript entry after a pause this long.
	transcriptGap = 1.0
	// transcriptEntryWords caps the words in one transcript entry.
	transcriptEntryWords = 16
)

// Names of the cards, as reported in WriteCardsResult.Cards.
const (
	CardTranscript = "transcript"
	CardKeywords   = "keywords"
	CardScenes     = "timeline:scenes"
	CardOCR        = "timeline:ocr"
	CardStatus     = "status"
)

// cardAnalyses are the analyses that become cards, in card order, with the
// words a status message uses for them.
var cardAnalyses = []struct{ analysis, label string }{
	{provider.AnalysisTranscript, "transcript"},
	{provider.AnalysisKeywords, "keywords"},
	{provider.AnalysisScenes, "scenes"},
	{provider.AnalysisOCR, "on-screen text"},
}

// cardLimits keep card documents modest (Options.Max*).
type cardLimits struct {
	transcriptEntries int
	keywords          int
	timelineEntries   int
}

// cardBuilder turns a run's job outcomes and results into the file's Box
// Skills cards: one card per analysis that produced something, and a status
// card that names whatever failed. It gets results whose sensitive values
// are already vault tokens (redactJobs) and only groups, orders, collapses
// and cuts text, never joining it in a way the redaction has not seen
// (prepareResult). It is pure (no I/O, no clock, no per-call state), so the
// same input always gives the same cards: a retried write rewrites the same
// document, and the rules are testable without a content store.
type cardBuilder struct {
	skillID string
	limits  cardLimits
}

// fetchedJob is one job's outcome with what fetching its result gave.
type fetchedJob struct {
	JobOutcome
	// result is the job's result; nil when the job did not succeed or the
	// result could not be fetched.
	result *provider.Result
	// fetchErr says why a succeeded job's result could not be fetched
	// (for good: retryable failures fail the activity instead).
	fetchErr error
	// redactions counts the sensitive values replaced in result (and the
	// keywords left out because they held one).
	redactions int
}

// prepareResult returns a copy of r with its texts in the form the cards
// show them: transcript words trimmed, empty ones dropped (the builder joins
// a passage's words with single spaces, as detection does); on-screen texts
// with their white space collapsed; keywords trimmed. Redaction runs on this
// form, so collapsing "4111  1111  1111  1111" after redaction can never
// make a card number appear. r is not modified.
func prepareResult(r *provider.Result) *provider.Result {
	out := *r
	if r.Transcript != nil {
		t := provider.Transcript{Text: r.Transcript.Text}
		if r.Transcript.Words != nil {
			t.Words = []provider.Word{}
		}
		for _, w := range r.Transcript.Words {
			if w.Word = strings.TrimSpace(w.Word); w.Word != "" {
				t.Words = append(t.Words, w)
			}
		}
		out.Transcript = &t
	}
	if r.OCR != nil {
		out.OCR = make([]provider.OCRText, len(r.OCR))
		for i, o := range r.OCR {
			o.Text = collapseSpace(o.Text)
			out.OCR[i] = o
		}
	}
	if r.Keywords != nil {
		out.Keywords = make([]provider.Keyword, len(r.Keywords))
		for i, k := range r.Keywords {
			k.Text = strings.TrimSpace(k.Text)
			out.Keywords[i] = k
		}
	}
	return &out
}

// collapseSpace trims s and turns every run of white space into one space.
func collapseSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

// failed reports whether the job gave no result at all.
func (j fetchedJob) failed() bool { return j.State != JobSucceeded || j.fetchErr != nil }

// build makes the cards of one run, the status card last, and the summary
// WriteCards returns. invocationID identifies the run on every card.
func (b cardBuilder) build(invocationID string, jobs []fetchedJob) ([]box.Card, WriteCardsResult) {
	var (
		reasons []string // why each failed job or analysis failed
		failed  []string // labels of requested analyses that produced nothing
	)
	for _, j := range jobs {
		switch {
		case j.State != JobSucceeded:
			reasons = append(reasons, jobFailureReason(j.JobOutcome))
		case j.fetchErr != nil:
			reasons = append(reasons, fmt.Sprintf("job %q: its result could not be fetched (%v)", j.Name, j.fetchErr))
		}
	}

	d := deck{b: b, invocation: invocationID}
	for _, ca := range cardAnalyses {
		requested, produced, skipped := false, false, false
		var why []string
		for _, j := range jobs {
			if !slices.Contains(j.Analyses, ca.analysis) {
				continue
			}
			requested = true
			if j.failed() || j.result == nil {
				continue
			}
			switch analysisState(j.JobOutcome, ca.analysis) {
			case provider.StateSkipped:
				skipped = true
				continue
			case provider.StateFailed, provider.StateCanceled:
				why = append(why, fmt.Sprintf("%s failed in job %q", ca.label, j.Name))
				continue
			}
			if !produced {
				produced = d.add(ca.analysis, j.result)
			}
		}
		if requested && !produced && !skipped {
			failed = append(failed, ca.label)
			reasons = append(reasons, why...)
		}
	}

	outcomes := make([]JobOutcome, len(jobs))
	anyJobFailed := false
	for i, j := range jobs {
		outcomes[i] = j.JobOutcome
		anyJobFailed = anyJobFailed || j.failed()
	}
	var res WriteCardsResult
	res.Cards = d.names
	res.Failed = failed
	for _, j := range jobs {
		res.Redactions += j.redactions
	}
	switch {
	case len(failed) == 0 && !anyJobFailed:
		res.StatusCode = box.StatusSuccess
		res.Message = "Analysed: " + strings.Join(d.summary, ", ") + "."
		if len(d.summary) == 0 {
			res.Message = "Analysed: nothing to show (no speech, scenes or on-screen text found)."
		}
	case len(d.cards) > 0:
		res.StatusCode = failureCode(outcomes)
		res.Message = fmt.Sprintf("Partly analysed. Missing: %s — %s. Written: %s.",
			orNone(failed), strings.Join(dedupe(reasons), "; "), strings.Join(d.summary, ", "))
	default:
		res.StatusCode = failureCode(outcomes)
		res.Message = fmt.Sprintf("Analysis failed: %s — %s.", orNone(failed), strings.Join(dedupe(reasons), "; "))
		if text, ok := mediaFailureMessage(outcomes); ok {
			res.Message = text
		}
	}
	for _, j := range outcomes {
		if n := resubmissionNote(j); n != "" {
			res.Message += " " + n
		}
	}
	if d.notes != nil {
		res.Message += " " + strings.Join(d.notes, " ")
	}
	res.Message = truncate(res.Message, maxStatusMessage)
	cards := append(d.cards, b.status(invocationID, res.StatusCode, res.Message))
	res.Cards = append(res.Cards, CardStatus)
	return cards, res
}

// status is a status card (code is a box.Status* value).
func (b cardBuilder) status(invocationID, code, message string) box.Card {
	return box.NewStatusCard(b.meta(invocationID, "Status", "status"), code, truncate(message, maxStatusMessage))
}

func (b cardBuilder) meta(invocationID, title, code string) box.CardMeta {
	return box.CardMeta{SkillID: b.skillID, InvocationID: invocationID, Title: title, TitleCode: code}
}

func analysisState(j JobOutcome, name string) provider.State {
	for _, s := range j.Status {
		if s.Name == name {
			return s.State
		}
	}
	return "" // unknown: trust the result document
}

func jobFailureReason(j JobOutcome) string {
	switch j.State {
	case JobTimedOut:
		return fmt.Sprintf("job %q timed out (%s) and was cancelled", j.Name, cmp.Or(j.Error, "deadline passed"))
	case JobSubmitFailed:
		return fmt.Sprintf("job %q could not be submitted: %s", j.Name, cmp.Or(j.Error, "unknown error"))
	case JobCanceled:
		return fmt.Sprintf("job %q was cancelled", j.Name)
	}
	if r, ok := mediaFailureReason(j); ok {
		return r
	}
	return fmt.Sprintf("job %q failed: %s", j.Name, cmp.Or(j.Error, string(j.State)))
}

// resubmissionNote tells, for a job that was resubmitted, why and how the
// last attempt ended; "" for a job submitted once.
func resubmissionNote(j JobOutcome) string {
	if len(j.PreviousErrors) == 0 {
		return ""
	}
	var prev []string
	for i, e := range j.PreviousErrors {
		prev = append(prev, fmt.Sprintf("attempt %d: %s", i+1, cmp.Or(e, "failed")))
	}
	attempt := max(j.Attempt, len(j.PreviousErrors)+1)
	ended := "succeeded"
	if j.State != JobSucceeded {
		ended = "did not succeed either"
	}
	times := "once"
	if n := len(j.PreviousErrors); n > 1 {
		times = fmt.Sprintf("%d times", n)
	}
	return fmt.Sprintf("Job %q was resubmitted %s after a retryable failure (%s); attempt %d %s.",
		j.Name, times, strings.Join(prev, "; "), attempt, ended)
}

// failureCode is transient when waiting or retrying later may help (a
// deadline, a provider that did not take the job, a job failure its
// provider calls retryable), permanent otherwise.
func failureCode(jobs []JobOutcome) string {
	for _, j := range jobs {
		if j.State == JobTimedOut || j.State == JobSubmitFailed || (j.State == JobFailed && j.Retryable) {
			return box.StatusTransientFailure
		}
	}
	return box.StatusPermanentFailure
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, ", ")
}

func dedupe(s []string) []string {
	var out []string
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// truncate cuts s to at most n bytes, on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

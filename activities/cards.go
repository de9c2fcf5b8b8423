package activities

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"

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

// WriteCards fetches each finished job's result from its provider (results
// never travel through workflow history), turns them into Box Skills cards
// with sensitive values replaced by vault tokens, adds a status card that
// names whatever failed, and sets the file's cards to exactly that list
// (create-or-patch: a retry rewrites the same cards, never duplicates).
func (a *Activities) WriteCards(ctx context.Context, in WriteCardsInput) (WriteCardsResult, error) {
	var (
		results []*provider.Result // per job, nil when there is none
		reasons []string           // per failed job: why
		failed  []string           // labels of requested analyses that produced nothing
	)
	jobFailed := make([]bool, len(in.Jobs))
	for i, j := range in.Jobs {
		var res *provider.Result
		switch j.State {
		case JobSucceeded:
			p, err := a.provider(j.Ref.Provider)
			if err != nil {
				return WriteCardsResult{}, err
			}
			res, err = p.Result(ctx, j.Ref)
			if err != nil {
				cerr := classifyProvider("fetching the result of job "+j.Ref.String(), err)
				if isRetryable(cerr) {
					return WriteCardsResult{}, cerr
				}
				jobFailed[i] = true
				reasons = append(reasons, fmt.Sprintf("job %q: its result could not be fetched (%v)", j.Name, err))
			}
			if activity.IsActivity(ctx) {
				activity.RecordHeartbeat(ctx, j.Name)
			}
		default:
			jobFailed[i] = true
			reasons = append(reasons, jobFailureReason(j))
		}
		results = append(results, res)
	}

	b := cardBuilder{a: a, invocation: in.InvocationID}
	for _, ca := range cardAnalyses {
		requested, produced, skipped := false, false, false
		var why []string
		for i, j := range in.Jobs {
			if !slices.Contains(j.Analyses, ca.analysis) {
				continue
			}
			requested = true
			if jobFailed[i] || results[i] == nil {
				continue
			}
			switch analysisState(j, ca.analysis) {
			case provider.StateSkipped:
				skipped = true
				continue
			case provider.StateFailed, provider.StateCanceled:
				why = append(why, fmt.Sprintf("%s failed in job %q", ca.label, j.Name))
				continue
			}
			if !produced {
				produced = b.add(ca.analysis, results[i])
			}
		}
		if requested && !produced && !skipped {
			failed = append(failed, ca.label)
			reasons = append(reasons, why...)
		}
	}

	var res WriteCardsResult
	res.Cards = b.names
	res.Failed = failed
	res.Redactions = b.redactions
	switch {
	case len(failed) == 0 && !slices.Contains(jobFailed, true):
		res.StatusCode = box.StatusSuccess
		res.Message = "Analysed: " + strings.Join(b.summary, ", ") + "."
		if len(b.summary) == 0 {
			res.Message = "Analysed: nothing to show (no speech, scenes or on-screen text found)."
		}
	case len(b.cards) > 0:
		res.StatusCode = failureCode(in.Jobs)
		res.Message = fmt.Sprintf("Partly analysed. Missing: %s — %s. Written: %s.",
			orNone(failed), strings.Join(dedupe(reasons), "; "), strings.Join(b.summary, ", "))
	default:
		res.StatusCode = failureCode(in.Jobs)
		res.Message = fmt.Sprintf("Analysis failed: %s — %s.", orNone(failed), strings.Join(dedupe(reasons), "; "))
	}
	for _, j := range in.Jobs {
		if n := resubmissionNote(j); n != "" {
			res.Message += " " + n
		}
	}
	if b.notes != nil {
		res.Message += " " + strings.Join(b.notes, " ")
	}
	res.Message = truncate(res.Message, maxStatusMessage)
	cards := append(b.cards, box.NewStatusCard(a.meta(in.InvocationID, "Status", "status"), res.StatusCode, res.Message))
	res.Cards = append(res.Cards, CardStatus)

	if err := a.box.UpsertSkillsCards(ctx, in.Token.AccessToken, in.FileID, cards); err != nil {
		return WriteCardsResult{}, classifyBox(fmt.Sprintf("writing %d skills cards to file %s", len(cards), in.FileID), err)
	}
	a.log(ctx).InfoContext(ctx, "skills cards written", "file_id", in.FileID, "cards", strings.Join(res.Cards, ","),
		"status", res.StatusCode, "failed", strings.Join(res.Failed, ","), "redactions", res.Redactions, "token_id", in.Token.ID)
	return res, nil
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

// cardBuilder accumulates cards in a fixed order.
type cardBuilder struct {
	a          *Activities
	invocation string
	cards      []box.Card
	names      []string
	summary    []string // "transcript (312 words)", ...
	notes      []string // truncations and the like
	redactions int
}

// emit appends a built card with its name and its line of the summary.
func (b *cardBuilder) emit(name string, card box.Card, summary string) {
	b.cards = append(b.cards, card)
	b.names = append(b.names, name)
	b.summary = append(b.summary, summary)
}

// add builds the card of one analysis from a result. It reports whether
// the result held that analysis at all (an empty analysis, e.g. no speech,
// counts as produced: there is just nothing to show).
func (b *cardBuilder) add(analysis string, r *provider.Result) bool {
	dur := duration(r)
	switch analysis {
	case provider.AnalysisTranscript:
		if r.Transcript == nil {
			return false
		}
		entries, words, truncated := b.transcript(r.Transcript)
		if len(entries) == 0 {
			b.summary = append(b.summary, "no speech found")
			return true
		}
		b.emit(CardTranscript, box.NewTranscriptCard(b.a.meta(b.invocation, "Transcript", "transcript"), dur, entries),
			fmt.Sprintf("transcript (%d words)", words))
		if truncated {
			b.notes = append(b.notes, fmt.Sprintf("The transcript card shows the first %d passages.", len(entries)))
		}
	case provider.AnalysisKeywords:
		if r.Keywords == nil {
			return false
		}
		kws := b.keywords(r.Keywords)
		if len(kws) == 0 {
			b.summary = append(b.summary, "no keywords found")
			return true
		}
		b.emit(CardKeywords, box.NewKeywordCard(b.a.meta(b.invocation, "Keywords", "keywords"), kws...),
			fmt.Sprintf("%d keywords", len(kws)))
	case provider.AnalysisScenes:
		if r.Scenes == nil {
			return false
		}
		entries := b.scenes(r.Scenes, dur)
		if len(entries) == 0 {
			b.summary = append(b.summary, "no scenes found")
			return true
		}
		b.emit(CardScenes, box.NewTimelineCard(b.a.meta(b.invocation, "Scenes", "scenes"), dur, entries),
			fmt.Sprintf("%d scenes", len(entries)))
	case provider.AnalysisOCR:
		if r.OCR == nil {
			return false
		}
		entries := b.ocr(r.OCR, dur)
		if len(entries) == 0 {
			b.summary = append(b.summary, "no on-screen text found")
			return true
		}
		b.emit(CardOCR, box.NewTimelineCard(b.a.meta(b.invocation, "On-screen text", "ocr"), dur, entries),
			fmt.Sprintf("%d on-screen texts", len(entries)))
	default:
		return false
	}
	return true
}

func duration(r *provider.Result) int {
	d := 0.0
	if r.Media != nil {
		d = r.Media.Duration
	}
	if d <= 0 {
		if r.Transcript != nil && len(r.Transcript.Words) > 0 {
			d = max(d, r.Transcript.Words[len(r.Transcript.Words)-1].End)
		}
		for _, s := range r.Scenes {
			d = max(d, s.End)
		}
		for _, o := range r.OCR {
			d = max(d, o.End)
		}
	}
	return int(math.Ceil(d))
}

func sec(f float64) int {
	if f < 0 || math.IsNaN(f) {
		return 0
	}
	return int(math.Floor(f))
}

// span makes a timeline appearance of at least one second, within the media.
func span(start, end float64, dur int) box.Appearance {
	s, e := sec(start), int(math.Ceil(end))
	if dur > 0 {
		s = min(s, dur-1)
		e = min(e, dur)
	}
	if e <= s {
		e = s + 1
	}
	return box.Span(s, e)
}

// transcript groups words into passages split at pauses, after replacing
// spoken or written card numbers (and the like) by vault tokens.
func (b *cardBuilder) transcript(t *provider.Transcript) (entries []box.CardEntry, words int, truncated bool) {
	texts := make([]string, len(t.Words))
	for i, w := range t.Words {
		texts[i] = w.Word
	}
	red, found := b.a.redactor.RedactWords(texts)
	b.redactions += len(found)
	var cur []string
	var start, lastEnd float64
	flush := func() {
		if len(cur) == 0 {
			return
		}
		text, f := b.a.redactor.RedactText(strings.Join(cur, " "))
		b.redactions += len(f)
		entries = append(entries, box.CardEntry{Text: truncate(text, maxEntryText), Appears: []box.Appearance{box.At(sec(start))}})
		cur = cur[:0]
	}
	for i, w := range t.Words {
		word := strings.TrimSpace(red[i])
		if word == "" {
			continue
		}
		if len(cur) > 0 && word == cur[len(cur)-1] && isVaultToken(word) {
			// Every word of a redacted number became the same token: keep
			// one, and never split a number across two entries.
			lastEnd = w.End
			words++
			continue
		}
		if len(cur) > 0 && (w.Start-lastEnd > transcriptGap || len(cur) >= transcriptEntryWords) {
			flush()
			if len(entries) >= b.a.opts.MaxTranscriptEntries {
				return entries, words, true
			}
		}
		if len(cur) == 0 {
			start = w.Start
		}
		cur = append(cur, word)
		lastEnd = w.End
		words++
	}
	flush()
	if len(entries) > b.a.opts.MaxTranscriptEntries {
		return entries[:b.a.opts.MaxTranscriptEntries], words, true
	}
	return entries, words, false
}

func isVaultToken(w string) bool {
	return strings.HasPrefix(w, "[") && strings.HasSuffix(w, "]") && strings.Contains(w, ":")
}

func (b *cardBuilder) keywords(ks []provider.Keyword) []string {
	sorted := slices.Clone(ks)
	slices.SortStableFunc(sorted, func(x, y provider.Keyword) int { return cmp.Compare(y.Score, x.Score) })
	var out []string
	var seen []string
	for _, k := range sorted {
		text, f := b.a.redactor.RedactText(strings.TrimSpace(k.Text))
		b.redactions += len(f)
		key := strings.ToLower(text)
		if text == "" || slices.Contains(seen, key) {
			continue
		}
		seen = append(seen, key)
		out = append(out, truncate(text, maxEntryText))
		if len(out) >= b.a.opts.MaxKeywords {
			break
		}
	}
	return out
}

func (b *cardBuilder) scenes(scenes []provider.Scene, dur int) []box.CardEntry {
	var out []box.CardEntry
	for i, s := range scenes {
		if len(out) >= b.a.opts.MaxTimelineEntries {
			b.notes = append(b.notes, fmt.Sprintf("The scenes card shows the first %d scenes of %d.", len(out), len(scenes)))
			break
		}
		out = append(out, box.CardEntry{
			Text:    fmt.Sprintf("Scene %d (%s)", i+1, clock(s.Start)),
			Appears: []box.Appearance{span(s.Start, s.End, dur)},
		})
	}
	return out
}

// ocr makes one timeline entry per distinct text, with every span it is on
// screen, in order of first appearance.
func (b *cardBuilder) ocr(texts []provider.OCRText, dur int) []box.CardEntry {
	var out []box.CardEntry
	var keys []string
	dropped := 0
	for _, t := range texts {
		text := strings.Join(strings.Fields(t.Text), " ")
		if len([]rune(text)) < 2 {
			continue
		}
		text, f := b.a.redactor.RedactText(text)
		b.redactions += len(f)
		text = truncate(text, maxEntryText)
		key := strings.ToLower(text)
		ap := span(t.Start, t.End, dur)
		if i := slices.Index(keys, key); i >= 0 {
			if len(out[i].Appears) < 50 {
				out[i].Appears = append(out[i].Appears, ap)
			}
			continue
		}
		if len(out) >= b.a.opts.MaxTimelineEntries {
			dropped++
			continue
		}
		keys = append(keys, key)
		out = append(out, box.CardEntry{Text: text, Appears: []box.Appearance{ap}})
	}
	if dropped > 0 {
		b.notes = append(b.notes, fmt.Sprintf("The on-screen text card shows the first %d texts; %d more were left out.", len(out), dropped))
	}
	return out
}

func clock(s float64) string {
	d := time.Duration(sec(s)) * time.Second
	h, m, x := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, x)
	}
	return fmt.Sprintf("%d:%02d", m, x)
}

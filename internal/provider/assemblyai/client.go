package assemblyai

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"filesight/internal/provider"
	"filesight/internal/provider/httpjson"
	"filesight/internal/secret"
)

// callbackGrace keeps a webhook URL valid a while past the job's deadline
// (AssemblyAI retries a failed delivery for about two minutes).
const callbackGrace = time.Hour

// Client is the AssemblyAI adapter. It implements provider.Provider and
// provider.Capabilities.
type Client struct {
	cfg    Config
	api    httpjson.Client
	signer provider.CallbackSigner
}

var (
	_ provider.Provider     = (*Client)(nil)
	_ provider.Capabilities = (*Client)(nil)
)

// New returns a Client; cfg must be valid (Config.Validate). httpClient
// nil means one with cfg.RequestTimeout.
func New(cfg Config, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: cfg.RequestTimeout}
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	c := &Client{cfg: cfg, signer: cfg.signer()}
	c.api = httpjson.Client{
		Service: "AssemblyAI", HTTP: httpClient, MaxBodyBytes: cfg.MaxResponseBytes, ParseError: parseError,
		Secrets: func() []secret.String { return []secret.String{cfg.APIKey, cfg.CallbackKey, cfg.CallbackSecondaryKey} },
	}
	return c
}

// String describes the client without its key.
func (c *Client) String() string { return c.cfg.String() }

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// Name is the provider name.
func (c *Client) Name() string { return c.cfg.name() }

// Policy is the configured deadline and poll interval.
func (c *Client) Policy() provider.Policy { return c.cfg.Policy() }

// Supports: the transcript with word timings, keywords (Key Phrases) and
// the media's duration.
func (c *Client) Supports(analysis string) bool {
	switch analysis {
	case provider.AnalysisTranscript, provider.AnalysisKeywords, provider.AnalysisMedia:
		return true
	}
	return false
}

func (c *Client) header() http.Header {
	return http.Header{"Authorization": {c.cfg.APIKey.Reveal()}}
}

func (c *Client) transcriptURL(ref provider.JobRef) (string, error) {
	if err := provider.CheckRef(ref, c.Name()); err != nil {
		return "", err
	}
	return c.cfg.BaseURL + "/v2/transcript/" + url.PathEscape(ref.ID), nil
}

// Submit creates a transcript job for the media, fetched by AssemblyAI
// from the media URL with the read token in its query (AssemblyAI fetches
// audio_url with a plain GET). AssemblyAI has no idempotency key: Submit
// first looks for a recent transcript of the very same audio URL, which a
// retry of the same submission has (the read token is part of the URL),
// and returns it; see docs/providers.md for what this does not cover.
func (c *Client) Submit(ctx context.Context, req provider.JobRequest) (provider.JobRef, error) {
	var keyPhrases bool
	for _, a := range req.Analyses {
		if !c.Supports(a) {
			return provider.JobRef{}, &provider.Error{Op: "submit", Code: "unsupported_analysis",
				Message: fmt.Sprintf("%s does not perform the %s analysis (it does: transcript, keywords, media)", c.Name(), a)}
		}
		keyPhrases = keyPhrases || a == provider.AnalysisKeywords
	}
	audioURL, err := provider.TokenURL(req.MediaURL, req.MediaToken)
	if err != nil {
		return provider.JobRef{}, &provider.Error{Op: "submit", Code: "invalid_media_url", Message: err.Error()}
	}
	if id, err := c.findExisting(ctx, audioURL); err != nil {
		return provider.JobRef{}, err
	} else if id != "" {
		return provider.JobRef{Provider: c.Name(), ID: id}, nil
	}
	params := TranscriptParams{
		AudioURL: audioURL.Reveal(), SpeechModels: c.cfg.SpeechModels, LanguageCode: c.cfg.LanguageCode,
		LanguageDetection: c.cfg.LanguageCode == "", Punctuate: true, FormatText: true, AutoHighlights: keyPhrases,
	}
	secrets := []secret.String{audioURL, req.MediaToken}
	if req.CallbackURL != "" && c.signer.Enabled() {
		hook, err := c.signer.Sign(req.CallbackURL, req.Labels[provider.LabelWorkflowID], c.cfg.JobTimeout+callbackGrace)
		if err != nil {
			return provider.JobRef{}, &provider.Error{Op: "submit", Code: "invalid_callback_url", Message: provider.Redact(err.Error())}
		}
		params.WebhookURL = hook.Reveal()
		secrets = append(secrets, hook)
	}
	resp, err := c.api.Do(ctx, httpjson.Request{Op: "submit", Method: http.MethodPost, URL: c.cfg.BaseURL + "/v2/transcript",
		Header: c.header(), JSON: params, Secrets: secrets})
	if err != nil {
		return provider.JobRef{}, err
	}
	var t Transcript
	if err := resp.Decode("submit", &t); err != nil {
		return provider.JobRef{}, err
	}
	if t.ID == "" {
		return provider.JobRef{}, &provider.Error{Op: "submit", StatusCode: resp.StatusCode, Retryable: true, Message: "AssemblyAI: answer carries no transcript id"}
	}
	return provider.JobRef{Provider: c.Name(), ID: t.ID}, nil
}

// findExisting returns the newest transcript of audioURL among the
// account's DedupeLookback newest ones, or "".
func (c *Client) findExisting(ctx context.Context, audioURL secret.String) (string, error) {
	if c.cfg.DedupeLookback <= 0 {
		return "", nil
	}
	resp, err := c.api.Do(ctx, httpjson.Request{Op: "submit", Method: http.MethodGet,
		URL: c.cfg.BaseURL + "/v2/transcript?limit=" + strconv.Itoa(c.cfg.DedupeLookback), Header: c.header()})
	if err != nil {
		return "", err
	}
	var l TranscriptList
	if err := resp.Decode("submit", &l); err != nil {
		return "", err
	}
	for _, t := range l.Transcripts {
		if t.AudioURL == audioURL.Reveal() && t.ID != "" {
			return t.ID, nil
		}
	}
	return "", nil
}

// get reads the transcript resource.
func (c *Client) get(ctx context.Context, op string, ref provider.JobRef) (*Transcript, http.Header, error) {
	u, err := c.transcriptURL(ref)
	if err != nil {
		return nil, nil, &provider.Error{Op: op, Message: err.Error()}
	}
	resp, err := c.api.Do(ctx, httpjson.Request{Op: op, Method: http.MethodGet, URL: u, Header: c.header()})
	if err != nil {
		return nil, nil, notFound(err)
	}
	var t Transcript
	if err := resp.Decode(op, &t); err != nil {
		return nil, nil, err
	}
	return &t, resp.Header, nil
}

// notFound maps AssemblyAI's answer for an unknown transcript (a 400 whose
// text says the id was not found, per its troubleshooting guide) to a 404,
// which the activities treat as "the job is gone".
func notFound(err error) error {
	pe, ok := provider.AsError(err)
	if ok && pe.StatusCode == http.StatusBadRequest && strings.Contains(strings.ToLower(pe.Message), "not found") {
		pe.StatusCode, pe.Code = http.StatusNotFound, "transcript_not_found"
	}
	return err
}

// Status reads the job's status. The media counts as fetched only once
// the job has ended: AssemblyAI does not say when its download is done.
func (c *Client) Status(ctx context.Context, ref provider.JobRef) (provider.JobStatus, error) {
	t, h, err := c.get(ctx, "status", ref)
	if err != nil {
		return provider.JobStatus{}, err
	}
	st := provider.JobStatus{Ref: provider.JobRef{Provider: c.Name(), ID: ref.ID}, RetryAfter: max(provider.RetryAfter(h), c.cfg.PollInterval)}
	switch t.Status {
	case StatusQueued:
		st.State = provider.StateQueued
	case StatusProcessing:
		st.State, st.Progress = provider.StateRunning, 0.5
	case StatusCompleted:
		st.State, st.Progress, st.MediaFetched = provider.StateSucceeded, 1, true
		if t.AudioURL == DeletedAudioURL {
			st.State = provider.StateCanceled
		}
	case StatusError:
		st.State, st.MediaFetched = provider.StateFailed, true
		st.Error = jobError(t.Error)
	default:
		// A status this adapter does not know: keep polling.
		st.State = provider.StateRunning
	}
	if st.State.Terminal() {
		st.RetryAfter = 0
	}
	st.Analyses = analyses(t, st.State)
	return st, nil
}

// analyses reports the per-analysis states of a job.
func analyses(t *Transcript, job provider.State) []provider.AnalysisState {
	out := []provider.AnalysisState{{Name: provider.AnalysisMedia, State: job}, {Name: provider.AnalysisTranscript, State: job}}
	if t.AutoHighlights {
		s := job
		if job == provider.StateSucceeded && (t.AutoHighlightsResult == nil || t.AutoHighlightsResult.Status != "success") {
			s = provider.StateFailed
		}
		out = append(out, provider.AnalysisState{Name: provider.AnalysisKeywords, State: s})
	}
	slices.SortFunc(out, func(a, b provider.AnalysisState) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// jobError classifies a failed transcript's error text. A download error
// may be cured by a new submission with a fresh read token, as may a
// server error; anything else (no audio in the file, unsupported language
// or format) will fail again.
func jobError(msg string) *provider.JobError {
	m := strings.ToLower(msg)
	je := &provider.JobError{Code: "transcription_failed", Message: provider.Redact(msg)}
	switch {
	case strings.Contains(m, "download"):
		je.Code, je.Retryable = "media_fetch_failed", true
	case strings.Contains(m, "server error"), strings.Contains(m, "internal error"):
		je.Code, je.Retryable = "provider_error", true
	case strings.Contains(m, "does not appear to contain audio"), strings.Contains(m, "no audio"):
		je.Code = "no_audio"
	}
	if je.Message == "" {
		je.Message = "AssemblyAI reported an error without a message"
	}
	return je
}

// Result reads a completed transcript and maps it: words (milliseconds to
// seconds) with their confidence, key phrases as keywords with every span
// they are said in, and the audio's duration.
func (c *Client) Result(ctx context.Context, ref provider.JobRef) (*provider.Result, error) {
	t, _, err := c.get(ctx, "result", ref)
	if err != nil {
		return nil, err
	}
	switch {
	case t.Status == StatusError:
		return nil, &provider.Error{Op: "result", Code: "job_failed", Message: "the transcript failed: " + jobError(t.Error).Message}
	case t.Status != StatusCompleted:
		return nil, &provider.Error{Op: "result", Code: "not_finished", Retryable: true, Message: "the transcript is not finished (" + t.Status + ")"}
	case t.AudioURL == DeletedAudioURL:
		return nil, &provider.Error{Op: "result", StatusCode: http.StatusNotFound, Code: "deleted", Message: "the transcript was deleted"}
	}
	return toResult(t), nil
}

func toResult(t *Transcript) *provider.Result {
	r := &provider.Result{Media: &provider.MediaInfo{HasAudio: true}}
	if t.AudioDuration != nil {
		r.Media.Duration = *t.AudioDuration
	}
	tr := &provider.Transcript{Words: make([]provider.Word, 0, len(t.Words))}
	if t.Text != nil {
		tr.Text = *t.Text
	}
	for _, w := range t.Words {
		tr.Words = append(tr.Words, provider.Word{Word: w.Text, Start: ms(w.Start), End: ms(w.End), Confidence: w.Confidence})
	}
	r.Transcript = tr
	if t.AutoHighlightsResult != nil && t.AutoHighlightsResult.Status == "success" {
		r.Keywords = make([]provider.Keyword, 0, len(t.AutoHighlightsResult.Results))
		for _, k := range t.AutoHighlightsResult.Results {
			kw := provider.Keyword{Text: k.Text, Score: k.Rank, Appears: make([]provider.Span, 0, len(k.Timestamps))}
			for _, ts := range k.Timestamps {
				kw.Appears = append(kw.Appears, provider.Span{Start: ms(ts.Start), End: ms(ts.End)})
			}
			r.Keywords = append(r.Keywords, kw)
		}
	}
	return r
}

func ms(v int64) float64 { return float64(v) / 1000 }

// Cancel deletes the transcript (DELETE /v2/transcript/{id}): AssemblyAI
// has no other way to stop a job, and deleting also removes the audio's
// words from its systems. A completed transcript is left alone (the
// contract: cancelling a finished job changes nothing), as is one that is
// gone. If the service refuses to delete a transcript still being
// processed, the error says so (the job then runs to its end and is
// billed; see docs/providers.md).
func (c *Client) Cancel(ctx context.Context, ref provider.JobRef) error {
	t, _, err := c.get(ctx, "cancel", ref)
	switch {
	case httpjson.IsStatus(err, http.StatusNotFound):
		return nil
	case err != nil:
		return err
	case t.Status == StatusCompleted:
		return nil
	}
	u, _ := c.transcriptURL(ref)
	_, err = c.api.Do(ctx, httpjson.Request{Op: "cancel", Method: http.MethodDelete, URL: u, Header: c.header()})
	if err = notFound(err); httpjson.IsStatus(err, http.StatusNotFound) {
		return nil
	}
	return err
}

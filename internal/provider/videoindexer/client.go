package videoindexer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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

// callbackGrace keeps a callback URL valid a while past the job deadline.
const callbackGrace = time.Hour

// supported are the analyses Video Indexer performs for filesight.
var supported = []string{provider.AnalysisMedia, provider.AnalysisScenes, provider.AnalysisOCR, provider.AnalysisTranscript, provider.AnalysisKeywords}

// Client is the Video Indexer adapter. It implements provider.Provider and
// provider.Capabilities.
type Client struct {
	cfg    Config
	api    *httpjson.Client
	tok    *tokens
	signer provider.CallbackSigner
}

var (
	_ provider.Provider     = (*Client)(nil)
	_ provider.Capabilities = (*Client)(nil)
)

// Options are the optional parts of a Client.
type Options struct {
	// HTTPClient defaults to one with cfg.RequestTimeout.
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// New returns a Client; cfg must be valid (Config.Validate).
func New(cfg Config, opts Options) *Client {
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: cfg.RequestTimeout}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	for _, u := range []*string{&cfg.AuthorityURL, &cfg.ARMURL, &cfg.APIURL} {
		*u = strings.TrimRight(*u, "/")
	}
	c := &Client{cfg: cfg, signer: cfg.signer()}
	c.signer.Now = opts.Now
	c.api = &httpjson.Client{
		Service: "Video Indexer", HTTP: opts.HTTPClient, MaxBodyBytes: cfg.MaxResponseBytes, ParseError: parseAPIError,
		// Tokens are redacted per request (call and tokens pass them).
		Secrets: func() []secret.String {
			return []secret.String{cfg.ClientSecret, cfg.CallbackKey, cfg.CallbackSecondaryKey}
		},
	}
	c.tok = &tokens{cfg: cfg, api: c.api, now: opts.Now}
	return c
}

// String describes the client without its secrets.
func (c *Client) String() string { return c.cfg.String() }

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// Name is the provider name.
func (c *Client) Name() string { return c.cfg.name() }

// Policy is the configured deadline and poll interval.
func (c *Client) Policy() provider.Policy { return c.cfg.Policy() }

// Supports: transcript, keywords (with labels), scenes, on-screen text and
// the media's duration.
func (c *Client) Supports(analysis string) bool { return slices.Contains(supported, analysis) }

func (c *Client) accountURL() string {
	return c.cfg.APIURL + "/" + url.PathEscape(c.cfg.Location) + "/Accounts/" + url.PathEscape(c.cfg.AccountID)
}

func (c *Client) videoURL(ref provider.JobRef) (string, error) {
	if err := provider.CheckRef(ref, c.Name()); err != nil {
		return "", err
	}
	return c.accountURL() + "/Videos/" + url.PathEscape(ref.ID), nil
}

// call sends a data-plane request with the account token; on 401 it
// renews the token once and tries again (a token may be revoked or expire
// early).
func (c *Client) call(ctx context.Context, req httpjson.Request) (*httpjson.Response, error) {
	for attempt := 0; ; attempt++ {
		tok, err := c.tok.account(ctx)
		if err != nil {
			return nil, err
		}
		r := req
		r.Header = http.Header{"Authorization": {"Bearer " + tok.Reveal()}}
		r.Secrets = append(slices.Clone(req.Secrets), tok)
		resp, err := c.api.Do(ctx, r)
		if attempt == 0 && httpjson.IsStatus(err, http.StatusUnauthorized) {
			c.tok.invalidate()
			continue
		}
		return resp, err
	}
}

// ExternalID is the externalId a job is uploaded with: derived from the
// idempotency key, so a retried Submit finds the video it created.
func ExternalID(idempotencyKey string) string {
	sum := sha256.Sum256([]byte(idempotencyKey))
	return "filesight-" + hex.EncodeToString(sum[:16])
}

// Submit uploads the media by URL (Video Indexer fetches the URL, which
// carries the file-scoped read token in its query) and starts indexing.
// It is idempotent: the video is uploaded with an externalId derived from
// the idempotency key, and Submit first searches for a video with that
// externalId, returning it when found.
func (c *Client) Submit(ctx context.Context, req provider.JobRequest) (provider.JobRef, error) {
	for _, a := range req.Analyses {
		if !c.Supports(a) {
			return provider.JobRef{}, &provider.Error{Op: "submit", Code: "unsupported_analysis",
				Message: fmt.Sprintf("%s does not perform the %s analysis (it does: %s)", c.Name(), a, strings.Join(supported, ", "))}
		}
	}
	if req.IdempotencyKey == "" {
		return provider.JobRef{}, &provider.Error{Op: "submit", Code: "invalid_request", Message: "an idempotency key is required"}
	}
	videoURL, err := provider.TokenURL(req.MediaURL, req.MediaToken)
	if err != nil {
		return provider.JobRef{}, &provider.Error{Op: "submit", Code: "invalid_media_url", Message: err.Error()}
	}
	ext := ExternalID(req.IdempotencyKey)
	if id, err := c.findExisting(ctx, ext); err != nil || id != "" {
		return provider.JobRef{Provider: c.Name(), ID: id}, err
	}
	q := url.Values{
		"name":             {ext},
		"privacy":          {"Private"},
		"videoUrl":         {videoURL.Reveal()},
		"externalId":       {ext},
		"indexingPreset":   {c.preset(req.Analyses)},
		"streamingPreset":  {c.cfg.StreamingPreset},
		"sendSuccessEmail": {"false"},
	}
	if c.cfg.Language != "" {
		q.Set("language", c.cfg.Language)
	}
	excluded := slices.Clone(c.cfg.ExcludedAI)
	if !c.cfg.LabelsAsKeywords && !slices.Contains(excluded, "Labels") {
		excluded = append(excluded, "Labels")
	}
	for _, x := range excluded {
		if x = strings.TrimSpace(x); x != "" {
			q.Add("excludedAI", x)
		}
	}
	secrets := []secret.String{videoURL, req.MediaToken}
	if req.CallbackURL != "" && c.signer.Enabled() {
		cb, err := c.signer.Sign(req.CallbackURL, req.Labels[provider.LabelWorkflowID], c.cfg.JobTimeout+callbackGrace)
		if err != nil {
			return provider.JobRef{}, &provider.Error{Op: "submit", Code: "invalid_callback_url", Message: provider.Redact(err.Error())}
		}
		q.Set("callbackUrl", cb.Reveal())
		secrets = append(secrets, cb)
	}
	resp, err := c.call(ctx, httpjson.Request{Op: "submit", Method: http.MethodPost, URL: c.accountURL() + "/Videos?" + q.Encode(), Secrets: secrets})
	if httpjson.IsStatus(err, http.StatusConflict) {
		// A concurrent Submit with the same key won the race, or the
		// service refuses a second upload of the same source: the video
		// with our externalId is the job.
		if id, ferr := c.findExisting(ctx, ext); ferr == nil && id != "" {
			return provider.JobRef{Provider: c.Name(), ID: id}, nil
		}
	}
	if err != nil {
		return provider.JobRef{}, err
	}
	var v Video
	if err := resp.Decode("submit", &v); err != nil {
		return provider.JobRef{}, err
	}
	if v.ID == "" {
		return provider.JobRef{}, &provider.Error{Op: "submit", StatusCode: resp.StatusCode, Retryable: true, Message: "Video Indexer: answer carries no video id"}
	}
	return provider.JobRef{Provider: c.Name(), ID: v.ID}, nil
}

// preset picks the cheapest indexing preset that yields the analyses.
func (c *Client) preset(analyses []string) string {
	if c.cfg.IndexingPreset != "" {
		return c.cfg.IndexingPreset
	}
	audio := slices.Contains(analyses, provider.AnalysisTranscript) || slices.Contains(analyses, provider.AnalysisKeywords)
	video := slices.Contains(analyses, provider.AnalysisScenes) || slices.Contains(analyses, provider.AnalysisOCR) ||
		(slices.Contains(analyses, provider.AnalysisKeywords) && c.cfg.LabelsAsKeywords)
	switch {
	case audio && !video:
		return "AudioOnly"
	case video && !audio:
		return "VideoOnly"
	}
	return "Default"
}

// findExisting searches the account's videos for externalId.
func (c *Client) findExisting(ctx context.Context, ext string) (string, error) {
	resp, err := c.call(ctx, httpjson.Request{Op: "submit", Method: http.MethodGet,
		URL: c.accountURL() + "/Videos/Search?" + url.Values{"externalId": {ext}}.Encode()})
	if err != nil {
		return "", err
	}
	var sr SearchResult
	if err := resp.Decode("submit", &sr); err != nil {
		return "", err
	}
	for _, v := range sr.Results {
		if v.ID != "" && v.ExternalID == ext {
			return v.ID, nil
		}
	}
	return "", nil
}

// index reads the video's index.
func (c *Client) index(ctx context.Context, op string, ref provider.JobRef) (*Index, http.Header, error) {
	u, err := c.videoURL(ref)
	if err != nil {
		return nil, nil, &provider.Error{Op: op, Message: err.Error()}
	}
	q := url.Values{"includeStreamingUrls": {"false"}, "includeSummarizedInsights": {"false"}}
	resp, err := c.call(ctx, httpjson.Request{Op: op, Method: http.MethodGet, URL: u + "/Index?" + q.Encode()})
	if err != nil {
		return nil, nil, err
	}
	var ix Index
	if err := resp.Decode(op, &ix); err != nil {
		return nil, nil, err
	}
	return &ix, resp.Header, nil
}

// Status reads the video's index state. The media counts as fetched once
// indexing has started (Processing): Video Indexer can only process a
// video it has copied.
func (c *Client) Status(ctx context.Context, ref provider.JobRef) (provider.JobStatus, error) {
	ix, h, err := c.index(ctx, "status", ref)
	if err != nil {
		return provider.JobStatus{}, err
	}
	st := provider.JobStatus{Ref: provider.JobRef{Provider: c.Name(), ID: ref.ID}, RetryAfter: max(provider.RetryAfter(h), c.cfg.PollInterval)}
	var v IndexVideo
	if len(ix.Videos) > 0 {
		v = ix.Videos[0]
	}
	state := ix.State
	if state == "" {
		state = v.State
	}
	st.Progress = progress(v.ProcessingProgress)
	switch state {
	case StateUploaded:
		st.State = provider.StateQueued
	case StateProcessing:
		st.State, st.MediaFetched = provider.StateRunning, true
	case StateProcessed:
		st.State, st.MediaFetched, st.Progress = provider.StateSucceeded, true, 1
	case StateFailed:
		st.State, st.MediaFetched = provider.StateFailed, true
		st.Error = failure(v.FailureCode, v.FailureMessage)
	case StateQuarantined:
		st.State, st.MediaFetched = provider.StateFailed, true
		st.Error = &provider.JobError{Code: "quarantined", Message: "Video Indexer quarantined the video (content moderation)"}
	default:
		st.State = provider.StateRunning
	}
	if st.State.Terminal() {
		st.RetryAfter = 0
	}
	for _, a := range supported {
		st.Analyses = append(st.Analyses, provider.AnalysisState{Name: a, State: st.State})
	}
	slices.SortFunc(st.Analyses, func(a, b provider.AnalysisState) int { return strings.Compare(a.Name, b.Name) })
	return st, nil
}

// progress parses "20%".
func progress(s string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || f < 0 {
		return 0
	}
	return min(f/100, 1)
}

// failure maps a failed video's code and message. A failed download (the
// read token may have expired or been revoked before Video Indexer copied
// the file) and an internal error may succeed when submitted again with a
// fresh token; any other failure (an unsupported or damaged file) will not.
func failure(code, msg string) *provider.JobError {
	je := &provider.JobError{Code: code, Message: provider.Redact(msg)}
	if je.Code == "" {
		je.Code = "indexing_failed"
	}
	lc := strings.ToLower(code + " " + msg)
	je.Retryable = strings.Contains(lc, "download") || strings.Contains(lc, "timeout") || strings.EqualFold(code, "General")
	if je.Message == "" {
		je.Message = "Video Indexer could not index the video (" + je.Code + ")"
	}
	return je
}

// Result reads a processed video's insights.
func (c *Client) Result(ctx context.Context, ref provider.JobRef) (*provider.Result, error) {
	ix, _, err := c.index(ctx, "result", ref)
	if err != nil {
		return nil, err
	}
	switch ix.State {
	case StateProcessed:
	case StateFailed, StateQuarantined:
		return nil, &provider.Error{Op: "result", Code: "job_failed", Message: "the video was not indexed (" + ix.State + ")"}
	default:
		return nil, &provider.Error{Op: "result", Code: "not_finished", Retryable: true, Message: "the video is not indexed yet (" + ix.State + ")"}
	}
	return toResult(ix, c.cfg.ScenesFrom, c.cfg.LabelsAsKeywords), nil
}

// Cancel deletes the video and its insights (Video Indexer has no other
// way to stop indexing). A processed video is left alone (cancelling a
// finished job changes nothing), as is one that is gone.
func (c *Client) Cancel(ctx context.Context, ref provider.JobRef) error {
	ix, _, err := c.index(ctx, "cancel", ref)
	switch {
	case httpjson.IsStatus(err, http.StatusNotFound):
		return nil
	case err != nil:
		return err
	case ix.State == StateProcessed:
		return nil
	}
	u, _ := c.videoURL(ref)
	_, err = c.call(ctx, httpjson.Request{Op: "cancel", Method: http.MethodDelete, URL: u, OK: []int{http.StatusOK, http.StatusNoContent}})
	if httpjson.IsStatus(err, http.StatusNotFound) {
		return nil
	}
	return err
}

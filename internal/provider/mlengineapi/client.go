package mlengineapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"filesight/internal/boundedio"
	"filesight/internal/provider"
	"filesight/internal/secret"
)

// Config configures a Client.
type Config struct {
	// BaseURL is the service's address, e.g. http://127.0.0.1:8710.
	BaseURL string
	// APIKey is MLENGINE_API_KEY.
	APIKey secret.String
	// HTTPClient defaults to a client with a 60 s timeout.
	HTTPClient *http.Client
	// Name is the provider name used in JobRefs (default "mlengine").
	Name string
	// MaxResponseBytes bounds a JSON answer (default
	// DefaultMaxResponseBytes); a larger one is an error.
	MaxResponseBytes int64
	// MaxArtifactBytes bounds an artifact read through Artifact (default
	// DefaultMaxArtifactBytes).
	MaxArtifactBytes int64
}

// Defaults of Config's limits.
const (
	// DefaultMaxResponseBytes is far above a result document (an hour of
	// word-timed transcript is a few MB).
	DefaultMaxResponseBytes = 32 << 20
	// DefaultMaxArtifactBytes is far above a scene thumbnail.
	DefaultMaxArtifactBytes = 16 << 20
)

// Client talks to an mlengine. It implements provider.Provider.
type Client struct {
	base        string
	key         secret.String
	http        *http.Client
	name        string
	maxResponse int64
	maxArtifact int64
}

var (
	_ provider.Provider      = (*Client)(nil)
	_ provider.ResultDeleter = (*Client)(nil)
)

// New returns a Client.
func New(cfg Config) *Client {
	c := &Client{base: strings.TrimRight(cfg.BaseURL, "/"), key: cfg.APIKey, http: cfg.HTTPClient, name: cfg.Name,
		maxResponse: cfg.MaxResponseBytes, maxArtifact: cfg.MaxArtifactBytes}
	if c.http == nil {
		c.http = &http.Client{Timeout: 60 * time.Second}
	}
	if c.name == "" {
		c.name = DefaultName
	}
	if c.maxResponse <= 0 {
		c.maxResponse = DefaultMaxResponseBytes
	}
	if c.maxArtifact <= 0 {
		c.maxArtifact = DefaultMaxArtifactBytes
	}
	return c
}

// String describes the client without its key. (fmt cannot reach the
// redacting methods of secret.String in an unexported field, so the Client
// formats itself.)
func (c *Client) String() string {
	return fmt.Sprintf("mlengine.Client{name: %s, base: %s}", c.name, c.base)
}

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// Name is the provider name.
func (c *Client) Name() string { return c.name }

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// do sends a request and returns the response when its status is one of ok;
// any other answer becomes a *provider.Error (body closed).
func (c *Client) do(ctx context.Context, op, method, path string, body any, hdr http.Header, ok ...int) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, &provider.Error{Op: op, Message: "encoding the request failed", Err: err}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, &provider.Error{Op: op, Message: "building the request failed", Err: err}
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.key.Reveal())
	resp, err := c.http.Do(req)
	if err != nil {
		retryable := ctx.Err() == nil // the caller's own cancellation is not worth retrying
		return nil, &provider.Error{Op: op, Retryable: retryable, Message: "mlengine unreachable", Err: err}
	}
	for _, s := range ok {
		if resp.StatusCode == s {
			return resp, nil
		}
	}
	defer resp.Body.Close()
	return nil, c.errorFrom(op, resp)
}

// errorFrom maps an error answer: 429 and 5xx are retryable (with the
// server's Retry-After), other 4xx are not unless the server says so.
func (c *Client) errorFrom(op string, resp *http.Response) *provider.Error {
	pe := &provider.Error{Op: op, StatusCode: resp.StatusCode, RetryAfter: provider.RetryAfter(resp.Header)}
	var eb ErrorBody
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if json.Unmarshal(raw, &eb) == nil && eb.Error.Code != "" {
		// Redacted, then truncated: the service may quote what it was sent.
		pe.Code = provider.Redact(eb.Error.Code, c.key)
		pe.Message = provider.Redact(eb.Error.Message, c.key)
		pe.Retryable = eb.Error.Retryable
	} else {
		pe.Message = http.StatusText(resp.StatusCode)
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		pe.Retryable = true
	}
	return pe
}

// decode reads a JSON answer of at most c.maxResponse bytes into v.
func (c *Client) decode(op string, resp *http.Response, v any) error {
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, c.maxResponse+1))
	if err != nil {
		return &provider.Error{Op: op, StatusCode: resp.StatusCode, Retryable: true, Message: "reading the answer failed", Err: err}
	}
	if int64(len(raw)) > c.maxResponse {
		return &provider.Error{Op: op, StatusCode: resp.StatusCode, Code: "answer_too_large",
			Message: fmt.Sprintf("mlengine answered more than %d bytes", c.maxResponse)}
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return &provider.Error{Op: op, StatusCode: resp.StatusCode, Retryable: true, Message: "undecodable answer", Err: err}
	}
	return nil
}

func (c *Client) jobPath(ref provider.JobRef) (string, error) {
	if ref.ID == "" {
		return "", errors.New("empty job id")
	}
	if ref.Provider != "" && ref.Provider != c.name {
		return "", fmt.Errorf("job %s belongs to provider %q, not %q", ref.ID, ref.Provider, c.name)
	}
	return "/v1/jobs/" + url.PathEscape(ref.ID), nil
}

// Submit creates a job, or returns the job created earlier with the same
// IdempotencyKey.
func (c *Client) Submit(ctx context.Context, req provider.JobRequest) (provider.JobRef, error) {
	hdr := http.Header{}
	if req.IdempotencyKey != "" {
		hdr.Set(HeaderIdempotencyKey, req.IdempotencyKey)
	}
	body := SubmitRequest{
		MediaURL: req.MediaURL, MediaToken: req.MediaToken.Reveal(), Analyses: req.Analyses,
		CallbackURL: req.CallbackURL, Labels: req.Labels,
	}
	resp, err := c.do(ctx, "submit", http.MethodPost, "/v1/jobs", body, hdr, http.StatusAccepted, http.StatusOK)
	if err != nil {
		return provider.JobRef{}, err
	}
	var sr SubmitResponse
	if err := c.decode("submit", resp, &sr); err != nil {
		return provider.JobRef{}, err
	}
	if sr.ID == "" {
		return provider.JobRef{}, &provider.Error{Op: "submit", StatusCode: resp.StatusCode, Retryable: true, Message: "answer carries no job id"}
	}
	return provider.JobRef{Provider: c.name, ID: sr.ID}, nil
}

// Job returns the raw job document.
func (c *Client) Job(ctx context.Context, ref provider.JobRef) (*Job, time.Duration, error) {
	path, err := c.jobPath(ref)
	if err != nil {
		return nil, 0, &provider.Error{Op: "status", Message: err.Error()}
	}
	resp, err := c.do(ctx, "status", http.MethodGet, path, nil, nil, http.StatusOK)
	if err != nil {
		return nil, 0, err
	}
	ra := provider.RetryAfter(resp.Header)
	var j Job
	if err := c.decode("status", resp, &j); err != nil {
		return nil, 0, err
	}
	return &j, ra, nil
}

// ListJobs returns one page of the service's jobs (GET /v1/jobs) in
// submission order; JobList.Next, when not empty, is ListOptions.After of
// the next page.
func (c *Client) ListJobs(ctx context.Context, o ListOptions) (*JobList, error) {
	q := url.Values{}
	if o.Status != "" {
		q.Set("status", string(o.Status))
	}
	if o.After != "" {
		q.Set("after", o.After)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	path := "/v1/jobs"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	resp, err := c.do(ctx, "list", http.MethodGet, path, nil, nil, http.StatusOK)
	if err != nil {
		return nil, err
	}
	var l JobList
	if err := c.decode("list", resp, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// Status returns the job's state, progress and per-analysis states (sorted by name).
func (c *Client) Status(ctx context.Context, ref provider.JobRef) (provider.JobStatus, error) {
	j, ra, err := c.Job(ctx, ref)
	if err != nil {
		return provider.JobStatus{}, err
	}
	return c.toStatus(j, ra), nil
}

func (c *Client) toStatus(j *Job, ra time.Duration) provider.JobStatus {
	st := provider.JobStatus{
		Ref: provider.JobRef{Provider: c.name, ID: j.ID}, State: j.Status, Progress: j.Progress,
		MediaFetched: j.MediaFetched, Error: j.Error, RetryAfter: ra, UpdatedAt: j.UpdatedAt,
	}
	if j.Error != nil {
		// The job's error ends up on a status card: redacted, then truncated.
		st.Error = &provider.JobError{Code: provider.Redact(j.Error.Code, c.key), Message: provider.Redact(j.Error.Message, c.key), Retryable: j.Error.Retryable}
	}
	for a, s := range j.Analyses {
		st.Analyses = append(st.Analyses, provider.AnalysisState{Name: a, State: s})
	}
	sort.Slice(st.Analyses, func(i, k int) bool { return st.Analyses[i].Name < st.Analyses[k].Name })
	return st
}

// Result fetches a succeeded job's result document. While the job is not
// finished the error is retryable (409 not_finished); for a failed or
// canceled job it is not, nor for a result that was deleted (410
// result_deleted: by DeleteResult or after MLENGINE_RESULT_RETENTION).
func (c *Client) Result(ctx context.Context, ref provider.JobRef) (*provider.Result, error) {
	path, err := c.jobPath(ref)
	if err != nil {
		return nil, &provider.Error{Op: "result", Message: err.Error()}
	}
	resp, err := c.do(ctx, "result", http.MethodGet, path+"/result", nil, nil, http.StatusOK)
	if err != nil {
		return nil, err
	}
	var r provider.Result
	if err := c.decode("result", resp, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// DeleteResult deletes a finished job's result document and thumbnails
// (DELETE /v1/jobs/{id}/result); the job itself stays, so its idempotency
// key still answers. A result already deleted, or a job that ended without
// one, is no error; an unknown job is a non-retryable 404, a job still
// running a retryable 409.
func (c *Client) DeleteResult(ctx context.Context, ref provider.JobRef) error {
	path, err := c.jobPath(ref)
	if err != nil {
		return &provider.Error{Op: "delete result", Message: err.Error()}
	}
	resp, err := c.do(ctx, "delete result", http.MethodDelete, path+"/result", nil, nil, http.StatusNoContent)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Cancel cancels a job; canceling a finished job succeeds without changing
// it. An unknown job is a non-retryable error.
func (c *Client) Cancel(ctx context.Context, ref provider.JobRef) error {
	path, err := c.jobPath(ref)
	if err != nil {
		return &provider.Error{Op: "cancel", Message: err.Error()}
	}
	resp, err := c.do(ctx, "cancel", http.MethodDelete, path, nil, nil, http.StatusOK, http.StatusAccepted)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Artifact opens a job artifact (a scene thumbnail, PNG) by the name the
// result document gives. The caller closes it.
func (c *Client) Artifact(ctx context.Context, ref provider.JobRef, name string) (io.ReadCloser, error) {
	path, err := c.jobPath(ref)
	if err != nil {
		return nil, &provider.Error{Op: "artifact", Message: err.Error()}
	}
	if name == "" {
		return nil, &provider.Error{Op: "artifact", Message: "empty artifact name"}
	}
	resp, err := c.do(ctx, "artifact", http.MethodGet, path+"/artifacts/"+url.PathEscape(name), nil, nil, http.StatusOK)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > c.maxArtifact {
		resp.Body.Close()
		return nil, &provider.Error{Op: "artifact", StatusCode: resp.StatusCode, Code: "answer_too_large",
			Message: fmt.Sprintf("artifact is larger than %d bytes", c.maxArtifact)}
	}
	return artifactBody{Reader: &boundedio.Reader{R: resp.Body, N: c.maxArtifact,
		Err: &provider.Error{Op: "artifact", Code: "answer_too_large", Message: "artifact is larger than the limit"}}, Closer: resp.Body}, nil
}

// artifactBody reads an artifact within its limit and closes its answer.
type artifactBody struct {
	*boundedio.Reader
	io.Closer
}

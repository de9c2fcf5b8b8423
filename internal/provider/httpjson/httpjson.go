// Package httpjson is the HTTP layer the cloud provider adapters share:
// it sends a request, reads the answer with a size limit, decodes JSON and
// turns every failure into a *provider.Error whose message is redacted and
// truncated (third-party services echo request parameters, such as a media
// URL carrying a read token, in their error texts).
//
// Status codes map the same way for every service: 429, 408 and 5xx are
// retryable with the service's Retry-After; other 4xx are not (the service
// says the request itself is wrong, so sending it again cannot help).
package httpjson

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"filesight/internal/provider"
	"filesight/internal/secret"
)

// Defaults.
const (
	DefaultTimeout      = 60 * time.Second
	DefaultMaxBodyBytes = 32 << 20 // an hour of word-timed transcript is a few MB
	maxErrorBody        = 64 << 10
)

// ErrorParser extracts a service's error code and message from an error
// answer's body ("" when the body says nothing usable).
type ErrorParser func(body []byte) (code, message string)

// Client sends JSON requests to one service.
type Client struct {
	// Service names the service in messages ("AssemblyAI").
	Service string
	// HTTP defaults to a client with DefaultTimeout.
	HTTP *http.Client
	// MaxBodyBytes bounds a successful answer (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// ParseError reads the service's error body; nil keeps only the status.
	ParseError ErrorParser
	// Secrets returns values that must never appear in an error (API keys,
	// tokens); they are redacted along with URL queries and bearer tokens.
	Secrets func() []secret.String
}

// Request is one call.
type Request struct {
	Op     string // "submit", "status", "result", "cancel", "auth"
	Method string
	URL    string
	Header http.Header
	// Body is sent as is; JSON, when set, is marshalled instead.
	Body io.Reader
	// ContentLength is Body's length when Go cannot tell (a multipart body
	// streamed from a file); 0 means unknown or empty.
	ContentLength int64
	JSON          any
	// OK lists the status codes that mean success (default 200).
	OK []int
	// Secrets are request-specific values to redact (a media URL with its
	// token, a signed callback URL).
	Secrets []secret.String
}

// Response is a successful answer, already read.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// Decode unmarshals the body; a body that is not the expected JSON is a
// retryable error (a proxy's HTML page, a truncated answer).
func (r *Response) Decode(op string, v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return &provider.Error{Op: op, StatusCode: r.StatusCode, Retryable: true, Message: "undecodable answer: " + provider.Redact(err.Error())}
	}
	return nil
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: DefaultTimeout}
}

func (c *Client) secrets(extra []secret.String) []secret.String {
	var s []secret.String
	if c.Secrets != nil {
		s = append(s, c.Secrets()...)
	}
	return append(s, extra...)
}

// Do sends the request and reads the answer. Any status outside req.OK is
// returned as a *provider.Error.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	secrets := c.secrets(req.Secrets)
	body := req.Body
	if req.JSON != nil {
		b, err := json.Marshal(req.JSON)
		if err != nil {
			return nil, &provider.Error{Op: req.Op, Message: "encoding the request failed: " + provider.Redact(err.Error(), secrets...)}
		}
		body = bytes.NewReader(b)
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, req.URL, body)
	if err != nil {
		return nil, &provider.Error{Op: req.Op, Message: "building the request failed: " + provider.Redact(err.Error(), secrets...)}
	}
	for k, v := range req.Header {
		hr.Header[k] = v
	}
	if req.ContentLength > 0 {
		hr.ContentLength = req.ContentLength
	}
	if req.JSON != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	hr.Header.Set("Accept", "application/json")
	resp, err := c.http().Do(hr)
	if err != nil {
		// The caller's own cancellation is not worth retrying; a network
		// failure is. The error names the request URL: it is redacted.
		return nil, &provider.Error{Op: req.Op, Retryable: ctx.Err() == nil,
			Message: fmt.Sprintf("%s unreachable: %s", c.Service, provider.Redact(err.Error(), secrets...))}
	}
	defer resp.Body.Close()
	ok := req.OK
	if len(ok) == 0 {
		ok = []int{http.StatusOK}
	}
	if !slices.Contains(ok, resp.StatusCode) {
		return nil, c.errorFrom(req.Op, resp, secrets)
	}
	limit := c.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, &provider.Error{Op: req.Op, StatusCode: resp.StatusCode, Retryable: ctx.Err() == nil,
			Message: "reading the answer failed: " + provider.Redact(err.Error(), secrets...)}
	}
	if int64(len(b)) > limit {
		return nil, &provider.Error{Op: req.Op, StatusCode: resp.StatusCode, Code: "answer_too_large",
			Message: fmt.Sprintf("%s answered more than %d bytes", c.Service, limit)}
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// errorFrom maps an error answer.
func (c *Client) errorFrom(op string, resp *http.Response, secrets []secret.String) *provider.Error {
	pe := &provider.Error{Op: op, StatusCode: resp.StatusCode, RetryAfter: provider.RetryAfter(resp.Header), Retryable: Retryable(resp.StatusCode)}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var code, msg string
	if c.ParseError != nil {
		code, msg = c.ParseError(raw)
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	pe.Code = provider.Redact(code, secrets...)
	pe.Message = fmt.Sprintf("%s: %s", c.Service, provider.Redact(msg, secrets...))
	return pe
}

// Retryable reports whether an answer with this status may succeed when
// sent again later.
func Retryable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500
}

// IsStatus reports whether err is a *provider.Error with that HTTP status.
func IsStatus(err error, status int) bool {
	var pe *provider.Error
	return errors.As(err, &pe) && pe.StatusCode == status
}

package box

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Error is a failed Box call: either Box answered with a non-success status
// (StatusCode, and Code/Message/RequestID from Box's error envelope), or the
// request never got an answer (StatusCode 0, Err holds the cause).
//
// Error() never includes a token: tokens travel only in the Authorization
// header and form bodies, URLs in network errors are dropped, and any echo
// of the request's token in Box's message is redacted.
type Error struct {
	StatusCode int           // HTTP status; 0 for network errors
	Code       string        // Box's code (e.g. "not_found", "insufficient_scope") or OAuth2's error
	Message    string        // Box's message or OAuth2's error_description
	RequestID  string        // Box's request_id (body, or the box-request-id header)
	RetryAfter time.Duration // from Retry-After on 429, 202 and 5xx answers; 0 if absent
	Op         string        // what was attempted, e.g. "GET /2.0/files/{id}"
	Err        error         // the network-level cause, if any

	// staleParent marks a 401 answered to the cached parent token on a call
	// that could not be replayed: the cache has been cleared, so the next
	// attempt authenticates afresh and is worth making.
	staleParent bool
}

// CodeNotReady is the Code of a 202 answer to a download: the content is not
// ready yet and RetryAfter says when to come back.
const CodeNotReady = "not_ready"

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("box: ")
	b.WriteString(e.Op)
	if e.StatusCode == 0 {
		b.WriteString(": ")
		if e.Err != nil {
			b.WriteString(e.Err.Error())
		} else {
			b.WriteString("request failed")
		}
		return b.String()
	}
	fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request_id %s]", e.RequestID)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether trying the same call again may succeed: 5xx,
// 429, a 202 "not ready" download and network errors are; other 4xx answers
// (bad, expired or revoked token, missing scope, not found...) are not.
// A cancelled context is not retryable.
func (e *Error) Retryable() bool {
	switch {
	case e.staleParent:
		return true
	case e.StatusCode == 0:
		return !errors.Is(e.Err, context.Canceled)
	case e.StatusCode == http.StatusAccepted, e.StatusCode == http.StatusTooManyRequests:
		return true
	case e.StatusCode >= 500:
		return true
	}
	return false
}

// CodeInvalidResource is the OAuth 2.0 error Box answers (HTTP 400, with
// the description "The target resource is invalid.") to a token exchange
// whose resource is not an item the subject token's user can reach: a file
// that was deleted or never existed, or one that user cannot see. Box does
// not answer such an exchange with 404.
const CodeInvalidResource = "invalid_resource"

// NotFound reports that the item does not exist, or does not exist for the
// token's user (Box answers 404 for items a user cannot see): a 404 answer,
// or Box's 400 invalid_resource answer to a token exchange for the item.
func (e *Error) NotFound() bool {
	return e.StatusCode == http.StatusNotFound ||
		(e.StatusCode == http.StatusBadRequest && e.Code == CodeInvalidResource)
}

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// IsRetryable reports whether err is a *Error that Retryable calls retryable.
// Errors that are not *Error (bad arguments, a failing io.Writer) are not.
func IsRetryable(err error) bool {
	e, ok := AsError(err)
	return ok && e.Retryable()
}

// IsStatus reports whether err is a *Error with the given HTTP status.
func IsStatus(err error, status int) bool {
	e, ok := AsError(err)
	return ok && e.StatusCode == status
}

// errorEnvelope is Box's error body, or an OAuth2 error body.
type errorEnvelope struct {
	Type             string `json:"type"`
	Status           int    `json:"status"`
	Code             string `json:"code"`
	Message          string `json:"message"`
	RequestID        string `json:"request_id"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// responseError builds the *Error for a non-success answer. The body is
// read (bounded) but not closed. secrets are values to redact from Box's
// message should the server echo them.
func responseError(op string, resp *http.Response, body []byte, secrets ...string) *Error {
	e := &Error{StatusCode: resp.StatusCode, Op: op}
	var env errorEnvelope
	if len(body) > 0 && json.Unmarshal(body, &env) == nil {
		e.Code, e.Message, e.RequestID = env.Code, env.Message, env.RequestID
		if e.Code == "" && env.Error != "" {
			e.Code, e.Message = env.Error, env.ErrorDescription
		}
	}
	if e.RequestID == "" {
		e.RequestID = resp.Header.Get("box-request-id")
	}
	if e.Code == "" {
		e.Code = defaultCode(resp.StatusCode)
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	// Redact first, then truncate: a secret cut by the truncation would
	// no longer match, and its beginning would stay in the message.
	for _, s := range secrets {
		if s != "" {
			e.Message = strings.ReplaceAll(e.Message, s, "[REDACTED]")
			e.Code = strings.ReplaceAll(e.Code, s, "[REDACTED]")
			e.RequestID = strings.ReplaceAll(e.RequestID, s, "[REDACTED]")
		}
	}
	e.Message = truncateTo(e.Message, maxErrorMessage)
	e.Code = truncateTo(e.Code, maxErrorField)
	e.RequestID = truncateTo(e.RequestID, maxErrorField)
	e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	return e
}

// Lengths an error keeps of what Box says.
const (
	maxErrorMessage = 500
	maxErrorField   = 100
)

func defaultCode(status int) string {
	switch status {
	case http.StatusAccepted:
		return CodeNotReady
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusConflict:
		return "conflict"
	case http.StatusTooManyRequests:
		return "rate_limit_exceeded"
	}
	if status >= 500 {
		return "internal_server_error"
	}
	return ""
}

// parseRetryAfter reads Retry-After as delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > 24*3600 {
			n = 24 * 3600
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}

// networkError wraps a transport failure. *url.Error carries the request URL,
// which may hold an access_token query parameter (FileContentURL), so only
// its cause is kept.
func networkError(op string, err error) *Error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &Error{Op: op, Err: err}
}

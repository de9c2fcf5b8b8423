package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.temporal.io/sdk/temporal"

	"filesight/internal/box"
	"filesight/internal/provider"
)

// Application error types returned by the activities. The workflow (and
// retry policies) tell failures apart by these, never by message text.
const (
	// ErrTypeStillRunning is the poll's "not yet": retryable, with
	// NextRetryDelay set from the provider's Retry-After.
	ErrTypeStillRunning = "JobStillRunning"
	// ErrTypeTokenRejected: Box answered 401 to a downscoped token
	// (expired or revoked). Not retryable with the same token; the
	// workflow issues a new one.
	ErrTypeTokenRejected = "TokenRejected"
	// ErrTypeForbidden: 403, e.g. insufficient_scope or no access.
	ErrTypeForbidden = "Forbidden"
	// ErrTypeNotFound: the file (or job) does not exist.
	ErrTypeNotFound = "NotFound"
	// ErrTypeInvalid: a request the service refuses as malformed (4xx), or
	// cards that fail Box's schema.
	ErrTypeInvalid = "InvalidRequest"
	// ErrTypeUnavailable: 5xx, 429 and network failures (retryable).
	ErrTypeUnavailable = "Unavailable"
	// ErrTypeUnknownProvider: the job names a provider this worker lacks.
	ErrTypeUnknownProvider = "UnknownProvider"
	// ErrTypeProviderAuth: the provider refused our credentials.
	ErrTypeProviderAuth = "ProviderAuth"
	// ErrTypeUnsupportedMedia: the provider cannot process this media.
	ErrTypeUnsupportedMedia = "UnsupportedMedia"
	// ErrTypeProviderRejected: any other non-retryable provider refusal.
	ErrTypeProviderRejected = "ProviderRejected"
)

// maxServerDelay caps a Retry-After honoured through NextRetryDelay: a
// service asking for more than this is retried after this long anyway.
const maxServerDelay = 5 * time.Minute

func retryable(msg, typ string, after time.Duration) error {
	return temporal.NewApplicationErrorWithOptions(msg, typ, temporal.ApplicationErrorOptions{
		NextRetryDelay: min(after, maxServerDelay),
	})
}

func permanent(msg, typ string) error {
	return temporal.NewApplicationErrorWithOptions(msg, typ, temporal.ApplicationErrorOptions{NonRetryable: true})
}

// classifyBox turns a Box client error into an application error:
// retryable (honouring Retry-After) for 429, 5xx, "not ready" and network
// failures; non-retryable for what retrying cannot fix. The message is the
// client's, which never holds a token.
func classifyBox(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	msg := fmt.Sprintf("%s: %v", op, err)
	var schemaErr *box.SchemaError
	if errors.As(err, &schemaErr) {
		return permanent(msg, ErrTypeInvalid)
	}
	if errors.Is(err, box.ErrParentRevoke) {
		return permanent(msg, ErrTypeInvalid)
	}
	e, ok := box.AsError(err)
	if !ok {
		// Not an answer from Box (bad argument, ...): retrying will not help.
		return permanent(msg, ErrTypeInvalid)
	}
	if e.Retryable() {
		return retryable(msg, ErrTypeUnavailable, e.RetryAfter)
	}
	if e.NotFound() { // 404, or a token exchange for a missing file (400 invalid_resource)
		return permanent(msg, ErrTypeNotFound)
	}
	switch e.StatusCode {
	case http.StatusUnauthorized:
		return permanent(msg, ErrTypeTokenRejected)
	case http.StatusForbidden:
		return permanent(msg, ErrTypeForbidden)
	}
	return permanent(msg, ErrTypeInvalid)
}

// classifyProvider does the same for a provider error.
func classifyProvider(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	msg := fmt.Sprintf("%s: %v", op, err)
	pe, ok := provider.AsError(err)
	if !ok {
		// A provider adapter that does not classify: assume transient.
		return retryable(msg, ErrTypeUnavailable, 0)
	}
	if pe.Retryable {
		return retryable(msg, ErrTypeUnavailable, pe.RetryAfter)
	}
	switch {
	case pe.StatusCode == http.StatusNotFound:
		return permanent(msg, ErrTypeNotFound)
	case pe.StatusCode == http.StatusUnauthorized || pe.StatusCode == http.StatusForbidden:
		return permanent(msg, ErrTypeProviderAuth)
	case pe.StatusCode == http.StatusUnsupportedMediaType || pe.Code == "unsupported_media":
		return permanent(msg, ErrTypeUnsupportedMedia)
	}
	return permanent(msg, ErrTypeProviderRejected)
}

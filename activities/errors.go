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
	"filesight/internal/vault/vaultclient"
)

// ErrorType is the type of a Temporal application error (its Type()). The
// workflow and retry policies tell failures apart by it, never by message
// text.
type ErrorType string

// Matches reports whether err is, or wraps, an application error of type t.
func (t ErrorType) Matches(err error) bool {
	var app *temporal.ApplicationError
	return err != nil && errors.As(err, &app) && app.Type() == string(t)
}

// Application error types returned by the activities.
const (
	// ErrTypeStillRunning is the poll's "not yet": retryable, with
	// NextRetryDelay set from the provider's Retry-After.
	ErrTypeStillRunning ErrorType = "JobStillRunning"
	// ErrTypeTokenRejected: Box answered 401 to a downscoped token
	// (expired or revoked). Not retryable with the same token; the
	// workflow issues a new one.
	ErrTypeTokenRejected ErrorType = "TokenRejected"
	// ErrTypeForbidden: 403, e.g. insufficient_scope or no access.
	ErrTypeForbidden ErrorType = "Forbidden"
	// ErrTypeNotFound: the file (or job) does not exist.
	ErrTypeNotFound ErrorType = "NotFound"
	// ErrTypeInvalid: a request the service refuses as malformed (4xx), or
	// cards that fail Box's schema.
	ErrTypeInvalid ErrorType = "InvalidRequest"
	// ErrTypeUnavailable: 5xx, 429 and network failures (retryable).
	ErrTypeUnavailable ErrorType = "Unavailable"
	// ErrTypeUnknownProvider: the job names a provider this worker lacks.
	ErrTypeUnknownProvider ErrorType = "UnknownProvider"
	// ErrTypeProviderAuth: the provider refused our credentials.
	ErrTypeProviderAuth ErrorType = "ProviderAuth"
	// ErrTypeUnsupportedMedia: the provider cannot process this media.
	ErrTypeUnsupportedMedia ErrorType = "UnsupportedMedia"
	// ErrTypeProviderRejected: any other non-retryable provider refusal.
	ErrTypeProviderRejected ErrorType = "ProviderRejected"
	// ErrTypeSealedToken: a token's sealed value cannot be opened. Retryable
	// when it names a key this worker lacks (another worker may have it),
	// not when it fails authentication.
	ErrTypeSealedToken ErrorType = "SealedToken"
	// ErrTypeVaultAuth: the vault refused the worker's credential (401, or
	// 403 for a credential that may not tokenize).
	ErrTypeVaultAuth ErrorType = "VaultAuth"
	// ErrTypeVaultRejected: the vault refused the request for another
	// reason retrying cannot fix.
	ErrTypeVaultRejected ErrorType = "VaultRejected"
)

// maxServerDelay caps a Retry-After honoured through NextRetryDelay: a
// service asking for more than this is retried after this long anyway.
const maxServerDelay = 5 * time.Minute

func retryable(msg string, typ ErrorType, after time.Duration) error {
	return temporal.NewApplicationErrorWithOptions(msg, string(typ), temporal.ApplicationErrorOptions{
		NextRetryDelay: min(after, maxServerDelay),
	})
}

func permanent(msg string, typ ErrorType) error {
	return temporal.NewApplicationErrorWithOptions(msg, string(typ), temporal.ApplicationErrorOptions{NonRetryable: true})
}

// isRetryable reports whether a classified error may pass on retry.
func isRetryable(err error) bool {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return !app.NonRetryable()
	}
	return true
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
	case pe.StatusCode == http.StatusNotFound || pe.StatusCode == http.StatusGone:
		return permanent(msg, ErrTypeNotFound)
	case pe.StatusCode == http.StatusUnauthorized || pe.StatusCode == http.StatusForbidden:
		return permanent(msg, ErrTypeProviderAuth)
	case pe.StatusCode == http.StatusUnsupportedMediaType || pe.Code == "unsupported_media":
		return permanent(msg, ErrTypeUnsupportedMedia)
	}
	return permanent(msg, ErrTypeProviderRejected)
}

// classifyVault does the same for a failed redaction: the vault says
// whether a retry may help (503 with Retry-After, a vault that cannot be
// reached: retryable, paced by its Retry-After); a refused credential is
// ErrTypeVaultAuth, any other refusal, or a tokenizer that is not the
// vault's, ErrTypeVaultRejected. The message holds no value: the vault's
// errors never quote one.
func classifyVault(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	msg := fmt.Sprintf("%s: %v", op, err)
	var ve *vaultclient.Error
	if !errors.As(err, &ve) {
		return permanent(msg, ErrTypeVaultRejected)
	}
	if ve.Retryable {
		return retryable(msg, ErrTypeUnavailable, ve.RetryAfter)
	}
	if ve.StatusCode == http.StatusUnauthorized || ve.StatusCode == http.StatusForbidden {
		return permanent(msg, ErrTypeVaultAuth)
	}
	return permanent(msg, ErrTypeVaultRejected)
}

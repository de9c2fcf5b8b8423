package localbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
)

// apiError is an error answered with Box's error envelope:
// {type:"error", status, code, message, request_id[, context_info]}.
type apiError struct {
	Status      int
	Code        string
	Message     string
	ContextInfo any
	// authError, if set, becomes the error="..." of a WWW-Authenticate header.
	authError string
	// retryAfter, if positive, becomes a Retry-After header (seconds).
	retryAfter int
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *apiError {
	return errf(http.StatusBadRequest, "bad_request", format, args...)
}

func notFound(what string) *apiError {
	return errf(http.StatusNotFound, "not_found", "Not Found: %s", what)
}

func unauthorized(msg string) *apiError {
	e := errf(http.StatusUnauthorized, "unauthorized", "%s", msg)
	e.authError = "invalid_token"
	return e
}

func insufficientScope(msg string) *apiError {
	e := errf(http.StatusForbidden, "insufficient_scope", "%s", msg)
	e.authError = "insufficient_scope"
	return e
}

func rateLimited(retryAfter int) *apiError {
	e := errf(http.StatusTooManyRequests, "rate_limit_exceeded", "Request rate limit exceeded, please try again later")
	e.retryAfter = max(1, retryAfter)
	return e
}

type ctxKey int

const (
	ctxRequestID ctxKey = iota
	ctxPrincipal
)

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxRequestID).(string)
	return id
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only programming errors get here; the value is ours.
		http.Error(w, `{"type":"error","status":500,"code":"internal_server_error","message":"encoding response failed"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError answers err with Box's error envelope. Errors that are not
// *apiError are logged and answered as a 500 without detail.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			return // the client went away; nobody reads the answer
		}
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path,
			"request_id", requestID(r.Context()), "error", err)
		ae = errf(http.StatusInternalServerError, "internal_server_error", "Internal Server Error")
	}
	if ae.authError != "" {
		desc := "The access token provided is invalid."
		if ae.authError == "insufficient_scope" {
			desc = "The request requires higher privileges than provided by the access token."
		}
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="Service", error=%q, error_description=%q`, ae.authError, desc))
	}
	if ae.retryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(ae.retryAfter))
	}
	body := map[string]any{
		"type":       "error",
		"status":     ae.Status,
		"code":       ae.Code,
		"message":    ae.Message,
		"request_id": requestID(r.Context()),
		"help_url":   "https://developer.box.com/guides/api-calls/permissions-and-errors/common-errors/",
	}
	if ae.ContextInfo != nil {
		body["context_info"] = ae.ContextInfo
	}
	writeJSON(w, ae.Status, body)
}

// oauthError is the OAuth 2.0 error shape of /oauth2/*: {error, error_description}.
type oauthError struct {
	Status      int
	Code        string
	Description string
}

func (e *oauthError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Description) }

func writeOAuthError(w http.ResponseWriter, e *oauthError) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, e.Status, map[string]string{"error": e.Code, "error_description": e.Description})
}

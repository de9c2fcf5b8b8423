package vault

import (
	"time"

	"filesight/internal/secret"
)

// The vault service's HTTP API (see docs/vault.md). Requests and responses
// are JSON; every /v1 request carries "Authorization: Bearer <credential>".

// Paths of the API.
const (
	PathTokenize   = "/v1/tokenize"
	PathDetokenize = "/v1/detokenize"
	PathAudit      = "/v1/audit"
	PathKeys       = "/v1/admin/keys"
	PathReencrypt  = "/v1/admin/reencrypt"
	PathHealth     = "/healthz"
)

// Limits of the API.
const (
	// MaxTokenizeItems is the most items one tokenize request may carry.
	MaxTokenizeItems = 1000
	// MaxDetokenizeTokens is the most tokens one detokenize request may carry.
	MaxDetokenizeTokens = 100
	// MaxReason is the longest reason a detokenize request may give.
	MaxReason = 200
)

// TokenizeRequest is the body of POST /v1/tokenize.
type TokenizeRequest struct {
	Items []Item `json:"items"`
}

// TokenizeResponse answers it: one token per item, in order.
type TokenizeResponse struct {
	Tokens []string `json:"tokens"`
}

// DetokenizeRequest is the body of POST /v1/detokenize. Reason is recorded
// in the audit (a ticket number, say) and must not itself hold a sensitive
// value.
type DetokenizeRequest struct {
	Tokens []string `json:"tokens"`
	Reason string   `json:"reason,omitempty"`
}

// Detokenize results.
const (
	ResultOK       = "ok"
	ResultNotFound = "not_found"
)

// DetokenizeResult is the outcome for one token.
type DetokenizeResult struct {
	Token  string        `json:"token"`
	Result string        `json:"result"` // ResultOK or ResultNotFound
	Kind   Kind          `json:"kind,omitempty"`
	Value  secret.String `json:"value,omitempty"`
}

// DetokenizeResponse answers a detokenize request, one result per token.
type DetokenizeResponse struct {
	Results []DetokenizeResult `json:"results"`
}

// AuditEvent is one row of the audit log. It never holds a value.
type AuditEvent struct {
	ID     int64     `json:"id"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`  // credential name; empty when none was valid
	Action string    `json:"action"` // "detokenize", "audit.list", "reencrypt"
	Token  string    `json:"token,omitempty"`
	Remote string    `json:"remote"`                  // the peer address of the connection
	Via    string    `json:"forwarded_for,omitempty"` // X-Forwarded-For as sent (not verified)
	Result string    `json:"result"`
	Reason string    `json:"reason,omitempty"`
}

// AuditPage answers GET /v1/audit, newest first. Pass NextBefore as
// "before" to get the next page; it is 0 on the last page.
type AuditPage struct {
	Events     []AuditEvent `json:"events"`
	NextBefore int64        `json:"next_before,omitempty"`
}

// KeysStatus answers GET /v1/admin/keys: the encrypting key and how many
// stored values each key protects. A key that protects nothing can be
// removed from the configuration.
type KeysStatus struct {
	Active string           `json:"active"`
	Values map[string]int64 `json:"values"`
}

// ReencryptResponse answers POST /v1/admin/reencrypt.
type ReencryptResponse struct {
	Reencrypted int64      `json:"reencrypted"`
	Keys        KeysStatus `json:"keys"`
}

// ErrorBody is the body of every error response.
type ErrorBody struct {
	Error APIError `json:"error"`
}

// APIError describes a failed request.
type APIError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

// Error codes.
const (
	CodeUnauthorized   = "unauthorized"
	CodeForbidden      = "forbidden"
	CodeInvalidRequest = "invalid_request"
	CodeTooLarge       = "request_too_large"
	CodeUnsupported    = "unsupported_media_type"
	CodeNotFound       = "not_found"
	CodeUnavailable    = "unavailable"
	CodeInternal       = "internal"
)

// Package mlengineapi is the API of the bundled mlengine job service: its
// wire types, which the server (internal/mlengine) shares so that the two
// cannot drift apart, and its HTTP client, which implements
// provider.Provider. See docs/mlengine.md.
package mlengineapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"filesight/internal/provider"
	"filesight/internal/signature"
)

// Callback delivery headers. Every callback carries all three.
const (
	// HeaderDeliveryID identifies one callback; it stays the same across
	// retries of that callback, so a receiver can deduplicate on it.
	HeaderDeliveryID = "MLENGINE-DELIVERY-ID"
	// HeaderTimestamp is the RFC 3339 time of this delivery attempt.
	HeaderTimestamp = "MLENGINE-TIMESTAMP"
	// HeaderSignature is signature.SignDelivery(callbackKey, body,
	// timestamp, deliveryID): the delivery ID is signed, so a receiver
	// that remembers IDs recognises a replayed callback.
	HeaderSignature = "MLENGINE-SIGNATURE"
)

// HeaderIdempotencyKey is the request header that makes POST /v1/jobs safe to retry.
const HeaderIdempotencyKey = "Idempotency-Key"

// DefaultName is the provider name used in JobRefs unless configured otherwise.
const DefaultName = "mlengine"

// SubmitRequest is the body of POST /v1/jobs.
type SubmitRequest struct {
	MediaURL string `json:"media_url"`
	// MediaToken is sent as "Authorization: Bearer" when fetching MediaURL.
	MediaToken  string            `json:"media_token,omitempty"`
	Analyses    []string          `json:"analyses,omitempty"`
	CallbackURL string            `json:"callback_url,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
}

// SubmitResponse is the body of a 202 (new job) or 200 (same idempotency key) answer.
type SubmitResponse struct {
	ID     string         `json:"id"`
	Status provider.State `json:"status"`
}

// Job is the body of GET /v1/jobs/{id} (and of DELETE's answer). It never
// carries the media token.
type Job struct {
	ID           string                    `json:"id"`
	Status       provider.State            `json:"status"`
	Progress     float64                   `json:"progress"`
	MediaFetched bool                      `json:"media_fetched"`
	Analyses     map[string]provider.State `json:"analyses"`
	// AnalysisErrors names what went wrong in analyses that failed.
	AnalysisErrors map[string]string  `json:"analysis_errors,omitempty"`
	Error          *provider.JobError `json:"error,omitempty"`
	Labels         map[string]string  `json:"labels,omitempty"`
	// IdempotencyKey is the key the job was submitted with (empty: none).
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// Submissions counts the POST /v1/jobs requests that returned this
	// job: 1, plus every retry that carried the same idempotency key.
	Submissions int       `json:"submissions"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// ResultDeletedAt is when a succeeded job's result document and
	// thumbnails were deleted (DELETE /v1/jobs/{id}/result, or
	// MLENGINE_RESULT_RETENTION after the job ended); absent while they exist.
	ResultDeletedAt *time.Time `json:"result_deleted_at,omitempty"`
}

// JobList is the body of GET /v1/jobs: jobs in submission order, and the
// cursor of the next page (empty on the last page).
type JobList struct {
	Jobs []Job  `json:"jobs"`
	Next string `json:"next,omitempty"`
	// Open is how many jobs are open (queued or running) now; MaxOpen the
	// most that were open at once since the service started, which is
	// what a client-side cap on open jobs keeps down.
	Open    int `json:"open"`
	MaxOpen int `json:"max_open"`
}

// ListOptions select a page of GET /v1/jobs; the zero value is the first
// page of every job.
type ListOptions struct {
	// Status keeps jobs in that state only.
	Status provider.State
	// After is the Next cursor of the previous page.
	After string
	// Limit is the page size: 1–1000, default 100.
	Limit int
}

// ErrorBody is the body of every API error answer.
type ErrorBody struct {
	Error APIError `json:"error"`
}

// APIError describes a failed API call.
type APIError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

// Callback is the body POSTed to a job's callback_url when the job ends.
type Callback struct {
	JobID  string            `json:"job_id"`
	Status provider.State    `json:"status"`
	Labels map[string]string `json:"labels,omitempty"`
}

// ErrCallbackSignature is returned (wrapped) by VerifyCallback for any bad,
// missing, stale or unsigned delivery. Answer it with 401 and no detail.
var ErrCallbackSignature = errors.New("mlengine callback signature invalid")

// SignCallback sets the delivery headers of a callback attempt on h: its
// delivery ID, its time and the signature of both with the body.
func SignCallback(h http.Header, key, body []byte, timestamp, deliveryID string) {
	h.Set(HeaderDeliveryID, deliveryID)
	h.Set(HeaderTimestamp, timestamp)
	h.Set(HeaderSignature, signature.SignDelivery(key, body, timestamp, deliveryID))
}

// VerifyCallback checks a callback delivery's headers (its delivery ID
// included) against its raw body. Call it before decoding the body.
func VerifyCallback(v *signature.Verifier, h http.Header, body []byte) error {
	if v == nil {
		return fmt.Errorf("%w: %w", ErrCallbackSignature, signature.ErrNoKey)
	}
	// One signature is sent; offering it for both keys lets a receiver
	// rotate the callback key (old key as secondary) without a gap.
	sig := h.Get(HeaderSignature)
	if err := v.VerifyDelivery(body, h.Get(HeaderTimestamp), h.Get(HeaderDeliveryID), sig, sig); err != nil {
		return fmt.Errorf("%w: %w", ErrCallbackSignature, err)
	}
	return nil
}

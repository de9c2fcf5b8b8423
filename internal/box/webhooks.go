package box

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"filesight/internal/secret"
	"filesight/internal/signature"
)

// WebhookTarget is what a webhook watches.
type WebhookTarget struct {
	ID   string `json:"id"`
	Type string `json:"type"` // "file" or "folder"
}

// Webhook is Box's Webhook (a listing returns Webhook--Mini: ID, Type, Target).
type Webhook struct {
	ID        string        `json:"id"`
	Type      string        `json:"type"`
	Target    WebhookTarget `json:"target"`
	CreatedBy *User         `json:"created_by,omitempty"`
	CreatedAt string        `json:"created_at,omitempty"`
	Address   string        `json:"address,omitempty"`
	Triggers  []string      `json:"triggers,omitempty"`
}

// CreateWebhook creates a v2 webhook (POST /2.0/webhooks) on a file or
// folder (targetType "file" or "folder") delivering the triggers (e.g.
// "FILE.UPLOADED") to address.
func (c *Client) CreateWebhook(ctx context.Context, token secret.String, targetType, targetID, address string, triggers ...string) (*Webhook, error) {
	const op = "POST /2.0/webhooks"
	if targetType != "file" && targetType != "folder" {
		return nil, fmt.Errorf(`box: %s: target type must be "file" or "folder", got %q`, op, targetType)
	}
	if err := requireID(op, "target ID", targetID); err != nil {
		return nil, err
	}
	if u, err := url.Parse(address); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("box: %s: address must be an absolute http(s) URL", op)
	}
	if len(triggers) == 0 {
		return nil, fmt.Errorf("box: %s: at least one trigger is required", op)
	}
	body := jsonBody(struct {
		Target   WebhookTarget `json:"target"`
		Address  string        `json:"address"`
		Triggers []string      `json:"triggers"`
	}{WebhookTarget{ID: targetID, Type: targetType}, address, triggers})
	var w Webhook
	if err := c.doJSON(ctx, request{op: op, method: http.MethodPost, url: c.api("/2.0/webhooks"), token: token,
		body: body, ctype: "application/json", accept: []int{http.StatusCreated, http.StatusOK}}, &w); err != nil {
		return nil, err
	}
	return &w, nil
}

// ListWebhooks lists the app's webhooks (GET /2.0/webhooks), following marker pagination.
func (c *Client) ListWebhooks(ctx context.Context, token secret.String) ([]Webhook, error) {
	const op = "GET /2.0/webhooks"
	all := []Webhook{}
	q := url.Values{"limit": {strconv.Itoa(200)}}
	for page := 0; page < maxPages; page++ {
		var ans struct {
			Entries    []Webhook `json:"entries"`
			NextMarker string    `json:"next_marker"`
		}
		if err := c.doJSON(ctx, request{op: op, method: http.MethodGet, url: c.api("/2.0/webhooks") + "?" + q.Encode(),
			token: token, accept: []int{http.StatusOK}}, &ans); err != nil {
			return nil, err
		}
		all = append(all, ans.Entries...)
		if ans.NextMarker == "" {
			return all, nil
		}
		q.Set("marker", ans.NextMarker)
	}
	return nil, &Error{StatusCode: http.StatusOK, Op: op, Code: "invalid_response", Message: "pagination did not end"}
}

// DeleteWebhook deletes a webhook (DELETE /2.0/webhooks/{id}; 204).
func (c *Client) DeleteWebhook(ctx context.Context, token secret.String, id string) error {
	const op = "DELETE /2.0/webhooks/{id}"
	if err := requireID(op, "webhook ID", id); err != nil {
		return err
	}
	return c.doJSON(ctx, request{op: op, method: http.MethodDelete, url: c.api("/2.0/webhooks/{}", id), token: token,
		accept: []int{http.StatusNoContent, http.StatusOK}}, nil)
}

// Box webhook delivery headers.
const (
	HeaderDeliveryID         = "BOX-DELIVERY-ID"
	HeaderDeliveryTimestamp  = "BOX-DELIVERY-TIMESTAMP"
	HeaderSignaturePrimary   = "BOX-SIGNATURE-PRIMARY"
	HeaderSignatureSecondary = "BOX-SIGNATURE-SECONDARY"
	HeaderSignatureVersion   = "BOX-SIGNATURE-VERSION"
	HeaderSignatureAlgorithm = "BOX-SIGNATURE-ALGORITHM"

	signatureVersion   = "1"
	signatureAlgorithm = "HmacSHA256"
)

// ErrUnsupportedSignature is returned by WebhookVerifier.Verify when the
// delivery's signature version or algorithm is not Box's v1 HmacSHA256.
var ErrUnsupportedSignature = errors.New("unsupported signature version or algorithm")

// WebhookVerifier checks Box webhook v2 signatures with the webhook's
// primary and secondary keys. Verification delegates to signature.Verifier:
// HMAC-SHA256 over the raw body followed by the timestamp, constant-time
// comparison, deliveries older than 10 minutes or more than a minute in the
// future refused.
type WebhookVerifier struct {
	// Sig does the cryptographic and timestamp checks; tests may set its
	// Now, MaxAge and MaxSkew.
	Sig *signature.Verifier
}

// NewWebhookVerifier returns a verifier for the given keys (either may be
// empty, not both). The keys are copied out of their secret.String.
func NewWebhookVerifier(primaryKey, secondaryKey secret.String) *WebhookVerifier {
	var p, s []byte
	if !primaryKey.IsZero() {
		p = []byte(primaryKey.Reveal())
	}
	if !secondaryKey.IsZero() {
		s = []byte(secondaryKey.Reveal())
	}
	return &WebhookVerifier{Sig: signature.NewVerifier(p, s)}
}

// Verify checks a delivery's headers against its raw body; call it before
// decoding the body. It requires BOX-SIGNATURE-VERSION "1" and
// BOX-SIGNATURE-ALGORITHM "HmacSHA256", a BOX-DELIVERY-TIMESTAMP within the
// window, and a BOX-SIGNATURE-PRIMARY or -SECONDARY that matches. Errors
// wrap ErrUnsupportedSignature or signature's ErrMissing, ErrTimestamp,
// ErrMismatch or ErrNoKey; none of them holds a key or a signature.
func (v *WebhookVerifier) Verify(h http.Header, body []byte) error {
	if v == nil || v.Sig == nil {
		return fmt.Errorf("box webhook: %w", signature.ErrNoKey)
	}
	if ver := h.Get(HeaderSignatureVersion); ver != signatureVersion {
		return fmt.Errorf("box webhook: %w: version %q", ErrUnsupportedSignature, truncate(ver))
	}
	if alg := h.Get(HeaderSignatureAlgorithm); alg != signatureAlgorithm {
		return fmt.Errorf("box webhook: %w: algorithm %q", ErrUnsupportedSignature, truncate(alg))
	}
	err := v.Sig.Verify(body, h.Get(HeaderDeliveryTimestamp), h.Get(HeaderSignaturePrimary), h.Get(HeaderSignatureSecondary))
	if err != nil {
		return fmt.Errorf("box webhook: %w", err)
	}
	return nil
}

// SignWebhook returns the headers Box would send with body at timestamp
// (RFC 3339) for the given keys (either may be empty): for tests and for
// tools that replay deliveries. deliveryID may be empty.
func SignWebhook(primaryKey, secondaryKey secret.String, body []byte, timestamp, deliveryID string) http.Header {
	h := http.Header{}
	h.Set(HeaderSignatureVersion, signatureVersion)
	h.Set(HeaderSignatureAlgorithm, signatureAlgorithm)
	h.Set(HeaderDeliveryTimestamp, timestamp)
	if deliveryID != "" {
		h.Set(HeaderDeliveryID, deliveryID)
	}
	if !primaryKey.IsZero() {
		h.Set(HeaderSignaturePrimary, signature.Sign([]byte(primaryKey.Reveal()), body, timestamp))
	}
	if !secondaryKey.IsZero() {
		h.Set(HeaderSignatureSecondary, signature.Sign([]byte(secondaryKey.Reveal()), body, timestamp))
	}
	return h
}

// WebhookEvent is the body of a Box webhook v2 delivery. ID is stable across
// Box's retries of one event (BOX-DELIVERY-ID is not).
type WebhookEvent struct {
	Type      string `json:"type"` // "webhook_event"
	ID        string `json:"id"`
	CreatedAt string `json:"created_at"`
	Trigger   string `json:"trigger"` // e.g. "FILE.UPLOADED"
	Webhook   struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	} `json:"webhook"`
	CreatedBy User `json:"created_by"`
	// Source is the item the event is about: a file for FILE.* triggers
	// (with FileVersion), a folder's type and id for FOLDER.* ones.
	Source         File            `json:"source"`
	AdditionalInfo json.RawMessage `json:"additional_info,omitempty"`
}

// ErrInvalidEvent wraps every ParseWebhookEvent failure.
var ErrInvalidEvent = errors.New("invalid webhook event")

// ParseWebhookEvent decodes a delivery body (verify it first) and checks
// what filesight relies on: type "webhook_event", an id and a trigger, and
// for FILE.* triggers a source of type "file" with an id and a
// file_version.id. Unknown fields are allowed; unknown triggers are the
// caller's to acknowledge and ignore.
func ParseWebhookEvent(body []byte) (*WebhookEvent, error) {
	var ev WebhookEvent
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&ev); err != nil {
		return nil, fmt.Errorf("%w: not the expected JSON: %v", ErrInvalidEvent, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrInvalidEvent)
	}
	switch {
	case ev.Type != "webhook_event":
		return nil, fmt.Errorf("%w: type is %q, want \"webhook_event\"", ErrInvalidEvent, truncate(ev.Type))
	case ev.ID == "":
		return nil, fmt.Errorf("%w: id missing", ErrInvalidEvent)
	case ev.Trigger == "":
		return nil, fmt.Errorf("%w: trigger missing", ErrInvalidEvent)
	}
	if strings.HasPrefix(ev.Trigger, "FILE.") {
		switch {
		case ev.Source.Type != "file":
			return nil, fmt.Errorf("%w: %s source type is %q, want \"file\"", ErrInvalidEvent, truncate(ev.Trigger), truncate(ev.Source.Type))
		case ev.Source.ID == "":
			return nil, fmt.Errorf("%w: source.id missing", ErrInvalidEvent)
		case ev.Source.VersionID() == "":
			return nil, fmt.Errorf("%w: source.file_version.id missing", ErrInvalidEvent)
		}
	}
	return &ev, nil
}

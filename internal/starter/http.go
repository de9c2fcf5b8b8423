package starter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"filesight/internal/box"
	"filesight/internal/provider"
	"filesight/internal/signature"
)

// Verifier checks a signed delivery on its raw bytes, before any decoding.
// *box.WebhookVerifier satisfies it; VerifierFunc adapts a function.
type Verifier interface {
	Verify(h http.Header, body []byte) error
}

// VerifierFunc adapts a function to Verifier.
type VerifierFunc func(h http.Header, body []byte) error

// Verify calls f.
func (f VerifierFunc) Verify(h http.Header, body []byte) error { return f(h, body) }

// CallbackProvider is how one ML provider's callbacks are checked and read:
// by Reader when set (the cloud adapters: what they sign may be in the
// URL), otherwise by Verifier and Parse.
type CallbackProvider struct {
	Verifier Verifier
	// Parse decodes the verified body; nil means ParseJobCallback.
	// The handler fills in Callback.Provider from the URL.
	Parse func(body []byte) (Callback, error)
	// Delivery identifies a verified callback for the replay memory; nil
	// means the provider's callbacks are not remembered.
	Delivery func(h http.Header) Delivery
	// Reader, when set, replaces Verifier, Parse and Delivery: it
	// authenticates and reads the whole request (headers, the URL's query,
	// the raw body) in the provider's own way. An error wrapping
	// provider.ErrCallbackAuth is answered 401, another 400. A claimed
	// state that is not terminal wakes nothing and is answered 200.
	Reader provider.CallbackReader
}

// HandlerConfig wires the HTTP layer to a Service.
type HandlerConfig struct {
	Service *Service
	// BoxVerifier checks Box's v2 webhook signatures (required).
	BoxVerifier Verifier
	// ParseBoxEvent decodes and validates a verified webhook body (required;
	// ParseBoxEvent in this package is the one to use).
	ParseBoxEvent func(body []byte) (FileEvent, error)
	// Callbacks maps a provider name (the {provider} path segment) to how
	// its callbacks are verified and parsed.
	Callbacks map[string]CallbackProvider
	// MaxBodyBytes limits request bodies; default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// BoxDelivery identifies a verified webhook delivery for the replay
	// memory; nil means BoxWebhookDelivery when BoxVerifier is a
	// *box.WebhookVerifier (otherwise deliveries are not remembered).
	BoxDelivery func(h http.Header) Delivery
	// Replays remembers verified deliveries for their replay window;
	// nil means a new memory of signature.DefaultMaxReplays.
	Replays *signature.Replays
	// Ready, when set, backs GET /readyz (for example client.CheckHealth).
	Ready  func(ctx context.Context) error
	Logger *slog.Logger
}

// DefaultMaxBodyBytes is far above any Box webhook event (a few KB).
const DefaultMaxBodyBytes = 256 << 10

// RetryAfterSeconds is sent with 503 answers.
const RetryAfterSeconds = 5

type handler struct {
	cfg HandlerConfig
	log *slog.Logger
}

// NewHandler returns the starter's HTTP API:
//
//	POST /webhooks/box            Box v2 webhook deliveries
//	POST /callbacks/{provider}    ML provider job callbacks
//	GET  /healthz                 liveness
//	GET  /readyz                  readiness (Temporal reachable), when Ready is set
func NewHandler(cfg HandlerConfig) (http.Handler, error) {
	if cfg.Service == nil {
		return nil, errors.New("starter handler: Service is required")
	}
	if cfg.BoxVerifier == nil || cfg.ParseBoxEvent == nil {
		return nil, errors.New("starter handler: BoxVerifier and ParseBoxEvent are required")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BoxDelivery == nil {
		if bv, ok := cfg.BoxVerifier.(*box.WebhookVerifier); ok && bv.Sig != nil {
			cfg.BoxDelivery = BoxWebhookDelivery(bv.Sig)
		}
	}
	if cfg.Replays == nil {
		cfg.Replays = signature.NewReplays(0, nil)
	}
	h := &handler{cfg: cfg, log: cfg.Logger}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhooks/box", h.boxWebhook)
	mux.HandleFunc("POST /callbacks/{provider}", h.callback)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", h.ready)
	return mux, nil
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// readBody reads the raw body up to the limit. It answers 413 itself and
// returns ok=false when the body is too large or unreadable.
func (h *handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, int, bool) {
	if r.ContentLength > h.cfg.MaxBodyBytes {
		writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{"request body too large"})
		return nil, http.StatusRequestEntityTooLarge, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{"request body too large"})
			return nil, http.StatusRequestEntityTooLarge, false
		}
		writeJSON(w, http.StatusBadRequest, errorBody{"could not read request body"})
		return nil, http.StatusBadRequest, false
	}
	return body, 0, true
}

// unauthorized answers every signature failure the same way, so the answer
// tells an attacker nothing about what was wrong.
func unauthorized(w http.ResponseWriter) int {
	writeJSON(w, http.StatusUnauthorized, errorBody{"invalid signature"})
	return http.StatusUnauthorized
}

func unavailable(w http.ResponseWriter) int {
	w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds))
	writeJSON(w, http.StatusServiceUnavailable, errorBody{"temporarily unavailable, retry later"})
	return http.StatusServiceUnavailable
}

// serviceError answers an error of the core Service: 400 for invalid input,
// 503 + Retry-After when Temporal is unavailable (so the sender retries),
// 500 otherwise. The bodies are fixed texts; the error itself is only logged.
func serviceError(w http.ResponseWriter, err error, invalidMsg, failedMsg string) int {
	switch {
	case errors.Is(err, ErrInvalid):
		writeJSON(w, http.StatusBadRequest, errorBody{invalidMsg})
		return http.StatusBadRequest
	case errors.Is(err, ErrUnavailable):
		return unavailable(w)
	default:
		writeJSON(w, http.StatusInternalServerError, errorBody{failedMsg})
		return http.StatusInternalServerError
	}
}

func (h *handler) boxWebhook(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	status, attrs := h.serveBoxWebhook(w, r)
	attrs = append(attrs,
		slog.Int("status", status),
		slog.String("delivery_id", r.Header.Get("Box-Delivery-Id")),
		slog.Duration("took", time.Since(start)))
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelWarn
	}
	h.log.LogAttrs(r.Context(), level, "box webhook", attrs...)
}

func (h *handler) serveBoxWebhook(w http.ResponseWriter, r *http.Request) (int, []slog.Attr) {
	body, status, ok := h.readBody(w, r)
	if !ok {
		return status, nil
	}
	if err := h.cfg.BoxVerifier.Verify(r.Header, body); err != nil {
		// The reason goes to our log only.
		return unauthorized(w), []slog.Attr{slog.String("rejected", err.Error())}
	}
	// A delivery seen already is answered as the first one was, without
	// starting anything. One being handled right now is handled again:
	// starting is idempotent (one workflow per file version), and its
	// answer then names the same run.
	c := claim{seen: signature.New}
	if h.cfg.BoxDelivery != nil {
		c = beginDelivery(h.cfg.Replays, "box/", h.cfg.BoxDelivery(r.Header))
	}
	if first, ok := c.prev.(Decision); c.seen == signature.Done && ok {
		c.done(first)
		d := first
		if d.Outcome == OutcomeStarted {
			d.Outcome, d.Reason = OutcomeDuplicate, "delivery already received"
		}
		writeJSON(w, http.StatusOK, d)
		return http.StatusOK, []slog.Attr{slog.Bool("replayed", true), slog.String("outcome", string(d.Outcome)), slog.String("workflow_id", d.WorkflowID)}
	}
	ev, err := h.cfg.ParseBoxEvent(body)
	if err != nil {
		c.forget()
		writeJSON(w, http.StatusBadRequest, errorBody{err.Error()})
		return http.StatusBadRequest, []slog.Attr{slog.String("rejected", err.Error())}
	}
	attrs := []slog.Attr{
		slog.String("event_id", ev.EventID), slog.String("trigger", ev.Trigger),
		slog.String("file_id", ev.FileID), slog.String("file_version_id", ev.FileVersionID),
	}
	d, err := h.cfg.Service.HandleFileEvent(r.Context(), ev)
	if err != nil {
		c.forget()
		attrs = append(attrs, slog.String("error", err.Error()))
		return serviceError(w, err, "invalid event", "could not start processing"), attrs
	}
	c.done(d)
	attrs = append(attrs, slog.String("outcome", string(d.Outcome)), slog.String("workflow_id", d.WorkflowID))
	if d.Reason != "" {
		attrs = append(attrs, slog.String("reason", d.Reason))
	}
	code := http.StatusOK
	if d.Outcome == OutcomeStarted {
		code = http.StatusAccepted
	}
	writeJSON(w, code, d)
	return code, attrs
}

var providerName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func (h *handler) callback(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name := r.PathValue("provider")
	status, attrs := h.serveCallback(w, r, name)
	attrs = append(attrs, slog.String("provider", name), slog.Int("status", status), slog.Duration("took", time.Since(start)))
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelWarn
	}
	h.log.LogAttrs(r.Context(), level, "provider callback", attrs...)
}

func (h *handler) serveCallback(w http.ResponseWriter, r *http.Request, name string) (int, []slog.Attr) {
	p, known := h.cfg.Callbacks[name]
	if !providerName.MatchString(name) || !known || (p.Verifier == nil && p.Reader == nil) {
		writeJSON(w, http.StatusNotFound, errorBody{"unknown provider"})
		return http.StatusNotFound, nil
	}
	body, status, ok := h.readBody(w, r)
	if !ok {
		return status, nil
	}
	var cb Callback
	c := claim{seen: signature.New}
	var delivery Delivery
	var attrs []slog.Attr
	if p.Reader != nil {
		var done bool
		if cb, status, done = h.readCallback(w, r, p.Reader, body); done {
			return status, []slog.Attr{slog.String("job_id", cb.JobID), slog.String("job_status", cb.Status)}
		}
	} else {
		if err := p.Verifier.Verify(r.Header, body); err != nil {
			return unauthorized(w), []slog.Attr{slog.String("rejected", err.Error())}
		}
		// A callback handled already (a replay, or the sender's retry after a
		// lost answer) is answered and changes nothing; one being handled
		// right now is to be tried again later.
		if p.Delivery != nil {
			delivery = p.Delivery(r.Header)
			c = beginDelivery(h.cfg.Replays, "callback/"+name+"/", delivery)
		}
		attrs = append(attrs, slog.String("delivery_id", delivery.ID))
		switch c.seen {
		case signature.Done:
			c.done(c.prev)
			writeJSON(w, http.StatusOK, map[string]string{"status": "duplicate", "reason": "callback already received"})
			return http.StatusOK, append(attrs, slog.Bool("replayed", true))
		case signature.InFlight:
			c.forget()
			return unavailable(w), append(attrs, slog.Bool("replayed", true), slog.String("rejected", "the same callback is being handled"))
		}
		parse := p.Parse
		if parse == nil {
			parse = ParseJobCallback
		}
		var err error
		if cb, err = parse(body); err != nil {
			c.done(nil)
			writeJSON(w, http.StatusBadRequest, errorBody{err.Error()})
			return http.StatusBadRequest, append(attrs, slog.String("rejected", err.Error()))
		}
	}
	cb.Provider, cb.DeliveryID = name, delivery.ID
	attrs = append(attrs, slog.String("job_id", cb.JobID), slog.String("job_status", cb.Status), slog.String("workflow_id", cb.WorkflowID))
	if err := h.cfg.Service.DeliverCallback(r.Context(), cb); err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
		if errors.Is(err, ErrUnknownWorkflow) {
			c.done(nil)
			writeJSON(w, http.StatusNotFound, errorBody{"unknown job"})
			return http.StatusNotFound, attrs
		}
		c.forget()
		return serviceError(w, err, "invalid callback", "could not deliver callback"), attrs
	}
	c.done(nil)
	writeJSON(w, http.StatusOK, map[string]string{"status": "delivered", "workflow_id": cb.WorkflowID})
	return http.StatusOK, attrs
}

// readCallback reads a callback with the provider's reader. done means
// the request has been answered: refused (401, 400), or acknowledged
// without a signal because the claimed state is not terminal. The reason
// of a refusal goes to the log only.
func (h *handler) readCallback(w http.ResponseWriter, r *http.Request, reader provider.CallbackReader, body []byte) (cb Callback, status int, done bool) {
	c, err := reader.ReadCallback(r.Header, r.URL.Query(), body)
	switch {
	case errors.Is(err, provider.ErrCallbackAuth):
		h.log.InfoContext(r.Context(), "provider callback refused", "provider", r.PathValue("provider"), "rejected", err.Error())
		return cb, unauthorized(w), true
	case err != nil:
		writeJSON(w, http.StatusBadRequest, errorBody{"malformed callback"})
		h.log.InfoContext(r.Context(), "provider callback refused", "provider", r.PathValue("provider"), "rejected", err.Error())
		return cb, http.StatusBadRequest, true
	}
	cb = Callback{JobID: c.JobID, Status: string(c.State), WorkflowID: c.WorkflowID}
	if !c.State.Terminal() {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ignored"})
		return cb, http.StatusOK, true
	}
	return cb, 0, false
}

func (h *handler) ready(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Ready == nil {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := h.cfg.Ready(ctx); err != nil {
		h.log.WarnContext(r.Context(), "not ready", "error", err)
		unavailable(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// jobCallbackBody is the callback shape shared by mlengine and the adapters:
// {"job_id", "status", "labels": {"workflow_id": ...}}.
type jobCallbackBody struct {
	JobID  string            `json:"job_id"`
	Status string            `json:"status"`
	Labels map[string]string `json:"labels"`
}

// LabelWorkflowID is the job label carrying the workflow to signal.
const LabelWorkflowID = "workflow_id"

// ParseJobCallback decodes a job callback body. A callback whose labels name
// no workflow decodes fine; DeliverCallback reports it as an unknown job.
func ParseJobCallback(body []byte) (Callback, error) {
	var b jobCallbackBody
	if err := json.Unmarshal(body, &b); err != nil {
		return Callback{}, fmt.Errorf("malformed callback JSON: %v", err)
	}
	if b.JobID == "" {
		return Callback{}, errors.New("callback without job_id")
	}
	return Callback{JobID: b.JobID, Status: b.Status, WorkflowID: b.Labels[LabelWorkflowID]}, nil
}

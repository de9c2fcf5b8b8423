package starter

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"

	"filesight/internal/box"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/secret"
	"filesight/internal/signature"
)

// Delivery identifies one verified delivery (a webhook or a callback) for
// the replay memory.
type Delivery struct {
	// ID is the sender's delivery ID ("" when it sends none).
	ID string
	// Keys identify the delivery in the replay memory: its ID when the
	// signature covers it; for Box, whose delivery ID is not signed, its
	// signature too, so that a recorded delivery sent again under a fresh
	// ID is still recognised.
	Keys []string
	// Until is when the verifier stops accepting the delivery: how long it
	// must be remembered.
	Until time.Time
}

// BoxWebhookDelivery identifies a Box webhook delivery verified by v. Box
// sends a new BOX-DELIVERY-ID with every attempt, and signs body and
// timestamp only: the ID and the signatures are remembered, so an attempt
// sent again, with its ID or under a new one, is recognised.
func BoxWebhookDelivery(v *signature.Verifier) func(h http.Header) Delivery {
	return func(h http.Header) Delivery {
		d := Delivery{ID: h.Get(box.HeaderDeliveryID), Until: v.Until(h.Get(box.HeaderDeliveryTimestamp))}
		if d.ID != "" && signature.CheckDeliveryID(d.ID) == nil {
			d.Keys = append(d.Keys, "id:"+d.ID)
		}
		sum := sha256.Sum256([]byte(h.Get(box.HeaderSignaturePrimary) + "\n" + h.Get(box.HeaderSignatureSecondary)))
		d.Keys = append(d.Keys, "sig:"+base64.RawStdEncoding.EncodeToString(sum[:]))
		return d
	}
}

// MLEngineCallbacks is how mlengine's callbacks are verified (with the
// callback key, and the previous one during a rotation) and remembered (by
// their signed delivery ID).
func MLEngineCallbacks(key, previous secret.String) CallbackProvider {
	v := signature.NewVerifier([]byte(key.Reveal()), []byte(previous.Reveal()))
	return CallbackProvider{
		Verifier: VerifierFunc(func(h http.Header, body []byte) error { return mlengineapi.VerifyCallback(v, h, body) }),
		Delivery: func(h http.Header) Delivery {
			id := h.Get(mlengineapi.HeaderDeliveryID)
			return Delivery{ID: id, Keys: []string{"id:" + id}, Until: v.Until(h.Get(mlengineapi.HeaderTimestamp))}
		},
	}
}

// claim is a delivery's place in the replay memory.
type claim struct {
	replays *signature.Replays
	mine    []string // keys this handling began, to finish
	seen    signature.Seen
	prev    any // with seen == Done: what the first handling left
}

// begin claims d's keys under prefix: the delivery is Done when any key
// was handled already, InFlight when any is being handled, else New.
func beginDelivery(r *signature.Replays, prefix string, d Delivery) claim {
	c := claim{replays: r, seen: signature.New}
	for _, k := range d.Keys {
		switch seen, prev := r.Begin(prefix+k, d.Until); seen {
		case signature.New:
			c.mine = append(c.mine, prefix+k)
		case signature.Done:
			c.seen, c.prev = signature.Done, prev
		case signature.InFlight:
			if c.seen != signature.Done {
				c.seen = signature.InFlight
			}
		}
	}
	return c
}

// done records the keys this handling began as handled, with v.
func (c claim) done(v any) {
	for _, k := range c.mine {
		c.replays.Done(k, v)
	}
}

// forget drops the keys this handling began, so a retry is handled.
func (c claim) forget() {
	for _, k := range c.mine {
		c.replays.Forget(k)
	}
}

// signalRequestIDKey carries the request ID of the next signal.
type signalRequestIDKey struct{}

// withSignalRequestID makes the signal sent with ctx carry the request ID
// derived from a provider's delivery (see SignalRequestIDs).
func withSignalRequestID(ctx context.Context, provider, deliveryID string) context.Context {
	id := uuid.NewSHA1(uuid.NameSpaceURL, []byte("filesight-callback\n"+provider+"\n"+deliveryID))
	return context.WithValue(ctx, signalRequestIDKey{}, id.String())
}

// SignalRequestIDs is a gRPC client interceptor that gives the signal of
// a provider callback a request ID derived from the callback's delivery ID.
// Temporal ignores a second signal with a request ID it has seen for the
// workflow, so a callback replayed after the starter restarted, or sent to
// another replica, still adds nothing to the workflow's history. The
// starter's Temporal client is dialled with it (DialOption).
func SignalRequestIDs(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if id, ok := ctx.Value(signalRequestIDKey{}).(string); ok {
		if r, ok := req.(*workflowservice.SignalWorkflowExecutionRequest); ok {
			r.RequestId = id
		}
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// WithSignalRequestIDs adds SignalRequestIDs to Temporal client options.
func WithSignalRequestIDs(o client.Options) client.Options {
	o.ConnectionOptions.DialOptions = append(o.ConnectionOptions.DialOptions, grpc.WithChainUnaryInterceptor(SignalRequestIDs))
	return o
}

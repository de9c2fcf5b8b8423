package provider

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"filesight/internal/secret"
)

// Callback is what one provider callback says, once authenticated. Its
// State is the provider's claim, mapped to our vocabulary and never
// trusted: a callback only wakes the workflow, which then reads the job's
// status from the provider itself. A callback naming a state that is not
// terminal wakes nothing (polling goes on).
type Callback struct {
	JobID      string
	State      State
	WorkflowID string
}

// CallbackReader authenticates and decodes one provider's callback
// request: the raw body and the whole request URL's query, since services
// that do not sign their callbacks (Video Indexer, AssemblyAI) are given a
// callback URL carrying our own signature, and some put the job ID in the
// query. Errors wrapping ErrCallbackAuth must be answered 401 without
// detail; other errors 400.
type CallbackReader interface {
	ReadCallback(h http.Header, query url.Values, body []byte) (Callback, error)
}

// ErrCallbackAuth is wrapped by every CallbackReader error that means "not
// from the provider": a missing, stale or wrong signature.
var ErrCallbackAuth = errors.New("callback not authenticated")

// LabelWorkflowID is the JobRequest label naming the workflow that
// submitted the job: the workflow a callback must wake.
const LabelWorkflowID = "workflow_id"

// Query parameters of a signed callback URL. The "fs_" prefix keeps them
// apart from what a provider appends (Video Indexer adds id and state).
const (
	CallbackParamWorkflow  = "fs_wf"
	CallbackParamExpires   = "fs_exp"
	CallbackParamSignature = "fs_sig"
)

// MinCallbackKeyBytes is the shortest callback key accepted: the key is a
// secret shared between the worker (which signs) and the starter (which
// verifies), so the project's rule for shared secrets applies.
const MinCallbackKeyBytes = secret.MinSharedBytes

// CallbackSigner signs callback URLs for a provider whose callbacks carry
// no signature of their own, and verifies them when they come back. The
// signature binds the provider name, the workflow to wake and an expiry, so
// a URL seen by the provider (or in its logs) can wake only that workflow,
// only through that provider's endpoint, and only until it expires. Waking
// a workflow is all it can do: the workflow re-reads the job's status.
type CallbackSigner struct {
	// Provider is the provider name the URL is for (/callbacks/{provider}).
	Provider string
	// Key signs; Secondary is also accepted when verifying, so the key can
	// be rotated (new key as Key, old as Secondary) without a gap.
	Key, Secondary secret.String
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Enabled reports whether a signing key is configured.
func (s CallbackSigner) Enabled() bool { return !s.Key.IsZero() }

// Validate checks the keys' length.
func (s CallbackSigner) Validate() error {
	for _, k := range []secret.String{s.Key, s.Secondary} {
		if !k.IsZero() && len(k.Reveal()) < MinCallbackKeyBytes {
			return fmt.Errorf("callback keys must be at least %d bytes", MinCallbackKeyBytes)
		}
	}
	return nil
}

func (s CallbackSigner) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func callbackMAC(key secret.String, provider, workflowID string, exp int64) string {
	m := hmac.New(sha256.New, []byte(key.Reveal()))
	fmt.Fprintf(m, "filesight-callback-v1\n%s\n%s\n%d", provider, workflowID, exp)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Sign returns callbackURL with the workflow ID, an expiry ttl from now and
// the signature added to its query. The result is a capability (it can wake
// the workflow): treat it as a secret.
func (s CallbackSigner) Sign(callbackURL, workflowID string, ttl time.Duration) (secret.String, error) {
	if !s.Enabled() {
		return "", errors.New("no callback key configured")
	}
	if workflowID == "" {
		return "", errors.New("no workflow to call back")
	}
	if !IsHTTPURL(callbackURL) {
		return "", fmt.Errorf("callback URL %q is not an http(s) URL", stripURL(callbackURL))
	}
	u, _ := url.Parse(callbackURL)
	exp := s.now().Add(ttl).Unix()
	q := u.Query()
	q.Set(CallbackParamWorkflow, workflowID)
	q.Set(CallbackParamExpires, strconv.FormatInt(exp, 10))
	q.Set(CallbackParamSignature, callbackMAC(s.Key, s.Provider, workflowID, exp))
	u.RawQuery = q.Encode()
	return secret.String(u.String()), nil
}

// Verify checks a callback's query and returns the workflow it names.
// Errors wrap ErrCallbackAuth.
func (s CallbackSigner) Verify(q url.Values) (string, error) {
	wf, expS, sig := q.Get(CallbackParamWorkflow), q.Get(CallbackParamExpires), q.Get(CallbackParamSignature)
	if s.Key.IsZero() && s.Secondary.IsZero() {
		return "", fmt.Errorf("%w: no callback key configured", ErrCallbackAuth)
	}
	if wf == "" || expS == "" || sig == "" {
		return "", fmt.Errorf("%w: signature parameters missing", ErrCallbackAuth)
	}
	exp, err := strconv.ParseInt(expS, 10, 64)
	if err != nil {
		return "", fmt.Errorf("%w: malformed expiry", ErrCallbackAuth)
	}
	ok := false
	// Both keys are always checked, so timing does not tell which matched.
	for _, k := range []secret.String{s.Key, s.Secondary} {
		if !k.IsZero() {
			ok = hmac.Equal([]byte(callbackMAC(k, s.Provider, wf, exp)), []byte(sig)) || ok
		}
	}
	if !ok {
		return "", fmt.Errorf("%w: signature mismatch", ErrCallbackAuth)
	}
	if s.now().Unix() > exp {
		return "", fmt.Errorf("%w: callback URL expired", ErrCallbackAuth)
	}
	return wf, nil
}

// SignedCallbacks is the CallbackReader of a provider whose callback URL
// we signed (CallbackSigner): it verifies the signature on the query
// first, then lets Parse read the job and the claimed state from the
// verified request.
type SignedCallbacks struct {
	Signer CallbackSigner
	Parse  func(query url.Values, body []byte) (jobID string, claimed State, err error)
}

var _ CallbackReader = SignedCallbacks{}

// ReadCallback implements CallbackReader.
func (r SignedCallbacks) ReadCallback(_ http.Header, q url.Values, body []byte) (Callback, error) {
	wf, err := r.Signer.Verify(q)
	if err != nil {
		return Callback{}, err
	}
	id, st, err := r.Parse(q, body)
	if err != nil {
		return Callback{}, err
	}
	if id == "" {
		return Callback{}, errors.New("callback names no job")
	}
	return Callback{JobID: id, State: st, WorkflowID: wf}, nil
}

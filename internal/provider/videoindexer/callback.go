package videoindexer

import (
	"errors"
	"net/http"
	"net/url"

	"filesight/internal/provider"
)

// CallbackReader authenticates Video Indexer's callbacks at
// /callbacks/{name}. Video Indexer POSTs to the callback URL given at
// upload with id (the video) and state added to its query, and (so far)
// an empty body; it signs nothing. The adapter signs the URL it gives
// (provider.CallbackSigner) and this reader checks that signature. The
// claimed state only decides whether the workflow is woken; the workflow
// then reads the index state from Video Indexer itself. Other
// notifications Video Indexer sends to the same URL (a person identified)
// carry no terminal state and wake nothing.
type CallbackReader struct {
	signer provider.CallbackSigner
}

var _ provider.CallbackReader = CallbackReader{}

// NewCallbackReader returns the reader for cfg's callback keys.
func NewCallbackReader(cfg Config) CallbackReader { return CallbackReader{signer: cfg.signer()} }

// ReadCallback implements provider.CallbackReader. The body is not read:
// Video Indexer may start sending one, and nothing in it would be trusted.
func (r CallbackReader) ReadCallback(_ http.Header, q url.Values, _ []byte) (provider.Callback, error) {
	wf, err := r.signer.Verify(q)
	if err != nil {
		return provider.Callback{}, err
	}
	id := q.Get("id")
	if id == "" {
		return provider.Callback{}, errors.New("Video Indexer callback without a video id")
	}
	return provider.Callback{JobID: id, State: claimedState(q.Get("state")), WorkflowID: wf}, nil
}

func claimedState(s string) provider.State {
	switch s {
	case StateProcessed:
		return provider.StateSucceeded
	case StateFailed, StateQuarantined:
		return provider.StateFailed
	case StateProcessing:
		return provider.StateRunning
	case StateUploaded:
		return provider.StateQueued
	}
	return ""
}

package videoindexer

import (
	"net/url"

	"filesight/internal/provider"
)

// NewCallbackReader returns how the starter authenticates Video Indexer's
// callbacks at /callbacks/{name}. Video Indexer POSTs to the callback URL
// given at upload with id (the video) and state added to its query, and
// (so far) an empty body; it signs nothing. The adapter signs the URL it
// gives, and the reader checks that signature. The claimed state only
// decides whether the workflow is woken; the workflow then reads the index
// state from Video Indexer itself. Other notifications sent to the same
// URL (a person identified) carry no terminal state and wake nothing. The
// body is not read: nothing in it would be trusted. Only the callback keys
// (and the name) of cfg are used.
func NewCallbackReader(cfg Config) provider.CallbackReader {
	return provider.SignedCallbacks{Signer: cfg.signer(), Parse: parseNotification}
}

func parseNotification(q url.Values, _ []byte) (string, provider.State, error) {
	return q.Get("id"), claimedState(q.Get("state")), nil
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

package assemblyai

import (
	"encoding/json"
	"fmt"
	"net/url"

	"filesight/internal/provider"
)

// NewCallbackReader returns how the starter authenticates AssemblyAI's
// webhook deliveries at /callbacks/{name}. AssemblyAI does not sign its
// deliveries; the adapter gives it a webhook URL signed with the callback
// key, and the reader checks that signature before reading the body
// {"transcript_id", "status"}. The claimed status only decides whether the
// workflow is woken (completed and error are terminal); the workflow then
// reads the transcript's status from AssemblyAI itself. Only the callback
// keys (and the name) of cfg are used.
func NewCallbackReader(cfg Config) provider.CallbackReader {
	return provider.SignedCallbacks{Signer: cfg.signer(), Parse: parseNotification}
}

func parseNotification(_ url.Values, body []byte) (string, provider.State, error) {
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil {
		return "", "", fmt.Errorf("malformed AssemblyAI webhook body: %v", provider.Redact(err.Error()))
	}
	return n.TranscriptID, claimedState(n.Status), nil
}

func claimedState(s string) provider.State {
	switch s {
	case StatusCompleted:
		return provider.StateSucceeded
	case StatusError:
		return provider.StateFailed
	case StatusProcessing:
		return provider.StateRunning
	case StatusQueued:
		return provider.StateQueued
	}
	return "" // unknown: wakes nothing
}

package assemblyai

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"filesight/internal/provider"
)

// CallbackReader authenticates AssemblyAI's webhook deliveries at
// /callbacks/{name}. AssemblyAI does not sign its deliveries; the adapter
// gives it a webhook URL signed with the callback key (provider.CallbackSigner),
// and this reader checks that signature on the query before reading the
// body {"transcript_id", "status"}. The claimed status only decides whether
// the workflow is woken (completed and error are terminal); the workflow
// then reads the transcript's status from AssemblyAI itself.
type CallbackReader struct {
	signer provider.CallbackSigner
}

var _ provider.CallbackReader = CallbackReader{}

// NewCallbackReader returns the reader for cfg's callback keys.
func NewCallbackReader(cfg Config) CallbackReader { return CallbackReader{signer: cfg.signer()} }

// ReadCallback implements provider.CallbackReader.
func (r CallbackReader) ReadCallback(_ http.Header, q url.Values, body []byte) (provider.Callback, error) {
	wf, err := r.signer.Verify(q)
	if err != nil {
		return provider.Callback{}, err
	}
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil {
		return provider.Callback{}, fmt.Errorf("malformed AssemblyAI webhook body: %v", provider.Redact(err.Error()))
	}
	if n.TranscriptID == "" {
		return provider.Callback{}, errors.New("AssemblyAI webhook without transcript_id")
	}
	return provider.Callback{JobID: n.TranscriptID, State: claimedState(n.Status), WorkflowID: wf}, nil
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

// Package whisper is the provider for OpenAI-compatible speech-to-text
// servers: POST /v1/audio/transcriptions with response_format=verbose_json
// (segments and word timestamps), as OpenAI's API and the self-hosted
// Whisper servers that copy it speak.
//
// That endpoint is synchronous: one request uploads the audio and waits
// for the whole transcript. So it cannot be a provider that runs jobs
// itself; here the job runs in filesight's own workers, durably, on
// Temporal:
//
//   - Submit starts a job workflow (TranscriptionJob) whose ID is derived
//     from the idempotency key, on a task queue of its own. The same key
//     returns the same job.
//   - The workflow runs one activity, Transcribe, which downloads the media
//     with the file-scoped read token (sealed in the job's input with the
//     workers' token sealing keys; size-limited, to a temporary file),
//     sends it to the endpoint and heartbeats throughout. If the worker
//     dies, the heartbeat times out and Temporal runs the attempt again on
//     another worker; 429 and 5xx answers are retried after the server's
//     Retry-After.
//   - The activity writes the result to a claim-check store every worker
//     can read (encrypted with the payload codec) and returns only a small
//     summary: results never pass through workflow history.
//   - Status describes the job workflow; Result reads the store; Cancel
//     cancels the workflow, which cancels the activity and its request.
//   - When the job ends it signals the workflow that submitted it, the
//     equivalent of a provider's callback.
//
// docs/providers.md explains and defends the design.
package whisper

import (
	"encoding/json"
)

// TranscriptionPath is the endpoint, relative to the configured URL.
const TranscriptionPath = "/v1/audio/transcriptions"

// VerboseJSON is the response_format=verbose_json answer.
type VerboseJSON struct {
	Task     string    `json:"task,omitempty"`
	Language string    `json:"language"`
	Duration float64   `json:"duration"`
	Text     string    `json:"text"`
	Words    []Word    `json:"words,omitempty"`
	Segments []Segment `json:"segments,omitempty"`
}

// Word is a word with its times in seconds.
type Word struct {
	Word  string  `json:"word"`
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

// Segment is a segment of the transcript.
type Segment struct {
	ID           int     `json:"id"`
	Seek         int     `json:"seek"`
	Start        float64 `json:"start"`
	End          float64 `json:"end"`
	Text         string  `json:"text"`
	Tokens       []int   `json:"tokens,omitempty"`
	Temperature  float64 `json:"temperature"`
	AvgLogprob   float64 `json:"avg_logprob"`
	Compression  float64 `json:"compression_ratio"`
	NoSpeechProb float64 `json:"no_speech_prob"`
}

// ErrorBody is the error answer: {"error": {"message", "type", "param", "code"}}.
type ErrorBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// parseError reads an error body; some self-hosted servers answer
// {"detail": "..."} instead, which is read too.
func parseError(body []byte) (code, message string) {
	var eb ErrorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error.Message != "" {
		code = eb.Error.Type
		if eb.Error.Code != nil && *eb.Error.Code != "" {
			code = *eb.Error.Code
		}
		return code, eb.Error.Message
	}
	var d struct {
		Detail any `json:"detail"`
	}
	if json.Unmarshal(body, &d) == nil && d.Detail != nil {
		if s, ok := d.Detail.(string); ok {
			return "", s
		}
		b, _ := json.Marshal(d.Detail)
		return "", string(b)
	}
	return "", ""
}

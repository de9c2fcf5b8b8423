// Package assemblyai is the adapter for AssemblyAI's asynchronous
// speech-to-text API (v2, pre-recorded audio): it submits a transcript job
// with audio_url and webhook_url, polls GET /v2/transcript/{id}, and maps
// the words with their timestamps and the key phrases to provider.Result.
//
// It is built from AssemblyAI's public API reference and OpenAPI
// description and tested against assemblyaitest, a fake server that
// reproduces the documented requests, answers, statuses and errors; it was
// not run against the real service (see docs/providers.md).
package assemblyai

import (
	"encoding/json"
)

// Transcript statuses (TranscriptStatus in the API reference).
const (
	StatusQueued     = "queued"
	StatusProcessing = "processing"
	StatusCompleted  = "completed"
	StatusError      = "error"
)

// DeletedAudioURL is what a deleted transcript reports as its audio_url
// (the API reference's example answer to DELETE /v2/transcript/{id}).
const DeletedAudioURL = "http://deleted_by_user"

// TranscriptParams is the body of POST /v2/transcript: the fields this
// adapter sets.
type TranscriptParams struct {
	AudioURL          string   `json:"audio_url"`
	SpeechModels      []string `json:"speech_models"`
	LanguageCode      string   `json:"language_code,omitempty"`
	LanguageDetection bool     `json:"language_detection,omitempty"`
	Punctuate         bool     `json:"punctuate"`
	FormatText        bool     `json:"format_text"`
	// AutoHighlights enables Key Phrases (auto_highlights_result).
	AutoHighlights bool   `json:"auto_highlights"`
	WebhookURL     string `json:"webhook_url,omitempty"`
}

// Transcript is the transcript resource (the fields read here).
type Transcript struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	// Error explains a status "error". It may quote audio_url, so it is
	// always redacted before use.
	Error    string `json:"error,omitempty"`
	AudioURL string `json:"audio_url,omitempty"`
	// AudioDuration is in seconds; null until known.
	AudioDuration        *float64        `json:"audio_duration,omitempty"`
	Text                 *string         `json:"text,omitempty"`
	Words                []Word          `json:"words,omitempty"`
	Confidence           *float64        `json:"confidence,omitempty"`
	LanguageCode         string          `json:"language_code,omitempty"`
	AutoHighlights       bool            `json:"auto_highlights,omitempty"`
	AutoHighlightsResult *AutoHighlights `json:"auto_highlights_result,omitempty"`
	Throttled            *bool           `json:"throttled,omitempty"`
	WebhookURL           string          `json:"webhook_url,omitempty"`
	WebhookStatusCode    *int            `json:"webhook_status_code,omitempty"`
}

// Word is one recognised word; times are milliseconds.
type Word struct {
	Text       string  `json:"text"`
	Start      int64   `json:"start"`
	End        int64   `json:"end"`
	Confidence float64 `json:"confidence"`
	Speaker    *string `json:"speaker"`
}

// AutoHighlights is the Key Phrases result.
type AutoHighlights struct {
	// Status is "success", or "unavailable" when the model failed.
	Status  string          `json:"status"`
	Results []AutoHighlight `json:"results"`
}

// AutoHighlight is one key phrase with every place it is said.
type AutoHighlight struct {
	Count      int         `json:"count"`
	Rank       float64     `json:"rank"`
	Text       string      `json:"text"`
	Timestamps []Timestamp `json:"timestamps"`
}

// Timestamp is a span in milliseconds.
type Timestamp struct {
	Start int64 `json:"start"`
	End   int64 `json:"end"`
}

// TranscriptList is the answer of GET /v2/transcript (newest first).
type TranscriptList struct {
	Transcripts []TranscriptListItem `json:"transcripts"`
}

// TranscriptListItem is one transcript in a list.
type TranscriptListItem struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	AudioURL string `json:"audio_url"`
}

// Notification is the body of a webhook delivery for a transcript that is
// completed or failed.
type Notification struct {
	TranscriptID string `json:"transcript_id"`
	Status       string `json:"status"`
}

// ErrorBody is the body of every error answer: {"error": "..."}.
type ErrorBody struct {
	Error string `json:"error"`
}

func parseError(body []byte) (code, message string) {
	var eb ErrorBody
	if json.Unmarshal(body, &eb) == nil {
		return "", eb.Error
	}
	return "", ""
}

// Package provider is the contract between the workflow's activities and an
// ML job service: the bundled mlengine, or a cloud adapter. A provider runs
// long jobs; activities submit them, poll them, fetch their results (results
// never pass through workflow history) and cancel them.
package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"filesight/internal/secret"
)

// Analysis names. The mlengine API and the result document use these strings.
const (
	AnalysisMedia      = "media"
	AnalysisScenes     = "scenes"
	AnalysisOCR        = "ocr"
	AnalysisTranscript = "transcript"
	AnalysisKeywords   = "keywords"
	AnalysisLoudness   = "loudness"
	AnalysisSilences   = "silences"
)

// AllAnalyses lists every analysis in a fixed order.
var AllAnalyses = []string{AnalysisMedia, AnalysisScenes, AnalysisOCR, AnalysisTranscript, AnalysisKeywords, AnalysisLoudness, AnalysisSilences}

// State is a job's lifecycle state.
type State string

const (
	StateQueued    State = "queued"
	StateRunning   State = "running"
	StateSucceeded State = "succeeded"
	StateFailed    State = "failed"
	StateCanceled  State = "canceled"
	// StateSkipped is used per analysis only: it did not apply to the media.
	StateSkipped State = "skipped"
)

// Terminal reports whether no further change of state can happen.
func (s State) Terminal() bool {
	return s == StateSucceeded || s == StateFailed || s == StateCanceled
}

// JobRequest asks a provider to analyse one media file.
type JobRequest struct {
	// IdempotencyKey makes Submit safe to retry: the same key returns the same job.
	IdempotencyKey string `json:"idempotency_key"`
	// MediaURL is fetched by the provider with MediaToken as a bearer token.
	MediaURL   string        `json:"media_url"`
	MediaToken secret.String `json:"media_token"`
	Analyses   []string      `json:"analyses"`
	// CallbackURL, when set, receives a signed POST when the job ends.
	CallbackURL string            `json:"callback_url,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
}

// JobRef identifies a job at a provider. It is small and safe to keep in
// workflow history.
type JobRef struct {
	Provider string `json:"provider"`
	ID       string `json:"id"`
}

func (r JobRef) String() string { return r.Provider + "/" + r.ID }

// JobError is a job's own failure as reported by the provider.
type JobError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

// AnalysisState is one analysis' state within a job.
type AnalysisState struct {
	Name  string `json:"name"`
	State State  `json:"state"`
}

// JobStatus is a snapshot of a job.
type JobStatus struct {
	Ref          JobRef  `json:"ref"`
	State        State   `json:"state"`
	Progress     float64 `json:"progress"`
	MediaFetched bool    `json:"media_fetched"`
	// Analyses is sorted by name so workflow code can range over it deterministically.
	Analyses   []AnalysisState `json:"analyses,omitempty"`
	Error      *JobError       `json:"error,omitempty"`
	RetryAfter time.Duration   `json:"retry_after,omitempty"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

// Provider is one ML job service.
type Provider interface {
	// Name is the provider's stable name ("mlengine", ...), used in JobRef,
	// callback URLs (/callbacks/{name}) and task queue names.
	Name() string
	Submit(ctx context.Context, req JobRequest) (JobRef, error)
	Status(ctx context.Context, ref JobRef) (JobStatus, error)
	Result(ctx context.Context, ref JobRef) (*Result, error)
	Cancel(ctx context.Context, ref JobRef) error
}

// ResultDeleter is implemented by providers that can delete a finished
// job's result document (and what they derived from the media with it,
// such as thumbnails) before their own retention runs out. The card writer
// calls it once the cards are written, so that raw ML output, which may
// hold the sensitive values the cards carry as vault tokens, does not stay
// at the provider. Deleting a result that is already gone, or the result of
// a job that has none, succeeds.
type ResultDeleter interface {
	DeleteResult(ctx context.Context, ref JobRef) error
}

// Result is the analysis result document. Field names are part of the
// mlengine API; times are seconds.
//
// An analysis that ran and found nothing is an empty list ("keywords": []),
// one that did not run (not requested, skipped, failed) is absent or null:
// the list fields carry no omitempty, so "nothing found" survives JSON and is
// not mistaken for "not produced".
type Result struct {
	Media      *MediaInfo  `json:"media,omitempty"`
	Transcript *Transcript `json:"transcript,omitempty"`
	Keywords   []Keyword   `json:"keywords"`
	Scenes     []Scene     `json:"scenes"`
	OCR        []OCRText   `json:"ocr"`
	Loudness   *Loudness   `json:"loudness,omitempty"`
	Silences   []Span      `json:"silences"`
}

type MediaInfo struct {
	Format   string  `json:"format"`
	Duration float64 `json:"duration"`
	Width    int     `json:"width"`
	Height   int     `json:"height"`
	HasVideo bool    `json:"has_video"`
	HasAudio bool    `json:"has_audio"`
}

type Transcript struct {
	Text  string `json:"text"`
	Words []Word `json:"words"`
}

type Word struct {
	Word       string  `json:"word"`
	Start      float64 `json:"start"`
	End        float64 `json:"end"`
	Confidence float64 `json:"confidence"`
}

type Span struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

type Keyword struct {
	Text    string  `json:"text"`
	Score   float64 `json:"score"`
	Appears []Span  `json:"appears"`
}

type Scene struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	// Thumbnail is the artifact name, fetched from GET /v1/jobs/{id}/artifacts/{name}.
	Thumbnail string `json:"thumbnail,omitempty"`
}

type OCRText struct {
	Text       string  `json:"text"`
	Start      float64 `json:"start"`
	End        float64 `json:"end"`
	Confidence float64 `json:"confidence"`
}

type Loudness struct {
	IntegratedLUFS float64 `json:"integrated_lufs"`
	RangeLU        float64 `json:"range_lu"`
	TruePeakDBFS   float64 `json:"true_peak_dbfs"`
}

// Error is a failed call to a provider (not a failed job: see JobError).
type Error struct {
	Op         string        // "submit", "status", "result", "cancel", "delete result"
	StatusCode int           // HTTP status, 0 for a network error
	Code       string        // provider's error code
	Message    string        // provider's message, never containing a secret
	Retryable  bool          // whether calling again can succeed
	RetryAfter time.Duration // provider's Retry-After, 0 if none
	Err        error         // underlying cause, if any
}

func (e *Error) Error() string {
	s := fmt.Sprintf("provider %s failed", e.Op)
	if e.StatusCode != 0 {
		s += fmt.Sprintf(" (HTTP %d", e.StatusCode)
		if e.Code != "" {
			s += " " + e.Code
		}
		s += ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var pe *Error
	ok := errors.As(err, &pe)
	return pe, ok
}

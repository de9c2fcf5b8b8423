// Package videoindexer is the adapter for Azure AI Video Indexer (the
// ARM-based accounts of the cloud service): it uploads a video by URL with
// a callback URL, polls the video's index state and maps its insights
// (transcript, on-screen text, keywords, shots or scenes, labels; faces are
// excluded from indexing by default) to provider.Result, so the same Box
// Skills cards come out as with mlengine.
//
// Authentication follows the current API: a Microsoft Entra ID token for
// Azure Resource Manager (client credentials of a service principal), then
// ARM's generateAccessToken for a Video Indexer account token, sent as a
// bearer token to api.videoindexer.ai.
//
// It is built from Video Indexer's public documentation and API reference
// and tested against videoindexertest, a fake that reproduces the
// documented requests, answers, states and errors; it was not run against
// the real service (see docs/providers.md).
package videoindexer

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Video (and index) states.
const (
	StateUploaded    = "Uploaded"
	StateProcessing  = "Processing"
	StateProcessed   = "Processed"
	StateFailed      = "Failed"
	StateQuarantined = "Quarantined"
)

// EntraToken is Microsoft Entra ID's answer to a client-credentials grant.
type EntraToken struct {
	TokenType   string      `json:"token_type"`
	ExpiresIn   json.Number `json:"expires_in"`
	AccessToken string      `json:"access_token"`
}

// EntraError is Entra ID's error answer.
type EntraError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// GenerateAccessTokenRequest is the body of ARM's generateAccessToken.
type GenerateAccessTokenRequest struct {
	PermissionType string `json:"permissionType"` // Reader or Contributor
	Scope          string `json:"scope"`          // Account, Project or Video
	VideoID        string `json:"videoId,omitempty"`
}

// GenerateAccessTokenResponse is its answer.
type GenerateAccessTokenResponse struct {
	AccessToken string `json:"accessToken"`
}

// ARMError is Azure Resource Manager's error answer.
type ARMError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// APIError is Video Indexer's error answer.
type APIError struct {
	ErrorType string `json:"ErrorType"`
	Message   string `json:"Message"`
}

// Video is the answer of Upload Video and an item of Search Videos (the
// fields read here).
type Video struct {
	ID                 string `json:"id"`
	Name               string `json:"name,omitempty"`
	State              string `json:"state"`
	ExternalID         string `json:"externalId,omitempty"`
	ProcessingProgress string `json:"processingProgress,omitempty"`
}

// SearchResult is the answer of Search Videos.
type SearchResult struct {
	Results []Video `json:"results"`
}

// Index is the answer of Get Video Index: the video "playlist" with its
// one video and that video's insights.
type Index struct {
	ID                string       `json:"id"`
	State             string       `json:"state"`
	DurationInSeconds float64      `json:"durationInSeconds"`
	Videos            []IndexVideo `json:"videos"`
}

// IndexVideo is one video of an index.
type IndexVideo struct {
	ID                 string    `json:"id"`
	State              string    `json:"state"`
	ProcessingProgress string    `json:"processingProgress"`
	FailureCode        string    `json:"failureCode"`
	FailureMessage     string    `json:"failureMessage"`
	ExternalID         string    `json:"externalId"`
	Insights           *Insights `json:"insights"`
}

// Insights are the insights read here (faces and the rest are ignored).
type Insights struct {
	Duration   Timestamp        `json:"duration,omitempty"`
	Transcript []TranscriptLine `json:"transcript"`
	OCR        []OCRLine        `json:"ocr"`
	Keywords   []Keyword        `json:"keywords"`
	Labels     []Label          `json:"labels"`
	Shots      []Shot           `json:"shots"`
	Scenes     []SceneInsight   `json:"scenes"`
}

// Instance is a time range of an insight.
type Instance struct {
	Start       Timestamp `json:"start"`
	End         Timestamp `json:"end"`
	Confidence  float64   `json:"confidence,omitempty"`
	ThumbnailID string    `json:"thumbnailId,omitempty"`
}

// TranscriptLine is one line of speech; its one instance times it.
type TranscriptLine struct {
	ID         int        `json:"id"`
	Text       string     `json:"text"`
	Confidence float64    `json:"confidence"`
	SpeakerID  int        `json:"speakerId"`
	Language   string     `json:"language"`
	Instances  []Instance `json:"instances"`
}

// OCRLine is one text seen on screen, with every range it is visible in.
type OCRLine struct {
	ID         int        `json:"id"`
	Text       string     `json:"text"`
	Confidence float64    `json:"confidence"`
	Language   string     `json:"language"`
	Instances  []Instance `json:"instances"`
}

// Keyword is a keyword with the ranges it is spoken or shown in.
type Keyword struct {
	ID         int        `json:"id"`
	Text       string     `json:"text"`
	Confidence float64    `json:"confidence"`
	Instances  []Instance `json:"instances"`
}

// Label is a visual label; each instance has its confidence.
type Label struct {
	ID        int        `json:"id"`
	Name      string     `json:"name"`
	Instances []Instance `json:"instances"`
}

// Shot is a camera shot (a cut to cut range) with its key frames.
type Shot struct {
	ID        int        `json:"id"`
	KeyFrames []KeyFrame `json:"keyFrames"`
	Instances []Instance `json:"instances"`
}

// KeyFrame is a representative frame of a shot.
type KeyFrame struct {
	ID        int        `json:"id"`
	Instances []Instance `json:"instances"`
}

// SceneInsight is a scene: consecutive shots that belong together.
type SceneInsight struct {
	ID        int        `json:"id"`
	Instances []Instance `json:"instances"`
}

// Timestamp is Video Indexer's time of day-style offset ("0:00:06.34",
// "00:00:07.2400000"), in seconds once parsed.
type Timestamp float64

// UnmarshalJSON parses "H:MM:SS[.fraction]" (a days prefix "D." is
// accepted; spaces are ignored, as in some documented samples).
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var f float64
		if err2 := json.Unmarshal(b, &f); err2 != nil {
			return fmt.Errorf("timestamp %s: %w", b, err)
		}
		*t = Timestamp(f)
		return nil
	}
	v, err := ParseTimestamp(s)
	if err != nil {
		return err
	}
	*t = Timestamp(v)
	return nil
}

// MarshalJSON writes the documented form, for fakes.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	d := time.Duration(float64(t) * float64(time.Second))
	h := int(d / time.Hour)
	m := int(d/time.Minute) % 60
	s := (d % time.Minute).Seconds()
	return json.Marshal(fmt.Sprintf("%d:%02d:%09.6f", h, m, s))
}

// ParseTimestamp parses a Video Indexer time offset into seconds.
func ParseTimestamp(s string) (float64, error) {
	s = strings.ReplaceAll(s, " ", "")
	days := 0.0
	if d, rest, ok := strings.Cut(s, "."); ok && strings.Count(s, ":") == 2 && !strings.Contains(d, ":") {
		n, err := strconv.Atoi(d)
		if err != nil {
			return 0, fmt.Errorf("timestamp %q: bad days", s)
		}
		days, s = float64(n), rest
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0, fmt.Errorf("timestamp %q is not H:MM:SS", s)
	}
	h, err1 := strconv.Atoi(parts[0])
	m, err2 := strconv.Atoi(parts[1])
	sec, err3 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || err3 != nil || h < 0 || m < 0 || m > 59 || sec < 0 || sec >= 60 {
		return 0, fmt.Errorf("timestamp %q is not H:MM:SS", s)
	}
	return days*86400 + float64(h)*3600 + float64(m)*60 + sec, nil
}

func parseAPIError(body []byte) (code, message string) {
	var e APIError
	if json.Unmarshal(body, &e) == nil && (e.ErrorType != "" || e.Message != "") {
		return e.ErrorType, e.Message
	}
	var a ARMError
	if json.Unmarshal(body, &a) == nil && a.Error.Code != "" {
		return a.Error.Code, a.Error.Message
	}
	var en EntraError
	if json.Unmarshal(body, &en) == nil && en.Error != "" {
		return en.Error, en.Description
	}
	return "", ""
}

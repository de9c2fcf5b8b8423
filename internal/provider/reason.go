package provider

import (
	"fmt"
	"strings"
	"time"
)

// Reason is the stable code of a job that failed because of the media
// itself: the file is not audio or video a provider may read, or it is
// beyond a limit. Such a failure is permanent (resubmitting the same file
// cannot help), and what people see of it is a fixed message
// ([Reason.Text], or one of the Text functions below with the limit in
// it), never the tool's output, a path or an ID: those go to the
// provider's logs only. Providers put a Reason in [JobError.Code].
type Reason string

const (
	// ReasonUnsupportedMedia: not a readable audio or video file. Also a
	// playlist, a concat script, an image sequence, an SDP description or
	// any other container outside the provider's allow-list, which could
	// make a decoder open other files or the network.
	ReasonUnsupportedMedia Reason = "unsupported_media"
	// ReasonMediaTooLong: the media (as its header says, or as decoding
	// finds) is longer than the provider's limit.
	ReasonMediaTooLong Reason = "media_too_long"
	// ReasonPictureTooLarge: a video picture is larger than the provider's
	// limit (its header claims, say, 30000×30000 pixels).
	ReasonPictureTooLarge Reason = "picture_too_large"
	// ReasonTooManyStreams: the file holds more streams than the provider
	// looks at.
	ReasonTooManyStreams Reason = "too_many_streams"
	// ReasonDecodeTooSlow: decoding took longer than the media's duration
	// allows for; the file is damaged or built to be slow to read.
	ReasonDecodeTooSlow Reason = "decode_too_slow"
)

// reasonTexts are the fixed messages for people, one per Reason.
var reasonTexts = map[Reason]string{
	ReasonUnsupportedMedia: "This file is not a readable audio or video file.",
	ReasonMediaTooLong:     "This file is longer than the longest media analysed.",
	ReasonPictureTooLarge:  "This video's picture is larger than the largest analysed.",
	ReasonTooManyStreams:   "This file holds more audio, video and other streams than are analysed.",
	ReasonDecodeTooSlow:    "This file took too long to decode; it may be damaged.",
}

// Media reports whether r is one of the Reasons above (a failure of the
// media itself, never retryable).
func (r Reason) Media() bool {
	_, ok := reasonTexts[r]
	return ok
}

// Text is r's fixed message for people; "" when r is not a media Reason.
func (r Reason) Text() string { return reasonTexts[r] }

// TooLongText is ReasonMediaTooLong's message with the limit in it, e.g.
// "This file is longer than the 4-hour limit."
func TooLongText(limit time.Duration) string {
	if limit <= 0 {
		return ReasonMediaTooLong.Text()
	}
	return fmt.Sprintf("This file is longer than the %s limit.", durationWords(limit))
}

// PictureTooLargeText is ReasonPictureTooLarge's message with the limit in
// it (pixels per picture), e.g. "This video's picture is larger than
// 35.4 megapixels, the largest analysed."
func PictureTooLargeText(maxPixels int64) string {
	if maxPixels <= 0 {
		return ReasonPictureTooLarge.Text()
	}
	return fmt.Sprintf("This video's picture is larger than %.1f megapixels, the largest analysed.", float64(maxPixels)/1e6)
}

// TooManyStreamsText is ReasonTooManyStreams' message with the limit in it.
func TooManyStreamsText(max int) string {
	if max <= 0 {
		return ReasonTooManyStreams.Text()
	}
	return fmt.Sprintf("This file holds more than %d audio, video and other streams; at most %d are analysed.", max, max)
}

// durationWords writes d as an adjective: "4-hour", "90-minute", "45-second".
func durationWords(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%d-hour", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%d-minute", d/time.Minute)
	}
	return fmt.Sprintf("%d-second", max(1, d/time.Second))
}

// MediaFailureText is what a status card says about a job that failed
// with code and message: for a media Reason, message when it is a short
// plain sentence (the provider's fixed text, perhaps with its limit), the
// Reason's own text otherwise; ok is false when code is not a media Reason.
// It never passes on something that looks like a path, a URL or a tool's
// output.
func MediaFailureText(code, message string) (text string, ok bool) {
	r := Reason(code)
	if !r.Media() {
		return "", false
	}
	if plainSentence(message) {
		return message, true
	}
	return r.Text(), true
}

// plainSentence: one line of at most 200 bytes, ending with a full stop,
// without anything that belongs to a path, URL or log line.
func plainSentence(s string) bool {
	return s != "" && len(s) <= 200 && strings.HasSuffix(s, ".") && !strings.ContainsAny(s, "/\\\n\r\t[]{}<>@|=:")
}

package provider

import (
	"strings"
	"testing"
	"time"
)

func TestReasonTexts(t *testing.T) {
	for _, r := range []Reason{ReasonUnsupportedMedia, ReasonMediaTooLong, ReasonPictureTooLarge, ReasonTooManyStreams, ReasonDecodeTooSlow} {
		if !r.Media() || r.Text() == "" || !plainSentence(r.Text()) {
			t.Errorf("%s: media %v, text %q", r, r.Media(), r.Text())
		}
	}
	for _, code := range []string{"", "internal", "timeout", "invalid_request", "media_too_large"} {
		if Reason(code).Media() {
			t.Errorf("%q is a media reason", code)
		}
	}
	for d, want := range map[time.Duration]string{
		4 * time.Hour: "This file is longer than the 4-hour limit.", 90 * time.Minute: "This file is longer than the 90-minute limit.",
		10 * time.Second: "This file is longer than the 10-second limit.", 0: ReasonMediaTooLong.Text(),
	} {
		if got := TooLongText(d); got != want {
			t.Errorf("TooLongText(%s) = %q, want %q", d, got, want)
		}
	}
	for _, s := range []string{PictureTooLargeText(8192 * 4320), TooManyStreamsText(32)} {
		if !plainSentence(s) {
			t.Errorf("%q is not a plain sentence", s)
		}
	}
}

func TestMediaFailureText(t *testing.T) {
	cases := []struct {
		code, message, want string
		ok                  bool
	}{
		{"unsupported_media", "This file is not a readable audio or video file.", "This file is not a readable audio or video file.", true},
		{"media_too_long", "This file is longer than the 2-hour limit.", "This file is longer than the 2-hour limit.", true},
		// A provider that quotes its tool is overruled by the fixed text.
		{"unsupported_media", "ffprobe failed: exit status 1: /data/mlengine/jobs/0b9c/media: Invalid data found.", ReasonUnsupportedMedia.Text(), true},
		{"unsupported_media", "the file at https://example.com/x.mp4 is not media.", ReasonUnsupportedMedia.Text(), true},
		{"picture_too_large", "", ReasonPictureTooLarge.Text(), true},
		{"decode_too_slow", strings.Repeat("slow ", 50) + ".", ReasonDecodeTooSlow.Text(), true},
		{"internal", "This file is not a readable audio or video file.", "", false},
	}
	for _, tc := range cases {
		got, ok := MediaFailureText(tc.code, tc.message)
		if got != tc.want || ok != tc.ok {
			t.Errorf("MediaFailureText(%q, %q) = %q, %v; want %q, %v", tc.code, tc.message, got, ok, tc.want, tc.ok)
		}
	}
}

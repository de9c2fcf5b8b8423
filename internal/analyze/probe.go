package analyze

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"filesight/internal/provider"
)

// probeResult is what Run needs to know about the input before analysing it.
type probeResult struct {
	info     provider.MediaInfo
	video    int // index (among video streams) of the picture stream, -1 if none
	audio    int // index (among audio streams) of the sound stream, -1 if none
	duration float64

	// What the limits look at: every stream, the largest picture of any
	// video stream, the longest duration the container or a stream claims.
	streams             int
	maxWidth, maxHeight int
	maxPixels           int64
	claimed             float64
}

type ffprobeOutput struct {
	Streams []struct {
		CodecType   string `json:"codec_type"`
		CodecName   string `json:"codec_name"`
		Width       int    `json:"width"`
		Height      int    `json:"height"`
		Duration    string `json:"duration"`
		Disposition struct {
			AttachedPic int `json:"attached_pic"`
			StillImage  int `json:"still_image"`
		} `json:"disposition"`
	} `json:"streams"`
	Format struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
	} `json:"format"`
}

// pictureTooLarge reports whether ffmpeg's stderr says that a picture is
// larger than -max_pixels, or larger than ffmpeg handles at all
// (libavutil's av_image_check_size2); ffprobe then reports the stream
// without a size.
func pictureTooLarge(stderr string) bool {
	return strings.Contains(stderr, "exceeds specified max pixel count") ||
		invalidPictureRe.MatchString(stderr)
}

var invalidPictureRe = regexp.MustCompile(`Picture size \d+x\d+ is invalid`)

// errProbeTimeout is the cause of a probe that ran out of time.
var errProbeTimeout = errors.New("ffprobe ran out of time")

// probe runs ffprobe on the job's media file, sandboxed (mediaInput.args),
// and checks what it found against the container allow-list and lim, so
// that nothing is decoded from a file that fails them. On success r
// remembers the media with its demuxer for the later passes.
func probe(ctx context.Context, r *runner, path string, lim Limits, maxDuration time.Duration) (*probeResult, error) {
	in := mediaInput{path: path, maxPixels: lim.MaxPixels}
	pctx, cancel := context.WithTimeoutCause(ctx, lim.ProbeTimeout, errProbeTimeout)
	defer cancel()
	args := append([]string{"-v", "error", "-print_format", "json", "-show_format", "-show_streams"}, in.args()...)
	out, stderr, err := r.outputStderr(pctx, 4<<20, nil, "ffprobe", args...)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		if context.Cause(pctx) == errProbeTimeout {
			return nil, mediaError(CodeDecodeTooSlow, "", fmt.Sprintf("ffprobe did not finish within %s", lim.ProbeTimeout))
		}
		if pictureTooLarge(stderr) {
			return nil, mediaError(CodePictureTooLarge, provider.PictureTooLargeText(lim.MaxPixels), err.Error())
		}
		return nil, &Error{Code: CodeUnsupportedMedia, Message: CodeUnsupportedMedia.Text(), Detail: err.Error(), Err: err}
	}
	if pictureTooLarge(stderr) {
		return nil, mediaError(CodePictureTooLarge, provider.PictureTooLargeText(lim.MaxPixels), "ffprobe: "+strings.Join(strings.Fields(stderr), " "))
	}
	pr, err := parseProbe(out)
	if err != nil {
		return nil, err
	}
	if err := pr.check(lim, maxDuration); err != nil {
		return nil, err
	}
	in.format = pr.info.Format
	r.media = &in
	return pr, nil
}

// parseProbe reads ffprobe's JSON. The format must be one of MediaFormats
// and the file must have a usable audio or video stream; anything else is
// unsupported_media.
func parseProbe(out []byte) (*probeResult, error) {
	var p ffprobeOutput
	if err := json.Unmarshal(out, &p); err != nil {
		return nil, mediaError(CodeUnsupportedMedia, "", "ffprobe output is not JSON: "+err.Error())
	}
	res := &probeResult{video: -1, audio: -1, streams: len(p.Streams)}
	res.info.Format = p.Format.FormatName
	if !allowedFormat(p.Format.FormatName) {
		return nil, mediaError(CodeUnsupportedMedia, "", fmt.Sprintf("format %q is not an allowed audio or video container", p.Format.FormatName))
	}
	nv, na := 0, 0
	streamDur := 0.0
	for _, s := range p.Streams {
		switch s.CodecType {
		case "video":
			res.maxWidth, res.maxHeight = max(res.maxWidth, s.Width), max(res.maxHeight, s.Height)
			res.maxPixels = max(res.maxPixels, int64(s.Width)*int64(s.Height))
			if s.Disposition.AttachedPic == 0 && s.Disposition.StillImage == 0 && s.CodecName != "ansi" &&
				s.Width > 0 && s.Height > 0 && res.video < 0 {
				res.video = nv
				res.info.Width, res.info.Height = s.Width, s.Height
				if d, err := strconv.ParseFloat(s.Duration, 64); err == nil && d > streamDur {
					streamDur = d
				}
			}
			nv++
		case "audio":
			if res.audio < 0 {
				res.audio = na
				if d, err := strconv.ParseFloat(s.Duration, 64); err == nil && d > streamDur {
					streamDur = d
				}
			}
			na++
		}
	}
	res.info.HasVideo = res.video >= 0
	res.info.HasAudio = res.audio >= 0
	if !res.info.HasVideo && !res.info.HasAudio {
		return nil, mediaError(CodeUnsupportedMedia, "", fmt.Sprintf("no usable audio or video stream in %q", p.Format.FormatName))
	}
	if d, err := strconv.ParseFloat(p.Format.Duration, 64); err == nil && d > 0 {
		res.duration = d
	} else {
		res.duration = streamDur
	}
	// The limit holds for the longest claim, the container's or a stream's.
	res.claimed = max(res.duration, streamDur)
	res.info.Duration = res.duration
	return res, nil
}

// check refuses media beyond lim and maxDuration (negative: no limit).
func (p *probeResult) check(lim Limits, maxDuration time.Duration) error {
	if p.streams > lim.MaxStreams {
		return mediaError(CodeTooManyStreams, provider.TooManyStreamsText(lim.MaxStreams), fmt.Sprintf("%d streams, the limit is %d", p.streams, lim.MaxStreams))
	}
	if p.maxPixels > lim.MaxPixels || p.maxWidth > lim.MaxSide || p.maxHeight > lim.MaxSide {
		return mediaError(CodePictureTooLarge, provider.PictureTooLargeText(lim.MaxPixels),
			fmt.Sprintf("a %d×%d picture, the limit is %d pixels and %d a side", p.maxWidth, p.maxHeight, lim.MaxPixels, lim.MaxSide))
	}
	if math.IsNaN(p.claimed) || math.IsInf(p.claimed, 0) || (maxDuration > 0 && p.claimed > maxDuration.Seconds()) {
		return tooLong(maxDuration, fmt.Sprintf("the media claims %.0f s, the limit is %.0f s", p.claimed, maxDuration.Seconds()))
	}
	return nil
}

// errorCode returns the code of an *Error in err's chain, or "".
func errorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return string(e.Code)
	}
	return ""
}

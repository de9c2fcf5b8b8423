package analyze

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"filesight/internal/provider"
)

// probeResult is what Run needs to know about the input before analysing it.
type probeResult struct {
	info     provider.MediaInfo
	video    int // index (among video streams) of the picture stream, -1 if none
	audio    int // index (among audio streams) of the sound stream, -1 if none
	duration float64
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

// probe runs ffprobe on path. A file ffprobe cannot read, or one without a
// usable audio or video stream, is unsupported_media.
func probe(ctx context.Context, r *runner, path string) (*probeResult, error) {
	out, err := r.output(ctx, 4<<20, nil, "ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", "--", path)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, &Error{Code: CodeUnsupportedMedia, Message: "the file is not readable media: " + err.Error(), Err: err}
	}
	return parseProbe(out)
}

// nonMediaFormat reports formats that ffprobe "reads" but that are not
// audio or video: text shown as ANSI art, still images.
func nonMediaFormat(f string) bool {
	switch f {
	case "tty", "image2", "png_pipe", "jpeg_pipe", "bmp_pipe", "gif_pipe", "webp_pipe", "tiff_pipe", "svg_pipe":
		return true
	}
	return false
}

func parseProbe(out []byte) (*probeResult, error) {
	var p ffprobeOutput
	if err := json.Unmarshal(out, &p); err != nil {
		return nil, &Error{Code: CodeUnsupportedMedia, Message: "ffprobe output is not JSON: " + err.Error(), Err: err}
	}
	res := &probeResult{video: -1, audio: -1}
	res.info.Format = p.Format.FormatName
	formats := strings.Split(p.Format.FormatName, ",")
	for _, f := range formats {
		if nonMediaFormat(f) {
			return nil, &Error{Code: CodeUnsupportedMedia, Message: fmt.Sprintf("format %q is not audio or video", p.Format.FormatName)}
		}
	}
	nv, na := 0, 0
	streamDur := 0.0
	for _, s := range p.Streams {
		switch s.CodecType {
		case "video":
			if s.Disposition.AttachedPic == 0 && s.Disposition.StillImage == 0 && s.CodecName != "ansi" && res.video < 0 {
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
		return nil, &Error{Code: CodeUnsupportedMedia, Message: fmt.Sprintf("no audio or video stream in %q", p.Format.FormatName)}
	}
	if d, err := strconv.ParseFloat(p.Format.Duration, 64); err == nil && d > 0 {
		res.duration = d
	} else {
		res.duration = streamDur
	}
	res.info.Duration = res.duration
	return res, nil
}

// errorCode returns the code of an *Error in err's chain, or "".
func errorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

package analyze

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"filesight/internal/provider"
)

// This file is the analyzers' sandbox: which file the tools may open and
// how (protocol and container allow-lists, the demuxer forced after the
// probe), the limits on what a job analyses, and the environment and
// working directory the tools run in. Media is untrusted: a 97-byte
// "video" may be a playlist naming other local files, or a header
// claiming ten hours or 30000×30000 pixels.

// DefaultMaxDuration is Options.MaxDuration when it is zero.
const DefaultMaxDuration = 4 * time.Hour

// Limits bound what one job analyses and how long its tools may take. The
// zero value selects the defaults.
type Limits struct {
	// MaxPixels bounds width×height of a video picture (default 8192×4320,
	// 8K). The probe refuses larger pictures (picture_too_large), and
	// ffprobe and ffmpeg get it as -max_pixels, so no decoder allocates a
	// larger picture whatever a header says later in the file.
	MaxPixels int64
	// MaxSide bounds the width and the height on their own (default 16384).
	MaxSide int
	// MaxStreams bounds the streams of the container (default 32).
	MaxStreams int
	// ProbeTimeout bounds ffprobe's wall time (default 1 min).
	ProbeTimeout time.Duration
	// DecodeTimeBase + DecodeTimeFactor × the probed duration bounds the
	// decode pass's wall time (default 5 min + 1 s per second of media:
	// the pass runs at 10–20 times real time here). Slower is
	// decode_too_slow.
	DecodeTimeBase   time.Duration
	DecodeTimeFactor float64
	// ToolTimeout bounds one run of a short tool on a file the pass wrote
	// (tesseract on a still; default 2 min).
	ToolTimeout time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxPixels <= 0 {
		l.MaxPixels = 8192 * 4320
	}
	if l.MaxSide <= 0 {
		l.MaxSide = 16384
	}
	if l.MaxStreams <= 0 {
		l.MaxStreams = 32
	}
	if l.ProbeTimeout <= 0 {
		l.ProbeTimeout = time.Minute
	}
	if l.DecodeTimeBase <= 0 {
		l.DecodeTimeBase = 5 * time.Minute
	}
	if l.DecodeTimeFactor <= 0 {
		l.DecodeTimeFactor = 1
	}
	if l.ToolTimeout <= 0 {
		l.ToolTimeout = 2 * time.Minute
	}
	return l
}

// decodeBudget is the decode pass's wall time for media of duration seconds.
func (l Limits) decodeBudget(duration float64) time.Duration {
	return l.DecodeTimeBase + time.Duration(l.DecodeTimeFactor*max(duration, 0)*float64(time.Second))
}

// MediaFormats are the ffmpeg demuxers (ffprobe's format_name) the
// analyzers open: containers and raw audio streams that hold one file's
// own media and never open another file or the network. Everything else is
// unsupported_media before any decoding, among them playlists (hls,
// dash), concat scripts (concat), image sequences and single images
// (image2, *_pipe), session descriptions (sdp, rtsp, rtp) and text (tty).
var MediaFormats = []string{
	"mov,mp4,m4a,3gp,3g2,mj2", // mp4, m4v, m4a, mov, 3gp
	"matroska,webm",           // mkv, webm
	"avi",
	"mpegts", // ts
	"mpeg",   // mpg, mpeg (program stream)
	"flv",
	"asf", // wmv, wma
	"ogg", // ogg, oga, opus
	"wav",
	"mp3",
	"flac",
	"aac", // ADTS
	"aiff",
}

// allowedFormat reports whether ffprobe's format_name is one of MediaFormats.
func allowedFormat(name string) bool { return slices.Contains(MediaFormats, name) }

// mediaInput is the job's one media file, as every tool that reads it
// must open it.
type mediaInput struct {
	path      string // absolute
	format    string // the demuxer the probe found, forced on later passes; "" while probing
	maxPixels int64
}

// args are the input options and the input of an ffmpeg or ffprobe
// command line: only the file protocol (no network, no pipe, no other
// protocol a crafted name could select), only the allowed demuxers, the
// probed demuxer forced so that detection cannot differ between passes,
// pictures bounded, and the path with an explicit file: prefix so that no
// part of a name can be taken for a protocol or an option.
func (m mediaInput) args() []string {
	a := []string{"-protocol_whitelist", "file", "-format_whitelist", strings.Join(MediaFormats, ",")}
	if m.maxPixels > 0 {
		a = append(a, "-max_pixels", strconv.FormatInt(m.maxPixels, 10))
	}
	if m.format != "" {
		a = append(a, "-f", m.format)
	}
	return append(a, "-i", "file:"+m.path)
}

// inputArgs are the pass's input options and input: the probed media when
// the runner has one, else (tests of the command line) the bare path with
// the same allow-lists.
func (c *passConfig) inputArgs() []string {
	if c.media != nil {
		return c.media.args()
	}
	return mediaInput{path: c.input}.args()
}

// toolPath is the PATH of every tool; the tools themselves are found with
// the service's PATH before they start.
const toolPath = "/usr/local/bin:/usr/bin:/bin"

// passedVars are the only variables of the service's environment a tool
// gets (tesseract's model directory, when set); nothing else — no secret
// of the service — reaches a process that reads untrusted media.
var passedVars = []string{"TESSDATA_PREFIX"}

// confine makes r run every tool in dir (created if needed), its own
// working directory, HOME and TMPDIR, with a minimal environment, and
// bound each short tool's run by lim.ToolTimeout.
func (r *runner) confine(dir string, lim Limits) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("analyze: create the tools' directory: %w", err)
	}
	r.dir, r.limits = dir, lim
	r.env = []string{"PATH=" + toolPath, "HOME=" + dir, "TMPDIR=" + dir, "LC_ALL=C", "AV_LOG_FORCE_NOCOLOR=1"}
	for _, k := range passedVars {
		if v, ok := os.LookupEnv(k); ok {
			r.env = append(r.env, k+"="+v)
		}
	}
	return nil
}

// toolDir is the tools' working directory inside a job's WorkDir.
func toolDir(workDir string) string { return filepath.Join(workDir, "tools") }

// mediaError is a whole-job failure of the media: reason and text are for
// people, detail (tool output, values) for logs only.
func mediaError(reason provider.Reason, text, detail string) *Error {
	if text == "" {
		text = reason.Text()
	}
	return &Error{Code: reason, Message: text, Detail: detail}
}

// tooLong is the media_too_long failure for a limit of max.
func tooLong(max time.Duration, detail string) *Error {
	return mediaError(provider.ReasonMediaTooLong, provider.TooLongText(max), detail)
}

// decodeDeadline bounds the decode pass of media of duration seconds by
// Limits.decodeBudget; running out is decode_too_slow (the context's cause).
func (r *runner) decodeDeadline(ctx context.Context, duration float64) (context.Context, context.CancelFunc) {
	budget := r.limits.withDefaults().decodeBudget(duration)
	return context.WithTimeoutCause(ctx, budget,
		mediaError(CodeDecodeTooSlow, "", fmt.Sprintf("the decode pass did not finish within %s", budget)))
}

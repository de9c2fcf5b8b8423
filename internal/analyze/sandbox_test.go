package analyze

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filesight/internal/mediatest"
	"filesight/internal/provider"
)

// TestHostileMedia runs every file of the hostile-media corpus through Run:
// each must end with its permanent failure, a fixed message without a path,
// no tool may open the canary (a named pipe outside the job's directory
// that playlists and scripts point at), and nothing may be decoded.
func TestHostileMedia(t *testing.T) {
	canary := mediatest.NewCanary(t)
	for _, f := range mediatest.HostileCorpus(t, canary) {
		t.Run(f.What, func(t *testing.T) {
			jobDir := t.TempDir()
			input := filepath.Join(jobDir, f.Name)
			if err := os.WriteFile(input, f.Content, 0o600); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(f.Name, "%") {
				// What the pattern would match, were it taken for one.
				if err := os.WriteFile(filepath.Join(jobDir, "img001.png"), f.Content, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			work := filepath.Join(jobDir, "work")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			out, err := Run(ctx, Options{Input: input, WorkDir: work, Concurrency: 2})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Run: %v (output %+v), want a *Error %s", err, out, f.Want)
			}
			if e.Code != f.Want || e.Retryable {
				t.Errorf("error %s (retryable %v): %s, want a permanent %s", e.Code, e.Retryable, e.Detail, f.Want)
			}
			if !e.Code.Media() || e.Message == "" || strings.ContainsAny(e.Message, "/\\") || strings.Contains(e.Message, canary.Secret) {
				t.Errorf("message %q: want a fixed text for people", e.Message)
			}
			if e.Detail == "" {
				t.Error("no detail for the logs")
			}
			t.Logf("%s: %q (detail: %s)", e.Code, e.Message, e.Detail)
			// Nothing was decoded: the tools' directory is all the work
			// directory holds.
			entries, err := os.ReadDir(work)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
			for _, en := range entries {
				if en.Name() != "tools" {
					t.Errorf("work directory holds %s", en.Name())
				}
			}
		})
	}
	if n := canary.Opened(); n > 0 {
		t.Fatalf("a tool opened the canary pipe outside the job's directory %d time(s)", n)
	}
}

// TestCorpusIsDangerous is the oracle of the sandbox: unconfined, this
// ffmpeg does follow a playlist to a file outside the job's directory (so
// the refusals above are the sandbox's doing); confined, Run refuses it.
func TestCorpusIsDangerous(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "elsewhere.mp4")
	if err := os.Link(fx.talk.Path, outside); err != nil {
		t.Fatal(err)
	}
	playlist := filepath.Join(t.TempDir(), "talk.mp4")
	if err := os.WriteFile(playlist, []byte("#EXTM3U\n#EXT-X-TARGETDURATION:30\n#EXTINF:30,\n"+outside+"\n#EXT-X-ENDLIST\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	raw, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", playlist).Output()
	if err != nil {
		t.Fatalf("unconfined ffprobe: %v", err)
	}
	var p ffprobeOutput
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	if p.Format.FormatName != "hls" || len(p.Streams) == 0 {
		t.Fatalf("unconfined ffprobe read the playlist as %q with %d streams; the oracle expects hls and the streams of the file it names", p.Format.FormatName, len(p.Streams))
	}
	_, err = Run(ctx, Options{Input: playlist, WorkDir: t.TempDir()})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeUnsupportedMedia {
		t.Fatalf("Run: %v, want unsupported_media", err)
	}
}

// TestToolsRunConfined replaces ffprobe with a wrapper that records the
// environment and working directory it was started with: only the
// sandbox's variables (none of the service's, secrets included), the
// job's own tools directory.
func TestToolsRunConfined(t *testing.T) {
	real, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Fatal(err)
	}
	bin, record := t.TempDir(), filepath.Join(t.TempDir(), "ffprobe-env")
	script := "#!/bin/sh\n{ env; echo \"cwd=$(pwd)\"; } > '" + record + "'\nexec '" + real + "' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "ffprobe"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("MLENGINE_API_KEY", "a-secret-the-tools-must-not-see")
	work := t.TempDir()
	out, err := Run(context.Background(), Options{Input: fx.talk.Path, WorkDir: work, Analyses: []string{provider.AnalysisMedia}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Result.Media == nil || out.Result.Media.Format != "mov,mp4,m4a,3gp,3g2,mj2" {
		t.Fatalf("media %+v", out.Result.Media)
	}
	b, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	cwd := ""
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "cwd":
			cwd = v
		case "PWD", "SHLVL", "_": // set by the shell itself
		default:
			names = append(names, k)
		}
	}
	slices.Sort(names)
	if want := []string{"AV_LOG_FORCE_NOCOLOR", "HOME", "LC_ALL", "PATH", "TMPDIR"}; !slices.Equal(names, want) && !slices.Equal(names, append(want, "TESSDATA_PREFIX")) {
		t.Errorf("ffprobe's environment has %v, want %v", names, want)
	}
	if strings.Contains(string(b), "a-secret-the-tools-must-not-see") {
		t.Error("a variable of the service reached the tool")
	}
	if abs, _ := filepath.Abs(work); cwd != filepath.Join(abs, "tools") {
		t.Errorf("ffprobe ran in %q, want the job's tools directory", cwd)
	}
}

// TestDecodeTimeBounded: a pass slower than its budget ends the job with
// decode_too_slow, and no tool is left running.
func TestDecodeTimeBounded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, err := Run(ctx, Options{Input: fx.talk.Path, WorkDir: t.TempDir(), Concurrency: 2,
		Limits: Limits{DecodeTimeBase: 200 * time.Millisecond, DecodeTimeFactor: 1e-9}})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeDecodeTooSlow || e.Retryable || e.Message != provider.ReasonDecodeTooSlow.Text() {
		t.Fatalf("Run: %v, want a permanent decode_too_slow", err)
	}
	if kids := children(t, os.Getpid()); len(kids) > 0 {
		t.Errorf("processes left: %v", kids)
	}
}

// TestMediaInputArgs: every ffmpeg and ffprobe input is confined the same way.
func TestMediaInputArgs(t *testing.T) {
	got := strings.Join(mediaInput{path: "/jobs/1/media", format: "matroska,webm", maxPixels: 100}.args(), " ")
	want := "-protocol_whitelist file -format_whitelist " + strings.Join(MediaFormats, ",") + " -max_pixels 100 -f matroska,webm -i file:/jobs/1/media"
	if got != want {
		t.Errorf("args\n%s\nwant\n%s", got, want)
	}
	for _, f := range []string{"hls", "dash", "concat", "image2", "png_pipe", "sdp", "rtsp", "rtp", "tty", "lavfi", "mov", "mp4"} {
		if allowedFormat(f) {
			t.Errorf("format %q is allowed", f)
		}
	}
	pass := strings.Join((&passConfig{input: "/in", workDir: "/w", video: -1, audio: 0, silences: true}).args(), " ")
	if !strings.Contains(pass, "-protocol_whitelist file -format_whitelist ") || !strings.Contains(pass, " -i file:/in ") {
		t.Errorf("pass args %s", pass)
	}
}

// TestProbeLimits checks parseProbe and check on ffprobe answers.
func TestProbeLimits(t *testing.T) {
	lim := Limits{}.withDefaults()
	cases := []struct {
		name, json string
		want       provider.Reason
	}{
		{"ok", `{"format":{"format_name":"matroska,webm","duration":"10"},"streams":[{"codec_type":"video","width":1920,"height":1080},{"codec_type":"audio"}]}`, ""},
		{"playlist", `{"format":{"format_name":"hls","duration":"10"},"streams":[{"codec_type":"video","width":320,"height":240}]}`, CodeUnsupportedMedia},
		{"image", `{"format":{"format_name":"png_pipe"},"streams":[{"codec_type":"video","width":320,"height":240}]}`, CodeUnsupportedMedia},
		{"no streams", `{"format":{"format_name":"wav","duration":"10"},"streams":[]}`, CodeUnsupportedMedia},
		{"video of unknown size only", `{"format":{"format_name":"avi","duration":"10"},"streams":[{"codec_type":"video"}]}`, CodeUnsupportedMedia},
		{"ten hours", `{"format":{"format_name":"wav","duration":"36000"},"streams":[{"codec_type":"audio"}]}`, CodeMediaTooLong},
		{"a stream claims ten hours", `{"format":{"format_name":"wav","duration":"10"},"streams":[{"codec_type":"audio","duration":"36000"}]}`, CodeMediaTooLong},
		{"huge picture", `{"format":{"format_name":"avi","duration":"1"},"streams":[{"codec_type":"video","width":30000,"height":30000}]}`, CodePictureTooLarge},
		{"long thin picture", `{"format":{"format_name":"avi","duration":"1"},"streams":[{"codec_type":"video","width":20000,"height":16}]}`, CodePictureTooLarge},
		{"huge cover art", `{"format":{"format_name":"mp3","duration":"1"},"streams":[{"codec_type":"audio"},{"codec_type":"video","width":30000,"height":30000,"disposition":{"attached_pic":1}}]}`, CodePictureTooLarge},
		{"40 streams", `{"format":{"format_name":"matroska,webm","duration":"1"},"streams":[` + strings.Repeat(`{"codec_type":"audio"},`, 39) + `{"codec_type":"audio"}]}`, CodeTooManyStreams},
	}
	for _, tc := range cases {
		pr, err := parseProbe([]byte(tc.json))
		if err == nil {
			err = pr.check(lim, DefaultMaxDuration)
		}
		var e *Error
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (!errors.As(err, &e) || e.Code != tc.want):
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
}

// TestEveryAllowedContainerDecodes: a short file of every container the
// workflow accepts passes the probe with its demuxer in MediaFormats, and
// the pass, with that demuxer forced, decodes its sound.
func TestEveryAllowedContainerDecodes(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	video := []string{"-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=1", "-f", "lavfi", "-i", "sine=duration=1:sample_rate=22050"}
	audio := []string{"-f", "lavfi", "-i", "sine=duration=1:sample_rate=22050"}
	for _, tc := range []struct {
		file   string
		inputs []string
		format string
	}{
		{"a.mp4", video, "mov,mp4,m4a,3gp,3g2,mj2"},
		{"a.mkv", video, "matroska,webm"},
		{"a.webm", video, "matroska,webm"},
		{"a.avi", video, "avi"},
		{"a.ts", video, "mpegts"},
		{"a.mpg", video, "mpeg"},
		{"a.flv", video, "flv"},
		{"a.wmv", video, "asf"},
		{"a.ogg", audio, "ogg"},
		{"a.wav", audio, "wav"},
		{"a.mp3", audio, "mp3"},
		{"a.flac", audio, "flac"},
		{"a.aac", audio, "aac"},
		{"a.aiff", audio, "aiff"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(dir, tc.file)
			args := append([]string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y"}, tc.inputs...)
			if out, err := exec.CommandContext(ctx, "ffmpeg", append(args, path)...).CombinedOutput(); err != nil {
				t.Fatalf("ffmpeg: %v: %s", err, out)
			}
			out, err := Run(ctx, Options{Input: path, WorkDir: t.TempDir(), Concurrency: 2,
				Analyses: []string{provider.AnalysisMedia, provider.AnalysisLoudness}})
			if err != nil {
				t.Fatal(err)
			}
			if out.Result.Media == nil || out.Result.Media.Format != tc.format || !out.Result.Media.HasAudio {
				t.Errorf("media %+v, want format %q with sound", out.Result.Media, tc.format)
			}
			if out.States[provider.AnalysisLoudness] != provider.StateSucceeded {
				t.Errorf("loudness %s: %s", out.States[provider.AnalysisLoudness], out.Errors[provider.AnalysisLoudness])
			}
		})
	}
}

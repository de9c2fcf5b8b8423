package mediatest

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"filesight/internal/provider"
)

// Canary is what hostile media points at: a directory outside every job
// directory with a named pipe and a file holding Secret. A tool that opens
// the pipe to read it blocks (nothing writes to it) until Watch lets it go
// and counts it; the file's content must never appear in any result.
type Canary struct {
	Dir    string
	FIFO   string
	File   string
	Secret string

	opened atomic.Int64
}

// NewCanary makes the canary in a temporary directory of t and watches its
// pipe until t ends.
func NewCanary(t testing.TB) *Canary {
	t.Helper()
	c := &Canary{Dir: t.TempDir(), Secret: fmt.Sprintf("CANARY-%d-NEVER-READ", time.Now().UnixNano())}
	c.FIFO = filepath.Join(c.Dir, "canary.fifo")
	c.File = filepath.Join(c.Dir, "canary.mp4")
	if err := syscall.Mkfifo(c.FIFO, 0o644); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	if err := os.WriteFile(c.File, []byte(c.Secret+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.watch(ctx)
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return c
}

// watch opens the pipe for writing without blocking, over and over: that
// succeeds only while some process has it open for reading (or is blocked
// opening it), which is then counted and, when the pipe is closed again,
// reads end of file instead of hanging.
func (c *Canary) watch(ctx context.Context) {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		fd, err := syscall.Open(c.FIFO, syscall.O_WRONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if err == nil {
			c.opened.Add(1)
			syscall.Close(fd)
		} else if !errors.Is(err, syscall.ENXIO) && !errors.Is(err, syscall.EINTR) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Opened is how many times the watcher found a reader on the pipe.
func (c *Canary) Opened() int64 { return c.opened.Load() }

// HostileFile is one file of the hostile-media corpus.
type HostileFile struct {
	Name    string          // a name it could be uploaded under
	What    string          // what it is (test names)
	Content []byte          //
	Want    provider.Reason // the failure it must end with
}

// HostileCorpus generates files that lie about themselves: playlists and
// scripts that name the canary (and the network), an SDP description, an
// image named as an image-sequence pattern, a ZIP archive named .mp4,
// headers claiming ten hours (a two-second M4A), 30000×30000 or 16000×16000 pixels, 40
// streams, and a truncated MP4. It needs ffmpeg (Require).
func HostileCorpus(t testing.TB, c *Canary) []HostileFile {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tmp := t.TempDir()
	rel := "../../../../../../../../.." + c.FIFO // relative to wherever the job's file lies
	files := []HostileFile{
		{Name: "talk.mp4", What: "HLS playlist", Want: provider.ReasonUnsupportedMedia, Content: []byte(
			"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n" +
				"#EXTINF:10.0,\n" + c.FIFO + "\n#EXTINF:10.0,\n" + rel + "\n#EXTINF:10.0,\nfile://" + c.File + "\n" +
				"#EXTINF:10.0,\nhttp://127.0.0.1:9/segment.ts\n#EXT-X-ENDLIST\n")},
		{Name: "talk.mp4", What: "DASH manifest", Want: provider.ReasonUnsupportedMedia, Content: []byte(
			`<?xml version="1.0" encoding="utf-8"?>` + "\n" +
				`<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011" type="static" mediaPresentationDuration="PT10S" minBufferTime="PT1S">` +
				`<Period><AdaptationSet mimeType="video/mp4" segmentAlignment="true"><Representation id="1" bandwidth="100000" codecs="avc1.42c01e" width="320" height="240">` +
				`<BaseURL>file://` + c.FIFO + `</BaseURL></Representation></AdaptationSet></Period></MPD>` + "\n")},
		{Name: "talk.mp4", What: "ffconcat script", Want: provider.ReasonUnsupportedMedia, Content: []byte(
			"ffconcat version 1.0\nfile '" + c.FIFO + "'\nfile '" + c.File + "'\nfile '" + rel + "'\n")},
		{Name: "talk.mov", What: "concat list without header", Want: provider.ReasonUnsupportedMedia, Content: []byte(
			"file '" + c.FIFO + "'\nfile '" + c.File + "'\n")},
		{Name: "talk.mp4", What: "SDP description", Want: provider.ReasonUnsupportedMedia, Content: []byte(
			"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=canary\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
				"m=video 5004 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n")},
		{Name: "img%03d.png", What: "image-sequence pattern name", Want: provider.ReasonUnsupportedMedia, Content: pngImage(t)},
		{Name: "talk.mp4", What: "ZIP archive named .mp4", Want: provider.ReasonUnsupportedMedia, Content: zipArchive(t, c)},
		{Name: "talk.m4a", What: "header claiming 10 hours", Want: provider.ReasonMediaTooLong, Content: longMP4(ctx, t, tmp, 10*time.Hour)},
		{Name: "talk.mkv", What: "30000x30000 video header", Want: provider.ReasonPictureTooLarge, Content: bigPicture(ctx, t, tmp, 30000)},
		{Name: "talk.mkv", What: "16000x16000 video header", Want: provider.ReasonPictureTooLarge, Content: bigPicture(ctx, t, tmp, 16000)},
		{Name: "talk.mkv", What: "40 audio streams", Want: provider.ReasonTooManyStreams, Content: manyStreams(ctx, t, tmp, 40)},
		{Name: "talk.mp4", What: "truncated MP4", Want: provider.ReasonUnsupportedMedia, Content: truncatedMP4(ctx, t, tmp)},
	}
	return files
}

// Hostile is the file of HostileCorpus whose What is what.
func Hostile(t testing.TB, c *Canary, what string) HostileFile {
	t.Helper()
	for _, f := range HostileCorpus(t, c) {
		if f.What == what {
			return f
		}
	}
	t.Fatalf("no %q in the hostile-media corpus", what)
	return HostileFile{}
}

func pngImage(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	img.Set(1, 1, color.White)
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// zipArchive holds an HLS playlist naming the canary, and a copy of its
// secret, as a ZIP file.
func zipArchive(t testing.TB, c *Canary) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, content := range map[string]string{"index.m3u8": "#EXTM3U\n#EXTINF:10,\n" + c.FIFO + "\n", "notes.txt": "see " + c.File} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// longMP4 is a two-second M4A whose movie header (mvhd) claims d. (A WAV
// header cannot lie like this: ffmpeg caps its data size at the file's.)
func longMP4(ctx context.Context, t testing.TB, dir string, d time.Duration) []byte {
	t.Helper()
	path := filepath.Join(dir, "short.m4a")
	ffmpeg(ctx, t, "-f", "lavfi", "-i", "sine=duration=2", "-c:a", "aac", "-movflags", "+faststart", path)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("mvhd"))
	if i < 0 || b[i+4] != 0 {
		t.Fatal("no version 0 mvhd box in ffmpeg's M4A")
	}
	timescale := binary.BigEndian.Uint32(b[i+16:])
	binary.BigEndian.PutUint32(b[i+20:], uint32(d.Seconds())*timescale)
	return b
}

func ffmpeg(ctx context.Context, t testing.TB, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v: %s", args, err, out)
	}
}

// bigPicture is a Matroska file of raw 320×256 grey video whose track
// header is patched to claim side×side pixels.
func bigPicture(ctx context.Context, t testing.TB, dir string, side int) []byte {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("raw-%d.mkv", side))
	ffmpeg(ctx, t, "-f", "lavfi", "-i", "testsrc=size=320x256:rate=5:duration=1", "-c:v", "rawvideo", "-pix_fmt", "gray", path)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// PixelWidth (0xB0) and PixelHeight (0xBA), each a 2-byte unsigned integer.
	for _, el := range [][]byte{{0xB0, 0x82, 0x01, 0x40}, {0xBA, 0x82, 0x01, 0x00}} {
		i := bytes.Index(b, el)
		if i < 0 || bytes.Count(b, el) != 1 {
			t.Fatalf("Matroska element % x not found once in the track header", el)
		}
		binary.BigEndian.PutUint16(b[i+2:], uint16(side))
	}
	return b
}

// manyStreams is a Matroska file with n short audio streams.
func manyStreams(ctx context.Context, t testing.TB, dir string, n int) []byte {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("streams-%d.mkv", n))
	args := []string{"-f", "lavfi", "-i", "sine=frequency=440:duration=1:sample_rate=8000"}
	for i := 0; i < n; i++ {
		args = append(args, "-map", "0:a")
	}
	args = append(args, "-c:a", "pcm_s16le", path)
	ffmpeg(ctx, t, args...)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// truncatedMP4 is the first half of a short MP4 whose index (moov) is at
// its end, as ffmpeg writes it by default: cut off, as by an interrupted
// upload.
func truncatedMP4(ctx context.Context, t testing.TB, dir string) []byte {
	t.Helper()
	path := filepath.Join(dir, "whole.mp4")
	ffmpeg(ctx, t, "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:duration=3", "-f", "lavfi", "-i", "sine=duration=3",
		"-shortest", "-c:v", "mpeg4", "-c:a", "aac", path)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b[:len(b)/2]
}

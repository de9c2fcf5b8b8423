package samplemedia_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"filesight/internal/mediatest"
	"filesight/internal/samplemedia"
)

type probe struct {
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
	Streams []struct {
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
	} `json:"streams"`
}

func ffprobe(t *testing.T, path string) probe {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe json: %v", err)
	}
	return p
}

func TestGenerateTalk(t *testing.T) {
	mediatest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A directory name with characters that ffmpeg's filter syntax treats specially.
	dir := filepath.Join(t.TempDir(), "it's: [a,b];c")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := samplemedia.DefaultTalk()
	info, err := samplemedia.GenerateTalkInfo(ctx, dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	p := ffprobe(t, info.Path)
	var v, a bool
	for _, s := range p.Streams {
		switch s.CodecType {
		case "video":
			v = true
			if s.CodecName != "h264" || s.Width != 640 || s.Height != 360 {
				t.Errorf("video stream %s %dx%d, want h264 640x360", s.CodecName, s.Width, s.Height)
			}
		case "audio":
			a = true
			if s.CodecName != "aac" {
				t.Errorf("audio codec %s, want aac", s.CodecName)
			}
		}
	}
	if !v || !a {
		t.Fatalf("streams video=%v audio=%v, want both", v, a)
	}
	d, _ := strconv.ParseFloat(p.Format.Duration, 64)
	if math.Abs(d-info.Duration) > 0.3 {
		t.Errorf("duration %.2f, want %.2f", d, info.Duration)
	}
	if len(info.Cuts) != 2 || info.Cuts[0] != 10 || info.Cuts[1] != 20 {
		t.Errorf("cuts %v, want [10 20]", info.Cuts)
	}
	if len(info.Speech) != 3 {
		t.Fatalf("speech spans %v, want 3", info.Speech)
	}
	for i, s := range info.Speech {
		if s.Start < info.Slides[i].Start || s.End > info.Slides[i].End || s.End-s.Start < 3 {
			t.Errorf("speech %d %+v not inside slide %+v", i, s, info.Slides[i])
		}
	}
	if len(info.Words) < 50 {
		t.Errorf("reference words %d, want the whole script", len(info.Words))
	}
	t.Logf("talk %.1fs, speech %v", info.Duration, info.Speech)
}

func TestGenerateAudio(t *testing.T) {
	mediatest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	info, err := samplemedia.GenerateAudioInfo(ctx, t.TempDir(), "Hello there.\n\nGood morning to you.")
	if err != nil {
		t.Fatal(err)
	}
	p := ffprobe(t, info.Path)
	if len(p.Streams) != 1 || p.Streams[0].CodecType != "audio" {
		t.Fatalf("streams %+v, want one audio stream", p.Streams)
	}
	if len(info.Speech) != 2 || info.Speech[1].Start-info.Speech[0].End < 0.99 {
		t.Errorf("speech %v, want two paragraphs 1 s apart", info.Speech)
	}
}

func TestWER(t *testing.T) {
	ref := samplemedia.Words("the cat sat on the mat")
	cases := []struct {
		hyp  string
		want float64
	}{
		{"the cat sat on the mat", 0},
		{"the cat sat on mat", 1.0 / 6},
		{"a cat sat on the mat today", 2.0 / 6},
		{"", 1},
	}
	for _, c := range cases {
		if got := samplemedia.WER(ref, samplemedia.Words(c.hyp)); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("WER(%q) = %v, want %v", c.hyp, got, c.want)
		}
	}
}

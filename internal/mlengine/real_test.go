package mlengine_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"filesight/internal/mlengine"
	"filesight/internal/mlengine/mlenginetest"

	"filesight/internal/mediatest"
	"filesight/internal/provider"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/samplemedia"
	"filesight/internal/secret"
	"filesight/internal/testutil"
)

// TestRealAnalyzers runs the real analyzers behind the API on a generated
// talk: once to the end (the result must describe the talk), once canceled
// mid-way (every tool process of the job must be gone when DELETE returns).
func TestRealAnalyzers(t *testing.T) {
	mediatest.Require(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	talk, err := samplemedia.GenerateTalkInfo(ctx, t.TempDir(), samplemedia.TalkSpec{
		Slides: []samplemedia.Slide{
			{Text: "BETTER DATA\nMachine Learning", Duration: 7},
			{Text: "SEARCH RESULTS\nSpoken Words", Duration: 7},
		},
		Script: "Welcome to this short talk about better data and machine learning.\n\n" +
			"We upload a video to the cloud and search the results for spoken words.",
	})
	if err != nil {
		t.Fatalf("generate talk: %v", err)
	}
	media, err := os.ReadFile(talk.Path)
	if err != nil {
		t.Fatal(err)
	}
	const token = "real-read-token"
	ms := newMediaServer(t, media, token)
	ts := mlenginetest.Start(t, mlengine.WithConfig(func(c *mlengine.Config) { c.Concurrency = 2 }))
	client := mlengineapi.New(mlengineapi.Config{BaseURL: ts.URL, APIKey: secret.String(ts.APIKey)})

	t.Run("end to end", func(t *testing.T) {
		start := time.Now()
		ref, err := client.Submit(ctx, provider.JobRequest{
			IdempotencyKey: "real-e2e", MediaURL: ms.URL + "/talk.mp4", MediaToken: token,
		})
		if err != nil {
			t.Fatalf("submit: %v", err)
		}
		var st provider.JobStatus
		testutil.WaitFor(t, 90*time.Second, "the job to end", func() bool {
			st, err = client.Status(ctx, ref)
			if err != nil {
				t.Fatalf("status: %v", err)
			}
			return st.State.Terminal()
		})
		t.Logf("job took %s for %.1f s of media", time.Since(start).Round(time.Millisecond), talk.Duration)
		if st.State != provider.StateSucceeded || !st.MediaFetched || st.Progress != 1 {
			t.Fatalf("job ended %+v (error %+v)", st, st.Error)
		}
		for _, a := range st.Analyses {
			if a.State != provider.StateSucceeded {
				t.Errorf("analysis %s is %s", a.Name, a.State)
			}
		}
		res, err := client.Result(ctx, ref)
		if err != nil {
			t.Fatalf("result: %v", err)
		}
		if m := res.Media; m == nil || !m.HasVideo || !m.HasAudio || math.Abs(m.Duration-talk.Duration) > 0.5 || m.Width != 640 {
			t.Errorf("media info %+v, want %.1f s 640px video with audio", res.Media, talk.Duration)
		}
		// A scene starts near the slide change.
		cut := talk.Cuts[0]
		if !slices.ContainsFunc(res.Scenes, func(s provider.Scene) bool { return math.Abs(s.Start-cut) < 1 }) {
			t.Errorf("no scene starts near the cut at %.1f s: %+v", cut, res.Scenes)
		}
		for _, s := range res.Scenes {
			if s.Thumbnail == "" {
				t.Errorf("scene %+v without thumbnail", s)
				continue
			}
			rc, err := client.Artifact(ctx, ref, s.Thumbnail)
			if err != nil {
				t.Fatalf("artifact %s: %v", s.Thumbnail, err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			cfg, err := png.DecodeConfig(bytes.NewReader(b))
			if err != nil || cfg.Width == 0 {
				t.Errorf("thumbnail %s is not a PNG: %v", s.Thumbnail, err)
			}
		}
		var ocr []string
		for _, o := range res.OCR {
			ocr = append(ocr, strings.ToLower(o.Text))
		}
		if all := strings.Join(ocr, " "); !strings.Contains(all, "better") || !strings.Contains(all, "search") {
			t.Errorf("on-screen text %q misses the slide titles", all)
		}
		if res.Transcript == nil || len(res.Transcript.Words) == 0 {
			t.Fatal("no transcript")
		}
		hyp := samplemedia.Words(res.Transcript.Text)
		if wer := samplemedia.WER(talk.Words, hyp); wer > 0.5 {
			t.Errorf("transcript %q has WER %.2f against the script", res.Transcript.Text, wer)
		}
		if len(res.Keywords) == 0 || res.Loudness == nil || len(res.Silences) == 0 {
			t.Errorf("keywords %v, loudness %v, silences %v: want all present", res.Keywords, res.Loudness, res.Silences)
		}
		if got := filesUnder(t, ts.Server().JobDir(ref.ID)); slices.Contains(got, "media") || slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "work/") }) {
			t.Errorf("temporary files left: %v", got)
		}
	})

	t.Run("cancel kills processes", func(t *testing.T) {
		ref, err := client.Submit(ctx, provider.JobRequest{IdempotencyKey: "real-cancel", MediaURL: ms.URL + "/talk.mp4", MediaToken: token})
		if err != nil {
			t.Fatalf("submit: %v", err)
		}
		dir := ts.Server().JobDir(ref.ID)
		seen := map[int]string{}
		testutil.WaitFor(t, 60*time.Second, "a speech recogniser or OCR process of the job", func() bool {
			for pid, comm := range jobProcesses(dir) {
				seen[pid] = comm
			}
			if st, err := client.Status(ctx, ref); err == nil && st.State.Terminal() {
				t.Fatalf("job ended (%s) before any recogniser was seen; seen %v", st.State, seen)
			}
			return slices.ContainsFunc(mapValuesOf(seen), func(c string) bool {
				return strings.HasPrefix(c, "pocketsphinx") || c == "tesseract"
			})
		})
		if err := client.Cancel(ctx, ref); err != nil {
			t.Fatalf("cancel: %v", err)
		}
		st, err := client.Status(ctx, ref)
		if err != nil || st.State != provider.StateCanceled {
			t.Fatalf("after cancel: %+v %v", st, err)
		}
		if left := jobProcesses(dir); len(left) > 0 {
			t.Errorf("processes of the job left after cancel: %v", left)
		}
		for pid, comm := range seen {
			if alive(pid) {
				t.Errorf("process %d (%s) still alive after cancel", pid, comm)
			}
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("job directory left after cancel: %v", filesUnder(t, dir))
		}
		t.Logf("saw %d tool processes of the job, all gone: %v", len(seen), seen)
	})
}

// jobProcesses lists processes (pid → command name) whose command line
// mentions dir: every tool of a job gets its media or work files as arguments.
func jobProcesses(dir string) map[int]string {
	out := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(dir)) {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if alive(pid) {
			out[pid] = strings.TrimSpace(string(comm))
		}
	}
	return out
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}

func mapValuesOf(m map[int]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

package mlengine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filesight/internal/mlengine"
	"filesight/internal/mlengine/mlenginetest"

	"filesight/internal/provider"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/signature"
	"filesight/internal/testutil"
)

// call makes an API request and returns status, headers and body.
func call(t *testing.T, ts *mlenginetest.Server, method, path string, body any, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+ts.APIKey)
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, out
}

func decodeJSON[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, b, err)
	}
	return v
}

// submit posts a job and returns its id, failing on anything but 202.
func submit(t *testing.T, ts *mlenginetest.Server, key string, req mlengineapi.SubmitRequest) string {
	t.Helper()
	code, _, body := call(t, ts, "POST", "/v1/jobs", req, map[string]string{"Idempotency-Key": key})
	if code != http.StatusAccepted {
		t.Fatalf("submit: HTTP %d %s", code, body)
	}
	r := decodeJSON[mlengineapi.SubmitResponse](t, body)
	if r.ID == "" || r.Status != provider.StateQueued {
		t.Fatalf("submit answer %s", body)
	}
	return r.ID
}

func getJob(t *testing.T, ts *mlenginetest.Server, id string) mlengineapi.Job {
	t.Helper()
	code, _, body := call(t, ts, "GET", "/v1/jobs/"+id, nil, nil)
	if code != http.StatusOK {
		t.Fatalf("GET job %s: HTTP %d %s", id, code, body)
	}
	return decodeJSON[mlengineapi.Job](t, body)
}

// waitStatus polls the job until it has the wanted status (failing early on
// another terminal status).
func waitStatus(t *testing.T, ts *mlenginetest.Server, id string, want provider.State) mlengineapi.Job {
	t.Helper()
	var j mlengineapi.Job
	testutil.WaitFor(t, 20*time.Second, fmt.Sprintf("job %s to be %s", id, want), func() bool {
		j = getJob(t, ts, id)
		if j.Status.Terminal() && j.Status != want {
			t.Fatalf("job %s ended %s, want %s: %+v", id, j.Status, want, j)
		}
		return j.Status == want
	})
	return j
}

// mediaServer serves content to requests carrying the bearer token.
type mediaServer struct {
	*httptest.Server
	content []byte
	token   string
	hits    atomic.Int32
	// override, when set, answers instead (n is the 1-based request number).
	override func(w http.ResponseWriter, r *http.Request, n int) bool
}

func newMediaServer(t *testing.T, content []byte, token string) *mediaServer {
	m := &mediaServer{content: content, token: token}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(m.hits.Add(1))
		if m.override != nil && m.override(w, r, n) {
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+m.token {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "video/mp4")
		w.Write(m.content)
	}))
	t.Cleanup(m.Close)
	return m
}

func pngBytes(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 4, 3))
	img.Set(1, 1, color.RGBA{200, 10, 10, 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fakeAnalyzer is a fast Analyzer. By default it checks the input holds the
// media, reports progress, writes one thumbnail and returns a small result.
// With block set, it waits (honouring ctx) until release is closed.
type fakeAnalyzer struct {
	t       *testing.T
	media   []byte
	thumb   []byte
	calls   atomic.Int32
	started chan string // receives the job's work dir when a blocking run starts
	block   atomic.Bool
	release chan struct{}
	mu      sync.Mutex
	tasks   []mlengine.Task
	// fail, when set, makes the run return this error.
	fail error
	// states/errors override the per-analysis outcome.
	states map[string]provider.State
	errors map[string]string
}

func newFake(t *testing.T, media []byte) *fakeAnalyzer {
	return &fakeAnalyzer{t: t, media: media, thumb: pngBytes(t), started: make(chan string, 16), release: make(chan struct{})}
}

// waitStarted waits until a blocking run starts and returns its work
// directory; a run that does not start within a minute fails the test
// rather than hanging it until go test's timeout.
func (f *fakeAnalyzer) waitStarted() string {
	f.t.Helper()
	select {
	case dir := <-f.started:
		return dir
	case <-time.After(time.Minute):
		f.t.Fatal("the analysis did not start within a minute")
		return ""
	}
}

var fakeResult = provider.Result{
	Media:      &provider.MediaInfo{Format: "mp4", Duration: 3, HasAudio: true, HasVideo: true, Width: 4, Height: 3},
	Transcript: &provider.Transcript{Text: "hello world", Words: []provider.Word{{Word: "hello", Start: 0.1, End: 0.5, Confidence: 0.9}, {Word: "world", Start: 0.6, End: 1, Confidence: 0.8}}},
	Scenes:     []provider.Scene{{Start: 0, End: 3, Thumbnail: "scene-0001.png"}},
}

func (f *fakeAnalyzer) Analyze(ctx context.Context, task mlengine.Task) (*mlengine.Output, error) {
	f.calls.Add(1)
	f.mu.Lock()
	f.tasks = append(f.tasks, task)
	f.mu.Unlock()
	got, err := os.ReadFile(task.Input)
	if err != nil {
		return nil, fmt.Errorf("read input: %w", err)
	}
	if f.media != nil && !bytes.Equal(got, f.media) {
		return nil, fmt.Errorf("input holds %d bytes, not the media", len(got))
	}
	for _, a := range task.Analyses {
		task.Progress(mlengine.Progress{Analysis: a, State: provider.StateRunning, Fraction: 0.5})
	}
	if f.block.Load() {
		select {
		case f.started <- task.WorkDir:
		default:
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-f.release:
		}
	}
	if f.fail != nil {
		return nil, f.fail
	}
	thumb := filepath.Join(task.WorkDir, "thumb.png")
	if err := os.WriteFile(thumb, f.thumb, 0o600); err != nil {
		return nil, err
	}
	os.WriteFile(filepath.Join(task.WorkDir, "audio.wav"), []byte("temporary"), 0o600)
	out := &mlengine.Output{Result: fakeResult, States: map[string]provider.State{}, Errors: map[string]string{},
		Artifacts: map[string]string{"scene-0001.png": thumb}}
	for _, a := range task.Analyses {
		out.States[a] = provider.StateSucceeded
		if s, ok := f.states[a]; ok {
			out.States[a] = s
		}
		if e, ok := f.errors[a]; ok {
			out.Errors[a] = e
		}
		task.Progress(mlengine.Progress{Analysis: a, State: out.States[a], Fraction: 1})
	}
	return out, nil
}

// callbackReceiver records verified callbacks.
type callbackReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	got      []receivedCallback
	attempts atomic.Int32
	// status answers each attempt (default 200).
	status func(n int) int
}

type receivedCallback struct {
	header http.Header
	body   []byte
	cb     mlengineapi.Callback
	err    error
}

func newCallbackReceiver(t *testing.T, key string) *callbackReceiver {
	cr := &callbackReceiver{}
	v := signatureVerifier(key)
	cr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(cr.attempts.Add(1))
		body, _ := io.ReadAll(r.Body)
		rc := receivedCallback{header: r.Header.Clone(), body: body}
		rc.err = mlengineapi.VerifyCallback(v, r.Header, body)
		if rc.err == nil {
			rc.err = json.Unmarshal(body, &rc.cb)
		}
		status := http.StatusOK
		if cr.status != nil {
			status = cr.status(n)
		}
		cr.mu.Lock()
		cr.got = append(cr.got, rc)
		cr.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(cr.Close)
	return cr
}

func (cr *callbackReceiver) received() []receivedCallback {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	return append([]receivedCallback(nil), cr.got...)
}

// filesUnder lists the files below dir, relative, sorted.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func signatureVerifier(key string) *signature.Verifier {
	return signature.NewVerifier([]byte(key), nil)
}

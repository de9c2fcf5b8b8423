// Package whispertest is a fake OpenAI-compatible transcription server
// (POST /v1/audio/transcriptions) for tests: multipart requests checked as
// OpenAI's API reference describes them (model, file with a format the
// extension names, response_format, timestamp_granularities[]), answers in
// verbose_json with segments and words, and the documented error bodies,
// 413 over 25 MB, 429 with Retry-After. It does not recognise speech: the
// test says what the transcript is. It is never linked into a program.
package whispertest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"filesight/internal/provider/whisper"
)

// MaxBytes is the documented upload limit (25 MB).
const MaxBytes = 25 << 20

// Formats are the documented input formats.
var Formats = []string{"flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm"}

// Server is a running fake.
type Server struct {
	URL string
	// APIKey, when set, is required as a bearer token.
	APIKey string

	mu       sync.Mutex
	answer   whisper.VerboseJSON
	faults   []fault
	requests []Request
	gate     chan struct{} // when set, requests wait for it to close
	entered  int
}

type fault struct {
	status     int
	retryAfter string
	body       string
}

// Request is what one request carried.
type Request struct {
	Fields   map[string][]string
	FileName string
	FileSize int64
	FileSHA  string
	Auth     string
}

// Start starts a fake answering transcript text, timed one word every
// 0.5 s in segments of up to 8 words.
func Start(t testing.TB, apiKey, text string) *Server {
	s := &Server{APIKey: apiKey}
	s.SetTranscript(text)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/audio/transcriptions", s.transcribe)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		s.Release()
		srv.Close()
	})
	s.URL = srv.URL
	return s
}

// SetTranscript sets what the server recognises in any audio.
func (s *Server) SetTranscript(text string) {
	words := strings.Fields(text)
	v := whisper.VerboseJSON{Task: "transcribe", Language: "english", Text: " " + text}
	for i, w := range words {
		v.Words = append(v.Words, whisper.Word{Word: w, Start: float64(i) * 0.5, End: float64(i)*0.5 + 0.4})
	}
	for i := 0; i < len(words); i += 8 {
		end := min(i+8, len(words))
		v.Segments = append(v.Segments, whisper.Segment{ID: len(v.Segments), Start: float64(i) * 0.5, End: float64(end) * 0.5,
			Text: " " + strings.Join(words[i:end], " "), AvgLogprob: -0.1, NoSpeechProb: 0.01})
	}
	v.Duration = float64(len(words)) * 0.5
	s.mu.Lock()
	s.answer = v
	s.mu.Unlock()
}

// Fail makes the next request answer status with Retry-After (unless
// empty) and body (a server_error body when empty).
func (s *Server) Fail(status int, retryAfter, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{status, retryAfter, body})
}

// Hold makes requests wait, once read, until Release: a transcription in
// progress.
func (s *Server) Hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate == nil {
		s.gate = make(chan struct{})
	}
}

// Release lets held requests finish.
func (s *Server) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
}

// Entered counts requests that were read completely (held or answered).
func (s *Server) Entered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.entered
}

// Requests returns the requests received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func apiError(w http.ResponseWriter, status int, typ, code, msg string) {
	var eb whisper.ErrorBody
	eb.Error.Message, eb.Error.Type = msg, typ
	if code != "" {
		eb.Error.Code = &code
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(eb)
}

func (s *Server) transcribe(w http.ResponseWriter, r *http.Request) {
	if s.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+s.APIKey {
		apiError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key",
			"Incorrect API key provided: sk-ab***cd. You can find your API key at https://platform.openai.com/account/api-keys.")
		return
	}
	if r.ContentLength > MaxBytes+1<<20 {
		apiError(w, http.StatusRequestEntityTooLarge, "server_error", "", fmt.Sprintf("Maximum content size limit (%d) exceeded (%d bytes read)", MaxBytes, r.ContentLength))
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		apiError(w, http.StatusBadRequest, "invalid_request_error", "", "Could not parse multipart form")
		return
	}
	req := Request{Fields: map[string][]string{}, Auth: r.Header.Get("Authorization")}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			apiError(w, http.StatusBadRequest, "invalid_request_error", "", "Could not parse multipart form")
			return
		}
		if p.FormName() == "file" {
			h := sha256.New()
			n, err := io.Copy(h, io.LimitReader(p, MaxBytes+1))
			if err != nil {
				apiError(w, http.StatusBadRequest, "invalid_request_error", "", "Could not read the file")
				return
			}
			if n > MaxBytes {
				apiError(w, http.StatusRequestEntityTooLarge, "server_error", "", fmt.Sprintf("Maximum content size limit (%d) exceeded", MaxBytes))
				return
			}
			req.FileName, req.FileSize, req.FileSHA = p.FileName(), n, hex.EncodeToString(h.Sum(nil))
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(p, 1<<16))
		req.Fields[p.FormName()] = append(req.Fields[p.FormName()], string(b))
	}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.entered++
	var f *fault
	if len(s.faults) > 0 {
		f = &s.faults[0]
		s.faults = s.faults[1:]
	}
	gate, answer := s.gate, s.answer
	s.mu.Unlock()
	if f != nil {
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		if f.body == "" {
			apiError(w, f.status, "server_error", "", http.StatusText(f.status))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		_, _ = io.WriteString(w, f.body)
		return
	}
	if len(req.Fields["model"]) == 0 || req.Fields["model"][0] == "" {
		apiError(w, http.StatusBadRequest, "invalid_request_error", "", "you must provide a model parameter")
		return
	}
	ext := strings.TrimPrefix(strings.ToLower(filepath.Ext(req.FileName)), ".")
	if req.FileName == "" || !slices.Contains(Formats, ext) {
		apiError(w, http.StatusBadRequest, "invalid_request_error", "", fmt.Sprintf("Invalid file format. Supported formats: %q", Formats))
		return
	}
	format := "json"
	if v := req.Fields["response_format"]; len(v) > 0 {
		format = v[0]
	}
	granularities := req.Fields["timestamp_granularities[]"]
	if len(granularities) > 0 && format != "verbose_json" {
		apiError(w, http.StatusBadRequest, "invalid_request_error", "", "timestamp_granularities requires response_format=verbose_json")
		return
	}
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	switch format {
	case "json":
		_ = json.NewEncoder(w).Encode(map[string]string{"text": answer.Text})
	case "verbose_json":
		if !slices.Contains(granularities, "word") {
			answer.Words = nil
		}
		if len(granularities) > 0 && !slices.Contains(granularities, "segment") {
			answer.Segments = nil
		}
		_ = json.NewEncoder(w).Encode(answer)
	default:
		apiError(w, http.StatusBadRequest, "invalid_request_error", "", "response_format must be one of json, text, srt, verbose_json, vtt")
	}
}

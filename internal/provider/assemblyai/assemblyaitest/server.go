// Package assemblyaitest is a fake AssemblyAI v2 API for tests: it
// reproduces the requests, answers, statuses and error bodies documented in
// AssemblyAI's API reference (POST/GET/DELETE /v2/transcript, webhook
// deliveries), so the adapter can be tested without the service. It is
// never linked into a program.
package assemblyaitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"filesight/internal/provider/assemblyai"
)

// Server is a running fake.
type Server struct {
	URL    string
	APIKey string

	t      testing.TB
	srv    *httptest.Server
	mu     sync.Mutex
	jobs   map[string]*job
	order  []string // creation order
	faults []fault
	// Requests counts requests by "METHOD path-pattern".
	requests map[string]int
	// Webhooks records each webhook delivery's outcome.
	webhooks []Delivery
}

type job struct {
	params map[string]any
	tr     assemblyai.Transcript
}

type fault struct {
	method, prefix string
	status         int
	retryAfter     string
	body           string
}

// Delivery is one webhook delivery.
type Delivery struct {
	URL          string
	TranscriptID string
	Status       string
	Header       http.Header
	StatusCode   int
	Err          error
}

// Start starts a fake that accepts apiKey.
func Start(t testing.TB, apiKey string) *Server {
	s := &Server{APIKey: apiKey, t: t, jobs: map[string]*job{}, requests: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/transcript", s.create)
	mux.HandleFunc("GET /v2/transcript", s.list)
	mux.HandleFunc("GET /v2/transcript/{id}", s.get)
	mux.HandleFunc("DELETE /v2/transcript/{id}", s.delete)
	s.srv = httptest.NewServer(s.middleware(mux))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, assemblyai.ErrorBody{Error: msg})
}

func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		key := r.Method + " " + r.URL.Path
		if strings.HasPrefix(r.URL.Path, "/v2/transcript/") {
			key = r.Method + " /v2/transcript/{id}"
		}
		s.requests[key]++
		for i, f := range s.faults {
			if f.method == r.Method && strings.HasPrefix(r.URL.Path, f.prefix) {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
				s.mu.Unlock()
				if f.retryAfter != "" {
					w.Header().Set("Retry-After", f.retryAfter)
				}
				if f.body != "" {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(f.status)
					_, _ = io.WriteString(w, f.body)
					return
				}
				apiError(w, f.status, http.StatusText(f.status))
				return
			}
		}
		s.mu.Unlock()
		// The documented authentication: the API key, as is, in Authorization.
		if r.Header.Get("Authorization") != s.APIKey {
			apiError(w, http.StatusUnauthorized, "Authentication error, API token missing/invalid")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Fail makes the next request whose method and path prefix match answer
// status (with Retry-After when retryAfter is not empty) and the
// documented error body; body, when set, replaces it.
func (s *Server) Fail(method, pathPrefix string, status int, retryAfter, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{method, pathPrefix, status, retryAfter, body})
}

// Requests returns how many requests matched "METHOD /v2/transcript" or
// "METHOD /v2/transcript/{id}".
func (s *Server) Requests(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[key]
}

// Params returns the JSON body a transcript was created with.
func (s *Server) Params(id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.jobs[id]; j != nil {
		return j.params
	}
	return nil
}

// IDs lists the transcripts created, oldest first.
func (s *Server) IDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.order...)
}

// Webhooks returns the deliveries made so far.
func (s *Server) Webhooks() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.webhooks...)
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var params map[string]any
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&params); err != nil {
		apiError(w, http.StatusBadRequest, "Invalid JSON body")
		return
	}
	audioURL, _ := params["audio_url"].(string)
	if audioURL == "" {
		apiError(w, http.StatusBadRequest, "audio_url is required")
		return
	}
	if models, _ := params["speech_models"].([]any); len(models) == 0 {
		apiError(w, http.StatusBadRequest, "speech_models is required")
		return
	}
	if _, ok := params["auto_highlights"].(bool); params["auto_highlights"] != nil && !ok {
		apiError(w, http.StatusBadRequest, "auto_highlights must be a Boolean")
		return
	}
	ah, _ := params["auto_highlights"].(bool)
	hook, _ := params["webhook_url"].(string)
	t := assemblyai.Transcript{ID: uuid.NewString(), Status: assemblyai.StatusQueued, AudioURL: audioURL,
		AutoHighlights: ah, WebhookURL: hook}
	s.mu.Lock()
	s.jobs[t.ID] = &job{params: params, tr: t}
	s.order = append(s.order, t.ID)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	limit := 10
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			apiError(w, http.StatusBadRequest, "limit must be between 1 and 200")
			return
		}
		limit = n
	}
	s.mu.Lock()
	var l assemblyai.TranscriptList
	for i := len(s.order) - 1; i >= 0 && len(l.Transcripts) < limit; i-- {
		t := s.jobs[s.order[i]].tr
		l.Transcripts = append(l.Transcripts, assemblyai.TranscriptListItem{ID: t.ID, Status: t.Status, AudioURL: t.AudioURL})
	}
	s.mu.Unlock()
	if l.Transcripts == nil {
		l.Transcripts = []assemblyai.TranscriptListItem{}
	}
	writeJSON(w, http.StatusOK, l)
}

// notFound is the documented answer for an unknown transcript id.
func notFound(w http.ResponseWriter) {
	apiError(w, http.StatusBadRequest, "Transcript lookup error, transcript id not found")
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	j := s.jobs[r.PathValue("id")]
	var t assemblyai.Transcript
	if j != nil {
		t = j.tr
	}
	s.mu.Unlock()
	if j == nil {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	j := s.jobs[r.PathValue("id")]
	if j == nil {
		s.mu.Unlock()
		notFound(w)
		return
	}
	// The documented answer: the transcript, emptied and marked deleted.
	deleted := "Deleted by user."
	j.tr.AudioURL, j.tr.WebhookURL = assemblyai.DeletedAudioURL, assemblyai.DeletedAudioURL
	j.tr.Text, j.tr.Words, j.tr.AutoHighlightsResult = &deleted, nil, nil
	if j.tr.Status != assemblyai.StatusError {
		j.tr.Status = assemblyai.StatusCompleted
	}
	t := j.tr
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, t)
}

// Outcome is how Process ends a job.
type Outcome struct {
	// Words are the recognised words; Text defaults to them joined.
	Words []assemblyai.Word
	Text  string
	// Highlights, when the job asked for auto_highlights.
	Highlights []assemblyai.AutoHighlight
	// HighlightsUnavailable reports the Key Phrases model as failed.
	HighlightsUnavailable bool
	Duration              float64
	// Error fails the job with this text (after a successful download).
	Error string
}

// SetStatus moves a job to queued or processing.
func (s *Server) SetStatus(id, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.jobs[id]; j != nil {
		j.tr.Status = status
	}
}

// Process runs a job as the service does: it downloads audio_url with a
// plain GET (no headers: the URL must carry its own credentials) and fails
// the job with the documented "Download error" text, which quotes the URL,
// if that does not answer 2xx; otherwise it ends the job as o says. Then
// it delivers the webhook, if the job has one.
func (s *Server) Process(id string, o Outcome) {
	s.t.Helper()
	s.mu.Lock()
	j := s.jobs[id]
	s.mu.Unlock()
	if j == nil {
		s.t.Fatalf("assemblyaitest: no transcript %s", id)
	}
	s.SetStatus(id, assemblyai.StatusProcessing)
	audioURL := j.tr.AudioURL
	resp, err := http.Get(audioURL)
	ok := err == nil && resp.StatusCode/100 == 2
	if resp != nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	s.mu.Lock()
	t := &j.tr
	switch {
	case !ok:
		t.Status = assemblyai.StatusError
		t.Error = fmt.Sprintf("Download error, unable to download %s. Please make sure the file exists and is accessible from the internet.", audioURL)
	case o.Error != "":
		t.Status, t.Error = assemblyai.StatusError, o.Error
	default:
		t.Status = assemblyai.StatusCompleted
		text := o.Text
		if text == "" {
			var ws []string
			for _, w := range o.Words {
				ws = append(ws, w.Text)
			}
			text = strings.Join(ws, " ")
		}
		d := o.Duration
		t.Text, t.Words, t.AudioDuration = &text, o.Words, &d
		if t.Words == nil {
			t.Words = []assemblyai.Word{}
		}
		if t.AutoHighlights {
			t.AutoHighlightsResult = &assemblyai.AutoHighlights{Status: "success", Results: o.Highlights}
			if o.HighlightsUnavailable {
				t.AutoHighlightsResult = &assemblyai.AutoHighlights{Status: "unavailable", Results: []assemblyai.AutoHighlight{}}
			}
		}
	}
	hook, status, params := t.WebhookURL, t.Status, j.params
	s.mu.Unlock()
	if hook != "" {
		s.deliver(id, hook, status, params)
	}
}

// deliver POSTs the documented notification, with the auth header when the
// job asked for one.
func (s *Server) deliver(id, hook, status string, params map[string]any) {
	body, _ := json.Marshal(assemblyai.Notification{TranscriptID: id, Status: status})
	req, err := http.NewRequest(http.MethodPost, hook, bytes.NewReader(body))
	d := Delivery{URL: hook, TranscriptID: id, Status: status}
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		if name, _ := params["webhook_auth_header_name"].(string); name != "" {
			v, _ := params["webhook_auth_header_value"].(string)
			req.Header.Set(name, v)
		}
		d.Header = req.Header
		c := &http.Client{Timeout: 10 * time.Second} // the documented 10 s
		var resp *http.Response
		if resp, err = c.Do(req); err == nil {
			d.StatusCode = resp.StatusCode
			resp.Body.Close()
		}
	}
	d.Err = err
	s.mu.Lock()
	s.webhooks = append(s.webhooks, d)
	if j := s.jobs[id]; j != nil && d.StatusCode != 0 {
		code := d.StatusCode
		j.tr.WebhookStatusCode = &code
	}
	s.mu.Unlock()
}

package mlengine

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"filesight/internal/egress"
	"filesight/internal/provider"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/secret"
)

// API error codes.
const (
	CodeUnauthorized        = "unauthorized"
	CodeInvalidRequest      = "invalid_request"
	CodeRequestTooLarge     = "request_too_large"
	CodeNotFound            = "not_found"
	CodeIdempotencyConflict = "idempotency_conflict"
	CodeNotFinished         = "not_finished"
	CodeNoResult            = "no_result"
	CodeResultDeleted       = "result_deleted"
	CodeQueueFull           = "queue_full"
	CodeUnavailable         = "unavailable"
)

const (
	maxRequestBytes = 1 << 20
	maxLabels       = 32
	maxLabelKey     = 64
	maxLabelValue   = 512
	maxURLLength    = 8192
	maxIdemKey      = 255
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("POST /v1/jobs", s.auth(s.submit))
	mux.Handle("GET /v1/jobs", s.auth(s.listJobs))
	mux.Handle("GET /v1/jobs/{id}", s.auth(s.getJob))
	mux.Handle("DELETE /v1/jobs/{id}", s.auth(s.cancelJob))
	mux.Handle("GET /v1/jobs/{id}/result", s.auth(s.result))
	mux.Handle("DELETE /v1/jobs/{id}/result", s.auth(s.deleteResult))
	mux.Handle("GET /v1/jobs/{id}/artifacts/{name}", s.auth(s.artifact))
	mux.Handle("GET "+adminPrefix+"faults", s.adminOnly(s.getFaults))
	mux.Handle("PUT "+adminPrefix+"faults", s.adminOnly(s.putFaults))
	mux.Handle("DELETE "+adminPrefix+"faults", s.adminOnly(s.deleteFaults))
	mux.Handle("/", s.auth(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, CodeNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path, false)
	}))
	return s.injectFaults(mux)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string, retryable bool) {
	writeJSON(w, status, mlengineapi.ErrorBody{Error: mlengineapi.APIError{Code: code, Message: msg, Retryable: retryable}})
}

func (s *Server) auth(next http.HandlerFunc) http.Handler {
	want := []byte("Bearer " + s.cfg.APIKey.Reveal())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mlengine"`)
			writeError(w, http.StatusUnauthorized, CodeUnauthorized, "missing or invalid API key (Authorization: Bearer <MLENGINE_API_KEY>)", false)
			return
		}
		next(w, r)
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if err := s.eng.store.db.PingContext(r.Context()); err != nil {
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "job database unavailable", true)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int((d+time.Second-1)/time.Second)))
}

// validHTTPURL checks that raw is an absolute http(s) URL with a host.
func validHTTPURL(field, raw string) error {
	if raw == "" {
		return fmt.Errorf("%s is required", field)
	}
	if len(raw) > maxURLLength {
		return fmt.Errorf("%s is longer than %d characters", field, maxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s is not a valid URL", field)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%s must be an http or https URL, not %q", field, u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("%s has no host", field)
	}
	return nil
}

// checkOutbound applies the outbound URL policy to what can be known of a
// URL before it is fetched (an address in it, the listed hosts); the
// addresses a name resolves to are checked when it is connected to.
func (s *Server) checkOutbound(field, raw string) error {
	if err := s.eng.policy.CheckURL(raw); err != nil {
		return fmt.Errorf("%s: %v", field, strings.TrimPrefix(err.Error(), egress.ErrRefused.Error()+": "))
	}
	return nil
}

// normalizeAnalyses validates names and returns them deduplicated in the
// canonical order; an empty list means every analysis.
func normalizeAnalyses(in []string) ([]string, error) {
	if len(in) == 0 {
		return slices.Clone(provider.AllAnalyses), nil
	}
	var unknown []string
	for _, a := range in {
		if !slices.Contains(provider.AllAnalyses, a) {
			unknown = append(unknown, strconv.Quote(a))
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("unknown analysis %s (known: %s)", strings.Join(unknown, ", "), strings.Join(provider.AllAnalyses, ", "))
	}
	var out []string
	for _, a := range provider.AllAnalyses {
		if slices.Contains(in, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

func validateLabels(l map[string]string) error {
	if len(l) > maxLabels {
		return fmt.Errorf("at most %d labels are allowed", maxLabels)
	}
	for k, v := range l {
		if k == "" || len(k) > maxLabelKey {
			return fmt.Errorf("label keys must have 1 to %d bytes", maxLabelKey)
		}
		if len(v) > maxLabelValue {
			return fmt.Errorf("label %q is longer than %d bytes", k, maxLabelValue)
		}
	}
	return nil
}

// fingerprint identifies a request's content, so an idempotency key reused
// for a different request is detected. The token is left out on purpose: a
// retry may carry a freshly issued token for the same job.
func fingerprint(mediaURL string, analyses []string, callbackURL string, labels map[string]string) string {
	b, _ := json.Marshal(struct {
		M string            `json:"m"`
		A []string          `json:"a"`
		C string            `json:"c"`
		L map[string]string `json:"l"` // encoding/json sorts map keys
	}{mediaURL, analyses, callbackURL, labels})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get(mlengineapi.HeaderIdempotencyKey)
	if len(key) > maxIdemKey {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, fmt.Sprintf("Idempotency-Key is longer than %d characters", maxIdemKey), false)
		return
	}
	var req mlengineapi.SubmitRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, CodeRequestTooLarge, fmt.Sprintf("request body is larger than %d bytes", maxRequestBytes), false)
			return
		}
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, "request body is not a valid job request: "+jsonProblem(err), false)
		return
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, "request body holds more than one JSON value", false)
		return
	}
	analyses, err := normalizeAnalyses(req.Analyses)
	if err == nil {
		err = validHTTPURL("media_url", req.MediaURL)
	}
	if err == nil && req.CallbackURL != "" {
		err = validHTTPURL("callback_url", req.CallbackURL)
	}
	if err == nil {
		err = s.checkOutbound("media_url", req.MediaURL)
	}
	if err == nil && req.CallbackURL != "" {
		err = s.checkOutbound("callback_url", req.CallbackURL)
	}
	if err == nil {
		err = validateLabels(req.Labels)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, err.Error(), false)
		return
	}
	if req.Labels == nil {
		req.Labels = map[string]string{}
	}
	now := s.eng.now()
	j := &job{
		ID:             uuid.NewString(),
		IdempotencyKey: key,
		Fingerprint:    fingerprint(req.MediaURL, analyses, req.CallbackURL, req.Labels),
		MediaURL:       req.MediaURL,
		MediaToken:     secret.String(req.MediaToken),
		Analyses:       analyses,
		CallbackURL:    req.CallbackURL,
		Labels:         req.Labels,
		Status:         provider.StateQueued,
		FetchState:     fetchPending,
		States:         initialStates(analyses, provider.StateQueued),
		CreatedAt:      now,
		UpdatedAt:      now,
	}
	if s.eng.ctx.Err() != nil {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "mlengine is shutting down", true)
		return
	}
	got, created, err := s.eng.store.create(r.Context(), j, s.cfg.QueueLimit)
	switch {
	case errors.Is(err, errQueueFull):
		w.Header().Set("Retry-After", retryAfterSeconds(s.cfg.QueueRetryAfter))
		writeError(w, http.StatusTooManyRequests, CodeQueueFull, fmt.Sprintf("the queue is full (%d jobs waiting); try again later", s.cfg.QueueLimit), true)
		return
	case errors.Is(err, errIdempotencyConflict):
		writeError(w, http.StatusConflict, CodeIdempotencyConflict,
			"Idempotency-Key was already used for a different request (job "+got.ID+")", false)
		return
	case err != nil:
		s.log.Error("creating a job failed", "error", err)
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "could not store the job", true)
		return
	}
	w.Header().Set("Location", "/v1/jobs/"+got.ID)
	status := http.StatusOK
	if created {
		status = http.StatusAccepted
		s.log.Info("job submitted", "job_id", got.ID, "analyses", got.Analyses, "media_url", redactURL(got.MediaURL),
			"callback", got.CallbackURL != "", "labels", got.Labels)
		poke(s.eng.fetchWake)
	}
	writeJSON(w, status, mlengineapi.SubmitResponse{ID: got.ID, Status: got.Status})
}

// jsonProblem describes a decoding error without echoing the body.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("JSON syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be %s", te.Field, te.Type)
	case errors.Is(err, io.EOF):
		return "empty body"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	default:
		return "malformed JSON"
	}
}

func (s *Server) jobOr404(w http.ResponseWriter, r *http.Request) (*job, bool) {
	id := r.PathValue("id")
	j, err := s.eng.view(r.Context(), id)
	if errors.Is(err, errNotFound) {
		writeError(w, http.StatusNotFound, CodeNotFound, "no job with id "+strconv.Quote(id), false)
		return nil, false
	}
	if err != nil {
		s.log.Error("reading a job failed", "job_id", id, "error", err)
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "could not read the job", true)
		return nil, false
	}
	return j, true
}

func toAPIJob(j *job) mlengineapi.Job {
	out := mlengineapi.Job{
		ID: j.ID, Status: j.Status, Progress: j.Progress, MediaFetched: j.MediaFetched,
		Analyses: j.States, Error: j.Error, Labels: j.Labels,
		IdempotencyKey: j.IdempotencyKey, Submissions: j.Submissions,
		CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt,
	}
	if len(j.AnalysisErrors) > 0 {
		out.AnalysisErrors = j.AnalysisErrors
	}
	if out.Analyses == nil {
		out.Analyses = map[string]provider.State{}
	}
	if !j.ResultDeletedAt.IsZero() {
		t := j.ResultDeletedAt
		out.ResultDeletedAt = &t
	}
	return out
}

func (s *Server) writeJob(w http.ResponseWriter, status int, j *job) {
	if !j.Status.Terminal() {
		w.Header().Set("Retry-After", retryAfterSeconds(s.cfg.PollRetryAfter))
	}
	writeJSON(w, status, toAPIJob(j))
}

// listJobs pages through every job in submission order (GET /v1/jobs?
// status=&limit=&after=), as cloud job APIs list theirs.
func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, CodeInvalidRequest, "limit must be a number from 1 to 1000", false)
			return
		}
		limit = n
	}
	var after int64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, CodeInvalidRequest, "after must be the next cursor of a previous page", false)
			return
		}
		after = n
	}
	status := provider.State(q.Get("status"))
	switch status {
	case "", provider.StateQueued, provider.StateRunning, provider.StateSucceeded, provider.StateFailed, provider.StateCanceled:
	default:
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, "status must be queued, running, succeeded, failed or canceled", false)
		return
	}
	jobs, err := s.eng.store.page(r.Context(), after, status, limit)
	if err != nil {
		s.log.Error("listing jobs failed", "error", err)
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "could not list the jobs", true)
		return
	}
	open, maxOpen, err := s.eng.store.openStats(r.Context())
	if err != nil {
		s.log.Error("counting open jobs failed", "error", err)
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "could not list the jobs", true)
		return
	}
	out := mlengineapi.JobList{Jobs: make([]mlengineapi.Job, 0, len(jobs)), Open: open, MaxOpen: maxOpen}
	for _, j := range jobs {
		out.Jobs = append(out.Jobs, toAPIJob(j))
	}
	if len(jobs) == limit {
		out.Next = strconv.FormatInt(jobs[len(jobs)-1].Seq, 10)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	if j, ok := s.jobOr404(w, r); ok {
		s.writeJob(w, http.StatusOK, j)
	}
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	j, err := s.eng.cancel(r.Context(), id)
	switch {
	case errors.Is(err, errNotFound):
		writeError(w, http.StatusNotFound, CodeNotFound, "no job with id "+strconv.Quote(id), false)
	case errors.Is(err, errCancelPending):
		// Still stopping: 202, poll GET until it is canceled.
		s.writeJob(w, http.StatusAccepted, j)
	case err != nil:
		s.log.Error("canceling a job failed", "job_id", id, "error", err)
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "could not cancel the job", true)
	default:
		s.writeJob(w, http.StatusOK, j)
	}
}

func (s *Server) result(w http.ResponseWriter, r *http.Request) {
	j, ok := s.jobOr404(w, r)
	if !ok {
		return
	}
	switch j.Status {
	case provider.StateSucceeded:
		if !j.ResultDeletedAt.IsZero() {
			writeResultDeleted(w, j)
			return
		}
	case provider.StateQueued, provider.StateRunning:
		w.Header().Set("Retry-After", retryAfterSeconds(s.cfg.PollRetryAfter))
		writeError(w, http.StatusConflict, CodeNotFinished, "job "+j.ID+" is "+string(j.Status)+"; the result exists once it has succeeded", true)
		return
	default:
		writeError(w, http.StatusConflict, CodeNoResult, "job "+j.ID+" is "+string(j.Status)+" and has no result", false)
		return
	}
	f, err := os.Open(s.eng.resultPath(j.ID))
	if err != nil {
		s.log.Error("opening a result failed", "job_id", j.ID, "error", err)
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "could not read the result", true)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "could not read the result", true)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	http.ServeContent(w, r, "", st.ModTime(), f)
}

// writeResultDeleted answers a request for a result or artifact that was deleted.
func writeResultDeleted(w http.ResponseWriter, j *job) {
	writeError(w, http.StatusGone, CodeResultDeleted, "the result of job "+j.ID+" was deleted at "+
		j.ResultDeletedAt.Format(time.RFC3339)+" (on request, or after MLENGINE_RESULT_RETENTION)", false)
}

// deleteResult deletes a finished job's result document and thumbnails
// (DELETE /v1/jobs/{id}/result): 204, also when there is nothing (left) to
// delete; 409 while the job runs (cancel it with DELETE /v1/jobs/{id}).
func (s *Server) deleteResult(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	j, err := s.eng.deleteResult(r.Context(), id, "requested")
	switch {
	case errors.Is(err, errNotFound):
		writeError(w, http.StatusNotFound, CodeNotFound, "no job with id "+strconv.Quote(id), false)
	case errors.Is(err, errNotFinished):
		w.Header().Set("Retry-After", retryAfterSeconds(s.cfg.PollRetryAfter))
		writeError(w, http.StatusConflict, CodeNotFinished, "job "+j.ID+" is "+string(j.Status)+
			"; its result can be deleted once it has ended (DELETE /v1/jobs/{id} cancels it)", true)
	case err != nil:
		s.log.Error("deleting a result failed", "job_id", id, "error", err)
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "could not delete the result", true)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) artifact(w http.ResponseWriter, r *http.Request) {
	j, ok := s.jobOr404(w, r)
	if !ok {
		return
	}
	if !j.ResultDeletedAt.IsZero() {
		writeResultDeleted(w, j)
		return
	}
	name := r.PathValue("name")
	file, ok := j.Artifacts[name]
	if !ok {
		writeError(w, http.StatusNotFound, CodeNotFound, "job "+j.ID+" has no artifact "+strconv.Quote(name), false)
		return
	}
	f, err := os.Open(filepath.Join(s.eng.artifactDir(j.ID), file))
	if err != nil {
		s.log.Error("opening an artifact failed", "job_id", j.ID, "artifact", name, "error", err)
		writeError(w, http.StatusNotFound, CodeNotFound, "artifact "+strconv.Quote(name)+" is not available", false)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "could not read the artifact", true)
		return
	}
	http.ServeContent(w, r, file, st.ModTime(), f)
}

package localbox

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, fn handlerFunc) { mux.Handle(pattern, s.wrap(fn)) }
	api := func(pattern string, fn handlerFunc) { handle(pattern, s.authenticated(false, fn)) }

	mux.HandleFunc("POST /oauth2/token", s.handleToken)
	mux.HandleFunc("POST /oauth2/revoke", s.handleRevoke)

	api("GET /2.0/users/me", s.getMe)

	api("POST /2.0/folders", s.createFolder)
	api("GET /2.0/folders/{id}", s.getFolderInfo)
	api("GET /2.0/folders/{id}/items", s.listFolderItems)

	api("GET /2.0/files/{id}", s.getFileInfo)
	api("PUT /2.0/files/{id}", s.updateFile)
	api("DELETE /2.0/files/{id}", s.deleteFile)
	api("GET /2.0/files/{id}/versions", s.listFileVersions)
	// Box accepts the access_token query parameter on downloads, so that a
	// download URL can be handed to a third party.
	handle("GET /2.0/files/{id}/content", s.authenticated(true, s.download))

	// Uploads live under /api (Box serves them from upload.box.com/api/2.0).
	for _, prefix := range []string{"/api", ""} {
		api("OPTIONS "+prefix+"/2.0/files/content", s.preflightUpload)
		api("POST "+prefix+"/2.0/files/content", s.uploadFile)
		api("POST "+prefix+"/2.0/files/{id}/content", s.uploadVersion)
	}

	api("GET /2.0/files/{id}/metadata", s.listMetadata)
	api("GET /2.0/files/{id}/metadata/{scope}/{template}", s.getMetadataInstance)
	api("POST /2.0/files/{id}/metadata/{scope}/{template}", s.createMetadata)
	api("PUT /2.0/files/{id}/metadata/{scope}/{template}", s.patchMetadata)
	api("DELETE /2.0/files/{id}/metadata/{scope}/{template}", s.deleteMetadata)

	api("GET /2.0/search", s.searchAPI)

	api("GET /2.0/webhooks", s.listWebhooks)
	api("POST /2.0/webhooks", s.createWebhook)
	api("GET /2.0/webhooks/{id}", s.getWebhook)
	api("PUT /2.0/webhooks/{id}", s.updateWebhook)
	api("DELETE /2.0/webhooks/{id}", s.deleteWebhook)

	admin := func(pattern string, fn handlerFunc) { handle(pattern, s.adminOnly(fn)) }
	admin("GET /_localbox/tokens", s.adminTokens)
	admin("GET /_localbox/webhook-deliveries", s.adminDeliveries)
	admin("GET /_localbox/webhook-events", s.adminEvents)
	admin("GET /_localbox/faults", s.adminGetFaults)
	admin("PUT /_localbox/faults", s.adminPutFaults)
	admin("DELETE /_localbox/faults", s.adminDeleteFaults)
	admin("/_localbox/", func(http.ResponseWriter, *http.Request) error { return notFound("admin endpoint") })

	s.consoleRoutes(mux)

	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.store.r.PingContext(r.Context()); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})

	// Everything else: 405 if the path exists with another method, else 404,
	// both in Box's error envelope.
	mux.Handle("/", s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		var allowed []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pat := mux.Handler(probe); pat != "/" && pat != "" {
				allowed = append(allowed, m)
			}
		}
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			return errf(http.StatusMethodNotAllowed, "method_not_allowed", "Method %s is not allowed on %s", r.Method, r.URL.Path)
		}
		return errf(http.StatusNotFound, "not_found", "Not Found: no endpoint at %s", r.URL.Path)
	}))

	return s.observe(s.injectFaults(mux))
}

// wrap turns a handlerFunc into an http.Handler answering errors with
// Box's envelope.
func (s *Server) wrap(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				err = errf(http.StatusRequestEntityTooLarge, "request_entity_too_large", "The request body is larger than %d bytes", mbe.Limit)
			}
			writeError(w, r, s.log, err)
		}
	})
}

// observe assigns the request ID and logs every request. The query string
// is never logged: it may hold an access_token.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := newRequestID()
		w.Header().Set("box-request-id", id)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), ctxRequestID, id)))
		level := slog.LevelInfo
		switch {
		case rec.status >= 500:
			level = slog.LevelWarn
		case rec.status < 400 && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			level = slog.LevelDebug
		}
		s.log.Log(r.Context(), level, "http request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"bytes", rec.bytes, "duration_ms", time.Since(start).Milliseconds(), "request_id", id)
	})
}

// statusRecorder remembers the status and size of a response. It passes
// io.ReaderFrom through so file downloads keep using sendfile.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *statusRecorder) ReadFrom(src io.Reader) (int64, error) {
	r.wroteHeader = true
	n, err := io.Copy(r.ResponseWriter, src)
	r.bytes += n
	return n, err
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(r.ResponseWriter).Hijack()
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

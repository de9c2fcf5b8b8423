package localbox

import (
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Helpers the handlers share to read requests and answer them.

// itemRef is {"id": "..."} as Box takes it for parents and targets.
type itemRef struct {
	ID     string `json:"id"`
	Type   string `json:"type,omitempty"`
	UserID string `json:"user_id,omitempty"`
}

// decodeJSON reads a JSON request body strictly: the content type must be
// JSON (or absent), the size is bounded, and unknown fields are refused.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return errf(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json, not %q", ct)
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.cfg.MaxJSONBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return badRequest("The request body is empty; a JSON object is required")
		}
		return badRequest("Invalid JSON body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return badRequest("Invalid JSON body: unexpected data after the JSON value")
	}
	return nil
}

func parseBoxTime(field, v string) (int64, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return 0, badRequest("%s must be an RFC 3339 date-time, got %q", field, v)
	}
	return millis(t), nil
}

// checkIfMatch answers 412 when the If-Match header names another etag.
func checkIfMatch(r *http.Request, etag int64) error {
	im := strings.Trim(strings.TrimSpace(r.Header.Get("If-Match")), `"`)
	if im == "" || im == "*" || im == idString(etag) {
		return nil
	}
	return errf(http.StatusPreconditionFailed, "precondition_failed", "The resource has been modified (etag %s, If-Match %s)", idString(etag), im)
}

// respondTx runs fn in a write transaction and answers status with the JSON
// object fn renders. An error from fn rolls the transaction back and is
// returned for the handler's error path; nothing is written then.
func (s *Server) respondTx(w http.ResponseWriter, r *http.Request, status int, fn func(tx *sql.Tx) (map[string]any, error)) error {
	var out map[string]any
	err := s.store.tx(r.Context(), func(tx *sql.Tx) error {
		var err error
		out, err = fn(tx)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, status, out)
	return nil
}

// pageParams parses offset and limit (Box: limit ≤ maxLimit).
func pageParams(r *http.Request, defLimit, maxLimit int) (offset, limit int, err error) {
	q := r.URL.Query()
	offset, limit = 0, defLimit
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return 0, 0, badRequest("offset must be a non-negative integer")
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 0 {
			return 0, 0, badRequest("limit must be a non-negative integer")
		}
		limit = min(limit, maxLimit)
	}
	return offset, limit, nil
}

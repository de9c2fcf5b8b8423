package localbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strings"

	"github.com/google/uuid"

	"filesight/internal/box"
	"filesight/internal/jsonpatch"
)

type metaRow struct {
	Scope      string
	Template   string
	InstanceID string
	TypeID     string
	Version    int64
	Doc        string
	CreatedAt  int64
	ModifiedAt int64
}

func getMetadata(ctx context.Context, q querier, fileID int64, scope, tmpl string) (*metaRow, error) {
	m := &metaRow{Scope: scope, Template: tmpl}
	err := q.QueryRowContext(ctx, `SELECT instance_id, type_id, version, doc, created_at, modified_at FROM metadata
		WHERE file_id = ? AND scope = ? AND template = ?`, fileID, scope, tmpl).
		Scan(&m.InstanceID, &m.TypeID, &m.Version, &m.Doc, &m.CreatedAt, &m.ModifiedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errf(http.StatusNotFound, "instance_not_found", "Instance of %s.%s not found on file %d", scope, tmpl, fileID)
	}
	if err != nil {
		return nil, fmt.Errorf("reading metadata: %w", err)
	}
	return m, nil
}

// metadataJSON renders an instance: its data plus Box's $-members.
func (s *Server) metadataJSON(fileID int64, m *metaRow) (map[string]any, error) {
	v, err := jsonpatch.DecodeValue([]byte(m.Doc))
	if err != nil {
		return nil, fmt.Errorf("decoding stored metadata: %w", err)
	}
	out, _ := v.(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	out["$id"] = m.InstanceID
	out["$type"] = m.Template + "-" + m.TypeID
	out["$parent"] = "file_" + idString(fileID)
	out["$scope"] = m.Scope
	out["$template"] = m.Template
	out["$version"] = m.Version
	out["$typeVersion"] = 0
	out["$canEdit"] = true
	return out, nil
}

// normalizeScope turns "enterprise" into "enterprise_<id>", as Box reports it.
func (s *Server) normalizeScope(scope string) string {
	if scope == "enterprise" {
		return "enterprise_" + s.cfg.EnterpriseID
	}
	return scope
}

var templateKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// metadataTarget parses and authorizes /files/{id}/metadata/{scope}/{template}.
func (s *Server) metadataTarget(r *http.Request, act action) (fileID int64, scope, tmpl string, err error) {
	if fileID, err = parseID(r.PathValue("id"), "file "+r.PathValue("id")); err != nil {
		return 0, "", "", err
	}
	if err := principalFrom(r.Context()).authorize(act, "file", fileID); err != nil {
		return 0, "", "", err
	}
	if _, err := getFile(r.Context(), s.store.r, fileID); err != nil {
		return 0, "", "", err
	}
	scope, tmpl = s.normalizeScope(r.PathValue("scope")), r.PathValue("template")
	if scope != "global" && scope != "enterprise_"+s.cfg.EnterpriseID {
		return 0, "", "", badRequest("Invalid metadata scope %q: use global, enterprise or enterprise_%s", r.PathValue("scope"), s.cfg.EnterpriseID)
	}
	if !templateKeyRE.MatchString(tmpl) {
		return 0, "", "", badRequest("Invalid metadata template key %q", tmpl)
	}
	return fileID, scope, tmpl, nil
}

// validateInstance checks an instance's data for its template. localbox
// knows two global templates (properties: free key/values; boxSkillsCards:
// skills cards, checked with internal/box's ValidateSkillsCards, the same
// check the client makes before writing); enterprise templates are
// accepted with any data, since localbox has no template registry.
func validateInstance(scope, tmpl string, doc map[string]any) error {
	for k := range doc {
		if strings.HasPrefix(k, "$") {
			return errf(http.StatusBadRequest, "schema_validation_failed", "Member %q is reserved (members starting with $ are set by Box)", k)
		}
	}
	if scope != "global" {
		return nil
	}
	switch tmpl {
	case "properties":
		for k, v := range doc {
			if _, ok := v.(map[string]any); ok {
				return errf(http.StatusBadRequest, "schema_validation_failed", "global.properties values must not be objects (key %q)", k)
			}
		}
		return nil
	case "boxSkillsCards":
		raw, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("encoding metadata: %w", err)
		}
		if err := box.ValidateSkillsCards(raw); err != nil {
			return errf(http.StatusBadRequest, "schema_validation_failed", "%v", err)
		}
		return nil
	}
	return errf(http.StatusNotFound, "instance_tuple_not_found", "Template global.%s not found (localbox knows global.properties and global.boxSkillsCards)", tmpl)
}

func (s *Server) readJSONObject(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return nil, errf(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json, not %q", ct)
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxJSONBytes))
	if err != nil {
		return nil, err
	}
	v, err := jsonpatch.DecodeValue(body)
	if err != nil {
		return nil, badRequest("Invalid JSON body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("The body must be a JSON object")
	}
	return doc, nil
}

func (s *Server) createMetadata(w http.ResponseWriter, r *http.Request) error {
	fileID, scope, tmpl, err := s.metadataTarget(r, actWrite)
	if err != nil {
		return err
	}
	doc, err := s.readJSONObject(w, r)
	if err != nil {
		return err
	}
	if err := validateInstance(scope, tmpl, doc); err != nil {
		return err
	}
	enc, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encoding metadata: %w", err)
	}
	return s.respondTx(w, r, http.StatusCreated, func(tx *sql.Tx) (map[string]any, error) {
		if _, err := getFile(r.Context(), tx, fileID); err != nil {
			return nil, err
		}
		if _, err := getMetadata(r.Context(), tx, fileID, scope, tmpl); err == nil {
			return nil, errf(http.StatusConflict, "tuple_already_exists", "Conflict: an instance of %s.%s already exists on file %d", scope, tmpl, fileID)
		} else if !isNotFound(err) {
			return nil, err
		}
		now := millis(s.now())
		m := &metaRow{Scope: scope, Template: tmpl, InstanceID: uuid.NewString(), TypeID: uuid.NewString(), Doc: string(enc), CreatedAt: now, ModifiedAt: now}
		if _, err := tx.ExecContext(r.Context(), `INSERT INTO metadata(file_id, scope, template, instance_id, type_id, version, doc, created_at, modified_at)
			VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)`, fileID, scope, tmpl, m.InstanceID, m.TypeID, m.Doc, now, now); err != nil {
			return nil, fmt.Errorf("inserting metadata: %w", err)
		}
		return s.metadataJSON(fileID, m)
	})
}

func (s *Server) getMetadataInstance(w http.ResponseWriter, r *http.Request) error {
	fileID, scope, tmpl, err := s.metadataTarget(r, actRead)
	if err != nil {
		return err
	}
	m, err := getMetadata(r.Context(), s.store.r, fileID, scope, tmpl)
	if err != nil {
		return err
	}
	out, err := s.metadataJSON(fileID, m)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) listMetadata(w http.ResponseWriter, r *http.Request) error {
	f, err := s.fileFromPath(r, actRead)
	if err != nil {
		return err
	}
	rows, err := s.store.r.QueryContext(r.Context(), `SELECT scope, template, instance_id, type_id, version, doc, created_at, modified_at
		FROM metadata WHERE file_id = ? ORDER BY scope, template`, f.ID)
	if err != nil {
		return fmt.Errorf("listing metadata: %w", err)
	}
	defer rows.Close()
	entries := []any{}
	for rows.Next() {
		var m metaRow
		if err := rows.Scan(&m.Scope, &m.Template, &m.InstanceID, &m.TypeID, &m.Version, &m.Doc, &m.CreatedAt, &m.ModifiedAt); err != nil {
			return err
		}
		v, err := s.metadataJSON(f.ID, &m)
		if err != nil {
			return err
		}
		entries = append(entries, v)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries, "limit": 100, "total_count": len(entries)})
	return nil
}

func (s *Server) patchMetadata(w http.ResponseWriter, r *http.Request) error {
	fileID, scope, tmpl, err := s.metadataTarget(r, actWrite)
	if err != nil {
		return err
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json-patch+json" {
		return errf(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"Content-Type must be application/json-patch+json (an RFC 6902 JSON Patch), not %q", r.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxJSONBytes))
	if err != nil {
		return err
	}
	patch, err := jsonpatch.Parse(body)
	if err != nil {
		return badRequest("Invalid JSON Patch: %v", err)
	}
	return s.respondTx(w, r, http.StatusOK, func(tx *sql.Tx) (map[string]any, error) {
		m, err := getMetadata(r.Context(), tx, fileID, scope, tmpl)
		if err != nil {
			return nil, err
		}
		doc, err := jsonpatch.DecodeValue([]byte(m.Doc))
		if err != nil {
			return nil, fmt.Errorf("decoding stored metadata: %w", err)
		}
		res, err := patch.ApplyWithin(doc, jsonpatch.Limits{MaxBytes: s.cfg.MaxJSONBytes})
		if errors.Is(err, jsonpatch.ErrTooLarge) {
			return nil, errf(http.StatusRequestEntityTooLarge, "request_entity_too_large",
				"JSON Patch not applied (no change made): %v (LOCALBOX_MAX_JSON_BYTES)", err)
		}
		if err != nil {
			return nil, badRequest("JSON Patch not applied (no change made): %v", err)
		}
		obj, ok := res.(map[string]any)
		if !ok {
			return nil, badRequest("JSON Patch not applied (no change made): the result must be a JSON object")
		}
		if err := validateInstance(scope, tmpl, obj); err != nil {
			return nil, err
		}
		enc, err := json.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("encoding metadata: %w", err)
		}
		if n := int64(len(enc)); n > s.cfg.MaxJSONBytes && n > int64(len(m.Doc)) {
			return nil, errf(http.StatusRequestEntityTooLarge, "request_entity_too_large",
				"JSON Patch not applied (no change made): the document would grow past %d bytes (LOCALBOX_MAX_JSON_BYTES)", s.cfg.MaxJSONBytes)
		}
		m.Doc, m.Version, m.ModifiedAt = string(enc), m.Version+1, millis(s.now())
		if _, err := tx.ExecContext(r.Context(), `UPDATE metadata SET doc = ?, version = ?, modified_at = ? WHERE file_id = ? AND scope = ? AND template = ?`,
			m.Doc, m.Version, m.ModifiedAt, fileID, scope, tmpl); err != nil {
			return nil, fmt.Errorf("updating metadata: %w", err)
		}
		return s.metadataJSON(fileID, m)
	})
}

func (s *Server) deleteMetadata(w http.ResponseWriter, r *http.Request) error {
	fileID, scope, tmpl, err := s.metadataTarget(r, actWrite)
	if err != nil {
		return err
	}
	res, err := s.store.w.ExecContext(r.Context(), `DELETE FROM metadata WHERE file_id = ? AND scope = ? AND template = ?`, fileID, scope, tmpl)
	if err != nil {
		return fmt.Errorf("deleting metadata: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errf(http.StatusNotFound, "instance_not_found", "Instance of %s.%s not found on file %d", scope, tmpl, fileID)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

package localbox

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Files: info, update, delete, versions and downloads under
// /2.0/files/{id}.

func (s *Server) fileFromPath(r *http.Request, act action) (*fileRow, error) {
	id, err := parseID(r.PathValue("id"), "file "+r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if err := principalFrom(r.Context()).authorize(act, "file", id); err != nil {
		return nil, err
	}
	return getFile(r.Context(), s.store.r, id)
}

func (s *Server) getFileInfo(w http.ResponseWriter, r *http.Request) error {
	f, err := s.fileFromPath(r, actRead)
	if err != nil {
		return err
	}
	if inm := strings.Trim(r.Header.Get("If-None-Match"), `"`); inm != "" && inm == idString(f.Etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	out, err := s.fileJSON(r.Context(), s.store.r, f, parseFields(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type fileUpdateRequest struct {
	Name          *string         `json:"name"`
	Description   *string         `json:"description"`
	Parent        *itemRef        `json:"parent"`
	SharedLink    json.RawMessage `json:"shared_link"`
	Lock          json.RawMessage `json:"lock"`
	DispositionAt json.RawMessage `json:"disposition_at"`
	Permissions   json.RawMessage `json:"permissions"`
	Collections   json.RawMessage `json:"collections"`
	Tags          json.RawMessage `json:"tags"`
}

func (s *Server) updateFile(w http.ResponseWriter, r *http.Request) error {
	f, err := s.fileFromPath(r, actWrite)
	if err != nil {
		return err
	}
	var req fileUpdateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	for name, v := range map[string]json.RawMessage{"shared_link": req.SharedLink, "lock": req.Lock,
		"disposition_at": req.DispositionAt, "permissions": req.Permissions, "collections": req.Collections, "tags": req.Tags} {
		if len(v) > 0 {
			return badRequest("Updating %s is not supported by localbox", name)
		}
	}
	if req.Description != nil && len([]rune(*req.Description)) > 256 {
		return badRequest("description is longer than 256 characters")
	}
	if req.Name != nil {
		if err := validateName(*req.Name); err != nil {
			return err
		}
	}
	newParent := f.ParentID
	if req.Parent != nil {
		if newParent, err = parseID(req.Parent.ID, "folder "+req.Parent.ID); err != nil {
			return err
		}
		if newParent != f.ParentID {
			if err := principalFrom(r.Context()).authorize(actWrite, "folder", newParent); err != nil {
				return err
			}
		}
	}
	return s.respondTx(w, r, http.StatusOK, func(tx *sql.Tx) (map[string]any, error) {
		cur, err := fileForUpdate(r, tx, f.ID)
		if err != nil {
			return nil, err
		}
		name, desc := cur.Name, cur.Description
		if req.Name != nil {
			name = *req.Name
		}
		if req.Description != nil {
			desc = *req.Description
		}
		if _, err := getFolder(r.Context(), tx, newParent); err != nil {
			return nil, err
		}
		if name != cur.Name || newParent != cur.ParentID {
			if err := nameConflict(r.Context(), tx, newParent, name, cur.ID); err != nil {
				return nil, err
			}
		}
		if _, err := tx.ExecContext(r.Context(), `UPDATE files SET name = ?, name_key = ?, description = ?, parent_id = ?, etag = etag + 1, modified_at = ? WHERE id = ?`,
			name, nameKey(name), desc, newParent, millis(s.now()), cur.ID); err != nil {
			return nil, fmt.Errorf("updating file: %w", err)
		}
		if cur, err = getFile(r.Context(), tx, f.ID); err != nil {
			return nil, err
		}
		return s.fileJSON(r.Context(), tx, cur, parseFields(r))
	})
}

func (s *Server) deleteFile(w http.ResponseWriter, r *http.Request) error {
	f, err := s.fileFromPath(r, actDelete)
	if err != nil {
		return err
	}
	var versions []versionRow
	err = s.store.tx(r.Context(), func(tx *sql.Tx) error {
		if _, err := fileForUpdate(r, tx, f.ID); err != nil {
			return err
		}
		var err error
		if versions, err = listVersions(r.Context(), tx, f.ID); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM metadata WHERE file_id = ?`, `DELETE FROM file_versions WHERE file_id = ?`, `DELETE FROM files WHERE id = ?`} {
			if _, err := tx.ExecContext(r.Context(), q, f.ID); err != nil {
				return fmt.Errorf("deleting file: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, v := range versions {
		if err := s.blobs.remove(v.ID); err != nil {
			s.log.Warn("removing blob failed; it will be swept at the next start", "version_id", v.ID, "error", err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func versionJSON(v *versionRow, u user) map[string]any {
	return map[string]any{
		"type": "file_version", "id": idString(v.ID), "sha1": v.SHA1, "name": v.Name, "size": v.Size,
		"created_at": boxTime(v.CreatedAt), "modified_at": boxTime(v.CreatedAt), "modified_by": u.mini(),
		"trashed_at": nil, "trashed_by": nil, "restored_at": nil, "restored_by": nil, "purged_at": nil,
		"uploader_display_name": u.Name,
	}
}

// listFileVersions lists the previous versions (Box leaves out the current one).
func (s *Server) listFileVersions(w http.ResponseWriter, r *http.Request) error {
	f, err := s.fileFromPath(r, actRead)
	if err != nil {
		return err
	}
	offset, limit, err := pageParams(r, 1000, 1000)
	if err != nil {
		return err
	}
	all, err := listVersions(r.Context(), s.store.r, f.ID)
	if err != nil {
		return err
	}
	var prev []any
	for i := range all {
		if all[i].ID != f.VersionID {
			prev = append(prev, versionJSON(&all[i], s.user))
		}
	}
	total := len(prev)
	page := prev[min(offset, total):min(offset+limit, total)]
	writeJSON(w, http.StatusOK, map[string]any{"total_count": total, "entries": append([]any{}, page...), "offset": offset, "limit": limit})
	return nil
}

func (s *Server) download(w http.ResponseWriter, r *http.Request) error {
	f, err := s.fileFromPath(r, actDownload)
	if err != nil {
		return err
	}
	vid, sha, name := f.VersionID, f.SHA1, f.Name
	if v := r.URL.Query().Get("version"); v != "" {
		id, err := parseID(v, "file version "+v)
		if err != nil {
			return err
		}
		ver, err := getVersion(r.Context(), s.store.r, f.ID, id)
		if err != nil {
			return err
		}
		vid, sha = ver.ID, ver.SHA1
	}
	blob, err := s.blobs.open(vid)
	if err != nil {
		return fmt.Errorf("opening blob of version %d: %w", vid, err)
	}
	defer blob.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", "attachment; filename*=UTF-8''"+url.PathEscape(name))
	h.Set("ETag", `"`+sha+`"`)
	h.Set("Cache-Control", "no-store")
	http.ServeContent(w, r, "", time.UnixMilli(f.ContentModifiedAt), blob)
	return nil
}

// fileForUpdate re-reads file id inside tx and answers 412 when the
// request's If-Match names another etag.
func fileForUpdate(r *http.Request, tx *sql.Tx, id int64) (*fileRow, error) {
	cur, err := getFile(r.Context(), tx, id)
	if err != nil {
		return nil, err
	}
	if err := checkIfMatch(r, cur.Etag); err != nil {
		return nil, err
	}
	return cur, nil
}

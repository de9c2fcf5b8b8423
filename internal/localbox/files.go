package localbox

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

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

func (s *Server) getMe(w http.ResponseWriter, r *http.Request) error {
	u := s.user.mini()
	u["status"] = "active"
	u["language"] = "en"
	u["timezone"] = "UTC"
	u["space_amount"] = 999999999999999
	u["max_upload_size"] = s.cfg.MaxUploadBytes
	u["enterprise"] = map[string]any{"type": "enterprise", "id": s.cfg.EnterpriseID, "name": "localbox"}
	writeJSON(w, http.StatusOK, u)
	return nil
}

// --- folders ---

type folderCreateRequest struct {
	Name              *string         `json:"name"`
	Parent            *itemRef        `json:"parent"`
	FolderUploadEmail json.RawMessage `json:"folder_upload_email"`
	SyncState         string          `json:"sync_state"`
}

func (s *Server) createFolder(w http.ResponseWriter, r *http.Request) error {
	var req folderCreateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Name == nil || req.Parent == nil || req.Parent.ID == "" {
		return badRequest("name and parent.id are required")
	}
	if len(req.FolderUploadEmail) > 0 && string(req.FolderUploadEmail) != "null" {
		return badRequest("folder_upload_email is not supported by localbox")
	}
	if err := validateName(*req.Name); err != nil {
		return err
	}
	parentID, err := parseID(req.Parent.ID, "folder "+req.Parent.ID)
	if err != nil {
		return err
	}
	if err := principalFrom(r.Context()).authorize(actWrite, "folder", parentID); err != nil {
		return err
	}
	return s.respondTx(w, r, http.StatusCreated, func(tx *sql.Tx) (map[string]any, error) {
		if _, err := getFolder(r.Context(), tx, parentID); err != nil {
			return nil, err
		}
		if err := nameConflict(r.Context(), tx, parentID, *req.Name, 0); err != nil {
			return nil, err
		}
		id, err := insertFolder(r.Context(), tx, parentID, *req.Name, millis(s.now()))
		if err != nil {
			return nil, err
		}
		f, err := getFolder(r.Context(), tx, id)
		if err != nil {
			return nil, err
		}
		return s.folderJSON(r.Context(), tx, f, parseFields(r))
	})
}

func (s *Server) getFolderInfo(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r.PathValue("id"), "folder "+r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := principalFrom(r.Context()).authorize(actRead, "folder", id); err != nil {
		return err
	}
	f, err := getFolder(r.Context(), s.store.r, id)
	if err != nil {
		return err
	}
	out, err := s.folderJSON(r.Context(), s.store.r, f, parseFields(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
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

func (s *Server) listFolderItems(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r.PathValue("id"), "folder "+r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := principalFrom(r.Context()).authorize(actRead, "folder", id); err != nil {
		return err
	}
	offset, limit, err := pageParams(r, 100, 1000)
	if err != nil {
		return err
	}
	if _, err := getFolder(r.Context(), s.store.r, id); err != nil {
		return err
	}
	out, err := s.itemCollection(r.Context(), s.store.r, id, offset, limit, parseFields(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// --- files ---

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
			s.log.Warn("removing blob failed; it will be swept at the next start", "version_id", v.ID, "err", err)
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

// --- uploads ---

type uploadAttributes struct {
	Name              *string  `json:"name"`
	Parent            *itemRef `json:"parent"`
	ContentCreatedAt  *string  `json:"content_created_at"`
	ContentModifiedAt *string  `json:"content_modified_at"`
}

type preflightRequest struct {
	Name   *string  `json:"name"`
	Size   *int64   `json:"size"`
	Parent *itemRef `json:"parent"`
}

func (s *Server) preflightUpload(w http.ResponseWriter, r *http.Request) error {
	var req preflightRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Name == nil || req.Parent == nil {
		return badRequest("name and parent.id are required")
	}
	if _, err := s.checkNewFile(r, *req.Name, req.Parent.ID); err != nil {
		return err
	}
	if req.Size != nil && *req.Size > s.cfg.MaxUploadBytes {
		return errf(http.StatusConflict, "file_size_limit_exceeded", "File size %d exceeds the limit of %d bytes", *req.Size, s.cfg.MaxUploadBytes)
	}
	writeJSON(w, http.StatusOK, map[string]any{"upload_url": s.cfg.PublicURL + "/api/2.0/files/content", "upload_token": nil})
	return nil
}

// checkNewFile validates a new file's name and parent and the caller's right
// to write there, before any content is read.
func (s *Server) checkNewFile(r *http.Request, name, parent string) (int64, error) {
	if err := validateName(name); err != nil {
		return 0, err
	}
	parentID, err := parseID(parent, "folder "+parent)
	if err != nil {
		return 0, err
	}
	if err := principalFrom(r.Context()).authorize(actWrite, "folder", parentID); err != nil {
		return 0, err
	}
	if _, err := getFolder(r.Context(), s.store.r, parentID); err != nil {
		return 0, err
	}
	return parentID, nameConflict(r.Context(), s.store.r, parentID, name, 0)
}

// readUpload reads a Box upload body: a JSON "attributes" part, decoded into
// attrs and checked by check before any content is read, then a "file"
// part streamed to a staged blob. With attrsOptional, a missing attributes
// part is allowed (new versions). The staged blob is the caller's to commit
// or discard.
func (s *Server) readUpload(w http.ResponseWriter, r *http.Request, attrs any, attrsOptional bool, check func() error) (*stagedBlob, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, errf(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"Uploads must be multipart/form-data with an attributes part and a file part")
	}
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxUploadBytes+1<<20)
	mr := multipart.NewReader(body, params["boundary"])
	var (
		staged    *stagedBlob
		seenAttrs bool
	)
	fail := func(err error) (*stagedBlob, error) {
		staged.discard()
		return nil, err
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(multipartErr(err))
		}
		switch part.FormName() {
		case "attributes":
			if seenAttrs || staged != nil {
				return fail(errf(http.StatusBadRequest, "metadata_after_file_contents", "The attributes part must come once, before the file part"))
			}
			seenAttrs = true
			raw, err := io.ReadAll(io.LimitReader(part, 64<<10+1))
			if err != nil {
				return fail(multipartErr(err))
			}
			if len(raw) > 64<<10 {
				return fail(badRequest("The attributes part is larger than 64 KiB"))
			}
			dec := json.NewDecoder(strings.NewReader(string(raw)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(attrs); err != nil || dec.More() {
				msg := "trailing data"
				if err != nil {
					msg = strings.TrimPrefix(err.Error(), "json: ")
				}
				return fail(badRequest("Invalid attributes JSON: %s", msg))
			}
			if err := check(); err != nil {
				return fail(err)
			}
		case "file":
			if staged != nil {
				return fail(badRequest("More than one file part"))
			}
			if !seenAttrs {
				if !attrsOptional {
					return fail(errf(http.StatusBadRequest, "metadata_after_file_contents", "The attributes part must come before the file part"))
				}
				seenAttrs = true
				if err := check(); err != nil {
					return fail(err)
				}
			}
			staged, err = s.blobs.stage(part, s.cfg.MaxUploadBytes)
			if err != nil {
				if errors.Is(err, errTooLarge) {
					return fail(errf(http.StatusRequestEntityTooLarge, "file_size_limit_exceeded", "The file is larger than the limit of %d bytes", s.cfg.MaxUploadBytes))
				}
				return fail(multipartErr(err))
			}
		default:
			return fail(badRequest("Unexpected multipart part %q (expected attributes and file)", part.FormName()))
		}
	}
	if staged == nil {
		return nil, badRequest("The upload has no file part")
	}
	if want := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-MD5"))); want != "" && want != staged.SHA1 {
		return fail(errf(http.StatusPreconditionFailed, "precondition_failed", "The SHA-1 in the Content-MD5 header does not match the uploaded content"))
	}
	return staged, nil
}

// multipartErr classifies an error met while reading the body.
func multipartErr(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return err
	}
	var se *storageError
	if errors.As(err, &se) {
		return err // a server-side failure: logged, answered 500
	}
	return badRequest("Malformed multipart body: %v", err)
}

func (s *Server) uploadFile(w http.ResponseWriter, r *http.Request) error {
	var (
		attrs    uploadAttributes
		parentID int64
		created  int64
		modified int64
	)
	staged, err := s.readUpload(w, r, &attrs, false, func() error {
		if attrs.Name == nil || attrs.Parent == nil || attrs.Parent.ID == "" {
			return badRequest("attributes.name and attributes.parent.id are required")
		}
		var err error
		if attrs.ContentCreatedAt != nil {
			if created, err = parseBoxTime("content_created_at", *attrs.ContentCreatedAt); err != nil {
				return err
			}
		}
		if attrs.ContentModifiedAt != nil {
			if modified, err = parseBoxTime("content_modified_at", *attrs.ContentModifiedAt); err != nil {
				return err
			}
		}
		parentID, err = s.checkNewFile(r, *attrs.Name, attrs.Parent.ID)
		return err
	})
	if err != nil {
		return err
	}
	defer staged.discard()
	now := millis(s.now())
	if created == 0 {
		created = now
	}
	if modified == 0 {
		modified = now
	}
	return s.commitUpload(w, r, http.StatusCreated, staged, func(tx *sql.Tx) (int64, int64, error) {
		if _, err := getFolder(r.Context(), tx, parentID); err != nil {
			return 0, 0, err
		}
		if err := nameConflict(r.Context(), tx, parentID, *attrs.Name, 0); err != nil {
			return 0, 0, err
		}
		res, err := tx.ExecContext(r.Context(), `INSERT INTO files(parent_id, name, name_key, version_id, created_at, modified_at, content_created_at, content_modified_at)
			VALUES (?, ?, ?, 0, ?, ?, ?, ?)`, parentID, *attrs.Name, nameKey(*attrs.Name), now, now, created, modified)
		if err != nil {
			return 0, 0, fmt.Errorf("inserting file: %w", err)
		}
		fileID, err := res.LastInsertId()
		if err != nil {
			return 0, 0, err
		}
		vid, err := insertVersion(r.Context(), tx, fileID, staged.SHA1, staged.Size, *attrs.Name, now)
		if err != nil {
			return 0, 0, err
		}
		if _, err := tx.ExecContext(r.Context(), `UPDATE files SET version_id = ? WHERE id = ?`, vid, fileID); err != nil {
			return 0, 0, fmt.Errorf("linking version: %w", err)
		}
		return fileID, vid, nil
	})
}

// afterUpload renders the uploaded file and queues its FILE.UPLOADED events,
// inside the upload's transaction.
func (s *Server) afterUpload(r *http.Request, tx *sql.Tx, fileID int64) (map[string]any, error) {
	f, err := getFile(r.Context(), tx, fileID)
	if err != nil {
		return nil, err
	}
	full, err := s.fileJSON(r.Context(), tx, f, nil)
	if err != nil {
		return nil, err
	}
	if err := s.enqueueFileEvent(r.Context(), tx, f, "FILE.UPLOADED", full); err != nil {
		return nil, err
	}
	if fields := parseFields(r); fields != nil {
		return s.fileJSON(r.Context(), tx, f, fields)
	}
	return full, nil
}

// commitUpload runs store in a write transaction; store writes the file and
// version rows and returns their ids. In the same transaction the staged
// blob is committed as that version and the FILE.UPLOADED events are
// queued; if the transaction fails, the committed blob is removed again. On
// success the outbox is woken and the file is answered with status as a
// one-entry collection, as Box does for uploads.
func (s *Server) commitUpload(w http.ResponseWriter, r *http.Request, status int, staged *stagedBlob, store func(tx *sql.Tx) (fileID, versionID int64, err error)) error {
	var (
		out       map[string]any
		committed int64
	)
	err := s.store.tx(r.Context(), func(tx *sql.Tx) error {
		fileID, vid, err := store(tx)
		if err != nil {
			return err
		}
		if _, err := s.blobs.commit(staged, vid); err != nil {
			return err
		}
		committed = vid
		out, err = s.afterUpload(r, tx, fileID)
		return err
	})
	if err != nil {
		if committed != 0 {
			_ = s.blobs.remove(committed)
		}
		return err
	}
	s.outbox.notify()
	writeJSON(w, status, map[string]any{"total_count": 1, "entries": []any{out}})
	return nil
}

type versionAttributes struct {
	Name              *string `json:"name"`
	ContentModifiedAt *string `json:"content_modified_at"`
}

func (s *Server) uploadVersion(w http.ResponseWriter, r *http.Request) error {
	f, err := s.fileFromPath(r, actWrite)
	if err != nil {
		return err
	}
	if err := checkIfMatch(r, f.Etag); err != nil {
		return err
	}
	var (
		attrs    versionAttributes
		modified int64
	)
	staged, err := s.readUpload(w, r, &attrs, true, func() error {
		if attrs.ContentModifiedAt != nil {
			var err error
			if modified, err = parseBoxTime("content_modified_at", *attrs.ContentModifiedAt); err != nil {
				return err
			}
		}
		if attrs.Name != nil && *attrs.Name != f.Name {
			if err := validateName(*attrs.Name); err != nil {
				return err
			}
			return nameConflict(r.Context(), s.store.r, f.ParentID, *attrs.Name, f.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer staged.discard()
	now := millis(s.now())
	if modified == 0 {
		modified = now
	}
	return s.commitUpload(w, r, http.StatusOK, staged, func(tx *sql.Tx) (int64, int64, error) {
		cur, err := fileForUpdate(r, tx, f.ID)
		if err != nil {
			return 0, 0, err
		}
		name := cur.Name
		if attrs.Name != nil && *attrs.Name != cur.Name {
			name = *attrs.Name
			if err := nameConflict(r.Context(), tx, cur.ParentID, name, cur.ID); err != nil {
				return 0, 0, err
			}
		}
		vid, err := insertVersion(r.Context(), tx, cur.ID, staged.SHA1, staged.Size, name, now)
		if err != nil {
			return 0, 0, err
		}
		if _, err := tx.ExecContext(r.Context(), `UPDATE files SET version_id = ?, name = ?, name_key = ?, etag = etag + 1, modified_at = ?, content_modified_at = ? WHERE id = ?`,
			vid, name, nameKey(name), now, modified, cur.ID); err != nil {
			return 0, 0, fmt.Errorf("updating file: %w", err)
		}
		return cur.ID, vid, nil
	})
}

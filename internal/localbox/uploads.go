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
	"strings"
)

// Uploads, under /api/2.0 (and /2.0): the preflight check (OPTIONS
// files/content), new files (POST files/content) and new versions (POST
// files/{id}/content), multipart, streamed to a staged blob.

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

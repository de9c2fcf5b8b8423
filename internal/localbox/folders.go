package localbox

import (
	"database/sql"
	"encoding/json"
	"net/http"
)

// Folders: POST /2.0/folders, GET /2.0/folders/{id} and
// GET /2.0/folders/{id}/items.

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

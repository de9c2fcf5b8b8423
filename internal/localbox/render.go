package localbox

import (
	"context"
	"net/http"
	"path"
	"strings"
)

// fieldSet is the parsed ?fields= parameter; nil means "the standard
// representation". With fields, Box answers type, id and etag plus exactly
// the fields asked for.
type fieldSet map[string]bool

func parseFields(r *http.Request) fieldSet {
	raw := r.URL.Query().Get("fields")
	if strings.TrimSpace(raw) == "" {
		return nil
	}
	fs := fieldSet{}
	for f := range strings.SplitSeq(raw, ",") {
		if f = strings.TrimSpace(f); f != "" {
			fs[f] = true
		}
	}
	return fs
}

// user is the one Box user localbox has: the service account that CCG
// tokens act as.
type user struct {
	ID    string
	Name  string
	Login string
}

func (u user) mini() map[string]any {
	return map[string]any{"type": "user", "id": u.ID, "name": u.Name, "login": u.Login}
}

func rootFolderMini() map[string]any {
	return map[string]any{"type": "folder", "id": "0", "sequence_id": nil, "etag": nil, "name": "All Files"}
}

func folderMini(f *folderRow) map[string]any {
	if f.ID == 0 {
		return rootFolderMini()
	}
	return map[string]any{"type": "folder", "id": idString(f.ID), "sequence_id": idString(f.Etag), "etag": idString(f.Etag), "name": f.Name}
}

func fileVersionMini(id int64, sha1 string) map[string]any {
	return map[string]any{"type": "file_version", "id": idString(id), "sha1": sha1}
}

func fileMini(f *fileRow) map[string]any {
	return map[string]any{
		"type": "file", "id": idString(f.ID), "sequence_id": idString(f.Etag), "etag": idString(f.Etag),
		"name": f.Name, "sha1": f.SHA1, "file_version": fileVersionMini(f.VersionID, f.SHA1),
	}
}

var standardFileFields = []string{
	"sequence_id", "sha1", "name", "description", "size", "path_collection", "created_at", "modified_at",
	"trashed_at", "purged_at", "content_created_at", "content_modified_at", "created_by", "modified_by",
	"owned_by", "shared_link", "parent", "item_status", "file_version",
}

var standardFolderFields = []string{
	"sequence_id", "name", "description", "size", "path_collection", "created_at", "modified_at",
	"trashed_at", "purged_at", "content_created_at", "content_modified_at", "created_by", "modified_by",
	"owned_by", "shared_link", "folder_upload_email", "parent", "item_status", "item_collection",
}

func pathCollection(chain []folderRow) map[string]any {
	entries := make([]any, 0, len(chain))
	for i := range chain {
		entries = append(entries, folderMini(&chain[i]))
	}
	return map[string]any{"total_count": len(entries), "entries": entries}
}

// fileJSON renders a file in the standard representation or with fields.
func (s *Server) fileJSON(ctx context.Context, q querier, f *fileRow, fields fieldSet) (map[string]any, error) {
	out := map[string]any{"type": "file", "id": idString(f.ID), "etag": idString(f.Etag)}
	want := fields
	if want == nil {
		want = fieldSet{}
		for _, k := range standardFileFields {
			want[k] = true
		}
	}
	var chain []folderRow
	needChain := want["path_collection"] || want["parent"]
	if needChain {
		var err error
		if chain, err = ancestors(ctx, q, f.ParentID); err != nil {
			return nil, err
		}
	}
	u := s.user.mini()
	for k := range want {
		switch k {
		case "sequence_id":
			out[k] = idString(f.Etag)
		case "sha1":
			out[k] = f.SHA1
		case "name":
			out[k] = f.Name
		case "description":
			out[k] = f.Description
		case "size":
			out[k] = f.Size
		case "path_collection":
			out[k] = pathCollection(chain)
		case "created_at":
			out[k] = boxTime(f.CreatedAt)
		case "modified_at":
			out[k] = boxTime(f.ModifiedAt)
		case "content_created_at":
			out[k] = boxTime(f.ContentCreatedAt)
		case "content_modified_at":
			out[k] = boxTime(f.ContentModifiedAt)
		case "trashed_at", "purged_at", "shared_link", "lock", "expires_at", "disposition_at", "classification":
			out[k] = nil
		case "created_by", "modified_by", "owned_by":
			out[k] = u
		case "parent":
			out[k] = folderMini(&chain[len(chain)-1])
		case "item_status":
			out[k] = "active"
		case "file_version":
			out[k] = fileVersionMini(f.VersionID, f.SHA1)
		case "extension":
			out[k] = strings.TrimPrefix(path.Ext(f.Name), ".")
		case "version_number":
			out[k] = idString(f.VersionCount)
		case "comment_count":
			out[k] = 0
		case "tags":
			out[k] = []string{}
		case "has_collaborations", "is_externally_owned", "is_package", "is_accessible_via_shared_link", "is_associated_with_app_item":
			out[k] = false
		case "uploader_display_name":
			out[k] = s.user.Name
		case "permissions":
			out[k] = map[string]bool{
				"can_download": true, "can_preview": true, "can_upload": true, "can_comment": true, "can_rename": true,
				"can_delete": true, "can_share": true, "can_set_share_access": true, "can_invite_collaborator": true,
				"can_annotate": true, "can_view_annotations_all": true, "can_view_annotations_self": true,
			}
		default:
			if tmpl, ok := strings.CutPrefix(k, "metadata."); ok {
				if err := s.addMetadataField(ctx, q, f.ID, tmpl, out); err != nil {
					return nil, err
				}
			}
			// Unknown fields are ignored, as Box does.
		}
	}
	return out, nil
}

// addMetadataField renders fields=metadata.<scope>.<template> into
// out["metadata"][scope][template].
func (s *Server) addMetadataField(ctx context.Context, q querier, fileID int64, spec string, out map[string]any) error {
	scope, tmpl, ok := strings.Cut(spec, ".")
	if !ok {
		return nil
	}
	scope = s.normalizeScope(scope)
	inst, err := getMetadata(ctx, q, fileID, scope, tmpl)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return err
	}
	md, _ := out["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		out["metadata"] = md
	}
	sc, _ := md[scope].(map[string]any)
	if sc == nil {
		sc = map[string]any{}
		md[scope] = sc
	}
	v, err := s.metadataJSON(fileID, inst)
	if err != nil {
		return err
	}
	sc[tmpl] = v
	return nil
}

// folderJSON renders a folder in the standard representation or with fields.
func (s *Server) folderJSON(ctx context.Context, q querier, f *folderRow, fields fieldSet) (map[string]any, error) {
	out := folderMini(f)
	delete(out, "sequence_id")
	delete(out, "name")
	want := fields
	if want == nil {
		want = fieldSet{}
		for _, k := range standardFolderFields {
			want[k] = true
		}
	}
	var chain []folderRow
	if (want["path_collection"] || want["parent"]) && f.ParentID.Valid {
		var err error
		if chain, err = ancestors(ctx, q, f.ParentID.Int64); err != nil {
			return nil, err
		}
	}
	u := s.user.mini()
	for k := range want {
		switch k {
		case "sequence_id":
			out[k] = folderMini(f)["sequence_id"]
		case "name":
			out[k] = f.Name
		case "description":
			out[k] = f.Description
		case "size":
			var size int64
			if err := q.QueryRowContext(ctx, `SELECT COALESCE(SUM(v.size), 0) FROM files f JOIN file_versions v ON v.id = f.version_id WHERE f.parent_id = ?`, f.ID).Scan(&size); err != nil {
				return nil, err
			}
			out[k] = size
		case "path_collection":
			out[k] = pathCollection(chain)
		case "created_at", "content_created_at":
			out[k] = nilIfRoot(f, boxTime(f.CreatedAt))
		case "modified_at", "content_modified_at":
			out[k] = nilIfRoot(f, boxTime(f.ModifiedAt))
		case "trashed_at", "purged_at", "shared_link", "folder_upload_email", "classification":
			out[k] = nil
		case "created_by", "modified_by", "owned_by":
			out[k] = u
		case "parent":
			if len(chain) == 0 {
				out[k] = nil
			} else {
				out[k] = folderMini(&chain[len(chain)-1])
			}
		case "item_status":
			out[k] = "active"
		case "item_collection":
			ic, err := s.itemCollection(ctx, q, f.ID, 0, 100, nil)
			if err != nil {
				return nil, err
			}
			out[k] = ic
		case "tags":
			out[k] = []string{}
		case "has_collaborations", "is_externally_owned", "can_non_owners_invite", "is_collaboration_restricted_to_enterprise":
			out[k] = false
		}
	}
	return out, nil
}

func nilIfRoot(f *folderRow, v any) any {
	if f.ID == 0 {
		return nil
	}
	return v
}

// itemCollection renders a folder listing (Box's Items object).
func (s *Server) itemCollection(ctx context.Context, q querier, folderID int64, offset, limit int, fields fieldSet) (map[string]any, error) {
	folders, files, total, err := folderItems(ctx, q, folderID, offset, limit)
	if err != nil {
		return nil, err
	}
	entries := make([]any, 0, len(folders)+len(files))
	for i := range folders {
		if fields == nil {
			entries = append(entries, folderMini(&folders[i]))
			continue
		}
		v, err := s.folderJSON(ctx, q, &folders[i], fields)
		if err != nil {
			return nil, err
		}
		entries = append(entries, v)
	}
	for i := range files {
		if fields == nil {
			entries = append(entries, fileMini(&files[i]))
			continue
		}
		v, err := s.fileJSON(ctx, q, &files[i], fields)
		if err != nil {
			return nil, err
		}
		entries = append(entries, v)
	}
	return map[string]any{
		"total_count": total, "entries": entries, "offset": offset, "limit": limit,
		"order": []any{map[string]string{"by": "type", "direction": "ASC"}, map[string]string{"by": "name", "direction": "ASC"}},
	}, nil
}

package localbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

type folderRow struct {
	ID          int64
	ParentID    sql.NullInt64
	Name        string
	Description string
	Etag        int64
	CreatedAt   int64
	ModifiedAt  int64
}

type fileRow struct {
	ID                int64
	ParentID          int64
	Name              string
	Description       string
	Etag              int64
	CreatedAt         int64
	ModifiedAt        int64
	ContentCreatedAt  int64
	ContentModifiedAt int64
	VersionID         int64
	SHA1              string
	Size              int64
	VersionCount      int64
}

type versionRow struct {
	ID        int64
	FileID    int64
	SHA1      string
	Size      int64
	Name      string
	CreatedAt int64
}

func idString(id int64) string { return strconv.FormatInt(id, 10) }

// parseID parses a Box ID from a path; anything else is "not found", as on Box.
func parseID(s, what string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 0 {
		return 0, notFound(what)
	}
	return id, nil
}

const folderCols = `id, parent_id, name, description, etag, created_at, modified_at`

func scanFolder(row interface{ Scan(...any) error }) (*folderRow, error) {
	f := &folderRow{}
	err := row.Scan(&f.ID, &f.ParentID, &f.Name, &f.Description, &f.Etag, &f.CreatedAt, &f.ModifiedAt)
	return f, err
}

func getFolder(ctx context.Context, q querier, id int64) (*folderRow, error) {
	f, err := scanFolder(q.QueryRowContext(ctx, `SELECT `+folderCols+` FROM folders WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("folder " + idString(id))
	}
	if err != nil {
		return nil, fmt.Errorf("reading folder %d: %w", id, err)
	}
	return f, nil
}

const fileCols = `f.id, f.parent_id, f.name, f.description, f.etag, f.created_at, f.modified_at,
	f.content_created_at, f.content_modified_at, f.version_id, v.sha1, v.size,
	(SELECT COUNT(*) FROM file_versions c WHERE c.file_id = f.id)`

func scanFile(row interface{ Scan(...any) error }) (*fileRow, error) {
	f := &fileRow{}
	err := row.Scan(&f.ID, &f.ParentID, &f.Name, &f.Description, &f.Etag, &f.CreatedAt, &f.ModifiedAt,
		&f.ContentCreatedAt, &f.ContentModifiedAt, &f.VersionID, &f.SHA1, &f.Size, &f.VersionCount)
	return f, err
}

func getFile(ctx context.Context, q querier, id int64) (*fileRow, error) {
	f, err := scanFile(q.QueryRowContext(ctx, `SELECT `+fileCols+` FROM files f JOIN file_versions v ON v.id = f.version_id WHERE f.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("file " + idString(id))
	}
	if err != nil {
		return nil, fmt.Errorf("reading file %d: %w", id, err)
	}
	return f, nil
}

func getVersion(ctx context.Context, q querier, fileID, versionID int64) (*versionRow, error) {
	v := &versionRow{}
	err := q.QueryRowContext(ctx, `SELECT id, file_id, sha1, size, name, created_at FROM file_versions WHERE id = ? AND file_id = ?`,
		versionID, fileID).Scan(&v.ID, &v.FileID, &v.SHA1, &v.Size, &v.Name, &v.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("file version " + idString(versionID))
	}
	if err != nil {
		return nil, fmt.Errorf("reading version %d: %w", versionID, err)
	}
	return v, nil
}

func listVersions(ctx context.Context, q querier, fileID int64) ([]versionRow, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, file_id, sha1, size, name, created_at FROM file_versions WHERE file_id = ? ORDER BY id DESC`, fileID)
	if err != nil {
		return nil, fmt.Errorf("listing versions of %d: %w", fileID, err)
	}
	defer rows.Close()
	var out []versionRow
	for rows.Next() {
		var v versionRow
		if err := rows.Scan(&v.ID, &v.FileID, &v.SHA1, &v.Size, &v.Name, &v.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ancestors returns the folders from the root down to id (inclusive).
func ancestors(ctx context.Context, q querier, id int64) ([]folderRow, error) {
	var chain []folderRow
	cur := sql.NullInt64{Int64: id, Valid: true}
	for cur.Valid {
		f, err := getFolder(ctx, q, cur.Int64)
		if err != nil {
			return nil, err
		}
		chain = append(chain, *f)
		cur = f.ParentID
		if len(chain) > 10000 {
			return nil, fmt.Errorf("folder %d: parent chain too long", id)
		}
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	return chain, nil
}

// nameKey is the case-insensitive form under which names must be unique in
// a folder (Box compares names case-insensitively).
func nameKey(name string) string { return strings.ToLower(name) }

// validateName applies Box's item name rules.
func validateName(name string) error {
	switch {
	case name == "":
		return errf(400, "item_name_invalid", "Item name must not be empty")
	case len([]rune(name)) > 255:
		return errf(400, "item_name_too_long", "Item name is longer than 255 characters")
	case name == "." || name == "..":
		return errf(400, "item_name_invalid", "Item name must not be %q", name)
	case strings.TrimSpace(name) != name:
		return errf(400, "item_name_invalid", "Item name must not start or end with a space")
	case strings.ContainsAny(name, `/\`):
		return errf(400, "item_name_invalid", "Item name must not contain / or \\")
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return errf(400, "item_name_invalid", "Item name must not contain non-printable characters")
		}
	}
	return nil
}

// nameConflict returns a 409 item_name_in_use if parent already holds an
// item named name (other than the file excludeFile).
func nameConflict(ctx context.Context, q querier, parent int64, name string, excludeFile int64) error {
	key := nameKey(name)
	if f, err := scanFile(q.QueryRowContext(ctx, `SELECT `+fileCols+` FROM files f JOIN file_versions v ON v.id = f.version_id
		WHERE f.parent_id = ? AND f.name_key = ? AND f.id != ?`, parent, key, excludeFile)); err == nil {
		e := errf(409, "item_name_in_use", "Item with the same name already exists")
		e.ContextInfo = map[string]any{"conflicts": []any{fileMini(f)}}
		return e
	} else if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("checking name: %w", err)
	}
	if f, err := scanFolder(q.QueryRowContext(ctx, `SELECT `+folderCols+` FROM folders WHERE parent_id = ? AND name_key = ?`, parent, key)); err == nil {
		e := errf(409, "item_name_in_use", "Item with the same name already exists")
		e.ContextInfo = map[string]any{"conflicts": []any{folderMini(f)}}
		return e
	} else if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("checking name: %w", err)
	}
	return nil
}

func insertFolder(ctx context.Context, tx *sql.Tx, parent int64, name string, now int64) (int64, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO folders(parent_id, name, name_key, created_at, modified_at) VALUES (?, ?, ?, ?, ?)`,
		parent, name, nameKey(name), now, now)
	if err != nil {
		return 0, fmt.Errorf("inserting folder: %w", err)
	}
	return res.LastInsertId()
}

func insertVersion(ctx context.Context, tx *sql.Tx, fileID int64, sha1 string, size int64, name string, now int64) (int64, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO file_versions(file_id, sha1, size, name, created_at) VALUES (?, ?, ?, ?, ?)`,
		fileID, sha1, size, name, now)
	if err != nil {
		return 0, fmt.Errorf("inserting version: %w", err)
	}
	return res.LastInsertId()
}

// folderItems lists a folder's children: folders first, then files, each by
// name (Box's default order), with offset/limit applied.
func folderItems(ctx context.Context, q querier, folderID int64, offset, limit int) (folders []folderRow, files []fileRow, total int, err error) {
	var nFolders, nFiles int
	if err = q.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM folders WHERE parent_id = ?), (SELECT COUNT(*) FROM files WHERE parent_id = ?)`,
		folderID, folderID).Scan(&nFolders, &nFiles); err != nil {
		return nil, nil, 0, fmt.Errorf("counting items: %w", err)
	}
	total = nFolders + nFiles
	if offset < nFolders {
		rows, err := q.QueryContext(ctx, `SELECT `+folderCols+` FROM folders WHERE parent_id = ? ORDER BY name_key, id LIMIT ? OFFSET ?`,
			folderID, limit, offset)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("listing folders: %w", err)
		}
		for rows.Next() {
			f, err := scanFolder(rows)
			if err != nil {
				_ = rows.Close()
				return nil, nil, 0, err
			}
			folders = append(folders, *f)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, nil, 0, err
		}
	}
	left := limit - len(folders)
	fileOffset := max(0, offset-nFolders)
	if left > 0 && fileOffset < nFiles {
		rows, err := q.QueryContext(ctx, `SELECT `+fileCols+` FROM files f JOIN file_versions v ON v.id = f.version_id
			WHERE f.parent_id = ? ORDER BY f.name_key, f.id LIMIT ? OFFSET ?`, folderID, left, fileOffset)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("listing files: %w", err)
		}
		for rows.Next() {
			f, err := scanFile(rows)
			if err != nil {
				_ = rows.Close()
				return nil, nil, 0, err
			}
			files = append(files, *f)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, nil, 0, err
		}
	}
	return folders, files, total, nil
}

package localbox

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
)

// blobStore keeps file version contents on disk, one file per version:
// <data>/blobs/<last two digits of the version ID>/<version ID>. Uploads are
// streamed into <data>/tmp, hashed on the way, synced, and renamed into place
// in the same step that commits the version row, so a blob is either
// complete and referenced or absent (orphans left by a crash are swept at
// start-up).
type blobStore struct {
	dir string
	tmp string
}

func newBlobStore(dataDir string) (*blobStore, error) {
	b := &blobStore{dir: filepath.Join(dataDir, "blobs"), tmp: filepath.Join(dataDir, "tmp")}
	// Anything in tmp belongs to an upload that never finished.
	if err := os.RemoveAll(b.tmp); err != nil {
		return nil, fmt.Errorf("clearing %s: %w", b.tmp, err)
	}
	for _, d := range []string{b.dir, b.tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("creating %s: %w", d, err)
		}
	}
	return b, nil
}

func (b *blobStore) path(versionID int64) string {
	return filepath.Join(b.dir, fmt.Sprintf("%02d", versionID%100), strconv.FormatInt(versionID, 10))
}

// stagedBlob is an upload written to tmp and not yet committed.
type stagedBlob struct {
	path string
	SHA1 string
	Size int64
}

// errTooLarge reports content over the configured limit.
var errTooLarge = errors.New("content exceeds the size limit")

// storageError is a failure to write to the data directory (as opposed to a
// failure to read the request).
type storageError struct{ err error }

func (e *storageError) Error() string { return "storing upload: " + e.err.Error() }
func (e *storageError) Unwrap() error { return e.err }

// stage streams r into a temporary file, computing its SHA-1 and size, and
// refusing more than limit bytes. Errors reading r are returned as they are;
// errors writing the file are *storageError.
func (b *blobStore) stage(r io.Reader, limit int64) (*stagedBlob, error) {
	f, err := os.CreateTemp(b.tmp, "upload-*")
	if err != nil {
		return nil, &storageError{fmt.Errorf("creating temporary file: %w", err)}
	}
	fail := func(err error) (*stagedBlob, error) {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, err
	}
	h := sha1.New()
	buf := make([]byte, 256<<10)
	var n int64
	for {
		k, rerr := r.Read(buf)
		if k > 0 {
			n += int64(k)
			if n > limit {
				return fail(errTooLarge)
			}
			h.Write(buf[:k])
			if _, werr := f.Write(buf[:k]); werr != nil {
				return fail(&storageError{werr})
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return fail(rerr)
		}
	}
	if err := f.Sync(); err != nil {
		return fail(&storageError{err})
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(f.Name())
		return nil, &storageError{err}
	}
	return &stagedBlob{path: f.Name(), SHA1: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

// discard removes a staged blob that will not be committed.
func (s *stagedBlob) discard() {
	if s != nil && s.path != "" {
		_ = os.Remove(s.path)
	}
}

// commit moves the staged blob to its final place for versionID.
func (b *blobStore) commit(s *stagedBlob, versionID int64) (string, error) {
	dst := b.path(versionID)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return "", fmt.Errorf("creating blob directory: %w", err)
	}
	if err := os.Rename(s.path, dst); err != nil {
		return "", fmt.Errorf("moving blob into place: %w", err)
	}
	s.path = ""
	if d, err := os.Open(filepath.Dir(dst)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return dst, nil
}

func (b *blobStore) open(versionID int64) (*os.File, error) {
	return os.Open(b.path(versionID))
}

func (b *blobStore) remove(versionID int64) error {
	err := os.Remove(b.path(versionID))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// sweep removes blobs that no version row references (left by a crash
// between the rename and the commit, or by a delete that failed half-way).
func (b *blobStore) sweep(ctx context.Context, q querier, log *slog.Logger) error {
	known := map[int64]bool{}
	rows, err := q.QueryContext(ctx, `SELECT id FROM file_versions`)
	if err != nil {
		return fmt.Errorf("listing versions: %w", err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			_ = rows.Close()
			return err
		}
		known[id] = true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	return filepath.WalkDir(b.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		id, perr := strconv.ParseInt(d.Name(), 10, 64)
		if perr == nil && known[id] {
			return nil
		}
		log.Warn("removing unreferenced blob", "path", path)
		return os.Remove(path)
	})
}

// Package claimcheck stores job results outside workflow history, where
// every worker can read them: the claim-check pattern. A job writes its
// result under a key and the workflow carries only the key (the job's ID);
// the activity that writes the cards reads it back, on whichever worker it
// runs.
//
// Dir keeps entries as files in a directory, encrypted with a Temporal
// PayloadCodec (the workers' payload codec, so entries are protected like
// history and rotate keys the same way). For several workers the directory
// must be shared (the same host, or a shared volume); a bucket-backed
// Store would implement the same interface.
package claimcheck

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// ErrNotFound is returned by Get for a key that has no entry (never
// written, deleted, or pruned after its retention).
var ErrNotFound = errors.New("claim check: no such entry")

// Store keeps results by key.
type Store interface {
	Put(ctx context.Context, key string, data []byte) error
	Get(ctx context.Context, key string) ([]byte, error)
	Delete(ctx context.Context, key string) error
}

// plainEncoding marks an entry as not encrypted by a codec.
const plainEncoding = "binary/filesight-plain"

// DirOptions configure a Dir.
type DirOptions struct {
	// Codec encrypts entries; nil stores them in the clear (tests).
	Codec converter.PayloadCodec
	// Retention is how long an entry is kept (default 7 days). Entries
	// are pruned by Put, at most once per PruneEvery.
	Retention  time.Duration
	PruneEvery time.Duration
	// MaxEntryBytes bounds what Get reads (default 64 MiB).
	MaxEntryBytes int64
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Dir is a Store in a directory.
type Dir struct {
	root string
	opts DirOptions

	mu        sync.Mutex
	lastPrune time.Time
}

var _ Store = (*Dir)(nil)

// NewDir returns a Store in root, creating it (mode 0700) if needed.
func NewDir(root string, opts DirOptions) (*Dir, error) {
	if root == "" {
		return nil, errors.New("claim check: no directory")
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("claim check: creating %s: %w", root, err)
	}
	if opts.Retention <= 0 {
		opts.Retention = 7 * 24 * time.Hour
	}
	if opts.PruneEvery <= 0 {
		opts.PruneEvery = time.Hour
	}
	if opts.MaxEntryBytes <= 0 {
		opts.MaxEntryBytes = 64 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Dir{root: root, opts: opts}, nil
}

// path maps a key to a file; hashing keeps any key (slashes, dots) inside
// root.
func (d *Dir) path(key string) string {
	sum := sha256.Sum256([]byte(key))
	h := hex.EncodeToString(sum[:])
	return filepath.Join(d.root, h[:2], h+".entry")
}

// Put writes an entry atomically (a reader sees the old entry or the new,
// never part of one).
func (d *Dir) Put(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p := &commonpb.Payload{Metadata: map[string][]byte{converter.MetadataEncoding: []byte(plainEncoding)}, Data: data}
	if d.opts.Codec != nil {
		enc, err := d.opts.Codec.Encode([]*commonpb.Payload{p})
		if err != nil {
			return fmt.Errorf("claim check: encrypting %q: %w", key, err)
		}
		p = enc[0]
	}
	b, err := proto.Marshal(p)
	if err != nil {
		return fmt.Errorf("claim check: encoding %q: %w", key, err)
	}
	path := d.path(key)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("claim check: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("claim check: %w", err)
	}
	_, werr := tmp.Write(b)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("claim check: writing %q: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("claim check: %w", err)
	}
	d.maybePrune()
	return nil
}

// Get reads an entry. With a codec, an entry that is not encrypted is
// refused: nobody but a worker writes to the store.
func (d *Dir) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("claim check: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("claim check: %w", err)
	}
	if st.Size() > d.opts.MaxEntryBytes {
		return nil, fmt.Errorf("claim check: entry %q is %d bytes, more than %d", key, st.Size(), d.opts.MaxEntryBytes)
	}
	b := make([]byte, st.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("claim check: reading %q: %w", key, err)
	}
	p := &commonpb.Payload{}
	if err := proto.Unmarshal(b, p); err != nil {
		return nil, fmt.Errorf("claim check: entry %q is damaged: %w", key, err)
	}
	if d.opts.Codec != nil {
		if string(p.Metadata[converter.MetadataEncoding]) == plainEncoding {
			return nil, fmt.Errorf("claim check: entry %q is not encrypted", key)
		}
		dec, err := d.opts.Codec.Decode([]*commonpb.Payload{p})
		if err != nil {
			return nil, fmt.Errorf("claim check: decrypting %q: %w", key, err)
		}
		p = dec[0]
	}
	if string(p.Metadata[converter.MetadataEncoding]) != plainEncoding {
		return nil, fmt.Errorf("claim check: entry %q has an unknown encoding", key)
	}
	return p.Data, nil
}

// Delete removes an entry; a missing entry is not an error.
func (d *Dir) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Remove(d.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("claim check: %w", err)
	}
	return nil
}

// maybePrune removes entries older than the retention, at most once per
// PruneEvery per process. Several processes pruning at once is harmless.
func (d *Dir) maybePrune() {
	now := d.opts.Now()
	d.mu.Lock()
	if now.Sub(d.lastPrune) < d.opts.PruneEvery {
		d.mu.Unlock()
		return
	}
	d.lastPrune = now
	d.mu.Unlock()
	d.Prune(now.Add(-d.opts.Retention))
}

// Prune removes entries (and abandoned temporary files) last written
// before cutoff, and returns how many it removed.
func (d *Dir) Prune(cutoff time.Time) int {
	n := 0
	_ = filepath.WalkDir(d.root, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		if info, err := e.Info(); err == nil && info.ModTime().Before(cutoff) {
			if os.Remove(path) == nil {
				n++
			}
		}
		return nil
	})
	return n
}

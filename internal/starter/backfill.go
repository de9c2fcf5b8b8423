package starter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"filesight/internal/box"
	"filesight/internal/secret"
	"filesight/workflows"
)

// FolderLister lists a folder's items; *box.Client satisfies it (an empty
// token means the client's own service token).
type FolderLister interface {
	ListFolderItems(ctx context.Context, token secret.String, folderID string) ([]box.Item, error)
}

// Backfill walks a folder (optionally its subfolders) and starts one
// ProcessFile per file at a bounded rate. It is idempotent thanks to the
// workflow IDs (a file version already processed or in flight is reported as
// a duplicate and starts nothing) and resumable through a checkpoint file
// recording the folders and files already handled.
type Backfill struct {
	Service *Service
	Lister  FolderLister
	// Rate is the most starts per second (default 2). Duplicates count too:
	// each costs Temporal a request.
	Rate float64
	// Recursive descends into subfolders.
	Recursive bool
	// Checkpoint, when set, is the JSON file where progress is saved after
	// every start and from which a run resumes.
	Checkpoint string
	// DryRun lists what would be started without starting anything.
	DryRun bool
	// MaxAttempts bounds the tries of one start while Temporal is
	// unavailable (default 5, with backoff from 1 s doubling to 30 s).
	MaxAttempts int
	Logger      *slog.Logger

	// now and sleep are the clock (nil: the real one); sleep waits for d or
	// until ctx ends. Tests replace them to run without waiting and to
	// reproduce a slow machine.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

// BackfillReport counts what a run did.
type BackfillReport struct {
	Folders    int `json:"folders"`
	Started    int `json:"started"`
	Duplicates int `json:"duplicates"`
	Filtered   int `json:"filtered"`
	// Skipped are items that are not files, or files listed without a
	// version (they cannot be given a workflow ID).
	Skipped int `json:"skipped"`
	// Resumed counts files skipped because the checkpoint had them.
	Resumed int `json:"resumed"`
}

// backfillState is the checkpoint file's content.
type backfillState struct {
	Root      string   `json:"root"`
	Recursive bool     `json:"recursive"`
	Pending   []string `json:"pending_folders"`
	// Current is the folder being worked on; Done lists the files of it
	// already handled.
	Current string         `json:"current_folder,omitempty"`
	Done    []string       `json:"done_in_current,omitempty"`
	Report  BackfillReport `json:"report"`
	Updated time.Time      `json:"updated"`
}

// Run backfills folderID. On an error or cancellation the checkpoint holds
// the position, and running again with the same checkpoint resumes there.
func (b *Backfill) Run(ctx context.Context, folderID string) (BackfillReport, error) {
	if b.Service == nil || b.Lister == nil {
		return BackfillReport{}, errors.New("backfill: Service and Lister are required")
	}
	if folderID == "" {
		return BackfillReport{}, errors.New("backfill: folder id is required")
	}
	log := b.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rate := b.Rate
	if rate <= 0 {
		rate = 2
	}
	attempts := b.MaxAttempts
	if attempts <= 0 {
		attempts = 5
	}
	now, sleep := b.now, b.sleep
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = sleepCtx
	}
	st, err := b.load(folderID)
	if err != nil {
		return BackfillReport{}, err
	}
	interval := time.Duration(float64(time.Second) / rate)
	var next time.Time // earliest time of the next start
	// interrupted saves the position and reports why the run stopped.
	interrupted := func(err error) (BackfillReport, error) {
		return st.Report, errors.Join(fmt.Errorf("backfill interrupted: %w", err), b.save(st))
	}

	for st.Current != "" || len(st.Pending) > 0 {
		// Cancellation is checked before every folder and every item, not
		// only while waiting for the rate: on a busy machine (or at a high
		// rate) there may be no wait at all between two starts.
		if err := ctx.Err(); err != nil {
			return interrupted(err)
		}
		if st.Current == "" {
			st.Current, st.Pending = st.Pending[0], st.Pending[1:]
			st.Done = nil
		}
		items, err := b.Lister.ListFolderItems(ctx, "", st.Current)
		if err != nil {
			return st.Report, errors.Join(fmt.Errorf("backfill: listing folder %s: %w", st.Current, err), b.save(st))
		}
		done := make(map[string]bool, len(st.Done))
		for _, id := range st.Done {
			done[id] = true
		}
		log.InfoContext(ctx, "backfill: folder", "folder_id", st.Current, "items", len(items), "already_done", len(done))
		for _, it := range items {
			if err := ctx.Err(); err != nil {
				return interrupted(err)
			}
			switch it.Type {
			case "folder":
				if b.Recursive && !done["folder:"+it.ID] {
					st.Pending = append(st.Pending, it.ID)
					st.Done = append(st.Done, "folder:"+it.ID)
				}
				continue
			case "file":
			default:
				st.Report.Skipped++
				continue
			}
			if done[it.ID] {
				st.Report.Resumed++
				continue
			}
			in := workflows.ProcessFileInput{
				FileID: it.ID, FileName: it.Name, ParentFolderID: st.Current, Size: it.Size, Source: SourceBackfill,
			}
			if it.FileVersion != nil {
				in.FileVersionID = it.FileVersion.ID
			}
			switch {
			case in.FileVersionID == "":
				log.WarnContext(ctx, "backfill: file listed without a version; skipped", "file_id", it.ID)
				st.Report.Skipped++
			case b.Service.opts.Filter.Check(it.Name, "", it.Size) != "":
				log.InfoContext(ctx, "backfill: filtered", "file_id", it.ID, "reason", b.Service.opts.Filter.Check(it.Name, "", it.Size))
				st.Report.Filtered++
			case b.DryRun:
				log.InfoContext(ctx, "backfill: would start", "workflow_id", workflows.WorkflowID(in.FileID, in.FileVersionID), "file_name", it.Name)
				st.Report.Started++
			default:
				if wait := next.Sub(now()); wait > 0 {
					if err := sleep(ctx, wait); err != nil {
						return interrupted(err)
					}
				}
				next = now().Add(interval)
				d, err := b.startWithRetry(ctx, in, attempts, sleep, log)
				if err != nil {
					return st.Report, errors.Join(fmt.Errorf("backfill: %w", err), b.save(st))
				}
				if d.Outcome == OutcomeStarted {
					st.Report.Started++
				} else {
					st.Report.Duplicates++
				}
			}
			st.Done = append(st.Done, it.ID)
			if err := b.save(st); err != nil {
				return st.Report, err
			}
		}
		st.Report.Folders++
		st.Current, st.Done = "", nil
		if err := b.save(st); err != nil {
			return st.Report, err
		}
	}
	log.InfoContext(ctx, "backfill: finished", "root", folderID, "report", st.Report)
	return st.Report, nil
}

func (b *Backfill) startWithRetry(ctx context.Context, in workflows.ProcessFileInput, attempts int, sleep func(context.Context, time.Duration) error, log *slog.Logger) (Decision, error) {
	backoff := time.Second
	for i := 1; ; i++ {
		d, err := b.Service.Start(ctx, in)
		if err == nil {
			return d, nil
		}
		if !errors.Is(err, ErrUnavailable) || i >= attempts || ctx.Err() != nil {
			return Decision{}, err
		}
		log.WarnContext(ctx, "backfill: start failed, retrying", "file_id", in.FileID, "attempt", i, "in", backoff, "error", err)
		if err := sleep(ctx, backoff); err != nil {
			return Decision{}, err
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func (b *Backfill) load(root string) (*backfillState, error) {
	fresh := &backfillState{Root: root, Recursive: b.Recursive, Pending: []string{root}}
	if b.Checkpoint == "" {
		return fresh, nil
	}
	data, err := os.ReadFile(b.Checkpoint)
	if errors.Is(err, os.ErrNotExist) {
		return fresh, nil
	}
	if err != nil {
		return nil, fmt.Errorf("backfill: reading checkpoint: %w", err)
	}
	var st backfillState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("backfill: checkpoint %s is not valid JSON: %w", b.Checkpoint, err)
	}
	if st.Root != root || st.Recursive != b.Recursive {
		return nil, fmt.Errorf("backfill: checkpoint %s is for folder %s (recursive=%v), not %s (recursive=%v); use another checkpoint file",
			b.Checkpoint, st.Root, st.Recursive, root, b.Recursive)
	}
	if st.Current == "" && len(st.Pending) == 0 {
		// A finished run: start over (starts are idempotent).
		st.Pending = []string{root}
		st.Report = BackfillReport{}
	}
	st.Report.Resumed = 0
	st.Done = slices.Clip(st.Done)
	return &st, nil
}

// save writes the checkpoint atomically (temp file + rename).
func (b *Backfill) save(st *backfillState) error {
	if b.Checkpoint == "" || b.DryRun {
		return nil
	}
	st.Updated = time.Now().UTC()
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("backfill: encoding checkpoint: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(b.Checkpoint), ".backfill-*.tmp")
	if err != nil {
		return fmt.Errorf("backfill: writing checkpoint: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("backfill: writing checkpoint: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("backfill: writing checkpoint: %w", err)
	}
	if err := os.Rename(tmp.Name(), b.Checkpoint); err != nil {
		return fmt.Errorf("backfill: writing checkpoint: %w", err)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

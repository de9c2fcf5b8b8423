package starter_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"

	"filesight/internal/box"
	"filesight/internal/secret"
	"filesight/internal/starter"
)

type fakeFolders struct {
	mu      sync.Mutex
	folders map[string][]box.Item
	listed  []string
	failOn  string
}

func (f *fakeFolders) ListFolderItems(_ context.Context, tok secret.String, id string) ([]box.Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listed = append(f.listed, id)
	if id == f.failOn {
		return nil, errors.New("listing failed")
	}
	items, ok := f.folders[id]
	if !ok {
		return nil, fmt.Errorf("folder %s not found", id)
	}
	return items, nil
}

func file(id, version, name string) box.Item {
	it := box.Item{Type: "file", ID: id, Name: name, Size: 100}
	if version != "" {
		it.FileVersion = &box.FileVersion{Type: "file_version", ID: version}
	}
	return it
}

func folder(id string) box.Item { return box.Item{Type: "folder", ID: id, Name: "sub" + id} }

func tree() *fakeFolders {
	return &fakeFolders{folders: map[string][]box.Item{
		"1": {file("10", "100", "a.mp4"), folder("2"), file("11", "110", "b.txt"), file("12", "", "noversion.mp4"),
			{Type: "web_link", ID: "13"}},
		"2": {file("20", "200", "c.mov"), folder("3")},
		"3": {file("30", "300", "d.wav")},
	}}
}

func TestBackfillRecursiveIdempotent(t *testing.T) {
	fake := newFakeTemporal()
	svc := starter.NewService(fake, starter.Options{Filter: starter.Filter{Extensions: []string{"mp4", "mov", "wav"}}})
	b := &starter.Backfill{Service: svc, Lister: tree(), Rate: 1000, Recursive: true}
	rep, err := b.Run(context.Background(), "1")
	if err != nil {
		t.Fatal(err)
	}
	want := starter.BackfillReport{Folders: 3, Started: 3, Filtered: 1, Skipped: 2}
	if rep != want {
		t.Fatalf("report %+v, want %+v", rep, want)
	}
	for _, id := range []string{"file-10-v100", "file-20-v200", "file-30-v300"} {
		if _, ok := fake.runs[id]; !ok {
			t.Errorf("%s not started", id)
		}
	}
	for _, in := range fake.inputs {
		if in.Source != starter.SourceBackfill {
			t.Errorf("source %q", in.Source)
		}
	}
	// A second run starts nothing new.
	rep, err = b.Run(context.Background(), "1")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Started != 0 || rep.Duplicates != 3 || fake.startCount() != 3 {
		t.Fatalf("second run %+v, %d workflows", rep, fake.startCount())
	}
}

func TestBackfillNonRecursive(t *testing.T) {
	fake := newFakeTemporal()
	lister := tree()
	b := &starter.Backfill{Service: starter.NewService(fake, starter.Options{}), Lister: lister, Rate: 1000}
	rep, err := b.Run(context.Background(), "1")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Folders != 1 || rep.Started != 2 || len(lister.listed) != 1 {
		t.Fatalf("report %+v, listed %v", rep, lister.listed)
	}
}

func TestBackfillResumesFromCheckpoint(t *testing.T) {
	ckpt := filepath.Join(t.TempDir(), "backfill.json")
	fake := newFakeTemporal()
	lister := tree()
	lister.failOn = "3"
	b := &starter.Backfill{Service: starter.NewService(fake, starter.Options{}), Lister: lister, Rate: 1000, Recursive: true, Checkpoint: ckpt}
	if _, err := b.Run(context.Background(), "1"); err == nil {
		t.Fatal("want the listing error")
	}
	data, err := os.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Current string   `json:"current_folder"`
		Pending []string `json:"pending_folders"`
	}
	if err := json.Unmarshal(data, &st); err != nil || st.Current != "3" {
		t.Fatalf("checkpoint %s (%v)", data, err)
	}
	startsBefore := len(fake.starts)

	lister.failOn = ""
	lister.listed = nil
	rep, err := b.Run(context.Background(), "1")
	if err != nil {
		t.Fatal(err)
	}
	if len(lister.listed) != 1 || lister.listed[0] != "3" {
		t.Fatalf("resumed run listed %v, want only folder 3", lister.listed)
	}
	if got := len(fake.starts) - startsBefore; got != 1 || rep.Started != 4 {
		t.Fatalf("resumed run made %d start calls, report %+v", got, rep)
	}

	// A checkpoint for another folder is refused.
	if _, err := (&starter.Backfill{Service: b.Service, Lister: lister, Recursive: true, Checkpoint: ckpt}).Run(context.Background(), "2"); err == nil {
		t.Fatal("checkpoint of folder 1 accepted for folder 2")
	}
}

func TestBackfillResumesMidFolderAfterCancel(t *testing.T) {
	ckpt := filepath.Join(t.TempDir(), "backfill.json")
	fake := newFakeTemporal()
	items := make([]box.Item, 10)
	for i := range items {
		items[i] = file(fmt.Sprint(100+i), fmt.Sprint(1000+i), "f.mp4")
	}
	lister := &fakeFolders{folders: map[string][]box.Item{"9": items}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc := starter.NewService(&cancelAfter{fakeTemporal: fake, n: 4, cancel: cancel}, starter.Options{})
	b := &starter.Backfill{Service: svc, Lister: lister, Rate: 1000, Checkpoint: ckpt}
	if _, err := b.Run(ctx, "9"); err == nil {
		t.Fatal("want an interruption error")
	}
	before := len(fake.starts)
	if before < 4 || before > 5 {
		t.Fatalf("%d starts before the interruption", before)
	}
	rep, err := (&starter.Backfill{Service: starter.NewService(fake, starter.Options{}), Lister: lister, Rate: 1000, Checkpoint: ckpt}).Run(context.Background(), "9")
	if err != nil {
		t.Fatal(err)
	}
	if fake.startCount() != 10 {
		t.Fatalf("%d workflows, want 10", fake.startCount())
	}
	if rep.Resumed < 4 || len(fake.starts)-before != 10-rep.Resumed {
		t.Fatalf("report %+v; %d start calls after resuming", rep, len(fake.starts)-before)
	}
}

// cancelAfter cancels the context after n starts (an operator's Ctrl-C).
type cancelAfter struct {
	*fakeTemporal
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) ExecuteWorkflow(ctx context.Context, o clientStartOptions, wf any, args ...any) (clientRun, error) {
	r, err := c.fakeTemporal.ExecuteWorkflow(ctx, o, wf, args...)
	if len(c.fakeTemporal.starts) >= c.n {
		c.cancel()
	}
	return r, err
}

func TestBackfillRateAndRetry(t *testing.T) {
	fake := newFakeTemporal()
	fl := &flaky{fakeTemporal: fake, failures: 2}
	items := []box.Item{file("1", "1", "a.mp4"), file("2", "2", "b.mp4"), file("3", "3", "c.mp4")}
	b := &starter.Backfill{Service: starter.NewService(fl, starter.Options{}), Lister: &fakeFolders{folders: map[string][]box.Item{"5": items}}, Rate: 20}
	var rateWaits []time.Duration
	rep, err := starter.RunBackfillWithSleep(b, context.Background(), "5", func(ctx context.Context, d time.Duration) error {
		// Retry backoffs are recorded but not waited for; rate waits are real.
		if d >= time.Second {
			fl.backoffs = append(fl.backoffs, d)
			return nil
		}
		rateWaits = append(rateWaits, d)
		time.Sleep(d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Started != 3 {
		t.Fatalf("report %+v", rep)
	}
	if len(fl.backoffs) != 2 || fl.backoffs[0] != time.Second || fl.backoffs[1] != 2*time.Second {
		t.Fatalf("backoffs %v", fl.backoffs)
	}
	// At 20/s, the second and third starts each wait for their 50 ms slot.
	if len(rateWaits) != 2 {
		t.Fatalf("rate waits %v, want 2", rateWaits)
	}
	for _, w := range rateWaits {
		if w <= 0 || w > 50*time.Millisecond {
			t.Fatalf("rate wait %s outside (0, 50ms]", w)
		}
	}
}

type flaky struct {
	*fakeTemporal
	failures int
	backoffs []time.Duration
}

func (f *flaky) ExecuteWorkflow(ctx context.Context, o clientStartOptions, wf any, args ...any) (clientRun, error) {
	if f.failures > 0 {
		f.failures--
		return nil, serviceerror.NewUnavailable("down")
	}
	return f.fakeTemporal.ExecuteWorkflow(ctx, o, wf, args...)
}

package starter_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
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
	b := onFakeClock(&starter.Backfill{Service: svc, Lister: tree(), Rate: 1000, Recursive: true})
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
	b := onFakeClock(&starter.Backfill{Service: starter.NewService(fake, starter.Options{}), Lister: lister, Rate: 1000})
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
	b := onFakeClock(&starter.Backfill{Service: starter.NewService(fake, starter.Options{}), Lister: lister, Rate: 1000, Recursive: true, Checkpoint: ckpt})
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
	if _, err := onFakeClock(&starter.Backfill{Service: b.Service, Lister: lister, Recursive: true, Checkpoint: ckpt}).Run(context.Background(), "2"); err == nil {
		t.Fatal("checkpoint of folder 1 accepted for folder 2")
	}
}

// fakeClock is a backfill's clock that moves only when told: when the
// backfill sleeps (the sleep is recorded, not waited for) and when a start
// takes time (startTakes). Runs are then independent of the machine's speed.
type fakeClock struct {
	mu          sync.Mutex
	origin, now time.Time
	sleeps      []time.Duration
}

func newFakeClock() *fakeClock {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return &fakeClock{origin: t0, now: t0}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep behaves like a timer that fires at once: it fails if ctx has ended.
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// elapsed is the time since the clock was made.
func (c *fakeClock) elapsed() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now.Sub(c.origin)
}

func (c *fakeClock) slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sleeps)
}

// timedTemporal is the fake server seen through a clock: each start takes
// startTakes, fails while failures remain, and records when it was made.
// With cancelAt > 0 it cancels the run's context right after that many
// successful starts (an operator's Ctrl-C at an exact point).
type timedTemporal struct {
	*fakeTemporal
	clock      *fakeClock
	startTakes time.Duration
	failures   int
	cancelAt   int
	cancel     context.CancelFunc
	at         []time.Duration // start attempts, since the clock's origin
}

func (tt *timedTemporal) ExecuteWorkflow(ctx context.Context, o clientStartOptions, wf any, args ...any) (clientRun, error) {
	tt.at = append(tt.at, tt.clock.elapsed())
	tt.clock.advance(tt.startTakes)
	if tt.failures > 0 {
		tt.failures--
		return nil, serviceerror.NewUnavailable("down")
	}
	r, err := tt.fakeTemporal.ExecuteWorkflow(ctx, o, wf, args...)
	if tt.cancelAt > 0 && tt.fakeTemporal.startCount() == tt.cancelAt {
		tt.cancel()
	}
	return r, err
}

// onFakeClock puts b on a clock of its own, so that no test waits for the
// rate in real time.
func onFakeClock(b *starter.Backfill) *starter.Backfill {
	c := newFakeClock()
	starter.SetBackfillClock(b, c.Now, c.Sleep)
	return b
}

func files(n int) []box.Item {
	items := make([]box.Item, n)
	for i := range items {
		items[i] = file(fmt.Sprint(100+i), fmt.Sprint(1000+i), "f.mp4")
	}
	return items
}

// A cancelled backfill stops before its next start whatever the rate. On a
// busy machine a start can take longer than the rate's interval, so there is
// no rate wait between starts (where the old loop noticed cancellation), and
// the loop must look at the context itself.
func TestBackfillStopsPromptlyOnCancel(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rate       float64
		startTakes time.Duration
	}{
		{"busy machine: every start slower than the interval", 1000, time.Second},
		{"idle machine: the rate waits between starts", 20, 0},
		{"unbounded rate", math.Inf(1), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ckpt := filepath.Join(t.TempDir(), "backfill.json")
			fake := newFakeTemporal()
			lister := &fakeFolders{folders: map[string][]box.Item{"9": files(10)}}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			clock := newFakeClock()
			tt := &timedTemporal{fakeTemporal: fake, clock: clock, startTakes: tc.startTakes, cancelAt: 4, cancel: cancel}
			b := &starter.Backfill{Service: starter.NewService(tt, starter.Options{}), Lister: lister, Rate: tc.rate, Checkpoint: ckpt}
			starter.SetBackfillClock(b, clock.Now, clock.Sleep)
			_, err := b.Run(ctx, "9")
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("error %v, want an interruption by cancellation", err)
			}
			if got := len(fake.starts); got != 4 {
				t.Fatalf("%d starts, want exactly the 4 made before the cancellation", got)
			}

			// Resuming from the checkpoint starts exactly the other 6.
			rb := &starter.Backfill{Service: starter.NewService(fake, starter.Options{}), Lister: lister, Rate: tc.rate, Checkpoint: ckpt}
			starter.SetBackfillClock(rb, clock.Now, clock.Sleep)
			rep, err := rb.Run(context.Background(), "9")
			if err != nil {
				t.Fatal(err)
			}
			if rep.Resumed != 4 || rep.Started != 10 || len(fake.starts) != 10 || fake.startCount() != 10 {
				t.Fatalf("after resuming: report %+v, %d start calls, %d workflows", rep, len(fake.starts), fake.startCount())
			}
		})
	}
}

// The rate spaces the starts out by its interval, counted from the start
// of the previous one; time spent in a slow start or in retry backoffs
// counts towards it. Temporal being unavailable is retried with backoff.
func TestBackfillRateAndRetry(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		name       string
		startTakes time.Duration
		failures   int
		wantAt     []time.Duration // start attempts
		wantSleeps []time.Duration
	}{
		{"starts spaced by the interval", 0, 0,
			[]time.Duration{0, 50 * ms, 100 * ms}, []time.Duration{50 * ms, 50 * ms}},
		{"starts slower than the interval: no rate wait", 80 * ms, 0,
			[]time.Duration{0, 80 * ms, 160 * ms}, nil},
		{"partial wait after a start that took part of the interval", 30 * ms, 0,
			[]time.Duration{0, 50 * ms, 100 * ms}, []time.Duration{20 * ms, 20 * ms}},
		{"unavailable twice: backoff 1s then 2s, which also covers the next slot", 0, 2,
			[]time.Duration{0, time.Second, 3 * time.Second, 3 * time.Second, 3*time.Second + 50*ms},
			[]time.Duration{time.Second, 2 * time.Second, 50 * ms}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			tt := &timedTemporal{fakeTemporal: newFakeTemporal(), clock: clock, startTakes: tc.startTakes, failures: tc.failures}
			lister := &fakeFolders{folders: map[string][]box.Item{"5": files(3)}}
			b := &starter.Backfill{Service: starter.NewService(tt, starter.Options{}), Lister: lister, Rate: 20}
			starter.SetBackfillClock(b, clock.Now, clock.Sleep)
			rep, err := b.Run(context.Background(), "5")
			if err != nil {
				t.Fatal(err)
			}
			if rep.Started != 3 {
				t.Fatalf("report %+v", rep)
			}
			if !slices.Equal(tt.at, tc.wantAt) {
				t.Errorf("start attempts at %v, want %v", tt.at, tc.wantAt)
			}
			if got := clock.slept(); !slices.Equal(got, tc.wantSleeps) {
				t.Errorf("sleeps %v, want %v", got, tc.wantSleeps)
			}
		})
	}
}

// Too many failures in a row end the run with the error; the checkpoint
// keeps the position.
func TestBackfillGivesUpAfterMaxAttempts(t *testing.T) {
	clock := newFakeClock()
	tt := &timedTemporal{fakeTemporal: newFakeTemporal(), clock: clock, failures: 100}
	lister := &fakeFolders{folders: map[string][]box.Item{"5": files(3)}}
	b := &starter.Backfill{Service: starter.NewService(tt, starter.Options{}), Lister: lister, MaxAttempts: 3}
	starter.SetBackfillClock(b, clock.Now, clock.Sleep)
	_, err := b.Run(context.Background(), "5")
	if !errors.Is(err, starter.ErrUnavailable) || len(tt.at) != 3 {
		t.Fatalf("error %v after %d attempts, want ErrUnavailable after 3", err, len(tt.at))
	}
	if got := clock.slept(); !slices.Equal(got, []time.Duration{time.Second, 2 * time.Second}) {
		t.Fatalf("backoffs %v", got)
	}
}

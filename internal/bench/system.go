package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"filesight/internal/box"
	"filesight/internal/cluster"
	"filesight/internal/devstack"
	"filesight/internal/freeport"
	"filesight/workflows"
)

// system is the real filesight system for the system benchmarks: the
// programs as separate processes under devstack (Temporal's dev server or
// make cluster's topology, localbox, the vault, the starter, the
// workers), with simProvider in mlengine's place, on free ports and in a
// data directory of its own.
type system struct {
	st      *devstack.Stack
	sim     *simProvider
	simSrv  *http.Server
	env     *devstack.EnvFile
	tc      client.Client
	bc      *box.Client
	folder  string
	dataDir string
	mode    devstack.Mode
	workers int
	logf    *os.File
}

type systemOptions struct {
	Mode    devstack.Mode
	Workers int
	BinDir  string
	// Keep keeps the data directory (with every program's log).
	Keep bool
	// Env is added to dev.env before the start (the programs read it).
	Env map[string]string
	// MLEngine runs the real mlengine instead of simProvider.
	MLEngine bool
}

func startSystem(ctx context.Context, o systemOptions) (_ *system, err error) {
	dir, err := os.MkdirTemp("", "filesight-bench-"+string(o.Mode)+"-")
	if err != nil {
		return nil, err
	}
	s := &system{dataDir: dir, mode: o.Mode, workers: max(1, o.Workers)}
	defer func() {
		if err != nil {
			s.stop(o.Keep)
		}
	}()
	seed := map[string]string{"MLENGINE_API_KEY": randomHex() + randomHex()}
	var mlAddr string
	if o.Mode == devstack.ModeCluster {
		base, err := cluster.FreePortBase()
		if err != nil {
			return nil, err
		}
		seed["CLUSTER_PORT_BASE"] = fmt.Sprint(base)
		mlAddr = cluster.Ports{Base: base}.MLEngine()
	} else {
		for _, k := range devstack.AddressKeys() {
			a, err := freeport.Addr()
			if err != nil {
				return nil, err
			}
			seed[k] = a
		}
		ui, err := freeport.Addr()
		if err != nil {
			return nil, err
		}
		seed["TEMPORAL_UI_URL"] = "http://" + ui
		mlAddr = seed["MLENGINE_ADDR"]
	}
	for k, v := range o.Env {
		seed[k] = v
	}
	var b strings.Builder
	for k, v := range seed {
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	if err := os.WriteFile(filepath.Join(dir, "dev.env"), []byte(b.String()), 0o600); err != nil {
		return nil, err
	}

	var without []string
	if !o.MLEngine {
		s.sim = newSimProvider(seed["MLENGINE_API_KEY"])
		ln, err := net.Listen("tcp", mlAddr)
		if err != nil {
			return nil, fmt.Errorf("simulated provider at mlengine's address %s: %w", mlAddr, err)
		}
		s.simSrv = &http.Server{Handler: s.sim, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = s.simSrv.Serve(ln) }()
		without = []string{"mlengine"}
	}

	if s.logf, err = os.Create(filepath.Join(dir, "devstack.out")); err != nil {
		return nil, err
	}
	s.st, err = devstack.Start(ctx, devstack.Options{Mode: o.Mode, DataDir: dir, BinDir: o.BinDir, Workers: o.Workers,
		Without: without, NoSample: true, Out: s.logf})
	if err != nil {
		return nil, fmt.Errorf("starting the system (%s mode): %w\n%s", o.Mode, err, devstack.TailFile(s.logf.Name(), 30))
	}
	s.env, s.tc, s.bc = s.st.Env(), s.st.Temporal(), s.st.Box()
	s.folder, _ = s.env.Get("FILESIGHT_INBOX_FOLDER_ID")
	return s, nil
}

func (s *system) get(k string) string { v, _ := s.env.Get(k); return v }

// alive fails when a program of the stack has exited on its own.
func (s *system) alive() error { return s.st.Err() }

func (s *system) stop(keep bool) {
	if s.st != nil {
		_ = s.st.Stop()
	}
	if s.simSrv != nil {
		_ = s.simSrv.Close()
	}
	if s.logf != nil {
		s.logf.Close()
	}
	if !keep {
		os.RemoveAll(s.dataDir)
	}
}

// upload puts n small files named prefix-NNNN.ext into the inbox with conc
// uploaders; each upload's webhook starts a workflow. It returns the files
// in order.
func (s *system) upload(ctx context.Context, prefix, ext string, n, conc int) ([]*box.File, error) {
	out := make([]*box.File, n)
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				content := fmt.Appendf(nil, "not really media: benchmark file %s %d", prefix, i)
				out[i], errs[i] = s.bc.UploadFile(ctx, "", s.folder, fmt.Sprintf("%s-%04d.%s", prefix, i, ext), bytes.NewReader(content))
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("uploading: %w", err)
	}
	return out, nil
}

// workflowIDs are the workflow IDs of uploaded files.
func workflowIDs(files []*box.File) []string {
	ids := make([]string, len(files))
	for i, f := range files {
		ids[i] = workflows.WorkflowID(f.ID, f.VersionID())
	}
	return ids
}

// waitClosed waits until n workflows of the type started at or after since
// have closed, asking visibility once a second.
func waitClosed(ctx context.Context, tc client.Client, alive func() error, wfType string, since time.Time, n int, within time.Duration) error {
	q := fmt.Sprintf(`WorkflowType = %q AND ExecutionStatus != "Running" AND StartTime >= %q`, wfType, since.UTC().Format(time.RFC3339Nano))
	deadline := time.Now().Add(within)
	last := -1
	for {
		if err := alive(); err != nil {
			return err
		}
		resp, err := tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: q})
		if err == nil {
			last = int(resp.GetCount())
			if last >= n {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d %s workflows closed after %s (last error: %v)", max(last, 0), n, wfType, within, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// runTiming is what one workflow's history says about it.
type runTiming struct {
	Start, Mark, End time.Time
	Events           int
	Activities       int
	// WorkflowTasks and Upserts count completed workflow tasks and search
	// attribute upserts.
	WorkflowTasks, Upserts int
	// ActivityTypes lists the scheduled activities in order.
	ActivityTypes []string
	Completed     bool
}

// timing reads a workflow's history. Mark is when the activity of type
// markType completed (the last one, if it ran several times), or, with
// markType empty, when the markIndex-th scheduled activity (1-based) did.
func timing(ctx context.Context, tc client.Client, id, markType string, markIndex int) (runTiming, error) {
	var t runTiming
	it := tc.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	scheduled := map[int64]int{} // event id → position
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return t, fmt.Errorf("history of %s: %w", id, err)
		}
		t.Events++
		at := e.GetEventTime().AsTime()
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			t.Start = at
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			t.Activities++
			t.ActivityTypes = append(t.ActivityTypes, e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName())
			scheduled[e.GetEventId()] = t.Activities
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			pos := scheduled[e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()]
			if pos == 0 {
				continue
			}
			if (markType != "" && t.ActivityTypes[pos-1] == markType) || (markType == "" && pos == markIndex) {
				t.Mark = at
			}
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			t.WorkflowTasks++
		case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
			t.Upserts++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
			t.End, t.Completed = at, true
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
			enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
			t.End = at
		}
	}
	return t, nil
}

// timings reads many histories, a few at a time.
func timings(ctx context.Context, tc client.Client, ids []string, markType string, markIndex int) ([]runTiming, error) {
	out := make([]runTiming, len(ids))
	errs := make([]error, len(ids))
	parallel(len(ids), 8, func(i int) { out[i], errs[i] = timing(ctx, tc, ids[i], markType, markIndex) })
	return out, errors.Join(errs...)
}

// parallel calls f(0) … f(n-1), at most conc at a time, and returns when
// every call has.
func parallel(n, conc int, f func(i int)) {
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(i)
		}()
	}
	wg.Wait()
}

// post sends body with header h to url and returns the answer's status
// (0 when there was no answer).
func post(ctx context.Context, url string, body []byte, h http.Header) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// percentile of durations (p in [0, 100]), nearest rank.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	k := int(p/100*float64(len(s))+0.999999) - 1
	return s[min(max(k, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// progressf prints a progress line with the time.
func progressf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// clockTicks is the kernel's USER_HZ, the unit of CPU times in /proc.
const clockTicks = 100

// procStat is what /proc/<pid>/stat says about a process.
type procStat struct {
	parent int
	comm   string
	cpu    time.Duration // user + system
}

// procStats reads /proc/<pid>/stat of every process.
func procStats() map[int]procStat {
	procs := map[int]procStat{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		f := strings.Fields(s[closing+1:])
		if len(f) < 13 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		procs[pid] = procStat{parent: pp, comm: s[open+1 : closing], cpu: time.Duration(ut+st) * time.Second / clockTicks}
	}
	return procs
}

// below reports whether pid is root or one of its descendants.
func below(procs map[int]procStat, pid, root int) bool {
	for q := pid; q > 1; {
		if q == root {
			return true
		}
		p, ok := procs[q]
		if !ok {
			return false
		}
		q = p.parent
	}
	return false
}

// treeCPU is the CPU time (user + system) used so far by this process and
// every process below it, summed by command name (temporal, worker,
// localbox, ...; this process is "bench"): a profile of where a
// measurement's CPU went, process by process.
func treeCPU() map[string]time.Duration {
	self := os.Getpid()
	procs := procStats()
	out := map[string]time.Duration{}
	for pid, p := range procs {
		if !below(procs, pid, self) {
			continue
		}
		name := p.comm
		if pid == self {
			name = "bench"
		}
		out[name] += p.cpu
	}
	return out
}

// cpuSince is the CPU used since before per file (ms) and, formatted, by
// process name, largest first.
func cpuSince(before map[string]time.Duration, files int) (float64, string) {
	type row struct {
		name string
		d    time.Duration
	}
	var rows []row
	var total time.Duration
	for name, d := range treeCPU() {
		if d -= before[name]; d > 0 {
			rows = append(rows, row{name, d})
			total += d
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].d > rows[j].d })
	var parts []string
	for _, r := range rows {
		if r.d >= 10*time.Millisecond {
			parts = append(parts, fmt.Sprintf("%s %.1f", r.name, ms(r.d)/float64(max(files, 1))))
		}
	}
	perFile := ms(total) / float64(max(files, 1))
	return perFile, fmt.Sprintf("CPU ms per file %.1f: %s", perFile, strings.Join(parts, ", "))
}

package bench

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"filesight/internal/box"
	"filesight/internal/devstack"
	"filesight/internal/localbox"
	"filesight/internal/mlengine"
	"filesight/internal/program"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/samplemedia"
	"filesight/internal/secret"
	"filesight/internal/starter"
	"filesight/workflows"
)

// The chaos run (make chaos; a 20-file run in make test): the real system
// under devstack, every program a process of its own, real mlengine with
// its analyzers. Short spoken clips are uploaded into the inbox while
// localbox and mlengine inject faults through their admin APIs, the
// worker is SIGKILLed twice, the starter, localbox and mlengine once each
// (the starter with deliveries in flight), one genuine delivery is
// replayed 20 times and 200 forged deliveries arrive in a burst. Then it
// checks that nothing was lost, duplicated, left open or started by a
// forger. docs/chaos.md describes it.

// ChaosOptions configure a chaos run.
type ChaosOptions struct {
	// Files is how many clips are uploaded (make chaos: 100).
	Files int
	// Seed drives every random choice of the run (when each fault strikes,
	// outage lengths, the replayed delivery, mlengine's fault draws); 0
	// picks one, which the report prints.
	Seed uint64
	// BinDir holds the programs (default: bin/ at the module root).
	BinDir string
	// TokenTTL is localbox's token lifetime for the run (default 10m): a
	// token issued by an activity attempt that a SIGKILL cut short is
	// known to no workflow and expires instead of being revoked; the run
	// waits for such tokens to expire before it counts live tokens. It
	// must not be much shorter: card writes retry only until a minute
	// before their token expires, and with 3-minute tokens one file in
	// twenty ran out of retries on a busy machine (a failure card).
	TokenTTL time.Duration
	// Timeout bounds the whole run (default 60m: on 2 cores busy with
	// other work the analyses of 100 clips alone can take half an hour).
	Timeout time.Duration
	// Keep keeps the data directory with every program's log.
	Keep bool
	// Out receives progress and the report (default os.Stdout).
	Out io.Writer
}

// ChaosReport is what a chaos run found.
type ChaosReport struct {
	Seed                                                uint64
	Files, Completed, SuccessCards, DuplicateCards      int
	DuplicateJobs, LiveTokens, ForgedStarts, Lost       int
	MLJobs, RepeatedSubmits, TokensIssued, OrphanTokens int
	KnownLiveTokens, UnrevokedTokens                    int
	Forged, ForgedRejected, Replays                     int
	ReplayStatuses                                      map[int]int
	DeliveryAttempts, FailedDeliveries                  int
	Events                                              []string
	Took, OrphanWait                                    time.Duration
	DataDir                                             string
	Violations                                          []string
}

// Line is the RESULT line's text after "RESULT chaos ".
func (r *ChaosReport) Line() string {
	return fmt.Sprintf("files=%d completed=%d success_cards=%d duplicate_cards=%d duplicate_jobs=%d live_tokens=%d forged_starts=%d lost=%d"+
		" seed=%d ml_jobs=%d repeated_submits=%d tokens_issued=%d orphan_tokens=%d forged=%d replays=%d failed_deliveries=%d wall_s=%.0f pass=%t",
		r.Files, r.Completed, r.SuccessCards, r.DuplicateCards, r.DuplicateJobs, r.LiveTokens, r.ForgedStarts, r.Lost,
		r.Seed, r.MLJobs, r.RepeatedSubmits, r.TokensIssued, r.OrphanTokens, r.Forged, r.Replays, r.FailedDeliveries, r.Took.Seconds(), len(r.Violations) == 0)
}

type chaosRun struct {
	o       ChaosOptions
	s       *system
	plan    chaosPlan
	out     io.Writer
	rep     *ChaosReport
	began   time.Time
	tap     *deliveryTap
	hookURL string
	// folder is where the files go: a folder inside the inbox, so that the
	// inbox's webhook (the starter) and the tap's (on this folder) both fire.
	folder string

	// uploaded counts the files uploaded; attempted also counts uploads
	// that failed for good.
	uploaded, attempted atomic.Int64
	// gates[k] is closed once the k-th upload-keyed fault has struck
	// (plan.uploadFaults); the upload of file plan.uploadFaults[k].at waits for it.
	gates []chan struct{}
	mu    sync.Mutex
	files []*box.File // by upload index; nil until uploaded
}

// RunChaos runs the chaos test. The error is for a run that could not be
// carried out; what the run found wrong is in ChaosReport.Violations.
func RunChaos(ctx context.Context, o ChaosOptions) (*ChaosReport, error) {
	if o.Files <= 0 {
		o.Files = 100
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64() >> 1
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = 10 * time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Minute
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	c := &chaosRun{o: o, out: o.Out, began: time.Now(), plan: newChaosPlan(o.Seed, o.Files),
		rep: &ChaosReport{Seed: o.Seed, Files: o.Files, ReplayStatuses: map[int]int{}}, files: make([]*box.File, o.Files)}
	for range c.plan.uploadFaults {
		c.gates = append(c.gates, make(chan struct{}))
	}
	progressf(c.out, "chaos: %d files, seed %d (rerun with -seed %d), token lifetime %s", o.Files, o.Seed, o.Seed, o.TokenTTL)
	if err := samplemedia.Check(); err != nil {
		return nil, err
	}

	var err error
	c.s, err = startSystem(ctx, systemOptions{Mode: devstack.ModeDev, BinDir: o.BinDir, Keep: o.Keep, MLEngine: true, Env: map[string]string{
		// Box retries a failed delivery for about 2 hours; here for about 2 minutes.
		"LOCALBOX_WEBHOOK_RETRY_DELAYS": "1s,2s,3s,5s,5s,10s,10s,15s,20s,30s,30s",
		"LOCALBOX_TOKEN_TTL":            o.TokenTTL.String(),
		"MLENGINE_ADMIN_KEY":            randomHex() + randomHex(),
		// Resubmissions and retried submissions must not meet a full queue.
		"MLENGINE_QUEUE_LIMIT": "1000",
	}})
	if err != nil {
		return nil, err
	}
	c.rep.DataDir = c.s.dataDir
	defer c.s.stop(o.Keep)

	clips, err := c.clips(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.startTap(ctx); err != nil {
		return nil, err
	}
	defer c.tap.srv.Close()
	if err := c.injectFaults(ctx); err != nil {
		return nil, err
	}

	uctx, ucancel := context.WithCancel(ctx)
	defer ucancel()
	chaosDone := make(chan error, 1)
	go func() { chaosDone <- c.unleash(uctx) }()
	uploadErr := c.uploadAll(ctx, clips)
	if uploadErr != nil {
		ucancel() // the schedule waits for uploads that will not come
	}
	if err := errors.Join(uploadErr, <-chaosDone); err != nil {
		return nil, err
	}
	if err := c.awaitSettled(ctx); err != nil {
		return nil, err
	}
	if err := c.clearFaults(ctx); err != nil {
		return nil, err
	}
	if err := c.verify(ctx); err != nil {
		return nil, err
	}
	c.rep.Took = time.Since(c.began)
	c.print()
	return c.rep, nil
}

func (c *chaosRun) event(format string, args ...any) {
	msg := fmt.Sprintf("%6.1fs  %s", time.Since(c.began).Seconds(), fmt.Sprintf(format, args...))
	c.mu.Lock()
	c.rep.Events = append(c.rep.Events, msg)
	c.mu.Unlock()
	progressf(c.out, "chaos: %s", fmt.Sprintf(format, args...))
}

// clips generates a few short spoken clips; the uploads cycle through them.
func (c *chaosRun) clips(ctx context.Context) ([]string, error) {
	scripts := []string{
		"Filesight keeps every file safe.",
		"Workers restart and nothing is lost.",
		"Tokens are revoked when the work is done.",
		"Every upload gets its own workflow.",
	}
	dir := filepath.Join(c.s.dataDir, "clips")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var out []string
	for _, sc := range scripts {
		p, err := samplemedia.GenerateAudio(ctx, dir, sc)
		if err != nil {
			return nil, fmt.Errorf("generating a clip: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// deliveryTap is a second webhook receiver on the inbox: it records
// genuine deliveries (raw body and headers), so one can be replayed.
type deliveryTap struct {
	srv  *http.Server
	mu   sync.Mutex
	byID map[string]capturedDelivery // by file ID, first delivery
}

type capturedDelivery struct {
	body   []byte
	header http.Header
}

func (c *chaosRun) startTap(ctx context.Context) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	c.tap = &deliveryTap{byID: map[string]capturedDelivery{}}
	c.tap.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if ev, err := box.ParseWebhookEvent(body); err == nil && ev.Source.ID != "" {
			c.tap.mu.Lock()
			if _, ok := c.tap.byID[ev.Source.ID]; !ok {
				c.tap.byID[ev.Source.ID] = capturedDelivery{body: body, header: r.Header.Clone()}
			}
			c.tap.mu.Unlock()
		}
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = c.tap.srv.Serve(ln) }()
	c.hookURL = "http://" + c.s.get("STARTER_ADDR") + "/webhooks/box"
	sub, err := c.s.bc.CreateFolder(ctx, "", c.s.folder, "chaos")
	if err != nil {
		return fmt.Errorf("creating the chaos folder in the inbox: %w", err)
	}
	c.folder = sub.ID
	if _, err := c.s.bc.CreateWebhook(ctx, "", "folder", c.folder, "http://"+ln.Addr().String()+"/tap", starter.TriggerFileUploaded); err != nil {
		return fmt.Errorf("creating the tap webhook: %w", err)
	}
	return nil
}

func (t *deliveryTap) get(fileID string) (capturedDelivery, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, ok := t.byID[fileID]
	return d, ok
}

// localboxFaults: ≈10 % 5xx and 5 % 429 on every request (the admin API
// aside), each delayed by 200 ms.
var localboxFaults = localbox.Faults{Rules: []localbox.FaultRule{
	{PathPrefix: "/oauth2/", ErrorRate: 0.10, ErrorStatus: http.StatusServiceUnavailable, Rate429: 0.05, LatencyMS: 200, RetryAfterSeconds: 1},
	{PathPrefix: "/", ErrorRate: 0.10, ErrorStatus: http.StatusInternalServerError, Rate429: 0.05, LatencyMS: 200, RetryAfterSeconds: 1},
}}

// mlengineFaults: ≈10 % 5xx on submissions (served, then the answer
// lost: the job exists, the worker sees a failure) and on status reads,
// each delayed by 200 ms.
func (c *chaosRun) mlengineFaults() mlengine.Faults {
	return mlengine.Faults{Seed: c.o.Seed, Rules: []mlengine.FaultRule{
		{PathPrefix: "/v1/jobs", Method: http.MethodPost, ErrorRate: 0.10, ErrorStatus: http.StatusServiceUnavailable, AfterHandler: true, LatencyMS: 200, RetryAfterSeconds: 1},
		{PathPrefix: "/v1/jobs/", Method: http.MethodGet, ErrorRate: 0.10, ErrorStatus: http.StatusInternalServerError, LatencyMS: 200},
	}}
}

func (c *chaosRun) injectFaults(ctx context.Context) error {
	if err := c.putFaults(ctx, "localbox", localboxFaults); err != nil {
		return err
	}
	return c.putFaults(ctx, "mlengine", c.mlengineFaults())
}

func (c *chaosRun) clearFaults(ctx context.Context) error {
	if err := c.putFaults(ctx, "localbox", localbox.Faults{Rules: []localbox.FaultRule{}}); err != nil {
		return err
	}
	return c.putFaults(ctx, "mlengine", mlengine.Faults{Rules: []mlengine.FaultRule{}})
}

func (c *chaosRun) putFaults(ctx context.Context, program string, doc any) error {
	u, key := c.s.get("LOCALBOX_PUBLIC_URL")+"/_localbox/faults", c.s.get("LOCALBOX_ADMIN_KEY")
	if program == "mlengine" {
		u, key = c.s.get("MLENGINE_URL")+"/_mlengine/faults", c.s.get("MLENGINE_ADMIN_KEY")
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("setting %s's faults: %w", program, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("setting %s's faults: HTTP %d %s", program, resp.StatusCode, b)
	}
	return nil
}

// uploadAll uploads the files at a steady, seeded pace, two at a time.
// The upload of the file at which a fault is planned waits until that
// fault has struck, so that every fault meets the same point of the run
// however slow the machine is (a starter killed after the last upload
// would have no delivery in flight).
func (c *chaosRun) uploadAll(ctx context.Context, clips []string) error {
	next := make(chan int)
	errs := make([]error, c.o.Files)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f, err := c.uploadOne(ctx, fmt.Sprintf("chaos-%03d.m4a", i), clips[i%len(clips)])
				if err != nil {
					errs[i] = err
					c.attempted.Add(1)
					continue
				}
				c.mu.Lock()
				c.files[i] = f
				c.mu.Unlock()
				c.uploaded.Add(1)
				c.attempted.Add(1)
			}
		}()
	}
	for i := range c.o.Files {
		for k, f := range c.plan.uploadFaults {
			if f.at == i {
				select {
				case <-c.gates[k]:
				case <-ctx.Done():
				}
			}
		}
		select {
		case next <- i:
		case <-ctx.Done():
		}
		select {
		case <-ctx.Done():
		case <-time.After(c.plan.gaps[i]):
		}
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}

// uploadOne uploads one file, retrying what localbox's faults and restart
// make fail. A 409 means an earlier attempt got through (its answer was
// lost): that file is the upload.
func (c *chaosRun) uploadOne(ctx context.Context, name, path string) (*box.File, error) {
	deadline := time.Now().Add(5 * time.Minute)
	for attempt := 1; ; attempt++ {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		up, err := c.s.bc.UploadFile(ctx, "", c.folder, name, f)
		f.Close()
		if err == nil {
			return up, nil
		}
		if box.IsStatus(err, http.StatusConflict) {
			if up, ferr := c.findFile(ctx, name); ferr == nil {
				return up, nil
			}
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return nil, fmt.Errorf("uploading %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(time.Duration(attempt)*300*time.Millisecond, 3*time.Second)):
		}
	}
}

func (c *chaosRun) findFile(ctx context.Context, name string) (*box.File, error) {
	items, err := c.s.bc.ListFolderItems(ctx, "", c.folder)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if it.Type == "file" && it.Name == name {
			return c.s.bc.GetFile(ctx, "", it.ID, "name", "file_version")
		}
	}
	return nil, fmt.Errorf("%s not in the inbox", name)
}

// count is the number of workflows a visibility query matches (-1 when
// it cannot be asked).
func (c *chaosRun) count(ctx context.Context, query string) int {
	resp, err := c.s.tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query})
	if err != nil {
		return -1
	}
	return int(resp.GetCount())
}

const completedQuery = `WorkflowType = "ProcessFile" AND ExecutionStatus = "Completed"`

// faultKind is a fault struck at an upload.
type faultKind string

const (
	faultWorker   faultKind = "SIGKILL worker"
	faultStarter  faultKind = "SIGKILL starter"
	faultForge    faultKind = "200 forged deliveries"
	faultLocalbox faultKind = "SIGKILL localbox"
	faultMLEngine faultKind = "SIGKILL mlengine"
)

// plannedFault is a fault struck when at files have been uploaded (or
// have failed to), keeping the program down for outage.
type plannedFault struct {
	kind   faultKind
	at     int
	outage time.Duration
}

// chaosPlan is every random choice of a run, drawn from its seed before
// anything starts: the same seed gives the same plan.
type chaosPlan struct {
	// uploadFaults, in order, each at a fraction of the uploads (±3 %).
	uploadFaults []plannedFault
	// secondWorkerOutage is the worker's outage once half of the files are done.
	secondWorkerOutage time.Duration
	// replay is the index of the file whose delivery is replayed.
	replay int
	// gaps are the pauses after each upload.
	gaps []time.Duration
}

func newChaosPlan(seed uint64, files int) chaosPlan {
	rng := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	down := func() time.Duration { return 2*time.Second + time.Duration(rng.IntN(3000))*time.Millisecond }
	var p chaosPlan
	last := 0
	for _, f := range []struct {
		kind faultKind
		frac float64
	}{{faultWorker, 0.20}, {faultStarter, 0.35}, {faultForge, 0.45}, {faultLocalbox, 0.60}, {faultMLEngine, 0.75}} {
		at := int(math.Round(float64(files) * (f.frac + (rng.Float64()-0.5)*0.06)))
		// At least one file before the first fault and after the last,
		// in order.
		at = min(max(at, last, 1), files-1)
		last = at
		p.uploadFaults = append(p.uploadFaults, plannedFault{kind: f.kind, at: at, outage: down()})
	}
	p.secondWorkerOutage = down()
	p.replay = rng.IntN(max(1, files/4))
	window := max(15*time.Second, time.Duration(files)*300*time.Millisecond)
	gap := window / time.Duration(files)
	for range files {
		p.gaps = append(p.gaps, time.Duration(float64(gap)*(0.5+rng.Float64())))
	}
	return p
}

// unleash strikes the run's faults: each upload-keyed one once its
// number of uploads is through (the uploads wait for it), then the
// others once the run has reached their point.
func (c *chaosRun) unleash(ctx context.Context) error {
	released := 0
	release := func() { close(c.gates[released]); released++ }
	// Whatever happens, no upload waits for a fault that will not come.
	defer func() {
		for released < len(c.gates) {
			release()
		}
	}()
	waitFor := func(what string, cond func() bool) error {
		for !cond() {
			if err := c.s.alive(); err != nil {
				return err
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
			case <-time.After(250 * time.Millisecond):
			}
		}
		return nil
	}
	for _, f := range c.plan.uploadFaults {
		if err := waitFor(fmt.Sprintf("%d uploads", f.at), func() bool { return c.attempted.Load() >= int64(f.at) }); err != nil {
			return err
		}
		var err error
		switch f.kind {
		case faultWorker:
			err = c.bounce(ctx, "worker", f.outage, release, nil)
		case faultStarter:
			err = c.bounceStarter(ctx, f.outage, release)
		case faultForge:
			release()
			err = c.forge(ctx, 200)
		case faultLocalbox:
			err = c.bounce(ctx, "localbox", f.outage, release, func() error { return c.putFaults(ctx, "localbox", localboxFaults) })
		case faultMLEngine:
			err = c.bounce(ctx, "mlengine", f.outage, release, func() error { return c.putFaults(ctx, "mlengine", c.mlengineFaults()) })
		}
		if err != nil {
			return err
		}
	}
	replayIdx := c.plan.replay
	steps := []struct {
		what string
		when func() bool
		do   func() error
	}{
		{"the delivery to replay captured", func() bool { return c.captured(replayIdx) }, func() error { return c.replay(ctx, replayIdx, 10) }},
		{"half of the files done", func() bool { return c.count(ctx, completedQuery) >= c.o.Files/2 }, func() error {
			return c.bounce(ctx, "worker", c.plan.secondWorkerOutage, func() {}, nil)
		}},
		{"the replayed file done", func() bool { return c.workflowDone(ctx, replayIdx) }, func() error { return c.replay(ctx, replayIdx, 10) }},
	}
	for _, st := range steps {
		if err := waitFor(st.what, st.when); err != nil {
			return err
		}
		if err := st.do(); err != nil {
			return err
		}
	}
	return nil
}

// bounce SIGKILLs a program, keeps it down for a while (the outage is the
// point), starts it again and waits until it is ready; after, if set,
// runs once it is back (faults live in memory: they are set again).
func (c *chaosRun) bounce(ctx context.Context, name string, outage time.Duration, struck func(), after func() error) error {
	running := c.count(ctx, `WorkflowType = "ProcessFile" AND ExecutionStatus = "Running"`)
	if err := c.s.st.Kill(name); err != nil {
		return err
	}
	struck()
	c.event("SIGKILL %s (%d of %d files uploaded, %d runs in flight); down for %.1f s", name, c.uploaded.Load(), c.o.Files, running, outage.Seconds())
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(outage):
	}
	began := time.Now()
	if err := c.s.st.Restart(name); err != nil {
		return fmt.Errorf("restarting %s: %w", name, err)
	}
	if after != nil {
		if err := after(); err != nil {
			return err
		}
	}
	c.event("%s back (ready %.1f s after its start)", name, time.Since(began).Seconds())
	return nil
}

// bounceStarter is bounce for the starter, whose outage lasts at least
// until a delivery has failed against it (deliveries were in flight) or
// 30 s have passed.
func (c *chaosRun) bounceStarter(ctx context.Context, outage time.Duration, struck func()) error {
	before := c.failedDeliveries(ctx)
	if err := c.s.st.Kill("starter"); err != nil {
		return err
	}
	struck()
	killed := time.Now()
	c.event("SIGKILL starter (%d of %d files uploaded); down for at least %.1f s and until a delivery has failed", c.uploaded.Load(), c.o.Files, outage.Seconds())
	for time.Since(killed) < outage || (c.failedDeliveries(ctx) <= before && time.Since(killed) < 30*time.Second) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	failed := c.failedDeliveries(ctx) - before
	began := time.Now()
	if err := c.s.st.Restart("starter"); err != nil {
		return fmt.Errorf("restarting starter: %w", err)
	}
	c.event("starter back after %.1f s down, %d deliveries failed meanwhile (localbox retries them)", began.Sub(killed).Seconds(), failed)
	return nil
}

// failedDeliveries counts the inbox webhook's delivery attempts that got
// no 2xx.
func (c *chaosRun) failedDeliveries(ctx context.Context) int {
	var dl struct {
		Entries []localbox.Delivery `json:"entries"`
	}
	if err := c.adminGet(ctx, "/_localbox/webhook-deliveries?limit=10000&webhook_id="+c.s.get("FILESIGHT_INBOX_WEBHOOK_ID"), &dl); err != nil {
		return -1
	}
	n := 0
	for _, d := range dl.Entries {
		if !d.Delivered {
			n++
		}
	}
	return n
}

func (c *chaosRun) file(i int) *box.File {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.files[i]
}

func (c *chaosRun) captured(i int) bool {
	f := c.file(i)
	if f == nil {
		return false
	}
	_, ok := c.tap.get(f.ID)
	return ok
}

func (c *chaosRun) workflowDone(ctx context.Context, i int) bool {
	f := c.file(i)
	if f == nil {
		return false
	}
	d, err := c.s.tc.DescribeWorkflowExecution(ctx, workflows.WorkflowID(f.ID, f.VersionID()), "")
	return err == nil && d.GetWorkflowExecutionInfo().GetCloseTime() != nil
}

// replay sends a genuine delivery, byte for byte with its signature
// headers, n more times at once.
func (c *chaosRun) replay(ctx context.Context, i, n int) error {
	f := c.file(i)
	d, _ := c.tap.get(f.ID)
	statuses := make([]int, n)
	parallel(n, n, func(k int) { statuses[k] = post(ctx, c.hookURL, d.body, d.header.Clone()) })
	c.mu.Lock()
	for _, st := range statuses {
		c.rep.ReplayStatuses[st]++
	}
	c.rep.Replays += n
	c.mu.Unlock()
	c.event("replayed the genuine delivery of file %s (%s) %d times: HTTP %v", f.ID, f.Name, n, statuses)
	return nil
}

// Forged deliveries: file IDs in a range localbox never gives out.
func forgedFileID(k int) string { return fmt.Sprint(990000000000 + k) }

// forge sends n forged deliveries at once, in five kinds: signed with a
// wrong key; with the right key but a stale timestamp; a genuine
// signature over another body; unsigned; signed over the body alone.
func (c *chaosRun) forge(ctx context.Context, n int) error {
	key := []byte(c.s.get("BOX_WEBHOOK_PRIMARY_KEY"))
	wrong := []byte(randomHex() + randomHex())
	statuses := make([]int, n)
	parallel(n, 32, func(k int) {
		id := forgedFileID(k)
		body := forgedEvent(id, c.s.folder)
		ts := time.Now().UTC().Format(time.RFC3339)
		h := http.Header{}
		switch k % 5 {
		case 0:
			h = box.SignWebhook(secret.String(wrong), "", body, ts, "forged-"+id)
		case 1:
			ts = time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
			h = box.SignWebhook(secret.String(key), "", body, ts, "forged-"+id)
		case 2:
			h = box.SignWebhook(secret.String(key), "", forgedEvent(forgedFileID(k+n), c.s.folder), ts, "forged-"+id)
		case 3:
			h.Set("BOX-DELIVERY-ID", "forged-"+id)
			h.Set("BOX-DELIVERY-TIMESTAMP", ts)
		case 4:
			h = box.SignWebhook(secret.String(key), "", body, ts, "forged-"+id)
			m := hmac.New(sha256.New, key)
			m.Write(body)
			h.Set("BOX-SIGNATURE-PRIMARY", base64.StdEncoding.EncodeToString(m.Sum(nil)))
		}
		h.Set("Content-Type", "application/json")
		statuses[k] = post(ctx, c.hookURL, body, h)
	})
	byStatus := map[int]int{}
	for _, st := range statuses {
		byStatus[st]++
	}
	c.mu.Lock()
	c.rep.Forged += n
	c.rep.ForgedRejected += byStatus[http.StatusUnauthorized] + byStatus[http.StatusBadRequest]
	c.mu.Unlock()
	c.event("%d forged deliveries sent at once: HTTP %v", n, byStatus)
	return nil
}

func forgedEvent(fileID, folder string) []byte {
	b, _ := json.Marshal(map[string]any{
		"type": "webhook_event", "id": "forged-event-" + fileID, "created_at": time.Now().UTC().Format(time.RFC3339),
		"trigger": starter.TriggerFileUploaded, "webhook": map[string]string{"id": "1", "type": "webhook"},
		"source": map[string]any{"type": "file", "id": fileID, "name": "forged-" + fileID + ".mp4", "size": 1000,
			"file_version": map[string]string{"type": "file_version", "id": "1"}, "parent": map[string]string{"type": "folder", "id": folder}},
	})
	return b
}

// awaitSettled waits until every file's run has closed, or, should a
// file be lost, until nothing is left to happen: no run open and no
// delivery pending in localbox's outbox, three checks in a row.
func (c *chaosRun) awaitSettled(ctx context.Context) error {
	progressf(c.out, "chaos: every file uploaded; waiting for the runs to finish")
	quiet := 0
	last := time.Now()
	for {
		if err := c.s.alive(); err != nil {
			return err
		}
		closed := c.count(ctx, `WorkflowType = "ProcessFile" AND ExecutionStatus != "Running"`)
		running := c.count(ctx, `WorkflowType = "ProcessFile" AND ExecutionStatus = "Running"`)
		if closed >= c.o.Files {
			c.event("all %d runs closed", closed)
			return nil
		}
		if running == 0 && c.pendingDeliveries(ctx) == 0 {
			quiet++
		} else {
			quiet = 0
		}
		if quiet >= 3 {
			c.event("%d runs closed, none running, no delivery pending: the rest will not come", closed)
			return nil
		}
		if time.Since(last) > 30*time.Second {
			progressf(c.out, "chaos: %d runs closed, %d running", closed, running)
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the runs (%d closed, %d running): %w", closed, running, ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}

func (c *chaosRun) adminGet(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.s.get("LOCALBOX_PUBLIC_URL")+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.s.get("LOCALBOX_ADMIN_KEY"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("localbox %s: HTTP %d", path, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (c *chaosRun) pendingDeliveries(ctx context.Context) int {
	var body struct {
		TotalCount int `json:"total_count"`
	}
	if err := c.adminGet(ctx, "/_localbox/webhook-events?state=pending", &body); err != nil {
		return -1
	}
	return body.TotalCount
}

func (c *chaosRun) liveTokens(ctx context.Context) ([]localbox.AdminToken, error) {
	var body struct {
		Entries []localbox.AdminToken `json:"entries"`
	}
	err := c.adminGet(ctx, "/_localbox/tokens?state=live", &body)
	return body.Entries, err
}

func (c *chaosRun) violation(format string, args ...any) {
	c.rep.Violations = append(c.rep.Violations, fmt.Sprintf(format, args...))
}

// verify counts what the run left behind.
func (c *chaosRun) verify(ctx context.Context) error {
	r := c.rep
	known := map[string]bool{} // fingerprints of the tokens the runs know
	ids := map[string]bool{}
	for i := range c.o.Files {
		f := c.file(i)
		if f == nil {
			r.Lost++
			c.violation("file %d was never uploaded", i)
			continue
		}
		id := workflows.WorkflowID(f.ID, f.VersionID())
		ids[id] = true
		var res workflows.ProcessFileResult
		err := c.s.tc.GetWorkflow(ctx, id, "").Get(ctx, &res)
		var nf *serviceerror.NotFound
		switch {
		case errors.As(err, &nf):
			r.Lost++
			c.violation("file %s (%s): no workflow %s", f.ID, f.Name, id)
			continue
		case err != nil:
			c.violation("workflow %s: %v", id, err)
		case res.Outcome != workflows.OutcomeSuccess:
			c.violation("workflow %s: outcome %s (%s)", id, res.Outcome, res.Message)
		default:
			r.Completed++
		}
		// Every token a run came to hold it revoked (this holds even when
		// the progress query below fails and its tokens look unknown).
		if err == nil && res.TokensIssued != res.TokensRevoked {
			r.UnrevokedTokens += res.TokensIssued - res.TokensRevoked
			c.violation("workflow %s: %d tokens issued, %d revoked", id, res.TokensIssued, res.TokensRevoked)
		}
		if v, err := c.s.tc.QueryWorkflow(ctx, id, "", workflows.QueryProgress); err == nil {
			var p workflows.Progress
			if v.Get(&p) == nil {
				for _, t := range p.Tokens {
					known[t.ID] = true
				}
			}
		}
		doc, err := c.s.bc.GetSkillsCards(ctx, "", f.ID)
		if err != nil {
			c.violation("cards of file %s: %v", f.ID, err)
			continue
		}
		seen := map[string]int{}
		var status []box.Card
		for _, card := range doc.Cards {
			k := card.SkillCardType
			if card.SkillCardTitle != nil {
				k += "/" + card.SkillCardTitle.Code + "/" + card.SkillCardTitle.Message
			}
			seen[k]++
			if card.SkillCardType == box.CardTypeStatus {
				status = append(status, card)
			}
		}
		for k, n := range seen {
			if n > 1 {
				r.DuplicateCards += n - 1
				c.violation("file %s: %d %s cards", f.ID, n, k)
			}
		}
		if len(status) == 1 && status[0].Status != nil && status[0].Status.Code == box.StatusSuccess {
			r.SuccessCards++
		} else {
			c.violation("file %s: status cards %+v, want exactly one success card", f.ID, status)
		}
	}

	// mlengine: one job per workflow, job and attempt.
	ml := mlengineapi.New(mlengineapi.Config{BaseURL: c.s.get("MLENGINE_URL"), APIKey: secret.String(c.s.get("MLENGINE_API_KEY"))})
	perKey := map[string]int{}
	for o := (mlengineapi.ListOptions{Limit: 1000}); ; {
		page, err := ml.ListJobs(ctx, o)
		if err != nil {
			return fmt.Errorf("listing mlengine's jobs: %w", err)
		}
		for _, j := range page.Jobs {
			r.MLJobs++
			r.RepeatedSubmits += j.Submissions - 1
			wf := j.Labels["workflow_id"]
			key := wf + "/" + j.Labels["job"]
			if a := j.Labels["attempt"]; a != "" {
				key += "/attempt-" + a
			}
			if !ids[wf] {
				c.violation("mlengine job %s belongs to no uploaded file (labels %v)", j.ID, j.Labels)
			}
			if j.IdempotencyKey != key {
				c.violation("mlengine job %s: idempotency key %q, want %q", j.ID, j.IdempotencyKey, key)
			}
			perKey[key]++
		}
		if page.Next == "" {
			break
		}
		o.After = page.Next
	}
	for key, n := range perKey {
		if n > 1 {
			r.DuplicateJobs += n - 1
			c.violation("%d mlengine jobs for %s", n, key)
		}
	}

	// Forged deliveries started nothing.
	for k := range r.Forged {
		_, err := c.s.tc.DescribeWorkflowExecution(ctx, workflows.WorkflowID(forgedFileID(k), "1"), "")
		var nf *serviceerror.NotFound
		if !errors.As(err, &nf) {
			r.ForgedStarts++
			c.violation("forged delivery %d: workflow %s exists (%v)", k, workflows.WorkflowID(forgedFileID(k), "1"), err)
		}
	}
	if r.ForgedRejected != r.Forged {
		c.violation("%d of %d forged deliveries were not refused with 401/400", r.Forged-r.ForgedRejected, r.Forged)
	}

	// Deliveries localbox had to retry (the starter's outage, its own).
	var dl struct {
		TotalCount int `json:"total_count"`
	}
	if err := c.adminGet(ctx, "/_localbox/webhook-deliveries?limit=1&webhook_id="+c.s.get("FILESIGHT_INBOX_WEBHOOK_ID"), &dl); err == nil {
		r.DeliveryAttempts = dl.TotalCount
	}
	r.FailedDeliveries = c.failedDeliveries(ctx)
	if r.FailedDeliveries <= 0 {
		c.violation("no delivery failed although the starter was down while files were uploaded")
	}

	// Tokens: none a run knows may be live; one that no run knows was
	// issued to an attempt a SIGKILL cut short, and must expire.
	var all struct {
		TotalCount int `json:"total_count"`
	}
	if err := c.adminGet(ctx, "/_localbox/tokens?state=all", &all); err != nil {
		return err
	}
	r.TokensIssued = all.TotalCount
	live, err := c.liveTokens(ctx)
	if err != nil {
		return err
	}
	var latest time.Time
	for _, t := range live {
		if len(t.SHA256Prefix) >= 12 && known[t.SHA256Prefix[:12]] {
			r.KnownLiveTokens++
			c.violation("token %s (%v, file %s) is known to its run and still live", t.ID, t.Scopes, t.ResourceID)
			continue
		}
		r.OrphanTokens++
		if exp, err := time.Parse(time.RFC3339, t.ExpiresAt); err == nil && exp.After(latest) {
			latest = exp
		}
	}
	if r.OrphanTokens > 0 {
		wait := time.Until(latest) + 2*time.Second
		c.event("%d live token(s) known to no run (issued to attempts a SIGKILL cut short); waiting %s for them to expire", r.OrphanTokens, wait.Round(time.Second))
		began := time.Now()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(max(wait, 0)):
		}
		r.OrphanWait = time.Since(began)
		if live, err = c.liveTokens(ctx); err != nil {
			return err
		}
	}
	r.LiveTokens = len(live)
	if r.LiveTokens > 0 {
		c.violation("%d downscoped tokens live at the end", r.LiveTokens)
	}
	if r.Completed != r.Files {
		c.violation("%d of %d files completed with outcome success", r.Completed, r.Files)
	}
	if r.Lost > 0 {
		c.violation("%d files lost", r.Lost)
	}
	return nil
}

func (c *chaosRun) print() {
	r := c.rep
	w := c.out
	fmt.Fprintf(w, "\nchaos run, seed %d: %d files through signed webhooks on the dev server, every program a process of its own\n", r.Seed, r.Files)
	fmt.Fprintln(w, "timeline:")
	for _, e := range r.Events {
		fmt.Fprintf(w, "  %s\n", e)
	}
	ok := func(b bool) string {
		if b {
			return "ok"
		}
		return "FAILED"
	}
	row := func(what string, v any, check string) { fmt.Fprintf(w, "  %-58s %10v  %s\n", what, v, check) }
	var replays []string
	for st, n := range r.ReplayStatuses {
		replays = append(replays, fmt.Sprintf("%d×HTTP %d", n, st))
	}
	sort.Strings(replays)
	row("files uploaded", r.Files, "")
	row("runs completed with outcome success", fmt.Sprintf("%d/%d", r.Completed, r.Files), ok(r.Completed == r.Files))
	row("files with exactly one final success card", fmt.Sprintf("%d/%d", r.SuccessCards, r.Files), ok(r.SuccessCards == r.Files))
	row("duplicate cards", r.DuplicateCards, ok(r.DuplicateCards == 0))
	row("mlengine jobs", r.MLJobs, "")
	row("jobs created twice for one attempt", r.DuplicateJobs, ok(r.DuplicateJobs == 0))
	row("retried submissions answered with the existing job", r.RepeatedSubmits, "")
	row("downscoped tokens issued", r.TokensIssued, "")
	row("tokens known to a run left live", r.KnownLiveTokens, ok(r.KnownLiveTokens == 0))
	row("tokens a run issued and did not revoke (its result)", r.UnrevokedTokens, ok(r.UnrevokedTokens == 0))
	row("tokens of attempts cut short (expired, not revoked)", r.OrphanTokens, "")
	row("live downscoped tokens at the end", r.LiveTokens, ok(r.LiveTokens == 0))
	row("forged deliveries refused", fmt.Sprintf("%d/%d", r.ForgedRejected, r.Forged), ok(r.ForgedRejected == r.Forged))
	row("runs started by forged deliveries", r.ForgedStarts, ok(r.ForgedStarts == 0))
	row("replays of one genuine delivery", fmt.Sprintf("%d (%s)", r.Replays, strings.Join(replays, ", ")), "")
	row("webhook delivery attempts / failed and retried by localbox", fmt.Sprintf("%d/%d", r.DeliveryAttempts, r.FailedDeliveries), "")
	row("files lost (no run for their version)", r.Lost, ok(r.Lost == 0))
	row("wall time (waiting for orphan tokens to expire)", fmt.Sprintf("%s (%s)", r.Took.Round(time.Second), r.OrphanWait.Round(time.Second)), "")
	for _, v := range r.Violations {
		fmt.Fprintf(w, "  VIOLATION: %s\n", v)
	}
	if c.o.Keep {
		fmt.Fprintf(w, "  data and logs kept in %s\n", r.DataDir)
	}
	fmt.Fprintf(w, "RESULT chaos %s\n", r.Line())
}

// chaosMain is `filesight-bench chaos`.
func chaosMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := ChaosOptions{Out: stdout}
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.Files, "files", 100, "files to upload")
	fs.Uint64Var(&o.Seed, "seed", 0, "seed of every random choice (0: pick one and print it)")
	fs.StringVar(&o.BinDir, "bin-dir", "", "the programs and the Temporal CLI (default: bin/ at the module root)")
	fs.DurationVar(&o.TokenTTL, "token-ttl", 10*time.Minute, "localbox's token lifetime for the run")
	fs.DurationVar(&o.Timeout, "timeout", 60*time.Minute, "bound on the whole run")
	fs.BoolVar(&o.Keep, "keep", false, "keep the data directory and every program's log")
	if err := fs.Parse(args); err != nil {
		return program.Usage(err)
	}
	if fs.NArg() > 0 {
		return program.Usage(fmt.Errorf("chaos takes no arguments, got %q", fs.Args()))
	}
	rep, err := RunChaos(ctx, o)
	if err != nil {
		return err
	}
	if len(rep.Violations) > 0 {
		return fmt.Errorf("the chaos run found %d violation(s); rerun with -seed %d -keep to investigate", len(rep.Violations), rep.Seed)
	}
	return nil
}

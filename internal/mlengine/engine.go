package mlengine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"filesight/internal/egress"
	"filesight/internal/provider"
	"filesight/internal/provider/mlengineapi"
)

// Job error codes set by the engine itself (besides the media codes in fetch.go
// and the analyzer's own codes).
const (
	CodeInterrupted    = "interrupted"     // the service restarted too often during the job, or lost its media
	CodeTimeout        = "timeout"         // the analysis ran longer than MLENGINE_JOB_TIMEOUT
	CodeAnalysesFailed = "analyses_failed" // every requested analysis failed
	CodeInternal       = "internal"        // an unexpected error in the service
	CodeCanceled       = "canceled"        // DELETE /v1/jobs/{id}
)

var (
	errCanceledByUser = errors.New("job canceled by request")
	errJobTimeout     = errors.New("job timeout")
	errCancelPending  = errors.New("cancellation requested, job still stopping")
	errNotFinished    = errors.New("job not finished")
)

// engine owns the job lifecycle: the download and analysis workers, the
// callback outbox, cancellation and restart recovery. The database is the
// source of truth; active holds what only exists while a job is being worked
// on (its cancel function and live progress).
type engine struct {
	cfg            Config
	log            *slog.Logger
	store          *store
	analyzer       Analyzer
	policy         *egress.Policy
	mediaClient    *http.Client
	callbackClient *http.Client

	ctx  context.Context // done when the engine stops
	stop context.CancelFunc
	wg   sync.WaitGroup

	// mu orders claims, cancellations and terminal transitions, so a job is
	// never both claimed by a worker and canceled as idle.
	mu     sync.Mutex
	active map[string]*activeJob
	// downloads counts downloads in flight, prefetchPaused says whether
	// downloads ahead of analysis wait for room (logged once per pause),
	// and recheck wakes them to look at the disk again (all under mu).
	downloads      int
	prefetchPaused bool
	recheck        *time.Timer
	// downloadBytes is what the downloads in flight have written so far.
	downloadBytes atomic.Int64

	fetchWake, runWake, callbackWake chan struct{}
}

type activeJob struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{}

	mu        sync.Mutex
	analyses  []string
	states    map[string]provider.State
	fractions map[string]float64
	// jobFraction is the whole job's fraction when the analyzer reports one
	// (-1 until then); otherwise progress is derived from the analyses.
	jobFraction float64
}

func newEngine(cfg Config, log *slog.Logger, st *store, a Analyzer, policy *egress.Policy) *engine {
	ctx, stop := context.WithCancel(context.Background())
	// Media and callbacks go only where the outbound policy allows, checked
	// on the addresses dialled; media follows redirects within the policy,
	// callbacks none at all.
	mt := policy.Transport()
	mt.ResponseHeaderTimeout = cfg.MediaIdleTimeout
	return &engine{
		cfg: cfg, log: log, store: st, analyzer: a, policy: policy,
		mediaClient: &http.Client{Transport: mt, CheckRedirect: policy.CheckRedirect},
		callbackClient: &http.Client{Transport: policy.Transport(), Timeout: cfg.CallbackTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		ctx: ctx, stop: stop,
		active:       map[string]*activeJob{},
		fetchWake:    make(chan struct{}, 1),
		runWake:      make(chan struct{}, 1),
		callbackWake: make(chan struct{}, 1),
	}
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (e *engine) now() time.Time { return time.Now().UTC() }

// Paths of a job's files.
func (e *engine) jobsDir() string            { return filepath.Join(e.cfg.DataDir, "jobs") }
func (e *engine) jobDir(id string) string    { return filepath.Join(e.jobsDir(), id) }
func (e *engine) mediaPath(id string) string { return filepath.Join(e.jobDir(id), "media") }
func (e *engine) workDir(id string) string   { return filepath.Join(e.jobDir(id), "work") }
func (e *engine) resultPath(id string) string {
	return filepath.Join(e.jobDir(id), "result.json")
}
func (e *engine) artifactDir(id string) string { return filepath.Join(e.jobDir(id), "artifacts") }

// start recovers interrupted jobs and starts the workers.
func (e *engine) start(ctx context.Context) error {
	if err := os.MkdirAll(e.jobsDir(), 0o700); err != nil {
		return fmt.Errorf("create jobs directory: %w", err)
	}
	if err := e.recover(ctx); err != nil {
		return err
	}
	for range e.cfg.FetchConcurrency {
		e.goWorker(fetchPending, e.fetchWake, e.fetchJob)
	}
	for range e.cfg.ParallelJobs {
		e.goWorker(fetchDone, e.runWake, e.runJob)
	}
	e.wg.Go(e.callbackLoop)
	e.wg.Go(e.janitor)
	poke(e.fetchWake)
	poke(e.runWake)
	return nil
}

// close stops the workers. Jobs being worked on are interrupted (their
// processes killed) but keep their stored state, so the next start resumes
// them.
func (e *engine) close() {
	e.stop()
	e.wg.Wait()
}

func (e *engine) goWorker(stage string, wake chan struct{}, work func(*job, *activeJob)) {
	e.wg.Go(func() {
		for {
			j, a := e.claim(stage)
			if j == nil {
				select {
				case <-e.ctx.Done():
					return
				case <-wake:
					continue
				}
			}
			// Another idle worker may find more work.
			poke(wake)
			work(j, a)
		}
	})
}

// claim takes the oldest job waiting for stage (fetchPending: download,
// fetchDone: analysis) and registers it as active.
func (e *engine) claim(stage string) (*job, *activeJob) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx.Err() != nil {
		return nil, nil
	}
	j, err := e.store.next(e.ctx, stage)
	if err != nil {
		e.log.Error("finding the next job failed", "error", err)
		return nil, nil
	}
	if j == nil {
		return nil, nil
	}
	if stage == fetchPending {
		if why := e.prefetchBlockedLocked(); why != "" {
			e.pausePrefetchLocked(why)
			return nil, nil
		}
		if e.prefetchPaused {
			e.prefetchPaused = false
			e.log.Info("downloads ahead of analysis resumed")
		}
	}
	now := e.now()
	if stage == fetchPending {
		err = e.store.setFetchState(e.ctx, j.ID, fetchFetching, now)
		if err == nil {
			e.downloads++
		}
	} else {
		j.States = initialStates(j.Analyses, provider.StateQueued)
		err = e.store.markRunning(e.ctx, j.ID, j.States, now)
		// Its media no longer waits: a download may have room again.
		poke(e.fetchWake)
	}
	if err != nil {
		e.log.Error("claiming a job failed", "job_id", j.ID, "error", err)
		return nil, nil
	}
	ctx, cancel := context.WithCancelCause(e.ctx)
	a := &activeJob{ctx: ctx, cancel: cancel, done: make(chan struct{}), analyses: j.Analyses,
		states: initialStates(j.Analyses, provider.StateQueued), fractions: map[string]float64{}, jobFraction: -1}
	e.active[j.ID] = a
	return j, a
}

// prefetchBlockedLocked says why no download may start now ("" when one
// may): the media waiting for analysis, with what the downloads in flight
// have written, has reached MLENGINE_PREFETCH_BYTES, or the disk has less
// than MLENGINE_MIN_FREE_BYTES free. The next job to analyse is always
// fetched: when no media waits and nothing downloads, nothing blocks.
func (e *engine) prefetchBlockedLocked() string {
	waiting, n, err := e.store.waitingMedia(e.ctx)
	if err != nil {
		e.log.Error("measuring the media waiting for analysis failed", "error", err)
		return ""
	}
	if n == 0 && e.downloads == 0 {
		return ""
	}
	if total := waiting + e.downloadBytes.Load(); total >= e.cfg.PrefetchBytes {
		return fmt.Sprintf("%d bytes of media are downloaded ahead of analysis (MLENGINE_PREFETCH_BYTES is %d)", total, e.cfg.PrefetchBytes)
	}
	if free := e.cfg.DiskFree(e.cfg.DataDir); free >= 0 && free < e.cfg.MinFreeBytes {
		return fmt.Sprintf("%d bytes are free on the data directory's disk (MLENGINE_MIN_FREE_BYTES is %d)", free, e.cfg.MinFreeBytes)
	}
	return ""
}

// pausePrefetchLocked logs a pause (once) and looks again after
// PrefetchRecheck; a finished analysis or download wakes the downloads
// sooner.
func (e *engine) pausePrefetchLocked(why string) {
	if !e.prefetchPaused {
		e.prefetchPaused = true
		e.log.Info("downloads ahead of analysis paused", "reason", why)
	}
	if e.recheck == nil {
		e.recheck = time.AfterFunc(e.cfg.PrefetchRecheck, func() { poke(e.fetchWake) })
	} else {
		e.recheck.Reset(e.cfg.PrefetchRecheck)
	}
}

// endDownload counts a download out and lets the others look again.
func (e *engine) endDownload() {
	e.mu.Lock()
	e.downloads--
	e.mu.Unlock()
	poke(e.fetchWake)
}

// postponeLocked puts a download that stopped for want of disk space back
// in the queue, when media waiting for analysis will free space; it
// reports whether it did.
func (e *engine) postponeLocked(j *job, log *slog.Logger) bool {
	if _, n, err := e.store.waitingMedia(e.ctx); err != nil || n == 0 {
		return false
	}
	os.Remove(e.mediaPath(j.ID) + ".part")
	os.Remove(e.mediaPath(j.ID))
	if err := e.store.setFetchState(e.ctx, j.ID, fetchPending, e.now()); err != nil {
		log.Error("postponing the download failed", "error", err)
		return false
	}
	delete(e.active, j.ID)
	log.Info("download postponed until analysis frees disk space")
	e.pausePrefetchLocked("the disk filled up during a download")
	return true
}

func initialStates(analyses []string, s provider.State) map[string]provider.State {
	m := make(map[string]provider.State, len(analyses))
	for _, a := range analyses {
		m[a] = s
	}
	return m
}

// fetchJob downloads a claimed job's media.
func (e *engine) fetchJob(j *job, a *activeJob) {
	defer close(a.done)
	defer e.endDownload()
	log := e.log.With("job_id", j.ID)
	var size int64
	err := os.MkdirAll(e.jobDir(j.ID), 0o700)
	if err == nil {
		start := time.Now()
		log.Info("fetching media", "media_url", redactURL(j.MediaURL))
		size, err = e.fetchMedia(a.ctx, j, e.mediaPath(j.ID))
		if err == nil {
			log.Info("media fetched", "bytes", size, "took", time.Since(start).Round(time.Millisecond).String())
		}
	}
	if errors.Is(err, errDiskLow) && context.Cause(a.ctx) != errCanceledByUser && e.ctx.Err() == nil {
		e.mu.Lock()
		postponed := context.Cause(a.ctx) != errCanceledByUser && e.postponeLocked(j, log)
		e.mu.Unlock()
		if postponed {
			return
		}
		err = &Failure{Code: CodeInsufficientStorage, Retryable: true,
			Message: fmt.Sprintf("not enough free disk space to store the media (MLENGINE_MIN_FREE_BYTES keeps %d bytes free)", e.cfg.MinFreeBytes)}
	}
	// Temporary files go before the terminal state is recorded, so a client
	// that sees "failed" or "canceled" also sees them gone.
	userCanceled := context.Cause(a.ctx) == errCanceledByUser
	if !userCanceled && e.ctx.Err() != nil {
		// Shutdown: the stored fetch state "fetching" is reset on the next start.
		os.Remove(e.mediaPath(j.ID) + ".part")
		e.release(j.ID)
		return
	}
	if userCanceled || err != nil {
		e.cleanup(j.ID, false)
	}
	e.mu.Lock()
	delete(e.active, j.ID)
	lateCancel := false
	switch {
	case context.Cause(a.ctx) == errCanceledByUser:
		e.finishLocked(j, provider.StateCanceled, canceledError(), nil)
		lateCancel = !userCanceled
	case err != nil:
		e.finishLocked(j, provider.StateFailed, jobError(log, err), nil)
	default:
		if err := e.store.markFetched(e.ctx, j.ID, size, e.now()); err != nil {
			log.Error("recording the download failed", "error", err)
		}
		poke(e.runWake)
	}
	e.mu.Unlock()
	if lateCancel {
		e.cleanup(j.ID, false)
	}
}

func (e *engine) release(id string) {
	e.mu.Lock()
	delete(e.active, id)
	e.mu.Unlock()
}

// runJob analyses a claimed job's downloaded media.
func (e *engine) runJob(j *job, a *activeJob) {
	defer close(a.done)
	defer poke(e.fetchWake) // its media is gone: a download may have room again
	log := e.log.With("job_id", j.ID)
	media, work := e.mediaPath(j.ID), e.workDir(j.ID)
	var (
		out *Output
		err error
	)
	if _, statErr := os.Stat(media); statErr != nil {
		err = &Failure{Code: CodeInterrupted, Retryable: true, Message: "the downloaded media is gone; submit the job again"}
	} else if err = resetDir(work); err == nil {
		start := time.Now()
		log.Info("analysis started", "analyses", j.Analyses, "attempt", j.Attempts+1)
		tctx, tcancel := context.WithTimeoutCause(a.ctx, e.cfg.JobTimeout, errJobTimeout)
		out, err = e.analyzer.Analyze(tctx, Task{
			Input: media, WorkDir: work, Analyses: j.Analyses,
			Concurrency: e.cfg.processesPerJob(), MaxDuration: e.cfg.MaxDuration,
			Progress: func(p Progress) { e.progress(j.ID, a, p) },
			Logger:   log,
		})
		if err != nil && context.Cause(tctx) == errJobTimeout && a.ctx.Err() == nil {
			err = &Failure{Code: CodeTimeout, Retryable: true,
				Message: fmt.Sprintf("analysis did not finish within %s", e.cfg.JobTimeout)}
		}
		tcancel()
		log.Info("analysis ended", "took", time.Since(start).Round(time.Millisecond).String(), "error", errString(err))
	}
	shutdown := err != nil && e.ctx.Err() != nil && context.Cause(a.ctx) != errCanceledByUser
	final := *j
	if err == nil {
		err = e.complete(&final, out)
	}

	userCanceled := context.Cause(a.ctx) == errCanceledByUser
	if shutdown {
		// Leave the job "running": the next start re-queues it with its media.
		os.RemoveAll(work)
		e.release(j.ID)
		return
	}
	succeeded := err == nil && !userCanceled
	e.cleanup(j.ID, succeeded)
	e.mu.Lock()
	delete(e.active, j.ID)
	lateCancel := false
	switch {
	case context.Cause(a.ctx) == errCanceledByUser:
		e.finishLocked(j, provider.StateCanceled, canceledError(), a.snapshotStates(provider.StateCanceled))
		lateCancel = succeeded
	case err != nil:
		e.finishLocked(j, provider.StateFailed, jobError(log, err), a.snapshotStates(provider.StateFailed))
	default:
		e.finishJobLocked(&final)
	}
	e.mu.Unlock()
	if lateCancel {
		e.cleanup(j.ID, false)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func resetDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clear work directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create work directory: %w", err)
	}
	return nil
}

var artifactName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// complete turns an analyzer's output into j's final state, moving the
// artifacts out of the work directory and writing the result document.
func (e *engine) complete(j *job, out *Output) error {
	if out == nil {
		return &Failure{Code: CodeInternal, Retryable: true, Message: "analyzer returned no output"}
	}
	j.States = make(map[string]provider.State, len(j.Analyses))
	j.AnalysisErrors = map[string]string{}
	ok := 0
	for _, name := range j.Analyses {
		st, msg := out.States[name], out.Errors[name]
		if st == "" || !(st.Terminal() || st == provider.StateSkipped) {
			st = provider.StateSucceeded
			if msg != "" {
				st = provider.StateFailed
			}
		}
		if st == provider.StateFailed && msg == "" {
			msg = "failed"
		}
		j.States[name] = st
		if msg != "" && st == provider.StateFailed {
			j.AnalysisErrors[name] = msg
		}
		if st == provider.StateSucceeded || st == provider.StateSkipped {
			ok++
		}
	}
	if ok == 0 && len(j.Analyses) > 0 {
		var parts []string
		for _, name := range j.Analyses {
			parts = append(parts, name+": "+j.AnalysisErrors[name])
		}
		return &Failure{Code: CodeAnalysesFailed, Message: "every analysis failed: " + strings.Join(parts, "; ")}
	}
	j.Artifacts = map[string]string{}
	if len(out.Artifacts) > 0 {
		dir := e.artifactDir(j.ID)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create artifact directory: %w", err)
		}
		work, _ := filepath.Abs(e.workDir(j.ID))
		for name, path := range out.Artifacts {
			abs, _ := filepath.Abs(path)
			if !artifactName.MatchString(name) || !strings.HasPrefix(abs, work+string(filepath.Separator)) {
				e.log.Warn("ignoring an artifact with a bad name or outside the work directory", "job_id", j.ID, "artifact", name)
				continue
			}
			if err := os.Rename(abs, filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("keep artifact %s: %w", name, err)
			}
			j.Artifacts[name] = name
		}
	}
	b, err := json.Marshal(out.Result)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	if err := writeFileAtomic(e.resultPath(j.ID), b); err != nil {
		return err
	}
	j.Status = provider.StateSucceeded
	j.Progress = 1
	j.Error = nil
	return nil
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// progress records a progress report: live in memory, and in the database
// whenever an analysis changes state.
func (e *engine) progress(id string, a *activeJob, p Progress) {
	a.mu.Lock()
	if p.Analysis == "" {
		// The whole job's fraction.
		a.jobFraction = min(max(p.Fraction, 0), 1)
		a.mu.Unlock()
		return
	}
	if _, ok := a.states[p.Analysis]; !ok {
		a.mu.Unlock()
		return
	}
	changed := p.State != "" && a.states[p.Analysis] != p.State
	if p.State != "" {
		a.states[p.Analysis] = p.State
	}
	a.fractions[p.Analysis] = min(max(p.Fraction, 0), 1)
	overall, states := a.overallLocked(), maps.Clone(a.states)
	a.mu.Unlock()
	if changed {
		if err := e.store.setProgress(e.ctx, id, overall, states, e.now()); err != nil && e.ctx.Err() == nil {
			e.log.Warn("recording progress failed", "job_id", id, "error", err)
		}
	}
}

func (a *activeJob) overallLocked() float64 {
	if a.jobFraction >= 0 {
		return a.jobFraction
	}
	if len(a.analyses) == 0 {
		return 0
	}
	sum := 0.0
	for _, name := range a.analyses {
		if st := a.states[name]; st.Terminal() || st == provider.StateSkipped {
			sum++
		} else {
			sum += a.fractions[name]
		}
	}
	return sum / float64(len(a.analyses))
}

// live returns the in-memory progress and states of an active job.
func (a *activeJob) live() (float64, map[string]provider.State) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.overallLocked(), maps.Clone(a.states)
}

// snapshotStates returns the analyses' states with every unfinished one set to s.
func (a *activeJob) snapshotStates(s provider.State) map[string]provider.State {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := maps.Clone(a.states)
	for k, v := range out {
		if !v.Terminal() && v != provider.StateSkipped {
			out[k] = s
		}
	}
	return out
}

func canceledError() *provider.JobError {
	return &provider.JobError{Code: CodeCanceled, Message: "the job was canceled"}
}

// jobError maps an error from downloading or analysing to the job's error.
// An unexpected error's text (it may name files) goes to log only.
func jobError(log *slog.Logger, err error) *provider.JobError {
	var f *Failure
	if errors.As(err, &f) {
		return &provider.JobError{Code: f.Code, Message: f.Message, Retryable: f.Retryable}
	}
	if je := analyzeError(err); je != nil {
		return je
	}
	log.Error("job failed unexpectedly", "error", err)
	return &provider.JobError{Code: CodeInternal, Message: internalMessage, Retryable: true}
}

// internalMessage is what a job that failed unexpectedly says.
const internalMessage = "The analysis service failed unexpectedly; submitting the job again may help."

// finishLocked ends a job that did not succeed. states may be nil.
func (e *engine) finishLocked(j *job, status provider.State, jerr *provider.JobError, states map[string]provider.State) {
	final := *j
	final.Status, final.Error = status, jerr
	if states == nil {
		states = initialStates(j.Analyses, status)
	}
	final.States = states
	final.Artifacts = map[string]string{}
	final.AnalysisErrors = map[string]string{}
	e.finishJobLocked(&final)
}

func (e *engine) finishJobLocked(j *job) {
	var cb *callback
	if j.CallbackURL != "" {
		body, err := json.Marshal(mlengineapi.Callback{JobID: j.ID, Status: j.Status, Labels: j.Labels})
		if err != nil {
			e.log.Error("encoding callback failed", "job_id", j.ID, "error", err)
		} else {
			cb = &callback{ID: uuid.NewString(), JobID: j.ID, URL: j.CallbackURL, Body: body}
		}
	}
	// A background context: the terminal state must be recorded even while
	// the engine is stopping.
	applied, err := e.store.finish(context.WithoutCancel(e.ctx), j, cb, e.now())
	if err != nil {
		e.log.Error("recording the end of a job failed", "job_id", j.ID, "status", j.Status, "error", err)
		return
	}
	if !applied {
		return
	}
	attrs := []any{"job_id", j.ID, "status", j.Status}
	if j.Error != nil {
		attrs = append(attrs, "code", j.Error.Code, "message", j.Error.Message)
	}
	e.log.Info("job ended", attrs...)
	if cb != nil {
		poke(e.callbackWake)
	}
}

// cleanup removes a job's temporary files (media, work directory); keep
// tells whether the result and artifacts stay (a succeeded job).
func (e *engine) cleanup(id string, keep bool) {
	var paths []string
	if keep {
		paths = []string{e.mediaPath(id), e.mediaPath(id) + ".part", e.workDir(id)}
	} else {
		paths = []string{e.jobDir(id)}
	}
	var errs []error
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		e.log.Warn("removing job files failed", "job_id", id, "error", err)
	}
}

// cancel cancels a job. A queued job ends at once; an active one is
// interrupted and cancel waits (up to CancelWait) until its processes are
// gone and its files removed. A finished job is returned unchanged.
func (e *engine) cancel(ctx context.Context, id string) (*job, error) {
	e.mu.Lock()
	j, err := e.store.get(ctx, id)
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	if j.Status.Terminal() {
		e.mu.Unlock()
		return j, nil
	}
	if a := e.active[id]; a != nil {
		a.cancel(errCanceledByUser)
		e.mu.Unlock()
		t := time.NewTimer(e.cfg.CancelWait)
		defer t.Stop()
		select {
		case <-a.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
			j, err := e.store.get(ctx, id)
			if err != nil {
				return nil, err
			}
			return j, errCancelPending
		}
		return e.store.get(ctx, id)
	}
	// Nobody works on the job and nobody can claim it while e.mu is held.
	e.cleanup(id, false)
	e.finishLocked(j, provider.StateCanceled, canceledError(), nil)
	e.mu.Unlock()
	return e.store.get(ctx, id)
}

// view returns a job with live progress overlaid.
func (e *engine) view(ctx context.Context, id string) (*job, error) {
	j, err := e.store.get(ctx, id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	a := e.active[id]
	e.mu.Unlock()
	if a != nil && j.Status == provider.StateRunning {
		j.Progress, j.States = a.live()
	}
	return j, nil
}

// recover brings stored jobs to a consistent state after a stop or a crash:
// downloads in flight restart, analyses in flight are re-queued with their
// stored media (or failed with "interrupted" after MaxJobAttempts, or when
// the media is gone), and leftover temporary files are removed.
func (e *engine) recover(ctx context.Context) error {
	jobs, err := e.store.list(ctx, `status IN (?, ?) ORDER BY seq`, provider.StateQueued, provider.StateRunning)
	if err != nil {
		return fmt.Errorf("recover jobs: %w", err)
	}
	now := e.now()
	for _, j := range jobs {
		log := e.log.With("job_id", j.ID)
		os.RemoveAll(e.workDir(j.ID))
		_, statErr := os.Stat(e.mediaPath(j.ID))
		haveMedia := statErr == nil
		switch {
		case j.FetchState == fetchFetching || (j.FetchState == fetchPending && j.Status == provider.StateQueued):
			os.Remove(e.mediaPath(j.ID) + ".part")
			if j.FetchState == fetchFetching {
				log.Info("restarting an interrupted download")
				if err := e.store.setFetchState(ctx, j.ID, fetchPending, now); err != nil {
					return fmt.Errorf("recover job %s: %w", j.ID, err)
				}
			}
		case !haveMedia:
			log.Warn("failing a job whose downloaded media is gone")
			e.finishLocked(j, provider.StateFailed, &provider.JobError{Code: CodeInterrupted, Retryable: true,
				Message: "the service restarted and the downloaded media is gone; submit the job again"}, nil)
			e.cleanup(j.ID, false)
		case j.Status == provider.StateRunning && j.Attempts >= e.cfg.MaxJobAttempts:
			log.Warn("failing a job interrupted too often", "attempts", j.Attempts)
			e.finishLocked(j, provider.StateFailed, &provider.JobError{Code: CodeInterrupted, Retryable: true,
				Message: fmt.Sprintf("the service stopped during this job %d times", j.Attempts)}, nil)
			e.cleanup(j.ID, false)
		case j.Status == provider.StateRunning:
			log.Info("re-queueing a job interrupted by a restart", "attempts", j.Attempts)
			if err := e.store.requeue(ctx, j.ID, fetchDone, initialStates(j.Analyses, provider.StateQueued), now); err != nil {
				return fmt.Errorf("recover job %s: %w", j.ID, err)
			}
		}
	}
	return e.sweep(ctx)
}

// sweep removes the temporary files of finished jobs and directories that
// belong to no job (left by a crash between two steps).
func (e *engine) sweep(ctx context.Context) error {
	entries, err := os.ReadDir(e.jobsDir())
	if err != nil {
		return fmt.Errorf("list job directories: %w", err)
	}
	for _, ent := range entries {
		id := ent.Name()
		j, err := e.store.get(ctx, id)
		switch {
		case errors.Is(err, errNotFound):
			e.log.Warn("removing the files of an unknown job", "job_id", id)
			os.RemoveAll(filepath.Join(e.jobsDir(), id))
		case err != nil:
			return err
		case j.Status.Terminal():
			e.cleanup(id, j.Status == provider.StateSucceeded && j.ResultDeletedAt.IsZero())
		}
	}
	return nil
}

// deleteResult deletes a succeeded job's result document and artifacts
// (thumbnails), keeping the job record: its idempotency key still answers,
// and its result answers 410. The record is marked before the files go, so
// a crash in between leaves files that nobody can fetch and that the next
// start removes (sweep). A job that ended without a result, or whose result
// is already gone, is returned unchanged; a job not finished yet is
// errNotFinished. reason is logged ("requested", "retention").
func (e *engine) deleteResult(ctx context.Context, id, reason string) (*job, error) {
	j, err := e.store.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !j.Status.Terminal() {
		return j, errNotFinished
	}
	if j.Status != provider.StateSucceeded || !j.ResultDeletedAt.IsZero() {
		return j, nil
	}
	marked, err := e.store.markResultDeleted(ctx, id, e.now())
	if err != nil {
		return nil, err
	}
	e.cleanup(id, false)
	if marked {
		e.log.Info("result deleted", "job_id", id, "reason", reason)
	}
	return e.store.get(ctx, id)
}

// janitor deletes the results of succeeded jobs ResultRetention after they
// ended, and finished jobs older than Retention: record, result and
// thumbnails. A job's files go first, so a crash in between leaves a record
// without files at worst (its result then answers 503 until the next pass).
func (e *engine) janitor() {
	t := time.NewTicker(e.cfg.JanitorInterval)
	defer t.Stop()
	for {
		e.expire("expired results", func() ([]string, error) {
			return e.store.expiredResults(e.ctx, e.now().Add(-e.cfg.ResultRetention), janitorBatch)
		}, func(id string) error {
			_, err := e.deleteResult(e.ctx, id, "retention")
			return err
		})
		e.expire("expired jobs", func() ([]string, error) {
			return e.store.expired(e.ctx, e.now().Add(-e.cfg.Retention), janitorBatch)
		}, func(id string) error {
			if err := os.RemoveAll(e.jobDir(id)); err != nil {
				return fmt.Errorf("removing its files: %w", err)
			}
			if err := e.store.remove(e.ctx, id); err != nil {
				return err
			}
			e.log.Info("expired job removed", "job_id", id)
			return nil
		})
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// janitorBatch is how many expired jobs or results one query returns.
const janitorBatch = 100

// expire is one janitor pass over what (expired jobs, expired results):
// list returns a batch of job IDs, remove deals with one. It goes on while
// batches are full and something in them could be removed (a batch where
// everything fails waits for the next pass).
func (e *engine) expire(what string, list func() ([]string, error), remove func(id string) error) {
	for {
		ids, err := list()
		if err != nil {
			if e.ctx.Err() == nil {
				e.log.Error("finding "+what+" failed", "error", err)
			}
			return
		}
		removed := 0
		for _, id := range ids {
			if err := remove(id); err != nil {
				if e.ctx.Err() == nil {
					e.log.Warn("removing "+what+" failed", "job_id", id, "error", err)
				}
				continue
			}
			removed++
		}
		if len(ids) < janitorBatch || removed == 0 {
			return
		}
	}
}

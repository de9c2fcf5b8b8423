// Package devstack brings the whole filesight system up on one machine with
// one command (make up): the Temporal dev server with its UI, localbox,
// mlengine, the vault, the starter (with the codec server) and the worker, each a
// supervised child process with prefixed logs. It keeps every piece of
// state under one data directory, writes the generated dev credentials and
// addresses to <data>/dev.env, creates the inbox folder and its webhook,
// uploads a sample video and reports what the workflow wrote.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"filesight/internal/box"
	"filesight/internal/cluster"
	"filesight/internal/codec"
	"filesight/internal/config"
	"filesight/internal/probe"
	"filesight/internal/temporalclient"
	"filesight/workflows"
)

// Programs lists what devstack runs from the bin directory, in start order
// after Temporal.
func Programs() []string { return []string{"localbox", "mlengine", "vault", "starter", "worker"} }

// InboxFolderName is the folder whose uploads are processed.
const InboxFolderName = "filesight-inbox"

// SampleName is the sample video's name in the inbox.
const SampleName = "filesight-sample-talk.mp4"

// Mode selects the Temporal server the stack runs on.
type Mode string

const (
	// ModeDev runs the pinned CLI's dev server (SQLite, one process) and
	// one worker: make up. It is the zero value's meaning too.
	ModeDev Mode = "dev"
	// ModeCluster runs a production-shaped cluster (internal/cluster:
	// PostgreSQL, Temporal's four services as separate processes, the UI
	// server) and several workers on their own port block: make cluster.
	ModeCluster Mode = "cluster"
)

// Options configure Up and Start.
type Options struct {
	// DataDir holds all state (default .data).
	DataDir string
	// BinDir holds the programs and the Temporal binaries (default: bin/ at
	// the module root, else next to this executable). Missing programs are
	// built there with `go build` when a module root is found.
	BinDir string
	// Mode is ModeDev (default) or ModeCluster.
	Mode Mode
	// Workers is the number of worker processes in cluster mode (default
	// 2, at most cluster.MaxWorkers); the dev server runs one.
	Workers int
	// Without names programs of Programs() that the stack does not start:
	// the caller serves something in their place on their dev.env address
	// (benchmarks put a simulated ML provider where mlengine would be).
	// Their addresses are not checked for being free.
	Without []string
	// NoSample skips generating and uploading the sample video.
	NoSample bool
	// ExitAfterSample stops everything once the sample's workflow has
	// finished (non-interactive use, tests); the error reports its outcome.
	ExitAfterSample bool
	// SampleTimeout bounds the wait for the sample's workflow (default 20m).
	SampleTimeout time.Duration
	Out           io.Writer
	Color         bool
}

// Stack is a running stack.
type Stack struct {
	opts    Options
	out     *Output
	env     *EnvFile
	dataDir string
	procs   []*Proc
	specs   map[string]procSpec
	cluster *cluster.Cluster
	tc      client.Client
	bc      *box.Client
	log     *slog.Logger
	// ctx ends when the stack stops or a child exits unexpectedly (cause).
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// procSpec is how to start a supervised process, kept for Restart.
type procSpec struct {
	name       string
	color      int
	path       string
	args       []string
	env        []string // the whole environment
	dir        string
	credential *syscall.Credential
	stopSignal syscall.Signal
	// ready, when set, is polled after the start, up to readyTimeout.
	ready        func(context.Context) error
	readyTimeout time.Duration
}

// Up starts everything and blocks until ctx ends (Ctrl-C) or, with
// ExitAfterSample, until the sample has been processed; then it stops every
// process, last started first.
func Up(ctx context.Context, o Options) (err error) {
	s, err := Start(ctx, o)
	if err != nil {
		return err
	}
	defer func() {
		if stopErr := s.Stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	var sampleErr error
	if !o.NoSample {
		sampleErr = s.processSample(s.ctx)
		if sampleErr != nil {
			sampleErr = s.explain(sampleErr)
		}
	}
	if o.ExitAfterSample {
		return sampleErr
	}
	if sampleErr != nil {
		s.out.Printf("sample: %v", sampleErr)
	}
	upload := "make upload FILE=path"
	if o.Mode == ModeCluster {
		upload += " DATA_DIR=" + s.dataDir
	}
	s.out.Printf("everything is up; upload more with `%s`. Ctrl-C stops everything.", upload)
	<-s.ctx.Done()
	if err := s.Err(); err != nil {
		return err
	}
	s.out.Printf("stopping")
	return nil
}

// Start brings everything up: Temporal (the dev server or the cluster),
// localbox, mlengine, the starter and the workers, then the inbox and its
// webhook, and prints the addresses. The stack runs until Stop (or until a
// child exits unexpectedly: see Err); on error everything started is
// stopped again.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.SampleTimeout <= 0 {
		o.SampleTimeout = 20 * time.Minute
	}
	if o.Mode == "" {
		o.Mode = ModeDev
	}
	switch {
	case o.Mode != ModeDev && o.Mode != ModeCluster:
		return nil, fmt.Errorf("unknown mode %q", o.Mode)
	case o.Mode == ModeDev || o.Workers == 0:
		o.Workers = map[Mode]int{ModeDev: 1, ModeCluster: 2}[o.Mode]
	case o.Workers < 1 || o.Workers > cluster.MaxWorkers:
		return nil, fmt.Errorf("workers must be 1 to %d, not %d", cluster.MaxWorkers, o.Workers)
	}
	for _, w := range o.Without {
		if !slices.Contains(Programs(), w) {
			return nil, fmt.Errorf("Without: %q is not one of the programs %v", w, Programs())
		}
	}
	s := &Stack{opts: o, out: NewOutput(o.Out, o.Color), specs: map[string]procSpec{}}
	if o.Mode == ModeCluster {
		s.out.width = len(cluster.Worker.ProcessName())
	}
	s.log = slog.New(slog.NewTextHandler(s.out.Prefixed("devstack", 7), &slog.HandlerOptions{Level: slog.LevelWarn}))
	s.ctx, s.cancel = context.WithCancelCause(ctx)
	defer func() {
		if err != nil {
			err = s.explain(err)
			_ = s.Stop()
		}
	}()
	if err := s.prepare(); err != nil {
		return nil, err
	}
	if o.Mode == ModeCluster {
		err = s.startCluster()
	} else {
		err = s.startDevServer()
	}
	if err != nil {
		return nil, err
	}
	if err := s.startPrograms(); err != nil {
		return nil, err
	}
	if err := s.setupBox(s.ctx); err != nil {
		return nil, err
	}
	s.printAddresses()
	return s, nil
}

// Stop stops every process, last started first. It is safe to call twice.
func (s *Stack) Stop() error {
	err := s.stopAll()
	s.cancel(nil)
	return err
}

// Err is why the stack ended on its own (a child that exited unexpectedly),
// or nil.
func (s *Stack) Err() error {
	if cause := context.Cause(s.ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return nil
}

// Env is the stack's dev.env.
func (s *Stack) Env() *EnvFile { return s.env }

// Temporal is the stack's Temporal client (with the payload codec).
func (s *Stack) Temporal() client.Client { return s.tc }

// Box is a Box client for localbox with the stack's credentials.
func (s *Stack) Box() *box.Client { return s.bc }

// Pid is the process id of the named process (its latest start), or 0.
func (s *Stack) Pid(name string) int {
	if p := s.proc(name); p != nil {
		return p.Pid()
	}
	return 0
}

// Kill kills the named process at once with SIGKILL, as a crash would; the
// stack goes on without it.
func (s *Stack) Kill(name string) error {
	p := s.proc(name)
	if p == nil {
		return fmt.Errorf("no process %q", name)
	}
	s.out.Printf("killing %s (pid %d) with SIGKILL", name, p.Pid())
	p.Kill()
	return nil
}

// Restart starts a process that has exited (after Kill) again, as it was
// first started, and waits until it is ready.
func (s *Stack) Restart(name string) error {
	sp, ok := s.specs[name]
	p := s.proc(name)
	if !ok || p == nil {
		return fmt.Errorf("no process %q", name)
	}
	select {
	case <-p.Done():
	default:
		return fmt.Errorf("%s (pid %d) is still running", name, p.Pid())
	}
	s.out.Printf("restarting %s", name)
	_, err := s.run(sp)
	return err
}

// explain prefers the reason the stack failed (a crashed child) over the
// symptom an operation reported.
func (s *Stack) explain(err error) error {
	if cause := s.Err(); cause != nil {
		return cause
	}
	return err
}

func (s *Stack) prepare() error {
	dir := s.opts.DataDir
	if dir == "" {
		dir = ".data"
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("data dir %s: %w", dir, err)
	}
	s.dataDir = abs
	for _, d := range []string{abs, filepath.Join(abs, "logs"), filepath.Join(abs, "samples")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	env, err := LoadEnvFile(filepath.Join(abs, "dev.env"))
	if err != nil {
		return err
	}
	fresh := len(env.Keys()) == 0
	if err := Resolve(env, abs, s.opts.Mode); err != nil {
		return err
	}
	if err := env.Save(); err != nil {
		return err
	}
	s.env = env
	if fresh {
		s.out.Printf("generated dev credentials and addresses in %s", env.Path())
	} else {
		s.out.Printf("reusing dev credentials and addresses from %s", env.Path())
	}
	for _, a := range s.listenAddrs() {
		if err := portFree(a.addr); err != nil {
			return fmt.Errorf("%s=%s: %w (is another stack running? stop it, or change %s in %s)", a.key, a.addr, err, a.key, env.Path())
		}
	}
	return s.findBinaries()
}

type listenAddr struct{ key, addr string }

// listenAddrs is every address the stack will listen on, with the dev.env
// variable that sets it.
func (s *Stack) listenAddrs() []listenAddr {
	var out []listenAddr
	for _, k := range addressKeys {
		if !slices.Contains(s.opts.Without, programOfAddress[k]) {
			out = append(out, listenAddr{k, s.get(k)})
		}
	}
	out = append(out, listenAddr{"TEMPORAL_UI_URL", s.uiHostPort()})
	if s.opts.Mode != ModeCluster {
		return out
	}
	p, _ := clusterPorts(s.get) // validated by Resolve
	out = append(out, listenAddr{"CLUSTER_POSTGRES_ADDR", p.Postgres()}, listenAddr{"CLUSTER_PORT_BASE", p.FrontendHTTP()})
	for _, svc := range cluster.Services() {
		out = append(out, listenAddr{"CLUSTER_PORT_BASE", p.Membership(svc)}, listenAddr{"CLUSTER_PORT_BASE", p.Metrics(svc)})
		if svc != cluster.Frontend {
			out = append(out, listenAddr{"CLUSTER_PORT_BASE", p.GRPC(svc)})
		}
	}
	for i := 2; i <= s.opts.Workers; i++ {
		out = append(out, listenAddr{"CLUSTER_PORT_BASE", p.WorkerMetrics(i)})
	}
	return out
}

// programOfAddress names the program that listens on each of addressKeys.
var programOfAddress = map[string]string{
	"TEMPORAL_ADDRESS": "temporal", "STARTER_ADDR": "starter", "STARTER_CODEC_ADDR": "starter",
	"LOCALBOX_ADDR": "localbox", "MLENGINE_ADDR": "mlengine", "VAULT_ADDR": "vault", "WORKER_METRICS_ADDR": "worker",
}

func (s *Stack) get(k string) string { v, _ := s.env.Get(k); return v }

func (s *Stack) uiHostPort() string {
	u, _ := url.Parse(s.get("TEMPORAL_UI_URL"))
	return u.Host
}

func portFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return errors.New("address in use")
	}
	return l.Close()
}

// ModuleRoot finds filesight's go.mod above the working directory; ""
// when there is none.
func ModuleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module filesight\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func (s *Stack) findBinaries() error {
	root := ModuleRoot()
	if s.opts.BinDir == "" {
		if root != "" {
			s.opts.BinDir = filepath.Join(root, "bin")
		} else if exe, err := os.Executable(); err == nil {
			s.opts.BinDir = filepath.Dir(exe)
		}
	}
	if s.opts.Mode == ModeDev {
		if _, err := os.Stat(filepath.Join(s.opts.BinDir, "temporal")); err != nil {
			return fmt.Errorf("the Temporal CLI is missing at %s: run `make tools` first", filepath.Join(s.opts.BinDir, "temporal"))
		}
	}
	var missing []string
	for _, p := range Programs() {
		if _, err := os.Stat(filepath.Join(s.opts.BinDir, p)); err != nil {
			missing = append(missing, "./"+p)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if root == "" {
		return fmt.Errorf("programs missing in %s: %s (run `make build`)", s.opts.BinDir, strings.Join(missing, " "))
	}
	s.out.Printf("building %s into %s", strings.Join(missing, " "), s.opts.BinDir)
	cmd := exec.Command("go", append([]string{"build", "-o", s.opts.BinDir + "/"}, missing...)...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = s.out.Prefixed("build", 6), s.out.Prefixed("build", 6)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", strings.Join(missing, " "), err)
	}
	return nil
}

// spec is a procSpec for a program of the stack that reads the variables
// v (childEnv), with extra on top, the data directory as working directory.
func (s *Stack) spec(name string, color int, path string, args []string, v vars, extra ...string) procSpec {
	return procSpec{name: name, color: color, path: path, args: args, env: s.childEnv(v, extra...), dir: s.dataDir}
}

// run starts a process and waits until it is ready.
func (s *Stack) run(sp procSpec) (*Proc, error) {
	p, err := s.start(sp)
	if err != nil {
		return nil, err
	}
	return p, s.awaitReady(p, sp)
}

// start starts a process and watches it. A process of the same name that
// has exited is replaced in place, so that Stop keeps the start order.
func (s *Stack) start(sp procSpec) (*Proc, error) {
	p := &Proc{
		Name: sp.name, Path: sp.path, Args: sp.args, Env: sp.env, Dir: sp.dir,
		LogPath:    filepath.Join(s.dataDir, "logs", sp.name+".log"),
		Credential: sp.credential, StopSignal: sp.stopSignal,
	}
	if err := p.Start(s.out.Prefixed(sp.name, sp.color)); err != nil {
		return nil, err
	}
	if i := slices.IndexFunc(s.procs, func(q *Proc) bool { return q.Name == sp.name }); i >= 0 {
		s.procs[i] = p
	} else {
		s.procs = append(s.procs, p)
	}
	s.specs[sp.name] = sp
	s.watch(p)
	return p, nil
}

// awaitReady polls the spec's readiness check (if any) up to its timeout.
func (s *Stack) awaitReady(p *Proc, sp procSpec) error {
	if sp.ready == nil {
		return nil
	}
	timeout := sp.readyTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	return waitFor(s.ctx, p, sp.name, timeout, sp.ready)
}

// proc is the latest process of that name, or nil.
func (s *Stack) proc(name string) *Proc {
	for _, p := range s.procs {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// watch cancels the stack when a child exits that was not asked to stop.
func (s *Stack) watch(p *Proc) {
	go func() {
		select {
		case <-s.ctx.Done():
		case <-p.Done():
			if !p.Stopping() {
				s.cancel(fmt.Errorf("%s exited unexpectedly (%v); its log: %s\n%s", p.Name, p.Err(), p.LogPath, TailFile(p.LogPath, 15)))
			}
		}
	}()
}

// startDevServer starts the Temporal dev server with UI, persistent SQLite,
// search attributes and the codec endpoint. The UI of a dev server cannot
// send a bearer header, so the token travels as the endpoint's first path
// segment (see internal/codec); the endpoint URL is therefore a credential,
// and reaches the server through its environment settings file rather
// than its command line (cliEnvFile). The server gets no variable of
// dev.env.
func (s *Stack) startDevServer() error {
	thost, tport, _ := net.SplitHostPort(s.get("TEMPORAL_ADDRESS"))
	uhost, uport, _ := net.SplitHostPort(s.uiHostPort())
	envFile, err := s.cliEnvFile(map[string]string{"ui-codec-endpoint": s.get("TEMPORAL_CODEC_ENDPOINT")})
	if err != nil {
		return err
	}
	args := []string{"--env-file", envFile, "server", "start-dev",
		"--ip", thost, "--port", tport, "--ui-ip", uhost, "--ui-port", uport,
		"--db-filename", filepath.Join(s.dataDir, "temporal.db"),
		// SQLite's rollback journal with a full sync on every commit makes
		// the dev server start about 3.5 times fewer workflows per second
		// on this kind of machine than a write-ahead log synced at
		// checkpoints (docs/benchmarks.md); the WAL survives a crash of
		// the server or of the machine's processes, and loses at most the
		// last transactions on a power cut, which a dev stack can afford.
		"--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
		"--namespace", s.get("TEMPORAL_NAMESPACE"),
		"--log-level", "error",
	}
	for _, sa := range searchAttributes {
		args = append(args, "--search-attribute", sa+"=Keyword")
	}
	s.out.Printf("starting Temporal dev server on %s (UI %s)", s.get("TEMPORAL_ADDRESS"), s.get("TEMPORAL_UI_URL"))
	tp, err := s.run(s.spec("temporal", 0, filepath.Join(s.opts.BinDir, "temporal"), args, programVars()["temporal"]))
	if err != nil {
		return err
	}
	if err := s.connectTemporal(tp); err != nil {
		return err
	}
	// The --search-attribute flags normally register them; this repairs
	// a database created without them.
	if _, err := cluster.EnsureSearchAttributes(s.ctx, s.tc, s.get("TEMPORAL_NAMESPACE"), searchAttributes); err != nil {
		return err
	}
	return waitFor(s.ctx, tp, "Temporal UI", 90*time.Second, probe.HTTP(s.get("TEMPORAL_UI_URL")+"/"))
}

// searchAttributes are the custom search attributes the workflow sets.
var searchAttributes = cluster.SearchAttributes{workflows.SearchAttrFileID, workflows.SearchAttrMediaKind, workflows.SearchAttrStage}

// startPrograms starts localbox, mlengine, the vault, the starter and the workers,
// each once the one before is ready.
func (s *Stack) startPrograms() error {
	health := map[string]func(context.Context) error{
		"localbox": probe.HTTP(s.get("LOCALBOX_PUBLIC_URL") + "/healthz"),
		"mlengine": probe.HTTP(s.get("MLENGINE_URL") + "/healthz"),
		"vault":    probe.HTTP(s.get("VAULT_URL") + "/healthz"),
		"starter": func(ctx context.Context) error {
			if err := probe.HTTP("http://" + s.get("STARTER_ADDR") + "/healthz")(ctx); err != nil {
				return err
			}
			return probe.TCP(s.get("STARTER_CODEC_ADDR"))(ctx)
		},
	}
	for i, name := range Programs() {
		if slices.Contains(s.opts.Without, name) {
			s.out.Printf("not starting %s (served elsewhere at its dev.env address)", name)
			continue
		}
		path := filepath.Join(s.opts.BinDir, name)
		if name == "worker" {
			return s.startWorkers(path, i+1)
		}
		var args []string
		if name == "starter" {
			args = []string{"serve"}
		}
		s.out.Printf("starting %s", name)
		sp := s.spec(name, i+1, path, args, programVars()[name])
		sp.ready = health[name]
		if _, err := s.run(sp); err != nil {
			return err
		}
	}
	return nil
}

// startWorkers starts the worker processes: "worker" on the dev server,
// worker-1 … worker-N in cluster mode, each with its own metrics address.
// A worker is ready once it polls the task queue.
func (s *Stack) startWorkers(path string, color int) error {
	for i := 1; i <= s.opts.Workers; i++ {
		name, extra := "worker", []string(nil)
		if s.opts.Mode == ModeCluster {
			p, _ := clusterPorts(s.get)
			name, extra = fmt.Sprintf("worker-%d", i), []string{"WORKER_METRICS_ADDR=" + p.WorkerMetrics(i)}
		}
		s.out.Printf("starting %s", name)
		sp := s.spec(name, color+i-1, path, nil, programVars()["worker"], extra...)
		sp.readyTimeout = 90 * time.Second
		sp.ready = func(ctx context.Context) error { return s.workerPolling(ctx, s.proc(name)) }
		if _, err := s.run(sp); err != nil {
			return err
		}
	}
	return nil
}

// temporalClient dials Temporal with the settings and keys of dev.env.
func temporalClient(ctx context.Context, env *EnvFile, log *slog.Logger) (client.Client, error) {
	var tcfg temporalclient.Config
	var ccfg codec.Config
	if err := config.LoadFrom(ctx, &tcfg, env); err != nil {
		return nil, err
	}
	if err := config.LoadFrom(ctx, &ccfg, env); err != nil {
		return nil, err
	}
	kr, err := ccfg.Keyring()
	if err != nil {
		return nil, err
	}
	opts, err := tcfg.ClientOptions(log, codec.NewDataConverter(kr, ccfg.Options()))
	if err != nil {
		return nil, err
	}
	return client.DialContext(ctx, opts)
}

// connectTemporal dials the frontend until its health check answers.
func (s *Stack) connectTemporal(p *Proc) error {
	return waitFor(s.ctx, p, "Temporal frontend", 90*time.Second, func(ctx context.Context) error {
		c, err := temporalClient(ctx, s.env, s.log)
		if err != nil {
			return err
		}
		if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			c.Close()
			return err
		}
		s.tc = c
		return nil
	})
}

// workerPolling checks that the worker process p polls the workflow task
// queue (the SDK's default identity starts with the process id).
func (s *Stack) workerPolling(ctx context.Context, p *Proc) error {
	resp, err := s.tc.DescribeTaskQueue(ctx, workflows.TaskQueue, enums.TASK_QUEUE_TYPE_WORKFLOW)
	if err != nil {
		return err
	}
	prefix := fmt.Sprintf("%d@", p.Pid())
	for _, poller := range resp.GetPollers() {
		if strings.HasPrefix(poller.GetIdentity(), prefix) {
			return nil
		}
	}
	return fmt.Errorf("%s does not poll task queue %s yet", p.Name, workflows.TaskQueue)
}

func (s *Stack) printAddresses() {
	s.out.Printf("Temporal UI      %s", s.get("TEMPORAL_UI_URL"))
	s.out.Printf("console          %s (localbox's web console; log in with LOCALBOX_CONSOLE_PASSWORD from dev.env)", ConsoleURL(s.get("LOCALBOX_PUBLIC_URL"), ""))
	s.out.Printf("Temporal gRPC    %s (namespace %s)", s.get("TEMPORAL_ADDRESS"), s.get("TEMPORAL_NAMESPACE"))
	if s.cluster != nil {
		s.printCluster()
	}
	s.out.Printf("starter          http://%s (webhooks /webhooks/box)", s.get("STARTER_ADDR"))
	s.out.Printf("codec server     http://%s (the endpoint URL with its token is TEMPORAL_CODEC_ENDPOINT in dev.env)", s.get("STARTER_CODEC_ADDR"))
	s.out.Printf("localbox         %s", s.get("LOCALBOX_PUBLIC_URL"))
	s.out.Printf("mlengine         %s", s.get("MLENGINE_URL"))
	s.out.Printf("vault            %s (detokenize with VAULT_DEV_AUDITOR_CREDENTIAL from dev.env)", s.get("VAULT_URL"))
	if s.cluster != nil {
		for i := 1; i <= s.opts.Workers; i++ {
			s.out.Printf("worker-%-2d        metrics http://%s/metrics", i, s.cluster.Ports().WorkerMetrics(i))
		}
	}
	s.out.Printf("inbox folder     %s (id %s)", InboxFolderName, s.get("FILESIGHT_INBOX_FOLDER_ID"))
	s.out.Printf("credentials      %s   (set -a; . %s; set +a)", s.env.Path(), s.env.Path())
	s.out.Printf("logs             %s", filepath.Join(s.dataDir, "logs"))
}

// stopAll stops the processes, last started first.
func (s *Stack) stopAll() error {
	if s.tc != nil {
		s.tc.Close()
		s.tc = nil
	}
	var errs []error
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		select {
		case <-p.Done():
			continue
		default:
		}
		s.out.Printf("stopping %s (pid %d)", p.Name, p.Pid())
		if err := p.Stop(20 * time.Second); err != nil {
			errs = append(errs, fmt.Errorf("stopping %s: %w", p.Name, err))
		}
	}
	s.procs = nil
	return errors.Join(errs...)
}

// boxClient returns a Box client for localbox with dev.env's credentials.
func boxClient(ctx context.Context, env *EnvFile, log *slog.Logger) (*box.Client, error) {
	var bcfg box.EnvConfig
	if err := config.LoadFrom(ctx, &bcfg, env); err != nil {
		return nil, err
	}
	return box.NewClient(bcfg.Config(nil, log))
}

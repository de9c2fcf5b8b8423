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
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"

	"filesight/internal/box"
	"filesight/internal/codec"
	"filesight/internal/config"
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

// Options configure Up.
type Options struct {
	// DataDir holds all state (default .data).
	DataDir string
	// BinDir holds the programs and the temporal CLI (default: bin/ at the
	// module root, else next to this executable). Missing programs are
	// built there with `go build` when a module root is found.
	BinDir string
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

// Stack is a running dev stack.
type Stack struct {
	opts    Options
	out     *Output
	env     *EnvFile
	dataDir string
	procs   []*Proc
	tc      client.Client
	bc      *box.Client
	log     *slog.Logger
}

// Up starts everything and blocks until ctx ends (Ctrl-C) or, with
// ExitAfterSample, until the sample has been processed; then it stops every
// process, last started first.
func Up(ctx context.Context, o Options) (err error) {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.SampleTimeout <= 0 {
		o.SampleTimeout = 20 * time.Minute
	}
	s := &Stack{opts: o, out: NewOutput(o.Out, o.Color)}
	s.log = slog.New(slog.NewTextHandler(s.out.Prefixed("devstack", 7), &slog.HandlerOptions{Level: slog.LevelWarn}))

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer func() {
		if stopErr := s.stopAll(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	if err := s.prepare(); err != nil {
		return err
	}
	if err := s.startAll(ctx, cancel); err != nil {
		return s.explain(ctx, err)
	}
	if err := s.setupBox(ctx); err != nil {
		return s.explain(ctx, err)
	}
	s.printAddresses()

	var sampleErr error
	if !o.NoSample {
		sampleErr = s.processSample(ctx)
		if sampleErr != nil {
			sampleErr = s.explain(ctx, sampleErr)
		}
	}
	if o.ExitAfterSample {
		return sampleErr
	}
	if sampleErr != nil {
		s.out.Printf("sample: %v", sampleErr)
	}
	s.out.Printf("everything is up; upload more with `make upload FILE=path`. Ctrl-C stops everything.")
	<-ctx.Done()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	s.out.Printf("stopping")
	return nil
}

// explain prefers the reason the stack failed (a crashed child) over the
// symptom an operation reported.
func (s *Stack) explain(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
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
	if err := Resolve(env, abs); err != nil {
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
	for _, k := range addressKeys {
		if err := portFree(s.get(k)); err != nil {
			return fmt.Errorf("%s=%s: %w (is another dev stack running? stop it, or change %s in %s)", k, s.get(k), err, k, env.Path())
		}
	}
	if err := portFree(s.uiHostPort()); err != nil {
		return fmt.Errorf("TEMPORAL_UI_URL=%s: %w", s.get("TEMPORAL_UI_URL"), err)
	}
	return s.findBinaries()
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

// moduleRoot finds filesight's go.mod above the working directory.
func moduleRoot() string {
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
	root := moduleRoot()
	if s.opts.BinDir == "" {
		if root != "" {
			s.opts.BinDir = filepath.Join(root, "bin")
		} else if exe, err := os.Executable(); err == nil {
			s.opts.BinDir = filepath.Dir(exe)
		}
	}
	if _, err := os.Stat(filepath.Join(s.opts.BinDir, "temporal")); err != nil {
		return fmt.Errorf("the Temporal CLI is missing at %s: run `make tools` first", filepath.Join(s.opts.BinDir, "temporal"))
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

// childEnv is the process environment with dev.env on top (later entries
// win in exec.Cmd.Env).
func (s *Stack) childEnv(extra ...string) []string {
	return slices.Concat(os.Environ(), s.env.Environ(), extra)
}

func (s *Stack) spawn(name string, color int, path string, args []string, extra ...string) (*Proc, error) {
	p := &Proc{
		Name: name, Path: path, Args: args, Env: s.childEnv(extra...), Dir: s.dataDir,
		LogPath: filepath.Join(s.dataDir, "logs", name+".log"),
	}
	if err := p.Start(s.out.Prefixed(name, color)); err != nil {
		return nil, err
	}
	s.procs = append(s.procs, p)
	return p, nil
}

// watch cancels the stack when a child exits that was not asked to stop.
func (s *Stack) watch(ctx context.Context, p *Proc, cancel context.CancelCauseFunc) {
	go func() {
		select {
		case <-ctx.Done():
		case <-p.Done():
			if !p.Stopping() {
				cancel(fmt.Errorf("%s exited unexpectedly (%v); its log: %s\n%s", p.Name, p.Err(), p.LogPath, tailFile(p.LogPath, 15)))
			}
		}
	}()
}

func (s *Stack) startAll(ctx context.Context, cancel context.CancelCauseFunc) error {
	// Temporal dev server with UI, persistent SQLite, search attributes and
	// the codec endpoint. The UI of a dev server cannot send a bearer header,
	// so the token travels as the endpoint's first path segment (see
	// internal/codec); the endpoint URL is therefore a credential.
	thost, tport, _ := net.SplitHostPort(s.get("TEMPORAL_ADDRESS"))
	uhost, uport, _ := net.SplitHostPort(s.uiHostPort())
	codecEndpoint := s.get("TEMPORAL_CODEC_ENDPOINT")
	args := []string{"server", "start-dev",
		"--ip", thost, "--port", tport, "--ui-ip", uhost, "--ui-port", uport,
		"--db-filename", filepath.Join(s.dataDir, "temporal.db"),
		"--namespace", s.get("TEMPORAL_NAMESPACE"),
		"--ui-codec-endpoint", codecEndpoint,
		"--log-level", "error",
	}
	for _, sa := range []string{workflows.SearchAttrFileID, workflows.SearchAttrMediaKind, workflows.SearchAttrStage} {
		args = append(args, "--search-attribute", sa+"=Keyword")
	}
	s.out.Printf("starting Temporal dev server on %s (UI %s)", s.get("TEMPORAL_ADDRESS"), s.get("TEMPORAL_UI_URL"))
	tp, err := s.spawn("temporal", 0, filepath.Join(s.opts.BinDir, "temporal"), args)
	if err != nil {
		return err
	}
	s.watch(ctx, tp, cancel)
	if err := s.connectTemporal(ctx, tp); err != nil {
		return err
	}
	if err := waitFor(ctx, tp, "Temporal UI", 90*time.Second, httpOK(s.get("TEMPORAL_UI_URL")+"/")); err != nil {
		return err
	}

	health := map[string]string{
		"localbox": s.get("LOCALBOX_PUBLIC_URL") + "/healthz",
		"mlengine": s.get("MLENGINE_URL") + "/healthz",
		"vault":    s.get("VAULT_URL") + "/healthz",
		"starter":  "http://" + s.get("STARTER_ADDR") + "/healthz",
	}
	for i, name := range Programs() {
		args := []string{}
		if name == "starter" {
			args = []string{"serve"}
		}
		s.out.Printf("starting %s", name)
		p, err := s.spawn(name, i+1, filepath.Join(s.opts.BinDir, name), args)
		if err != nil {
			return err
		}
		s.watch(ctx, p, cancel)
		if u, ok := health[name]; ok {
			if err := waitFor(ctx, p, name, 60*time.Second, httpOK(u)); err != nil {
				return err
			}
		}
		if name == "starter" {
			if err := waitFor(ctx, p, "codec server", 30*time.Second, tcpOpen(s.get("STARTER_CODEC_ADDR"))); err != nil {
				return err
			}
		}
		if name == "worker" {
			if err := waitFor(ctx, p, "worker polling task queue "+workflows.TaskQueue, 90*time.Second, s.workerPolling); err != nil {
				return err
			}
		}
	}
	return nil
}

func httpOK(u string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", u, resp.Status)
		}
		return nil
	}
}

func tcpOpen(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
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
	opts, err := tcfg.ClientOptions(log, codec.NewDataConverter(kr, codec.Options{Compress: ccfg.Compress}))
	if err != nil {
		return nil, err
	}
	return client.DialContext(ctx, opts)
}

func (s *Stack) connectTemporal(ctx context.Context, tp *Proc) error {
	err := waitFor(ctx, tp, "Temporal dev server", 90*time.Second, func(ctx context.Context) error {
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
	if err != nil {
		return err
	}
	return s.ensureSearchAttributes(ctx)
}

// ensureSearchAttributes checks the attributes the workflow upserts and
// registers any that are missing (the --search-attribute flags normally do it).
func (s *Stack) ensureSearchAttributes(ctx context.Context) error {
	ns := s.get("TEMPORAL_NAMESPACE")
	resp, err := s.tc.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil {
		return fmt.Errorf("listing search attributes: %w", err)
	}
	missing := map[string]enums.IndexedValueType{}
	for _, sa := range []string{workflows.SearchAttrFileID, workflows.SearchAttrMediaKind, workflows.SearchAttrStage} {
		if _, ok := resp.GetCustomAttributes()[sa]; !ok {
			missing[sa] = enums.INDEXED_VALUE_TYPE_KEYWORD
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := s.tc.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: ns, SearchAttributes: missing}); err != nil {
		return fmt.Errorf("registering search attributes: %w", err)
	}
	return nil
}

func (s *Stack) workerPolling(ctx context.Context) error {
	resp, err := s.tc.DescribeTaskQueue(ctx, workflows.TaskQueue, enums.TASK_QUEUE_TYPE_WORKFLOW)
	if err != nil {
		return err
	}
	if len(resp.GetPollers()) == 0 {
		return errors.New("no poller yet")
	}
	return nil
}

func (s *Stack) printAddresses() {
	s.out.Printf("Temporal UI      %s", s.get("TEMPORAL_UI_URL"))
	s.out.Printf("Temporal gRPC    %s (namespace %s)", s.get("TEMPORAL_ADDRESS"), s.get("TEMPORAL_NAMESPACE"))
	s.out.Printf("starter          http://%s (webhooks /webhooks/box)", s.get("STARTER_ADDR"))
	s.out.Printf("codec server     http://%s (the endpoint URL with its token is TEMPORAL_CODEC_ENDPOINT in dev.env)", s.get("STARTER_CODEC_ADDR"))
	s.out.Printf("localbox         %s", s.get("LOCALBOX_PUBLIC_URL"))
	s.out.Printf("mlengine         %s", s.get("MLENGINE_URL"))
	s.out.Printf("vault            %s (detokenize with VAULT_DEV_AUDITOR_CREDENTIAL from dev.env)", s.get("VAULT_URL"))
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

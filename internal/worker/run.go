package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"filesight/activities"
	"filesight/internal/box"
	"filesight/internal/codec"
	"filesight/internal/metrics"
	"filesight/internal/program"
	"filesight/internal/tokenseal"
	"filesight/internal/vault"
	"filesight/internal/vault/vaultclient"
	"filesight/workflows"
	"filesight/workflows/semaphore"
)

// workerOptions are tuned for a 2-core machine; docs/workflow.md explains.
func workerOptions(cfg Config) worker.Options {
	return worker.Options{
		// Activities wait on HTTP (Box, the providers): the CPU-heavy work
		// happens in the providers, so more slots than cores is right.
		MaxConcurrentActivityExecutionSize: cfg.MaxConcurrentActivities,
		// Workflow tasks are short and CPU-bound: about two per core.
		MaxConcurrentWorkflowTaskExecutionSize: cfg.MaxConcurrentWorkflowTasks,
		MaxConcurrentActivityTaskPollers:       cfg.ActivityPollers,
		MaxConcurrentWorkflowTaskPollers:       cfg.WorkflowPollers,
		// Stop() stops polling, then waits this long for running activities
		// to finish before cancelling their contexts.
		WorkerStopTimeout: cfg.StopTimeout,
	}
}

// Run starts the worker and blocks until ctx is done, then drains: it
// stops polling, lets in-flight activity tasks finish (up to
// WORKER_STOP_TIMEOUT) and closes the client. ready, if not nil, is called
// once the worker polls, with the address /metrics and /healthz are served on.
func Run(ctx context.Context, cfg Config, log *slog.Logger, ready func(metricsAddr string)) error {
	kr, err := cfg.Codec.Keyring()
	if err != nil {
		return err
	}
	dc := codec.NewDataConverter(kr, cfg.Codec.Options())

	m := metrics.NewHandler()
	copts, err := cfg.Temporal.ClientOptions(log, dc)
	if err != nil {
		return err
	}
	copts.MetricsHandler = m
	c, err := client.DialContext(ctx, copts)
	if err != nil {
		return fmt.Errorf("connecting to Temporal at %s (TEMPORAL_ADDRESS): %w", cfg.Temporal.Address, err)
	}
	defer c.Close()

	vc, err := vaultclient.New(cfg.Vault)
	if err != nil {
		return err
	}
	if err := checkVaultCredential(ctx, vc, log); err != nil {
		return err
	}
	sealer, err := cfg.TokenSeal.Sealer()
	if err != nil {
		return err
	}
	log.Info("token values in history are sealed", "active_key_id", sealer.ActiveKeyID())
	ps, err := buildProviders(cfg, c, kr, sealer, log)
	if err != nil {
		return program.Usage(err)
	}
	acts, err := newActivities(cfg, log, vc, sealer, c, ps)
	if err != nil {
		return err
	}
	w := worker.New(c, workflows.TaskQueue, workerOptions(cfg))
	workflows.Register(w, acts, &semaphore.Activities{Client: c, TaskQueue: workflows.TaskQueue})
	extra := newWorkers(c, providerQueues(cfg, ps, acts))

	// Metrics and health.
	var running atomic.Bool
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !running.Load() {
			http.Error(w, "not polling", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("listening on WORKER_METRICS_ADDR %s: %w", cfg.MetricsAddr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()

	if err := w.Start(); err != nil {
		return fmt.Errorf("starting the worker on task queue %s: %w", workflows.TaskQueue, err)
	}
	for i, x := range extra {
		if err := x.w.Start(); err != nil {
			for _, y := range slices.Backward(extra[:i]) {
				y.w.Stop()
			}
			w.Stop()
			return fmt.Errorf("starting the worker on task queue %s: %w", x.queue, err)
		}
	}
	running.Store(true)
	log.Info("worker polling", "task_queue", workflows.TaskQueue, "temporal", cfg.Temporal.Address, "namespace", cfg.Temporal.Namespace,
		"metrics", ln.Addr().String(), "codec_key", kr.ActiveKeyID(), "max_activities", cfg.MaxConcurrentActivities,
		"max_workflow_tasks", cfg.MaxConcurrentWorkflowTasks, "callbacks", cfg.CallbackBaseURL != "")
	for _, name := range ps.names() {
		pol := ps.policies[name]
		log.Info("provider", "name", name, "task_queue", pol.TaskQueue, "max_open_jobs", pol.MaxOpenJobs,
			"activities_per_second", ps.rates[name], "job_timeout", pol.JobTimeout, "poll_interval", pol.PollInterval)
	}
	log.Info("analysis providers", "selection", ps.selection.String())
	if ready != nil {
		ready(ln.Addr().String())
	}

	select {
	case <-ctx.Done():
	case err := <-srvErr:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server failed; stopping", "error", err)
		}
	}
	log.Info("stopping: draining in-flight activities", "timeout", cfg.StopTimeout)
	running.Store(false)
	stopped := time.Now()
	for _, x := range slices.Backward(extra) {
		x.w.Stop()
	}
	w.Stop()
	log.Info("worker stopped", "drained_in", time.Since(stopped).Round(time.Millisecond))
	return nil
}

// newActivities builds the activities over Box, the providers and the
// vault service; c records WriteCards' progress (activities.Options.Heartbeats).
func newActivities(cfg Config, log *slog.Logger, vc *vaultclient.Client, sealer *tokenseal.Sealer, c client.Client, ps *providerSet) (*activities.Activities, error) {
	bc, err := box.NewClient(cfg.Box.Config(nil, log))
	if err != nil {
		return nil, fmt.Errorf("box client (BOX_*): %w", err)
	}
	red := vault.NewRedactor(vc, vault.RedactorOptions{Logger: log})
	return activities.New(bc, ps.providers, red, sealer, activities.Options{
		CallbackBaseURL: cfg.CallbackBaseURL, Logger: log, Heartbeats: c,
		Selection: ps.selection, Policies: ps.policies,
	})
}

// checkVaultCredential makes sure, before the worker polls, that
// FILESIGHT_VAULT_CREDENTIAL is what a worker must hold: a tokenize
// credential, not an unknown one and not a detokenize credential (which
// would let anyone who takes over a worker read the values back). A vault
// that cannot be reached yet is only logged: the card writer retries.
func checkVaultCredential(ctx context.Context, vc *vaultclient.Client, log *slog.Logger) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := vc.CheckTokenize(cctx)
	var ve *vaultclient.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ve) && ve.StatusCode == http.StatusForbidden:
		return errors.New("FILESIGHT_VAULT_CREDENTIAL may not tokenize: it is a detokenize credential, which a worker must never hold; give the worker one of VAULT_TOKENIZE_CREDENTIALS")
	case errors.As(err, &ve) && ve.StatusCode == http.StatusUnauthorized:
		return errors.New("FILESIGHT_VAULT_CREDENTIAL is not known to the vault at FILESIGHT_VAULT_URL (VAULT_TOKENIZE_CREDENTIALS)")
	}
	log.Warn("the vault could not be asked whether the worker's credential may tokenize; starting anyway (writing cards waits for the vault)", "error", err)
	return nil
}

package worker

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"filesight/activities"
	"filesight/internal/codec"
	"filesight/internal/provider"
	"filesight/internal/provider/catalog"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/tokenseal"
	"filesight/workflows"
)

// ProvidersConfig is the providers' part of the worker's environment: the
// cloud adapters and which analyses go where (catalog.Config:
// FILESIGHT_ANALYSIS_PROVIDERS, VIDEOINDEXER_*, ASSEMBLYAI_*, WHISPER_*),
// and per provider a cap on jobs in flight across every worker and a rate
// limit on its task queue. With none of them set, mlengine performs every
// analysis, uncapped, as before.
type ProvidersConfig struct {
	Catalog catalog.Config
	// MaxOpenJobs caps the jobs in flight per provider across every worker,
	// from before submission until the provider reports the job ended:
	// "mlengine=3,videoindexer=20". A provider not listed is not capped.
	MaxOpenJobs string `env:"FILESIGHT_PROVIDER_MAX_OPEN_JOBS"`
	// ActivitiesPerSecond limits how many provider-facing activities
	// (submissions, polls, status reads, cancellations) per second the
	// Temporal server hands out on a provider's task queue, whichever
	// worker runs them: "videoindexer=2,assemblyai=5". Not listed: no limit.
	ActivitiesPerSecond string `env:"FILESIGHT_PROVIDER_ACTIVITIES_PER_SECOND"`
}

// Validate checks the adapters, the selection and the two lists; every
// provider named must be configured (mlengine always is).
func (c ProvidersConfig) Validate() error {
	errs := []error{c.Catalog.Validate()}
	known := append([]string{mlengineapi.DefaultName}, c.Catalog.Names()...)
	unknown := func(variable, name string) error {
		return fmt.Errorf("%s names provider %q, which is not configured (configured: %s)", variable, name, strings.Join(known, ", "))
	}
	if sel, err := c.Catalog.Selection(); err == nil {
		for _, p := range sel.Providers() {
			if !slices.Contains(known, p) {
				errs = append(errs, unknown("FILESIGHT_ANALYSIS_PROVIDERS", p))
			}
		}
	}
	caps, err := c.parseMaxOpenJobs()
	errs = append(errs, err)
	rates, err := c.parseActivitiesPerSecond()
	errs = append(errs, err)
	for _, l := range []struct {
		variable string
		names    []string
	}{{"FILESIGHT_PROVIDER_MAX_OPEN_JOBS", slices.Sorted(maps.Keys(caps))}, {"FILESIGHT_PROVIDER_ACTIVITIES_PER_SECOND", slices.Sorted(maps.Keys(rates))}} {
		for _, p := range l.names {
			if !slices.Contains(known, p) {
				errs = append(errs, unknown(l.variable, p))
			}
		}
	}
	return errors.Join(errs...)
}

// parseMaxOpenJobs and parseActivitiesPerSecond parse the two lists.
func (c ProvidersConfig) parseMaxOpenJobs() (map[string]int, error) {
	return parseProviderValues("FILESIGHT_PROVIDER_MAX_OPEN_JOBS", c.MaxOpenJobs, strconv.Atoi)
}

func (c ProvidersConfig) parseActivitiesPerSecond() (map[string]float64, error) {
	return parseProviderValues("FILESIGHT_PROVIDER_ACTIVITIES_PER_SECOND", c.ActivitiesPerSecond, func(s string) (float64, error) {
		return strconv.ParseFloat(s, 64)
	})
}

// parseProviderValues parses "provider=value" pairs separated by commas;
// every value must be positive and every provider named once.
func parseProviderValues[T int | float64](variable, s string, parse func(string) (T, error)) (map[string]T, error) {
	out := map[string]T{}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		name, value, ok := strings.Cut(pair, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" {
			return nil, fmt.Errorf("%s: %q is not provider=value", variable, pair)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s: provider %q is given twice", variable, name)
		}
		v, err := parse(value)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%s: %q: the value must be a positive number", variable, pair)
		}
		out[name] = v
	}
	return out, nil
}

// providerSet is every provider the worker offers and how the workflow
// treats each.
type providerSet struct {
	providers []provider.Provider
	selection provider.Selection
	policies  map[string]activities.ProviderPolicy
	rates     map[string]float64
	// jobQueues are the queues of providers whose jobs run on the workers
	// themselves (whisper).
	jobQueues []catalog.JobQueue
}

// buildProviders builds mlengine and the enabled cloud adapters, checks
// that the selection gives every analysis to a provider that performs it,
// and derives each provider's policy: its own task queue, its configured
// deadline and poll interval, its cap.
func buildProviders(cfg Config, c client.Client, kr *codec.Keyring, sealer *tokenseal.Sealer, log *slog.Logger) (*providerSet, error) {
	pc := cfg.Providers
	set, err := catalog.Build(pc.Catalog, catalog.Deps{Temporal: c, Codec: codec.NewCodec(kr), Sealer: sealer, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("cloud providers: %w", err)
	}
	ml := mlengineapi.New(mlengineapi.Config{BaseURL: cfg.MLEngineURL, APIKey: cfg.MLEngineAPIKey})
	ps := &providerSet{providers: append([]provider.Provider{ml}, set.Providers...), jobQueues: set.Queues,
		policies: map[string]activities.ProviderPolicy{}}
	ps.rates, _ = pc.parseActivitiesPerSecond() // Validate has checked both lists
	byName := map[string]provider.Provider{}
	for _, p := range ps.providers {
		byName[p.Name()] = p
	}
	if ps.selection, err = pc.Catalog.Selection(); err != nil {
		return nil, fmt.Errorf("FILESIGHT_ANALYSIS_PROVIDERS: %w", err)
	}
	if err := ps.selection.Check(byName); err != nil {
		return nil, fmt.Errorf("FILESIGHT_ANALYSIS_PROVIDERS: %w", err)
	}
	for _, w := range ps.selection.Warnings() {
		log.Warn("analysis providers: " + w)
	}
	caps, _ := pc.parseMaxOpenJobs()
	for _, p := range ps.providers {
		pol := set.Policies[p.Name()]
		ps.policies[p.Name()] = activities.ProviderPolicy{
			TaskQueue: workflows.ProviderTaskQueue(p.Name()), JobTimeout: pol.JobTimeout, PollInterval: pol.PollInterval,
			MaxOpenJobs: caps[p.Name()],
		}
	}
	return ps, nil
}

// names lists the providers, mlengine first.
func (ps *providerSet) names() []string {
	out := make([]string, len(ps.providers))
	for i, p := range ps.providers {
		out[i] = p.Name()
	}
	return out
}

// providerQueues are the extra task queues the worker serves: every
// provider's own queue (its provider-facing activities, rate-limited by the
// server when configured) and the queues of providers whose jobs run on
// the workers (whisper).
func providerQueues(cfg Config, ps *providerSet, acts *activities.Activities) []queueWorker {
	var out []queueWorker
	for _, name := range ps.names() {
		out = append(out, queueWorker{
			queue: workflows.ProviderTaskQueue(name),
			opts: worker.Options{
				MaxConcurrentActivityExecutionSize: cfg.MaxConcurrentActivities,
				MaxConcurrentActivityTaskPollers:   cfg.ActivityPollers,
				TaskQueueActivitiesPerSecond:       ps.rates[name],
				DisableWorkflowWorker:              true,
				WorkerStopTimeout:                  cfg.StopTimeout,
			},
			register: func(r worker.Registry) { workflows.RegisterProviderActivities(r, acts) },
		})
	}
	for _, jq := range ps.jobQueues {
		out = append(out, queueWorker{
			queue: jq.TaskQueue,
			opts: worker.Options{
				MaxConcurrentActivityExecutionSize: jq.Concurrency,
				MaxConcurrentActivityTaskPollers:   cfg.ActivityPollers,
				MaxConcurrentWorkflowTaskPollers:   cfg.WorkflowPollers,
				WorkerStopTimeout:                  cfg.StopTimeout,
			},
			register: jq.Register,
		})
	}
	return out
}

// queueWorker is one extra task queue and, once started, its worker.
type queueWorker struct {
	queue    string
	opts     worker.Options
	register func(worker.Registry)
	w        worker.Worker
}

// newWorkers creates the workers of the queues.
func newWorkers(c client.Client, qs []queueWorker) []queueWorker {
	for i := range qs {
		qs[i].w = worker.New(c, qs[i].queue, qs[i].opts)
		qs[i].register(qs[i].w)
	}
	return qs
}

// Package catalog turns the environment into the cloud providers a worker
// offers: each adapter's configuration (VIDEOINDEXER_*, ASSEMBLYAI_*,
// WHISPER_*), which analyses go to which provider
// (FILESIGHT_ANALYSIS_PROVIDERS), and what the worker must run for
// providers whose jobs run on the workers themselves (whisper's task
// queue). The starter uses it for the callback readers. Nothing here talks
// to a service: Build only constructs.
package catalog

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"

	"filesight/internal/provider"
	"filesight/internal/provider/assemblyai"
	"filesight/internal/provider/claimcheck"
	"filesight/internal/provider/videoindexer"
	"filesight/internal/provider/whisper"
	"filesight/internal/secret"
	"filesight/internal/tokenseal"
)

// DefaultProvider performs every analysis the selection does not give to
// another provider: the bundled mlengine, so `make up` needs no cloud
// account.
const DefaultProvider = "mlengine"

// Config is every adapter's configuration and the selection. An adapter is
// enabled by its first required variable (VIDEOINDEXER_ACCOUNT_ID,
// ASSEMBLYAI_API_KEY, WHISPER_URL); with none set, nothing changes.
type Config struct {
	// Analyses maps analyses to providers, e.g.
	// "transcript=whisper,keywords=whisper" (the rest stays with mlengine,
	// or "*=provider" names another default).
	Analyses     string `env:"FILESIGHT_ANALYSIS_PROVIDERS"`
	VideoIndexer videoindexer.Config
	AssemblyAI   assemblyai.Config
	Whisper      whisper.Config
}

// Validate checks every enabled adapter and the selection's syntax.
func (c Config) Validate() error {
	errs := []error{c.VideoIndexer.Validate(), c.AssemblyAI.Validate(), c.Whisper.Validate()}
	if _, err := c.Selection(); err != nil {
		errs = append(errs, fmt.Errorf("FILESIGHT_ANALYSIS_PROVIDERS: %w", err))
	}
	return errors.Join(errs...)
}

// Names lists the enabled adapters' provider names (mlengine, which the
// catalog does not build, is not among them).
func (c Config) Names() []string {
	var names []string
	if c.VideoIndexer.Enabled() {
		names = append(names, nameOr(c.VideoIndexer.Name, videoindexer.DefaultName))
	}
	if c.AssemblyAI.Enabled() {
		names = append(names, nameOr(c.AssemblyAI.Name, assemblyai.DefaultName))
	}
	if c.Whisper.Enabled() {
		names = append(names, nameOr(c.Whisper.Name, whisper.DefaultName))
	}
	return names
}

// ValidateCallbacks checks the callback keys alone (the starter has only
// those): at least 32 bytes each, as every shared secret.
func (c Config) ValidateCallbacks() error {
	return errors.Join(
		secret.CheckShared("VIDEOINDEXER_CALLBACK_KEY", c.VideoIndexer.CallbackKey),
		secret.CheckShared("VIDEOINDEXER_CALLBACK_SECONDARY_KEY", c.VideoIndexer.CallbackSecondaryKey),
		secret.CheckShared("ASSEMBLYAI_CALLBACK_KEY", c.AssemblyAI.CallbackKey),
		secret.CheckShared("ASSEMBLYAI_CALLBACK_SECONDARY_KEY", c.AssemblyAI.CallbackSecondaryKey),
	)
}

// Selection parses FILESIGHT_ANALYSIS_PROVIDERS, with mlengine as default.
func (c Config) Selection() (provider.Selection, error) {
	return provider.ParseSelection(c.Analyses, DefaultProvider)
}

// Deps are what Build needs from the worker.
type Deps struct {
	// Temporal is the worker's client (whisper's jobs are workflows).
	Temporal client.Client
	// Codec encrypts whisper's results at rest: the worker's payload codec.
	Codec converter.PayloadCodec
	// Sealer seals the read token in whisper's job input (the workers'
	// token sealing keys).
	Sealer *tokenseal.Sealer
	// HTTPClient, when set, replaces each adapter's default client.
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// JobQueue is a task queue the worker must also poll: a provider whose
// jobs run on the workers (whisper).
type JobQueue struct {
	Provider    string
	TaskQueue   string
	Concurrency int
	// Register registers the queue's workflows and activities.
	Register func(worker.Registry)
}

// Set is what Build made.
type Set struct {
	// Providers are the enabled adapters, to pass to activities.New
	// alongside mlengine.
	Providers []provider.Provider
	// Queues are the extra task queues to run workers for.
	Queues []JobQueue
	// Policies are each provider's deadline and poll interval.
	Policies map[string]provider.Policy
}

// Build constructs the enabled adapters; cfg must be valid.
func Build(cfg Config, d Deps) (Set, error) {
	s := Set{Policies: map[string]provider.Policy{}}
	if cfg.VideoIndexer.Enabled() {
		p := videoindexer.New(cfg.VideoIndexer, videoindexer.Options{HTTPClient: d.HTTPClient})
		s.Providers, s.Policies[p.Name()] = append(s.Providers, p), p.Policy()
	}
	if cfg.AssemblyAI.Enabled() {
		p := assemblyai.New(cfg.AssemblyAI, d.HTTPClient)
		s.Providers, s.Policies[p.Name()] = append(s.Providers, p), p.Policy()
	}
	if cfg.Whisper.Enabled() {
		if d.Temporal == nil {
			return Set{}, errors.New("whisper: a Temporal client is required (its jobs are workflows)")
		}
		if d.Codec == nil {
			return Set{}, errors.New("whisper: a payload codec is required (results are encrypted at rest)")
		}
		if d.Sealer == nil {
			return Set{}, errors.New("whisper: a token sealer is required (the read token travels sealed in the job's input)")
		}
		store, err := claimcheck.NewDir(cfg.Whisper.StoreDir, claimcheck.DirOptions{Codec: d.Codec, Retention: cfg.Whisper.Retention})
		if err != nil {
			return Set{}, fmt.Errorf("whisper (WHISPER_STORE_DIR): %w", err)
		}
		p := whisper.New(cfg.Whisper, d.Temporal, store, d.Sealer)
		jobs := whisper.NewJobs(cfg.Whisper, store, d.Sealer, whisper.JobsOptions{HTTPClient: d.HTTPClient, Logger: d.Logger})
		s.Providers, s.Policies[p.Name()] = append(s.Providers, p), p.Policy()
		s.Queues = append(s.Queues, JobQueue{Provider: p.Name(), TaskQueue: p.TaskQueue(), Concurrency: cfg.Whisper.Concurrency, Register: jobs.Register})
	}
	return s, nil
}

// CallbackReaders returns, by provider name, how the starter's
// /callbacks/{provider} endpoint authenticates each adapter's callbacks:
// one per adapter whose callback key is set (the starter needs only the
// keys, not the adapters' other settings). Whisper has none: its jobs
// signal the workflow directly.
func CallbackReaders(cfg Config) map[string]provider.CallbackReader {
	m := map[string]provider.CallbackReader{}
	if !cfg.VideoIndexer.CallbackKey.IsZero() {
		m[nameOr(cfg.VideoIndexer.Name, videoindexer.DefaultName)] = videoindexer.NewCallbackReader(cfg.VideoIndexer)
	}
	if !cfg.AssemblyAI.CallbackKey.IsZero() {
		m[nameOr(cfg.AssemblyAI.Name, assemblyai.DefaultName)] = assemblyai.NewCallbackReader(cfg.AssemblyAI)
	}
	return m
}

func nameOr(name, def string) string {
	if name == "" {
		return def
	}
	return name
}

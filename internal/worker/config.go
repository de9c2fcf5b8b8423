package worker

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"filesight/internal/box"
	"filesight/internal/codec"
	"filesight/internal/program"
	"filesight/internal/secret"
	"filesight/internal/temporalclient"
	"filesight/internal/tokenseal"
	"filesight/internal/vault/vaultclient"
)

// Config is the worker's environment (every variable also as NAME_FILE).
type Config struct {
	Temporal temporalclient.Config
	Codec    codec.Config
	Box      box.EnvConfig
	// TokenSeal seals token values in workflow history with keys only the
	// workers hold (FILESIGHT_TOKEN_SEAL_KEYS).
	TokenSeal tokenseal.Config

	MLEngineURL    string        `env:"MLENGINE_URL, default=http://127.0.0.1:8710"`
	MLEngineAPIKey secret.String `env:"MLENGINE_API_KEY, required"`
	// CallbackBaseURL is the starter's address as the providers reach it;
	// empty disables callbacks (polling alone then ends the waits).
	CallbackBaseURL string `env:"FILESIGHT_CALLBACK_BASE_URL"`
	// Vault is the tokenisation service the card writer replaces sensitive
	// values through (FILESIGHT_VAULT_URL, FILESIGHT_VAULT_CREDENTIAL): the
	// credential is a tokenize credential, never a detokenize one.
	Vault vaultclient.Config
	// Providers: the cloud adapters, which analyses go to which provider,
	// per-provider caps and rate limits (providers.go).
	Providers ProvidersConfig

	MetricsAddr string `env:"WORKER_METRICS_ADDR, default=127.0.0.1:9090"`
	LogLevel    string `env:"LOG_LEVEL, default=info"`
	LogFormat   string `env:"LOG_FORMAT, default=json"`

	// Worker tuning; defaults are for a 2-core machine (docs/workflow.md).
	MaxConcurrentActivities    int           `env:"WORKER_MAX_CONCURRENT_ACTIVITIES, default=16"`
	MaxConcurrentWorkflowTasks int           `env:"WORKER_MAX_CONCURRENT_WORKFLOW_TASKS, default=4"`
	ActivityPollers            int           `env:"WORKER_ACTIVITY_POLLERS, default=2"`
	WorkflowPollers            int           `env:"WORKER_WORKFLOW_POLLERS, default=2"`
	StopTimeout                time.Duration `env:"WORKER_STOP_TIMEOUT, default=30s"`
}

// MinVaultCredentialLen is the shortest vault credential the worker takes
// (the vault refuses shorter ones, too).
const MinVaultCredentialLen = 32

// Validate checks what envconfig cannot; every message names its variable.
func (c Config) Validate() error {
	var errs []error
	if err := c.Temporal.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Codec.Keys.IsZero() {
		errs = append(errs, errors.New("FILESIGHT_CODEC_KEYS is required"))
	} else if _, err := c.Codec.Keyring(); err != nil {
		errs = append(errs, err)
	}
	if c.TokenSeal.Keys.IsZero() {
		errs = append(errs, errors.New("FILESIGHT_TOKEN_SEAL_KEYS is required"))
	} else if _, err := c.TokenSeal.Sealer(); err != nil {
		errs = append(errs, err)
	} else if err := c.TokenSeal.CheckSeparate(c.Codec.Keys); err != nil {
		errs = append(errs, err)
	}
	for _, v := range []struct{ name, value string }{
		{"BOX_CLIENT_ID", c.Box.ClientID}, {"BOX_CLIENT_SECRET", c.Box.ClientSecret.Reveal()}, {"BOX_SUBJECT_ID", c.Box.SubjectID},
	} {
		if v.value == "" {
			errs = append(errs, fmt.Errorf("%s is required", v.name))
		}
	}
	if c.Box.SubjectType != "enterprise" && c.Box.SubjectType != "user" {
		errs = append(errs, fmt.Errorf("BOX_SUBJECT_TYPE must be enterprise or user, not %q", c.Box.SubjectType))
	}
	for _, v := range []struct {
		name, value string
		optional    bool
	}{
		{"BOX_API_URL", c.Box.APIURL, false}, {"BOX_UPLOAD_URL", c.Box.UploadURL, false},
		{"MLENGINE_URL", c.MLEngineURL, false}, {"FILESIGHT_CALLBACK_BASE_URL", c.CallbackBaseURL, true},
	} {
		if v.optional && v.value == "" {
			continue
		}
		if u, err := url.Parse(v.value); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s must be an http(s) URL, not %q", v.name, v.value))
		}
	}
	if err := c.Providers.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Vault.URL == "" {
		errs = append(errs, errors.New("FILESIGHT_VAULT_URL is required (the vault service, e.g. http://127.0.0.1:8720)"))
	} else if _, err := vaultclient.New(vaultclient.Config{URL: c.Vault.URL, Credential: "checked below"}); err != nil {
		errs = append(errs, err)
	}
	if len(c.Vault.Credential.Reveal()) < MinVaultCredentialLen {
		errs = append(errs, fmt.Errorf("FILESIGHT_VAULT_CREDENTIAL must be a tokenize credential's secret of at least %d bytes", MinVaultCredentialLen))
	}
	errs = append(errs, secret.CheckShared("MLENGINE_API_KEY", c.MLEngineAPIKey))
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if f := program.LogFormat(c.LogFormat); f != program.LogJSON && f != program.LogText {
		errs = append(errs, fmt.Errorf("LOG_FORMAT must be json or text, not %q", c.LogFormat))
	}
	for _, v := range []struct {
		name  string
		value int
	}{
		{"WORKER_MAX_CONCURRENT_ACTIVITIES", c.MaxConcurrentActivities}, {"WORKER_MAX_CONCURRENT_WORKFLOW_TASKS", c.MaxConcurrentWorkflowTasks},
		{"WORKER_ACTIVITY_POLLERS", c.ActivityPollers}, {"WORKER_WORKFLOW_POLLERS", c.WorkflowPollers},
	} {
		if v.value < 1 {
			errs = append(errs, fmt.Errorf("%s must be at least 1", v.name))
		}
	}
	// A workflow task poller needs a free execution slot, and sticky
	// queues need two pollers.
	if c.WorkflowPollers > c.MaxConcurrentWorkflowTasks || c.WorkflowPollers == 1 {
		errs = append(errs, fmt.Errorf("WORKER_WORKFLOW_POLLERS must be at least 2 and at most WORKER_MAX_CONCURRENT_WORKFLOW_TASKS (%d)", c.MaxConcurrentWorkflowTasks))
	}
	if c.StopTimeout <= 0 {
		errs = append(errs, errors.New("WORKER_STOP_TIMEOUT must be positive"))
	}
	return errors.Join(errs...)
}

// level is LogLevel parsed (Validate has checked it).
func (c Config) level() slog.Level {
	l, _ := parseLevel(c.LogLevel)
	return l
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return l, fmt.Errorf("LOG_LEVEL must be debug, info, warn or error, not %q", s)
	}
	return l, nil
}

package assemblyai

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"filesight/internal/provider"
	"filesight/internal/secret"
)

// DefaultName is the provider name (JobRefs, /callbacks/assemblyai).
const DefaultName = "assemblyai"

// Config configures the adapter. Every variable may also be given as
// NAME_FILE (internal/config). The adapter is enabled when
// ASSEMBLYAI_API_KEY is set.
type Config struct {
	// APIKey is the project's API key, sent in the Authorization header.
	// It is a third-party key: no length rule, but it is never logged.
	APIKey secret.String `env:"ASSEMBLYAI_API_KEY"`
	// BaseURL is the API's address; https://api.eu.assemblyai.com keeps
	// data in the EU.
	BaseURL string `env:"ASSEMBLYAI_BASE_URL, default=https://api.assemblyai.com"`
	// SpeechModels are tried in this order (speech_models, required by the
	// API).
	SpeechModels []string `env:"ASSEMBLYAI_SPEECH_MODELS, default=universal-3-pro,universal-2"`
	// LanguageCode (e.g. en_us); empty turns on language detection.
	LanguageCode string `env:"ASSEMBLYAI_LANGUAGE_CODE"`
	// JobTimeout is the job's deadline; PollInterval the pause between
	// status reads (AssemblyAI's guides poll every few seconds).
	JobTimeout   time.Duration `env:"ASSEMBLYAI_JOB_TIMEOUT, default=1h"`
	PollInterval time.Duration `env:"ASSEMBLYAI_POLL_INTERVAL, default=5s"`
	// RequestTimeout bounds one HTTP call; MaxResponseBytes one answer.
	RequestTimeout   time.Duration `env:"ASSEMBLYAI_REQUEST_TIMEOUT, default=60s"`
	MaxResponseBytes int64         `env:"ASSEMBLYAI_MAX_RESPONSE_BYTES, default=33554432"`
	// DedupeLookback is how many of the account's newest transcripts
	// Submit searches for one with the same audio URL before creating a
	// new one (AssemblyAI has no idempotency key; see docs/providers.md).
	// 0 turns the search off; at most 200 (the API's page size).
	DedupeLookback int `env:"ASSEMBLYAI_DEDUPE_LOOKBACK, default=100"`
	// CallbackKey signs the webhook URLs (shared with the starter, at
	// least 32 bytes); empty sends no webhook_url (polling only). The
	// secondary key is accepted too, for rotation.
	CallbackKey          secret.String `env:"ASSEMBLYAI_CALLBACK_KEY"`
	CallbackSecondaryKey secret.String `env:"ASSEMBLYAI_CALLBACK_SECONDARY_KEY"`
	// Name is the provider name (default assemblyai).
	Name string `env:"ASSEMBLYAI_PROVIDER_NAME, default=assemblyai"`
}

// Enabled reports whether the adapter is configured.
func (c Config) Enabled() bool { return !c.APIKey.IsZero() }

// Validate checks an enabled configuration (one with ASSEMBLYAI_API_KEY);
// every message names its variable.
func (c Config) Validate() error {
	if !c.Enabled() {
		return nil // not configured: nothing to check
	}
	var errs []error
	errs = append(errs, provider.CheckHTTPURLs(provider.Setting[string]{Name: "ASSEMBLYAI_BASE_URL", Value: c.BaseURL})...)
	if len(c.SpeechModels) == 0 || strings.TrimSpace(strings.Join(c.SpeechModels, "")) == "" {
		errs = append(errs, errors.New("ASSEMBLYAI_SPEECH_MODELS must name at least one model"))
	}
	errs = append(errs, provider.CheckPositive(
		provider.Setting[time.Duration]{Name: "ASSEMBLYAI_JOB_TIMEOUT", Value: c.JobTimeout},
		provider.Setting[time.Duration]{Name: "ASSEMBLYAI_POLL_INTERVAL", Value: c.PollInterval},
		provider.Setting[time.Duration]{Name: "ASSEMBLYAI_REQUEST_TIMEOUT", Value: c.RequestTimeout})...)
	errs = append(errs, provider.CheckPositive(provider.Setting[int64]{Name: "ASSEMBLYAI_MAX_RESPONSE_BYTES", Value: c.MaxResponseBytes})...)
	if c.DedupeLookback < 0 || c.DedupeLookback > 200 {
		errs = append(errs, errors.New("ASSEMBLYAI_DEDUPE_LOOKBACK must be between 0 and 200"))
	}
	errs = append(errs, secret.CheckShared("ASSEMBLYAI_CALLBACK_KEY", c.CallbackKey),
		secret.CheckShared("ASSEMBLYAI_CALLBACK_SECONDARY_KEY", c.CallbackSecondaryKey))
	return errors.Join(errs...)
}

func (c Config) name() string {
	if c.Name == "" {
		return DefaultName
	}
	return c.Name
}

func (c Config) signer() provider.CallbackSigner {
	return provider.CallbackSigner{Provider: c.name(), Key: c.CallbackKey, Secondary: c.CallbackSecondaryKey}
}

// Policy is the job deadline and poll interval.
func (c Config) Policy() provider.Policy {
	return provider.Policy{JobTimeout: c.JobTimeout, PollInterval: c.PollInterval}
}

// String describes the configuration without its secrets.
func (c Config) String() string {
	return fmt.Sprintf("assemblyai.Config{name: %s, base: %s, models: %s, callbacks: %t}",
		c.name(), c.BaseURL, strings.Join(c.SpeechModels, ","), c.CallbackKey != "")
}

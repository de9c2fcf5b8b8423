package whisper

import (
	"errors"
	"fmt"
	"time"

	"filesight/internal/provider"
	"filesight/internal/secret"
)

// DefaultName is the provider name.
const DefaultName = "whisper"

// Config configures the provider and its job. Every variable may also be
// given as NAME_FILE. The provider is enabled when WHISPER_URL is set.
type Config struct {
	// URL is the server's base URL; requests go to
	// {URL}/v1/audio/transcriptions (e.g. https://api.openai.com, or a
	// self-hosted server such as http://gpu-box:8000).
	URL string `env:"WHISPER_URL"`
	// APIKey is sent as a bearer token when set (hosted services need
	// one; self-hosted servers often do not). A third-party key: no
	// length rule, never logged.
	APIKey secret.String `env:"WHISPER_API_KEY"`
	// Model is the model field (whisper-1 for OpenAI; whatever name the
	// self-hosted server knows its model by).
	Model string `env:"WHISPER_MODEL, default=whisper-1"`
	// Language (ISO-639-1, e.g. en) and Prompt are passed through when set.
	Language string `env:"WHISPER_LANGUAGE"`
	Prompt   string `env:"WHISPER_PROMPT"`
	// WordTimestamps asks for word timestamps as well as segments
	// (timestamp_granularities[]=word); without them words are timed by
	// sharing out their segment's time.
	WordTimestamps bool `env:"WHISPER_WORD_TIMESTAMPS, default=true"`

	// MaxMediaBytes is the size limit of the media sent. OpenAI limits a
	// whisper-1 request to 25 MiB; the default leaves 64 KiB of that for
	// the form's other fields. Self-hosted servers may take more. Larger
	// files fail the job at once, with a message saying so.
	MaxMediaBytes int64 `env:"WHISPER_MAX_MEDIA_BYTES, default=26148864"`
	// MaxResponseBytes bounds the answer read.
	MaxResponseBytes int64 `env:"WHISPER_MAX_RESPONSE_BYTES, default=33554432"`

	// TaskQueue is where the job's workflow and activity run: a queue of
	// their own, so their concurrency (and a server-side rate limit) is
	// set apart from the main queue's.
	TaskQueue string `env:"WHISPER_TASK_QUEUE, default=filesight-whisper"`
	// Concurrency is how many transcriptions one worker process runs at
	// once.
	Concurrency int `env:"WHISPER_CONCURRENCY, default=1"`
	// JobTimeout is the job's deadline (the job workflow's execution
	// timeout); AttemptTimeout bounds one attempt (download + the
	// synchronous request); HeartbeatTimeout is how soon a crashed worker's
	// attempt is given to another worker; MaxAttempts bounds the attempts.
	JobTimeout       time.Duration `env:"WHISPER_JOB_TIMEOUT, default=1h"`
	AttemptTimeout   time.Duration `env:"WHISPER_ATTEMPT_TIMEOUT, default=20m"`
	HeartbeatTimeout time.Duration `env:"WHISPER_HEARTBEAT_TIMEOUT, default=30s"`
	MaxAttempts      int           `env:"WHISPER_MAX_ATTEMPTS, default=5"`
	// RetryInterval is the first pause before an attempt is retried
	// (doubling up to two minutes; a Retry-After takes precedence).
	RetryInterval time.Duration `env:"WHISPER_RETRY_INTERVAL, default=5s"`
	// PollInterval is the pause between status reads.
	PollInterval time.Duration `env:"WHISPER_POLL_INTERVAL, default=5s"`

	// StoreDir holds results until the card writer reads them (encrypted
	// with the payload codec). Every worker must see the same directory.
	StoreDir string `env:"WHISPER_STORE_DIR, default=var/whisper"`
	// Retention is how long a result is kept.
	Retention time.Duration `env:"WHISPER_RESULT_RETENTION, default=168h"`

	// Signal is the signal the job sends to the workflow that submitted it
	// when it ends (its "callback"); empty sends none (polling only).
	Signal string `env:"WHISPER_SIGNAL, default=job-callback"`
	// Name is the provider name (default whisper).
	Name string `env:"WHISPER_PROVIDER_NAME, default=whisper"`
}

// Enabled reports whether the provider is configured.
func (c Config) Enabled() bool { return c.URL != "" }

// Validate checks an enabled configuration (one with WHISPER_URL); every
// message names its variable.
func (c Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	errs = append(errs, provider.CheckHTTPURLs(provider.Setting[string]{Name: "WHISPER_URL", Value: c.URL})...)
	for _, v := range []struct{ name, value string }{{"WHISPER_MODEL", c.Model}, {"WHISPER_TASK_QUEUE", c.TaskQueue}, {"WHISPER_STORE_DIR", c.StoreDir}} {
		if v.value == "" {
			errs = append(errs, fmt.Errorf("%s is required", v.name))
		}
	}
	errs = append(errs, provider.CheckPositive(
		provider.Setting[time.Duration]{Name: "WHISPER_JOB_TIMEOUT", Value: c.JobTimeout},
		provider.Setting[time.Duration]{Name: "WHISPER_ATTEMPT_TIMEOUT", Value: c.AttemptTimeout},
		provider.Setting[time.Duration]{Name: "WHISPER_HEARTBEAT_TIMEOUT", Value: c.HeartbeatTimeout},
		provider.Setting[time.Duration]{Name: "WHISPER_POLL_INTERVAL", Value: c.PollInterval},
		provider.Setting[time.Duration]{Name: "WHISPER_RESULT_RETENTION", Value: c.Retention},
		provider.Setting[time.Duration]{Name: "WHISPER_RETRY_INTERVAL", Value: c.RetryInterval})...)
	if c.AttemptTimeout > c.JobTimeout {
		errs = append(errs, errors.New("WHISPER_ATTEMPT_TIMEOUT must not exceed WHISPER_JOB_TIMEOUT"))
	}
	if c.HeartbeatTimeout > c.AttemptTimeout {
		errs = append(errs, errors.New("WHISPER_HEARTBEAT_TIMEOUT must not exceed WHISPER_ATTEMPT_TIMEOUT"))
	}
	if c.Retention < c.JobTimeout {
		errs = append(errs, errors.New("WHISPER_RESULT_RETENTION must be at least WHISPER_JOB_TIMEOUT (results must outlive their job)"))
	}
	errs = append(errs, provider.CheckPositive(
		provider.Setting[int64]{Name: "WHISPER_MAX_MEDIA_BYTES", Value: c.MaxMediaBytes},
		provider.Setting[int64]{Name: "WHISPER_MAX_RESPONSE_BYTES", Value: c.MaxResponseBytes})...)
	errs = append(errs, provider.CheckPositive(
		provider.Setting[int]{Name: "WHISPER_CONCURRENCY", Value: c.Concurrency},
		provider.Setting[int]{Name: "WHISPER_MAX_ATTEMPTS", Value: c.MaxAttempts})...)
	return errors.Join(errs...)
}

func (c Config) name() string {
	if c.Name == "" {
		return DefaultName
	}
	return c.Name
}

// Policy is the job deadline and poll interval.
func (c Config) Policy() provider.Policy {
	return provider.Policy{JobTimeout: c.JobTimeout, PollInterval: c.PollInterval}
}

// String describes the configuration without its key.
func (c Config) String() string {
	return fmt.Sprintf("whisper.Config{name: %s, url: %s, model: %s, queue: %s, store: %s, key: %t}",
		c.name(), c.URL, c.Model, c.TaskQueue, c.StoreDir, c.APIKey != "")
}

package mlengine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/sethvargo/go-envconfig"

	"filesight/internal/config"
	"filesight/internal/egress"
	"filesight/internal/secret"
)

// Config configures the job service. Fields with an env tag are read by
// Main from the environment; the others are tuning knobs for tests and embedders, and their
// zero value means the documented default.
type Config struct {
	// Addr is the listen address of ListenAndServe.
	Addr string `env:"MLENGINE_ADDR, default=127.0.0.1:8710"`
	// DataDir holds the SQLite database, downloaded media while a job needs
	// it, and each finished job's result and artifacts.
	DataDir string `env:"MLENGINE_DATA_DIR, default=var/mlengine"`
	// APIKey is the bearer token every /v1 request must carry.
	APIKey secret.String `env:"MLENGINE_API_KEY, required"`
	// CallbackKey signs job callbacks (HMAC-SHA256, see internal/signature).
	CallbackKey secret.String `env:"MLENGINE_CALLBACK_KEY, required"`
	// Concurrency is how many analysis processes (ffmpeg, pocketsphinx,
	// tesseract) may run at once across all jobs; 0 means the number of cores.
	Concurrency int `env:"MLENGINE_CONCURRENCY"`
	// ParallelJobs is how many jobs are analysed at once; each gets
	// Concurrency/ParallelJobs process slots (at least 1).
	ParallelJobs int `env:"MLENGINE_PARALLEL_JOBS, default=1"`
	// QueueLimit is how many jobs may wait in the queue; beyond it a
	// submission is answered 429 with Retry-After.
	QueueLimit int `env:"MLENGINE_QUEUE_LIMIT, default=100"`
	// MaxMediaBytes is the largest media file accepted.
	MaxMediaBytes int64 `env:"MLENGINE_MAX_MEDIA_BYTES, default=2147483648"`
	// PrefetchBytes bounds the media downloaded ahead of analysis: while
	// the media of queued jobs waiting for analysis adds up to this much,
	// no further download starts (the next job to analyse is always
	// fetched).
	PrefetchBytes int64 `env:"MLENGINE_PREFETCH_BYTES, default=4294967296"`
	// MinFreeBytes is the free space a download leaves on the data
	// directory's file system: no download ahead of analysis starts below
	// it, and a download that would go below it stops (negative: no
	// minimum).
	MinFreeBytes int64 `env:"MLENGINE_MIN_FREE_BYTES, default=1073741824"`
	// MaxDuration is the longest media accepted.
	MaxDuration time.Duration `env:"MLENGINE_MAX_DURATION, default=2h"`
	// JobTimeout bounds one analysis run of one job.
	JobTimeout time.Duration `env:"MLENGINE_JOB_TIMEOUT, default=4h"`
	// Retention is how long a finished job (its record, result and
	// thumbnails) is kept; after it GET answers 404 and its idempotency key
	// is free again.
	Retention time.Duration `env:"MLENGINE_RETENTION, default=168h"`
	// ResultRetention is how long a succeeded job's result document and
	// thumbnails are kept when the client does not delete them first
	// (DELETE /v1/jobs/{id}/result): raw ML output may hold sensitive
	// values (a card number read aloud). The job record stays for
	// Retention; its result then answers 410.
	ResultRetention time.Duration `env:"MLENGINE_RESULT_RETENTION, default=1h"`
	// LogLevel is the level of Main's logger.
	LogLevel slog.Level `env:"MLENGINE_LOG_LEVEL, default=info"`
	// AdminKey guards the admin API (/_mlengine/faults: fault injection for
	// chaos tests). Empty, the default, disables it.
	AdminKey secret.String `env:"MLENGINE_ADMIN_KEY"`
	// AllowedHosts lists the hosts (names, "*.example.com" wildcards, IP
	// addresses, CIDR networks) that media and callback URLs may reach even
	// though they are not public: private, loopback, link-local (cloud
	// metadata), carrier-grade NAT and other special-purpose addresses are
	// refused unless listed (see internal/egress).
	AllowedHosts []string `env:"MLENGINE_ALLOWED_HOSTS"`
	// AllowedHostsOnly refuses every host AllowedHosts does not list,
	// public ones included.
	AllowedHostsOnly bool `env:"MLENGINE_ALLOWED_HOSTS_ONLY, default=false"`

	// FetchConcurrency is how many media downloads run at once (default 2).
	// Downloads run ahead of analysis so that a queued job's short-lived
	// read token is used (and can be revoked) early.
	FetchConcurrency int
	// FetchAttempts is how often a download failing with a network error,
	// 429 or 5xx is tried (default 4), with exponential backoff from
	// FetchBackoff (default 1s).
	FetchAttempts int
	FetchBackoff  time.Duration
	// NotReadyAttempts is how often a 202 "not ready yet" answer is waited
	// out (default 10); each wait honours Retry-After, capped at
	// MaxNotReadyWait (default 60s).
	NotReadyAttempts int
	MaxNotReadyWait  time.Duration
	// MediaIdleTimeout aborts a download that receives nothing for this long
	// (default 60s).
	MediaIdleTimeout time.Duration
	// CallbackAttempts is how often a callback is tried (default 10), with
	// exponential backoff from CallbackBackoff (default 1s) capped at 5 min;
	// CallbackTimeout bounds one attempt (default 10s).
	CallbackAttempts int
	CallbackBackoff  time.Duration
	CallbackTimeout  time.Duration
	// MaxJobAttempts is how many times a job interrupted by a restart is
	// started before it is failed with code "interrupted" (default 3).
	MaxJobAttempts int
	// JanitorInterval is how often expired jobs and results are deleted
	// (default ResultRetention/12, between 1s and 1h: 5 minutes for the
	// default retention, so a result outlives it by at most a twelfth).
	JanitorInterval time.Duration
	// PrefetchRecheck is how often paused downloads look at the disk again
	// (default 30s); a finished analysis wakes them at once.
	PrefetchRecheck time.Duration
	// DiskFree reports the free bytes of the file system holding dir
	// (default: statfs; a negative answer means unknown, and no check).
	DiskFree func(dir string) int64
	// QueueRetryAfter is the Retry-After sent with 429 (default 30s).
	QueueRetryAfter time.Duration
	// PollRetryAfter is the Retry-After sent with a non-terminal job (default 5s).
	PollRetryAfter time.Duration
	// CancelWait bounds how long DELETE waits for a running job's processes
	// to be gone (default 30s).
	CancelWait time.Duration
}

// loadConfig reads Config from l (Main: the environment). Every variable
// may instead be given as a file path in NAME_FILE (e.g.
// MLENGINE_API_KEY_FILE).
func loadConfig(ctx context.Context, l envconfig.Lookuper) (Config, error) {
	var cfg Config
	if err := config.LoadFrom(ctx, &cfg, l); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// withDefaults fills zero values and checks the configuration.
func (c Config) withDefaults() (Config, error) {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	defD := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8710"
	}
	def(&c.Concurrency, runtime.NumCPU())
	def(&c.ParallelJobs, 1)
	def(&c.QueueLimit, 100)
	if c.MaxMediaBytes <= 0 {
		c.MaxMediaBytes = 2 << 30
	}
	if c.PrefetchBytes <= 0 {
		c.PrefetchBytes = 4 << 30
	}
	switch {
	case c.MinFreeBytes == 0:
		c.MinFreeBytes = 1 << 30
	case c.MinFreeBytes < 0:
		c.MinFreeBytes = 0 // no minimum
	}
	if c.DiskFree == nil {
		c.DiskFree = diskFree
	}
	defD(&c.PrefetchRecheck, 30*time.Second)
	defD(&c.MaxDuration, 2*time.Hour)
	defD(&c.JobTimeout, 4*time.Hour)
	def(&c.FetchConcurrency, 2)
	def(&c.FetchAttempts, 4)
	defD(&c.FetchBackoff, time.Second)
	def(&c.NotReadyAttempts, 10)
	defD(&c.MaxNotReadyWait, time.Minute)
	defD(&c.MediaIdleTimeout, time.Minute)
	def(&c.CallbackAttempts, 10)
	defD(&c.CallbackBackoff, time.Second)
	defD(&c.CallbackTimeout, 10*time.Second)
	def(&c.MaxJobAttempts, 3)
	defD(&c.Retention, 7*24*time.Hour)
	defD(&c.ResultRetention, time.Hour)
	defD(&c.JanitorInterval, min(time.Hour, max(time.Second, c.ResultRetention/12)))
	defD(&c.QueueRetryAfter, 30*time.Second)
	defD(&c.PollRetryAfter, 5*time.Second)
	defD(&c.CancelWait, 30*time.Second)
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("MLENGINE_DATA_DIR is empty"))
	}
	if c.APIKey.IsZero() {
		errs = append(errs, errors.New("MLENGINE_API_KEY is empty"))
	}
	if c.CallbackKey.IsZero() {
		errs = append(errs, errors.New("MLENGINE_CALLBACK_KEY is empty"))
	}
	errs = append(errs, secret.CheckShared("MLENGINE_API_KEY", c.APIKey), secret.CheckShared("MLENGINE_CALLBACK_KEY", c.CallbackKey),
		secret.CheckShared("MLENGINE_ADMIN_KEY", c.AdminKey))
	if _, err := c.policy(nil); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("mlengine config: %w", err)
	}
	return c, nil
}

// policy is the outbound URL policy of media and callback URLs.
func (c Config) policy(r egress.Resolver) (*egress.Policy, error) {
	return egress.New(egress.Options{Allow: c.AllowedHosts, ListedOnly: c.AllowedHostsOnly,
		Setting: "MLENGINE_ALLOWED_HOSTS", Resolver: r})
}

// processesPerJob is the Concurrency handed to each analysis run.
func (c Config) processesPerJob() int {
	return max(1, c.Concurrency/c.ParallelJobs)
}

package localbox

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"filesight/internal/secret"
)

// Config is localbox's configuration. The env tags are part of localbox's
// interface: main reads them with go-envconfig (NAME_FILE works for every
// variable through internal/config), and the dev stack may fill the struct
// directly.
type Config struct {
	// Addr is the listen address of the single HTTP listener that serves the
	// API (/2.0, /oauth2), uploads (/api/2.0) and the admin API (/_localbox).
	Addr string `env:"LOCALBOX_ADDR, default=127.0.0.1:8700"`
	// DataDir holds the SQLite database and the blobs. One localbox process
	// owns it at a time (it is locked while open).
	DataDir string `env:"LOCALBOX_DATA_DIR, default=localbox-data"`
	// PublicURL is the base URL localbox advertises (the resource URLs of
	// downscoped tokens are checked against it). Empty means http://Addr.
	PublicURL string `env:"LOCALBOX_PUBLIC_URL"`

	ClientID     string        `env:"LOCALBOX_CLIENT_ID, required"`
	ClientSecret secret.String `env:"LOCALBOX_CLIENT_SECRET, required"`
	EnterpriseID string        `env:"LOCALBOX_ENTERPRISE_ID, default=1000001"`

	WebhookPrimaryKey   secret.String `env:"LOCALBOX_WEBHOOK_PRIMARY_KEY, required"`
	WebhookSecondaryKey secret.String `env:"LOCALBOX_WEBHOOK_SECONDARY_KEY"`
	// AdminKey guards /_localbox/. Empty disables the admin API (every call
	// answers 401).
	AdminKey secret.String `env:"LOCALBOX_ADMIN_KEY"`

	// TokenTTL is the lifetime of CCG tokens; downscoped tokens live as long
	// but never past their parent.
	TokenTTL time.Duration `env:"LOCALBOX_TOKEN_TTL, default=1h"`

	// WebhookRetryDelays are the waits after the 1st, 2nd, ... failed
	// delivery attempt; an event is dropped as failed after
	// len(WebhookRetryDelays)+1 attempts. The default makes 12 attempts over
	// about two hours, like Box.
	WebhookRetryDelays []time.Duration `env:"LOCALBOX_WEBHOOK_RETRY_DELAYS, default=1s,5s,30s,2m,5m,10m,15m,20m,20m,20m,30m"`
	// WebhookTimeout is how long one delivery may take before it counts as failed.
	WebhookTimeout time.Duration `env:"LOCALBOX_WEBHOOK_TIMEOUT, default=30s"`
	// WebhookConcurrency bounds the deliveries in flight.
	WebhookConcurrency int `env:"LOCALBOX_WEBHOOK_CONCURRENCY, default=4"`

	// RateLimit is the allowed requests per second per access token on the
	// API (0 = unlimited); RateBurst the bucket size (0 = max(1, ceil(RateLimit))).
	RateLimit float64 `env:"LOCALBOX_RATE_LIMIT, default=0"`
	RateBurst int     `env:"LOCALBOX_RATE_BURST, default=0"`

	// MaxUploadBytes bounds one upload's file content.
	MaxUploadBytes int64 `env:"LOCALBOX_MAX_UPLOAD_BYTES, default=17179869184"`
	// MaxJSONBytes bounds JSON request bodies (metadata documents, JSON Patch).
	MaxJSONBytes int64 `env:"LOCALBOX_MAX_JSON_BYTES, default=16777216"`

	// LogLevel is the level of Main's logger.
	LogLevel slog.Level `env:"LOCALBOX_LOG_LEVEL, default=info"`

	// Console configures the web console under /app/ (console.go).
	Console ConsoleConfig
}

// Validate checks the configuration and fills derived defaults
// (PublicURL, RateBurst).
func (c *Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("LOCALBOX_ADDR is empty"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("LOCALBOX_DATA_DIR is empty"))
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("LOCALBOX_CLIENT_ID is empty"))
	}
	if c.ClientSecret.IsZero() {
		errs = append(errs, errors.New("LOCALBOX_CLIENT_SECRET is empty"))
	}
	if c.EnterpriseID == "" {
		errs = append(errs, errors.New("LOCALBOX_ENTERPRISE_ID is empty"))
	}
	if c.WebhookPrimaryKey.IsZero() {
		errs = append(errs, errors.New("LOCALBOX_WEBHOOK_PRIMARY_KEY is empty"))
	}
	errs = append(errs,
		secret.CheckShared("LOCALBOX_CLIENT_SECRET", c.ClientSecret),
		secret.CheckShared("LOCALBOX_WEBHOOK_PRIMARY_KEY", c.WebhookPrimaryKey),
		secret.CheckShared("LOCALBOX_WEBHOOK_SECONDARY_KEY", c.WebhookSecondaryKey),
		secret.CheckShared("LOCALBOX_ADMIN_KEY", c.AdminKey))
	if c.TokenTTL < time.Second {
		errs = append(errs, fmt.Errorf("LOCALBOX_TOKEN_TTL %s is shorter than 1s", c.TokenTTL))
	}
	for i, d := range c.WebhookRetryDelays {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("LOCALBOX_WEBHOOK_RETRY_DELAYS[%d] = %s is not positive", i, d))
		}
	}
	if c.WebhookTimeout <= 0 {
		errs = append(errs, fmt.Errorf("LOCALBOX_WEBHOOK_TIMEOUT %s is not positive", c.WebhookTimeout))
	}
	if c.WebhookConcurrency < 1 {
		errs = append(errs, fmt.Errorf("LOCALBOX_WEBHOOK_CONCURRENCY %d is below 1", c.WebhookConcurrency))
	}
	if c.RateLimit < 0 || c.RateBurst < 0 {
		errs = append(errs, errors.New("LOCALBOX_RATE_LIMIT and LOCALBOX_RATE_BURST must not be negative"))
	}
	if c.MaxUploadBytes <= 0 || c.MaxJSONBytes <= 0 {
		errs = append(errs, errors.New("LOCALBOX_MAX_UPLOAD_BYTES and LOCALBOX_MAX_JSON_BYTES must be positive"))
	}
	if c.PublicURL == "" && c.Addr != "" {
		c.PublicURL = "http://" + c.Addr
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("LOCALBOX_PUBLIC_URL %q is not an absolute http(s) URL", c.PublicURL))
	}
	errs = append(errs, c.Console.validate()...)
	if c.RateLimit > 0 && c.RateBurst == 0 {
		c.RateBurst = max(1, int(c.RateLimit+0.999999))
	}
	return errors.Join(errs...)
}

// maxAttempts is the number of delivery attempts before an event fails.
func (c *Config) maxAttempts() int { return len(c.WebhookRetryDelays) + 1 }

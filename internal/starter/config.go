package starter

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"filesight/internal/secret"
)

// Config is the starter's own configuration (see docs/starter.md). Temporal
// connection settings (TEMPORAL_*), payload keys (FILESIGHT_CODEC_KEYS), the
// codec server's token and origins (CODEC_*) and Box API credentials
// (BOX_*, for manual starts and backfills) are read by their own packages.
type Config struct {
	// Addr is the HTTP listen address of webhooks, callbacks and health.
	Addr string `env:"STARTER_ADDR, default=127.0.0.1:8088"`
	// CodecAddr is where the codec server for the Temporal UI listens;
	// "off" disables it (run the codec server elsewhere).
	CodecAddr string `env:"STARTER_CODEC_ADDR, default=127.0.0.1:8081"`
	// MaxBodyBytes limits request bodies (413 past it).
	MaxBodyBytes int64 `env:"STARTER_MAX_BODY_BYTES, default=262144"`
	// TemporalTimeout bounds one start or signal, so that a webhook is
	// answered (503) well within Box's 30 s when Temporal hangs.
	TemporalTimeout time.Duration `env:"STARTER_TEMPORAL_TIMEOUT, default=10s"`
	// Triggers start processing; others are acknowledged and ignored.
	Triggers []string `env:"STARTER_TRIGGERS, default=FILE.UPLOADED"`
	// Extensions is an allow list of file extensions; empty allows all.
	Extensions []string `env:"STARTER_EXTENSIONS"`
	// MaxFileSize, when positive, skips larger files (bytes).
	MaxFileSize int64 `env:"STARTER_MAX_FILE_SIZE, default=0"`
	// SetSearchAttributes sets the FileID and Stage search attributes at start.
	SetSearchAttributes bool `env:"STARTER_SET_SEARCH_ATTRIBUTES, default=true"`
	// ShutdownTimeout bounds the graceful drain of in-flight requests.
	ShutdownTimeout time.Duration `env:"STARTER_SHUTDOWN_TIMEOUT, default=20s"`
	// LogLevel of the starter's slog handler (debug, info, warn, error).
	LogLevel slog.Level `env:"STARTER_LOG_LEVEL, default=info"`

	// Box's webhook signature keys (the app's primary and secondary keys).
	BoxWebhookPrimaryKey   secret.String `env:"BOX_WEBHOOK_PRIMARY_KEY"`
	BoxWebhookSecondaryKey secret.String `env:"BOX_WEBHOOK_SECONDARY_KEY"`
	// MLEngineCallbackKey verifies mlengine's job callbacks; the secondary
	// key (optional) lets the key rotate without a gap.
	MLEngineCallbackKey          secret.String `env:"MLENGINE_CALLBACK_KEY"`
	MLEngineCallbackSecondaryKey secret.String `env:"MLENGINE_CALLBACK_SECONDARY_KEY"`
}

// CodecEnabled reports whether the starter hosts the codec server.
func (c Config) CodecEnabled() bool {
	return c.CodecAddr != "" && !strings.EqualFold(c.CodecAddr, "off")
}

// Validate checks what envconfig cannot. Serving requires at least one Box
// webhook key: an unsigned webhook endpoint would start work for anyone.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("STARTER_ADDR %q: %w", c.Addr, err))
	}
	if c.CodecEnabled() {
		if _, _, err := net.SplitHostPort(c.CodecAddr); err != nil {
			errs = append(errs, fmt.Errorf("STARTER_CODEC_ADDR %q: %w", c.CodecAddr, err))
		}
	}
	if c.MaxBodyBytes <= 0 {
		errs = append(errs, errors.New("STARTER_MAX_BODY_BYTES must be positive"))
	}
	if c.TemporalTimeout <= 0 || c.TemporalTimeout > 25*time.Second {
		errs = append(errs, errors.New("STARTER_TEMPORAL_TIMEOUT must be between 0 and 25s (Box gives up after 30s)"))
	}
	errs = append(errs,
		secret.CheckShared("BOX_WEBHOOK_PRIMARY_KEY", c.BoxWebhookPrimaryKey),
		secret.CheckShared("BOX_WEBHOOK_SECONDARY_KEY", c.BoxWebhookSecondaryKey),
		secret.CheckShared("MLENGINE_CALLBACK_KEY", c.MLEngineCallbackKey),
		secret.CheckShared("MLENGINE_CALLBACK_SECONDARY_KEY", c.MLEngineCallbackSecondaryKey))
	return errors.Join(errs...)
}

// ValidateServe checks the settings only serving needs.
func (c Config) ValidateServe() error {
	if c.BoxWebhookPrimaryKey.IsZero() && c.BoxWebhookSecondaryKey.IsZero() {
		return errors.New("BOX_WEBHOOK_PRIMARY_KEY or BOX_WEBHOOK_SECONDARY_KEY must be set to verify webhooks")
	}
	return nil
}

// ServiceOptions derives the core's options.
func (c Config) ServiceOptions() Options {
	return Options{
		Triggers:            c.Triggers,
		Filter:              Filter{Extensions: c.Extensions, MaxSize: c.MaxFileSize},
		Timeout:             c.TemporalTimeout,
		SetSearchAttributes: c.SetSearchAttributes,
	}
}

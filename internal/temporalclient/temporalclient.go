// Package temporalclient holds the Temporal connection settings every
// program that talks to Temporal reads (under Temporal's own variable
// names) and builds the SDK's client options from them, with filesight's
// failure converter. It is apart from internal/config so that programs that
// do not talk to Temporal (localbox, mlengine) do not link the SDK.
package temporalclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"filesight/internal/secret"
)

// Config holds connection settings under Temporal's own variable names, so
// the same environment works for the temporal CLI and for our programs.
type Config struct {
	Address   string        `env:"TEMPORAL_ADDRESS, default=127.0.0.1:7233"`
	Namespace string        `env:"TEMPORAL_NAMESPACE, default=default"`
	APIKey    secret.String `env:"TEMPORAL_API_KEY"`
	// TLSCert and TLSKey are paths to a client certificate and key (mTLS).
	TLSCert string `env:"TEMPORAL_TLS_CERT"`
	TLSKey  string `env:"TEMPORAL_TLS_KEY"`
	// TLSCA is an optional path to a CA bundle for the server's certificate.
	TLSCA         string `env:"TEMPORAL_TLS_CA"`
	TLSServerName string `env:"TEMPORAL_TLS_SERVER_NAME"`
	// TLS forces TLS without a client certificate or API key.
	TLS bool `env:"TEMPORAL_TLS, default=false"`
}

// Validate checks combinations that envconfig cannot.
func (t Config) Validate() error {
	var errs []error
	if t.Address == "" {
		errs = append(errs, errors.New("TEMPORAL_ADDRESS must not be empty"))
	}
	if (t.TLSCert == "") != (t.TLSKey == "") {
		errs = append(errs, errors.New("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together"))
	}
	return errors.Join(errs...)
}

// ClientOptions builds client.Options: an API key implies TLS and is sent
// as credentials; a certificate pair enables mTLS; the SDK logs through slog.
func (t Config) ClientOptions(logger *slog.Logger, dc converter.DataConverter) (client.Options, error) {
	opts := client.Options{
		HostPort:      t.Address,
		Namespace:     t.Namespace,
		DataConverter: dc,
	}
	if dc != nil {
		opts.FailureConverter = FailureConverter(dc)
	}
	if logger != nil {
		opts.Logger = tlog.NewStructuredLogger(logger)
	}
	useTLS := t.TLS || !t.APIKey.IsZero() || t.TLSCert != ""
	if useTLS {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.TLSServerName}
		if t.TLSCert != "" {
			pair, err := tls.LoadX509KeyPair(t.TLSCert, t.TLSKey)
			if err != nil {
				return opts, fmt.Errorf("loading TEMPORAL_TLS_CERT/TEMPORAL_TLS_KEY: %w", err)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		if t.TLSCA != "" {
			pem, err := os.ReadFile(t.TLSCA)
			if err != nil {
				return opts, fmt.Errorf("reading TEMPORAL_TLS_CA: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return opts, fmt.Errorf("TEMPORAL_TLS_CA %s holds no PEM certificate", t.TLSCA)
			}
			cfg.RootCAs = pool
		}
		opts.ConnectionOptions.TLS = cfg
	}
	if !t.APIKey.IsZero() {
		opts.Credentials = client.NewAPIKeyStaticCredentials(t.APIKey.Reveal())
	}
	return opts, nil
}

// FailureConverter encodes failure messages and stack traces with dc too:
// Temporal stores them in plain text by default, and they name files.
func FailureConverter(dc converter.DataConverter) converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: dc, EncodeCommonAttributes: true})
}

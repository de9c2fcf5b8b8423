package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filesight/internal/secret"
)

type sample struct {
	Secret secret.String `env:"SAMPLE_SECRET, required"`
	Name   string        `env:"SAMPLE_NAME, default=dev"`
}

func TestLoadRequiredSecretNamesVariable(t *testing.T) {
	var s sample
	err := LoadFrom(context.Background(), &s, MapLookuper(map[string]string{}))
	if err == nil || !strings.Contains(err.Error(), "SAMPLE_SECRET") {
		t.Fatalf("want an error naming SAMPLE_SECRET, got %v", err)
	}
}

func TestLoadFromFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte("from-file-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var s sample
	if err := LoadFrom(context.Background(), &s, MapLookuper(map[string]string{"SAMPLE_SECRET_FILE": p})); err != nil {
		t.Fatal(err)
	}
	if s.Secret.Reveal() != "from-file-value" || s.Name != "dev" {
		t.Fatalf("got %q %q", s.Secret.Reveal(), s.Name)
	}
}

func TestLoadFileErrors(t *testing.T) {
	var s sample
	err := LoadFrom(context.Background(), &s, MapLookuper(map[string]string{"SAMPLE_SECRET_FILE": "/nonexistent/x"}))
	if err == nil || !strings.Contains(err.Error(), "SAMPLE_SECRET_FILE") {
		t.Fatalf("missing file: %v", err)
	}
	err = LoadFrom(context.Background(), &s, MapLookuper(map[string]string{"SAMPLE_SECRET": "a", "SAMPLE_SECRET_FILE": "/x"}))
	if err == nil || !strings.Contains(err.Error(), "both set") {
		t.Fatalf("both set: %v", err)
	}
}

func TestTemporalOptions(t *testing.T) {
	var tc Temporal
	if err := LoadFrom(context.Background(), &tc, MapLookuper(map[string]string{})); err != nil {
		t.Fatal(err)
	}
	opts, err := tc.ClientOptions(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.HostPort != "127.0.0.1:7233" || opts.Namespace != "default" || opts.ConnectionOptions.TLS != nil || opts.Credentials != nil {
		t.Fatalf("defaults wrong: %+v", opts)
	}

	tc = Temporal{}
	if err := LoadFrom(context.Background(), &tc, MapLookuper(map[string]string{
		"TEMPORAL_ADDRESS": "ns.acct.tmprl.cloud:7233", "TEMPORAL_NAMESPACE": "ns.acct", "TEMPORAL_API_KEY": "k-123",
	})); err != nil {
		t.Fatal(err)
	}
	opts, err = tc.ClientOptions(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.ConnectionOptions.TLS == nil || opts.Credentials == nil {
		t.Fatal("API key must imply TLS and credentials")
	}

	tc = Temporal{}
	err = LoadFrom(context.Background(), &tc, MapLookuper(map[string]string{"TEMPORAL_TLS_CERT": "/c.pem"}))
	if err == nil || !strings.Contains(err.Error(), "TEMPORAL_TLS_KEY") {
		t.Fatalf("cert without key: %v", err)
	}
	tc = Temporal{Address: "x:1", TLSCert: "/nonexistent.pem", TLSKey: "/nonexistent.key"}
	if _, err := tc.ClientOptions(nil, nil); err == nil || !strings.Contains(err.Error(), "TEMPORAL_TLS_CERT") {
		t.Fatalf("bad cert path: %v", err)
	}
}

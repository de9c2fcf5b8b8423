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

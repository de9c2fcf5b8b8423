package devstack

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"filesight/internal/config"
	"filesight/internal/worker"
)

// A dev.env written before the worker used the vault service loses the
// local tokenizer's key, and the worker's configuration loads and
// validates from what Resolve writes.
func TestResolveRetiresTheVaultKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dev.env")
	if err := os.WriteFile(path, []byte("FILESIGHT_VAULT_KEY=\"an-old-local-tokenizer-key-0123\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env, err := LoadEnvFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Resolve(env, dir, ModeDev); err != nil {
		t.Fatal(err)
	}
	if v, ok := env.Get("FILESIGHT_VAULT_KEY"); ok {
		t.Errorf("FILESIGHT_VAULT_KEY kept (%d bytes)", len(v))
	}
	var cfg worker.Config
	if err := config.LoadFrom(context.Background(), &cfg, env); err != nil {
		t.Fatalf("worker config from dev.env: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("worker config from dev.env: %v", err)
	}
	if cfg.Vault.URL != "http://127.0.0.1:8720" {
		t.Errorf("the worker's vault: %s", cfg.Vault.URL)
	}
}

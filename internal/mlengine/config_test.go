package mlengine

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
)

func TestLoadConfig(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(t.Context(), envconfig.MapLookuper(map[string]string{
		"MLENGINE_API_KEY_FILE":    keyFile,
		"MLENGINE_CALLBACK_KEY":    "cb",
		"MLENGINE_QUEUE_LIMIT":     "5",
		"MLENGINE_MAX_DURATION":    "90m",
		"MLENGINE_MAX_MEDIA_BYTES": "1000",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.APIKey.Reveal() != "from-file" || cfg.CallbackKey.Reveal() != "cb" || cfg.QueueLimit != 5 ||
		cfg.MaxDuration != 90*time.Minute || cfg.MaxMediaBytes != 1000 || cfg.Addr != "127.0.0.1:8710" || cfg.ParallelJobs != 1 {
		t.Fatalf("config %+v", cfg)
	}
	full, err := cfg.withDefaults()
	if err != nil || full.Concurrency != runtime.NumCPU() || full.processesPerJob() != runtime.NumCPU() {
		t.Fatalf("defaults %+v %v", full, err)
	}
	_, err = loadConfig(t.Context(), envconfig.MapLookuper(map[string]string{"MLENGINE_CALLBACK_KEY": "cb"}))
	if err == nil || !strings.Contains(err.Error(), "MLENGINE_API_KEY") {
		t.Fatalf("missing key: %v", err)
	}
	if _, err := (Config{DataDir: "x"}).withDefaults(); err == nil || !strings.Contains(err.Error(), "MLENGINE_CALLBACK_KEY") {
		t.Fatalf("empty keys accepted: %v", err)
	}
	if strings.Contains(fmtConfig(cfg), "from-file") {
		t.Fatal("config formatting shows the API key")
	}
}

func fmtConfig(c Config) string {
	return strings.Join([]string{c.APIKey.String(), c.CallbackKey.String()}, " ") + " " + fmtAny(c)
}

func fmtAny(v any) string { return fmt.Sprintf("%+v %v %#v", v, v, v) }

func TestAdminKeyIsOptionalButLong(t *testing.T) {
	base := Config{DataDir: "x", APIKey: "k", CallbackKey: "cb"}
	if _, err := base.withDefaults(); err != nil {
		t.Fatalf("no admin key (admin API off): %v", err)
	}
	short := base
	short.AdminKey = "too-short-for-an-admin-key"
	if _, err := short.withDefaults(); err == nil || !strings.Contains(err.Error(), "MLENGINE_ADMIN_KEY") || strings.Contains(err.Error(), "too-short") {
		t.Fatalf("short admin key: %v", err)
	}
	long := base
	long.AdminKey = "an-admin-key-of-thirty-two-bytes!"
	if _, err := long.withDefaults(); err != nil {
		t.Fatalf("32-byte admin key: %v", err)
	}
}

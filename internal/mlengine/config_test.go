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

	"filesight/internal/secret"
)

func TestLoadConfig(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("from-file-0123456789abcdef0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(t.Context(), envconfig.MapLookuper(map[string]string{
		"MLENGINE_API_KEY_FILE":    keyFile,
		"MLENGINE_CALLBACK_KEY":    "callback-key-0123456789abcdef0123",
		"MLENGINE_QUEUE_LIMIT":     "5",
		"MLENGINE_MAX_DURATION":    "90m",
		"MLENGINE_MAX_MEDIA_BYTES": "1000",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.APIKey.Reveal() != "from-file-0123456789abcdef0123456789" || cfg.CallbackKey.Reveal() != "callback-key-0123456789abcdef0123" || cfg.QueueLimit != 5 ||
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

// TestSharedSecretsAreLongEnough: a key shorter than 32 bytes stops the
// program, with a message naming the variable and never the value.
func TestSharedSecretsAreLongEnough(t *testing.T) {
	short, long := secret.String(strings.Repeat("s", 31)), secret.String(strings.Repeat("l", 32))
	for name, c := range map[string]Config{
		"MLENGINE_API_KEY":      {DataDir: "x", APIKey: short, CallbackKey: long},
		"MLENGINE_CALLBACK_KEY": {DataDir: "x", APIKey: long, CallbackKey: short},
		"MLENGINE_ADMIN_KEY":    {DataDir: "x", APIKey: long, CallbackKey: long, AdminKey: short},
	} {
		_, err := c.withDefaults()
		if err == nil || !strings.Contains(err.Error(), name+" is too short") || strings.Contains(err.Error(), short.Reveal()) {
			t.Errorf("%s of 31 bytes: %v", name, err)
		}
	}
	if _, err := (Config{DataDir: "x", APIKey: long, CallbackKey: long, AdminKey: long}).withDefaults(); err != nil {
		t.Fatalf("32-byte keys: %v", err)
	}
}

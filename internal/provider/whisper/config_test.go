package whisper_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"filesight/internal/config"
	"filesight/internal/provider"
	"filesight/internal/provider/whisper"
)

func TestConfig(t *testing.T) {
	if c := loadConfig(t, nil); c.Enabled() || c.Validate() != nil {
		t.Fatal("without WHISPER_URL the provider is off and there is nothing to check")
	}
	c := loadConfig(t, map[string]string{"WHISPER_URL": "https://api.openai.com", "WHISPER_API_KEY": apiKey})
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Policy() != (provider.Policy{JobTimeout: time.Hour, PollInterval: 5 * time.Second}) || c.MaxMediaBytes != 25<<20-64<<10 || c.TaskQueue != "filesight-whisper" {
		t.Fatalf("defaults %+v", c)
	}
	for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%+v %#v", c, whisper.New(c, nil, nil, nil))} {
		if strings.Contains(out, apiKey) {
			t.Errorf("key in %q", out)
		}
	}
	var bad whisper.Config
	err := config.LoadFrom(context.Background(), &bad, config.MapLookuper(map[string]string{
		"WHISPER_URL": "gpu-box:8000", "WHISPER_HEARTBEAT_TIMEOUT": "1h", "WHISPER_RESULT_RETENTION": "1m", "WHISPER_CONCURRENCY": "0",
	}))
	for _, name := range []string{"WHISPER_URL", "WHISPER_HEARTBEAT_TIMEOUT", "WHISPER_RESULT_RETENTION", "WHISPER_CONCURRENCY"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("want an error naming %s, got %v", name, err)
		}
	}
}

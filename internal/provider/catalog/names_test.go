package catalog_test

import (
	"slices"
	"strings"
	"testing"
)

// Names lists the enabled adapters under their configured names, for the
// worker's check of the provider lists.
func TestNames(t *testing.T) {
	if got := load(t, nil).Names(); len(got) != 0 {
		t.Errorf("nothing enabled: %v", got)
	}
	c := load(t, map[string]string{
		"ASSEMBLYAI_API_KEY": "aai-key", "ASSEMBLYAI_PROVIDER_NAME": "speech",
		"WHISPER_URL": "http://gpu-box:8000",
	})
	if got := c.Names(); !slices.Equal(got, []string{"speech", "whisper"}) {
		t.Errorf("names %v", got)
	}
}

// The starter has only the callback keys: ValidateCallbacks checks them
// alone (at least 32 bytes), naming the variable and not the key.
func TestValidateCallbacks(t *testing.T) {
	long := strings.Repeat("k", 32)
	if err := load(t, map[string]string{"VIDEOINDEXER_CALLBACK_KEY": long, "ASSEMBLYAI_CALLBACK_KEY": long}).ValidateCallbacks(); err != nil {
		t.Fatal(err)
	}
	err := load(t, map[string]string{"VIDEOINDEXER_CALLBACK_KEY": long, "ASSEMBLYAI_CALLBACK_SECONDARY_KEY": "short-key"}).ValidateCallbacks()
	if err == nil || !strings.Contains(err.Error(), "ASSEMBLYAI_CALLBACK_SECONDARY_KEY") || strings.Contains(err.Error(), "short-key") {
		t.Fatalf("got %v", err)
	}
}

package starter_test

import (
	"context"
	"strings"
	"testing"

	"filesight/internal/config"
	"filesight/internal/starter"
)

// TestSharedSecretsAreLongEnough: a key shorter than 32 bytes stops the
// starter, with a message naming the variable and never the value.
func TestSharedSecretsAreLongEnough(t *testing.T) {
	short, long := strings.Repeat("s", 31), strings.Repeat("l", 32)
	for _, name := range []string{"BOX_WEBHOOK_PRIMARY_KEY", "BOX_WEBHOOK_SECONDARY_KEY", "MLENGINE_CALLBACK_KEY", "MLENGINE_CALLBACK_SECONDARY_KEY"} {
		env := map[string]string{"BOX_WEBHOOK_PRIMARY_KEY": long, name: short}
		var c starter.Config
		err := config.LoadFrom(context.Background(), &c, config.MapLookuper(env))
		if err == nil || !strings.Contains(err.Error(), name+" is too short") || strings.Contains(err.Error(), short) {
			t.Errorf("%s of 31 bytes: %v", name, err)
		}
	}
	var c starter.Config
	if err := config.LoadFrom(context.Background(), &c, config.MapLookuper(map[string]string{"BOX_WEBHOOK_PRIMARY_KEY": long})); err != nil {
		t.Fatalf("a 32-byte key: %v", err)
	}
}

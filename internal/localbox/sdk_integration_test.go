//go:build integration

package localbox_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filesight/internal/localbox/localboxtest"
)

// TestOfficialBoxSDK drives localbox with Box's official Node SDK
// (box-node-sdk, pinned in sdkcheck/package-lock.json): CCG, folders,
// uploads, versions, downloads, downscoping with scope and resource checks,
// metadata (409, JSON Patch), skills cards, search (a word found in a
// transcript card, with its time), webhooks (deliveries validated
// by the SDK's WebhooksManager.validateMessage) and revocation. It needs
// node and npm (npm ci installs the SDK into a temporary directory).
func TestOfficialBoxSDK(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm is not installed")
	}
	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json", "check.mjs"} {
		b, err := os.ReadFile(filepath.Join("sdkcheck", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}

	ts := localboxtest.Start(t)
	run := exec.CommandContext(ctx, node, "check.mjs")
	run.Dir = dir
	run.Env = append(os.Environ(),
		"LOCALBOX_URL="+ts.URL,
		"LOCALBOX_CLIENT_ID="+ts.ClientID,
		"LOCALBOX_CLIENT_SECRET="+ts.ClientSecret.Reveal(),
		"LOCALBOX_ENTERPRISE_ID="+ts.EnterpriseID,
		"LOCALBOX_WEBHOOK_PRIMARY_KEY="+ts.WebhookPrimaryKey.Reveal(),
		"LOCALBOX_WEBHOOK_SECONDARY_KEY="+ts.WebhookSecondaryKey.Reveal(),
	)
	var out bytes.Buffer
	run.Stdout, run.Stderr = &out, &out
	err = run.Run()
	t.Logf("box-node-sdk against localbox:\n%s", out.String())
	if err != nil {
		t.Fatalf("the SDK check failed: %v", err)
	}
	if !strings.Contains(out.String(), " 0 failed") {
		t.Fatal("the SDK check did not report its result")
	}
}

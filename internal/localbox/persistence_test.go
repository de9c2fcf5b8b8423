package localbox_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"filesight/internal/localbox"
	"filesight/internal/localbox/localboxtest"

	"filesight/internal/config"
)

func TestEverythingSurvivesRestart(t *testing.T) {
	ts := localboxtest.Start(t)
	folder := ts.CreateFolder(t, "0", "in")
	f := ts.UploadFile(t, folder, "a.wav", []byte("content a"))
	v2 := ts.UploadVersion(t, f.ID, []byte("content a, v2"))
	parent := ts.ParentToken(t)
	sendJSON(t, http.MethodPost, ts.URL+"/2.0/files/"+f.ID+"/metadata/global/properties", parent, map[string]any{"k": "v"}).wantStatus(t, http.StatusCreated)
	hook := ts.CreateWebhook(t, folder, "http://127.0.0.1:9/hook")
	child := ts.DownscopedToken(t, f.ID, "item_download", "item_preview")
	revoked := ts.DownscopedToken(t, f.ID, "item_preview")
	postForm(t, ts.URL+"/oauth2/revoke", map[string][]string{"client_id": {ts.ClientID}, "client_secret": {ts.ClientSecret.Reveal()}, "token": {revoked}}).
		wantStatus(t, http.StatusOK)
	me := getJSON(t, ts.URL+"/2.0/users/me", parent).json(t)

	ts.Restart(t)

	// Tokens: still valid / still revoked; the same service user.
	if got := getJSON(t, ts.URL+"/2.0/users/me", parent).wantStatus(t, http.StatusOK).json(t); str(got, "id") != str(me, "id") {
		t.Fatalf("service user changed across a restart: %v -> %v", me["id"], got["id"])
	}
	d := getJSON(t, ts.URL+"/2.0/files/"+f.ID+"/content", child).wantStatus(t, http.StatusOK)
	if string(d.Body) != "content a, v2" {
		t.Fatalf("content after restart = %q", d.Body)
	}
	d = getJSON(t, ts.URL+"/2.0/files/"+f.ID+"/content?version="+f.VersionID, parent).wantStatus(t, http.StatusOK)
	if string(d.Body) != "content a" {
		t.Fatalf("old version after restart = %q", d.Body)
	}
	getJSON(t, ts.URL+"/2.0/files/"+f.ID, revoked).wantError(t, http.StatusUnauthorized, "unauthorized")
	info := getJSON(t, ts.URL+"/2.0/files/"+f.ID, child).wantStatus(t, http.StatusOK).json(t)
	if str(info, "file_version", "id") != v2.VersionID || str(info, "sha1") != v2.SHA1 {
		t.Fatalf("file after restart = %v", info)
	}
	if m := getJSON(t, ts.URL+"/2.0/files/"+f.ID+"/metadata/global/properties", parent).wantStatus(t, http.StatusOK).json(t); m["k"] != "v" {
		t.Fatalf("metadata after restart = %v", m)
	}
	getJSON(t, ts.URL+"/2.0/webhooks/"+hook, parent).wantStatus(t, http.StatusOK)
	if n := ts.LiveTokens(t); n != 1 {
		t.Fatalf("live tokens after restart = %d, want 1", n)
	}
	// IDs keep growing (never reused).
	g := ts.UploadFile(t, folder, "b.wav", []byte("b"))
	if g.ID <= f.ID {
		t.Fatalf("new file ID %s is not after %s", g.ID, f.ID)
	}
}

func TestDataDirIsLocked(t *testing.T) {
	ts := localboxtest.Start(t)
	cfg := ts.Config
	cfg.Addr = "127.0.0.1:0"
	_, err := localbox.New(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a second server on the same data directory: err = %v", err)
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	var cfg localbox.Config
	err := config.LoadFrom(context.Background(), &cfg, config.MapLookuper(map[string]string{
		"LOCALBOX_CLIENT_ID": "id", "LOCALBOX_CLIENT_SECRET": "secret-0123456789abcdef0123456789", "LOCALBOX_WEBHOOK_PRIMARY_KEY": "primary-key-0123456789abcdef01234",
		"LOCALBOX_RATE_LIMIT": "2.5",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:8700" || cfg.PublicURL != "http://127.0.0.1:8700" || cfg.TokenTTL != time.Hour ||
		cfg.EnterpriseID == "" || cfg.RateBurst != 3 || cfg.WebhookTimeout != 30*time.Second {
		t.Fatalf("defaults = %+v", cfg)
	}
	if cfg.MaxAttempts() != 12 {
		t.Fatalf("default attempts = %d, want 12 (Box retries up to 12 times)", cfg.MaxAttempts())
	}
	var total time.Duration
	for _, d := range cfg.WebhookRetryDelays {
		total += d
	}
	if total < 100*time.Minute || total > 150*time.Minute {
		t.Fatalf("default retry schedule spans %s, want about 2h", total)
	}
	cfg2 := localbox.Config{}
	err = config.LoadFrom(context.Background(), &cfg2, config.MapLookuper(map[string]string{
		"LOCALBOX_CLIENT_ID": "id", "LOCALBOX_CLIENT_SECRET": "secret-0123456789abcdef0123456789", "LOCALBOX_WEBHOOK_PRIMARY_KEY": "primary-key-0123456789abcdef01234",
		"LOCALBOX_WEBHOOK_RETRY_DELAYS": "10ms,1s", "LOCALBOX_PUBLIC_URL": "https://box.example/", "LOCALBOX_TOKEN_TTL": "5m",
	}))
	if err != nil || len(cfg2.WebhookRetryDelays) != 2 || cfg2.WebhookRetryDelays[0] != 10*time.Millisecond ||
		cfg2.PublicURL != "https://box.example" || cfg2.TokenTTL != 5*time.Minute {
		t.Fatalf("cfg = %+v, err = %v", cfg2, err)
	}
	for name, env := range map[string]map[string]string{
		"missing secret": {"LOCALBOX_CLIENT_ID": "id", "LOCALBOX_WEBHOOK_PRIMARY_KEY": "primary-key-0123456789abcdef01234"},
		"bad public url": {"LOCALBOX_CLIENT_ID": "id", "LOCALBOX_CLIENT_SECRET": "secret-0123456789abcdef0123456789", "LOCALBOX_WEBHOOK_PRIMARY_KEY": "primary-key-0123456789abcdef01234", "LOCALBOX_PUBLIC_URL": "box"},
		"bad delay":      {"LOCALBOX_CLIENT_ID": "id", "LOCALBOX_CLIENT_SECRET": "secret-0123456789abcdef0123456789", "LOCALBOX_WEBHOOK_PRIMARY_KEY": "primary-key-0123456789abcdef01234", "LOCALBOX_WEBHOOK_RETRY_DELAYS": "1s,-1s"},
		"short ttl":      {"LOCALBOX_CLIENT_ID": "id", "LOCALBOX_CLIENT_SECRET": "secret-0123456789abcdef0123456789", "LOCALBOX_WEBHOOK_PRIMARY_KEY": "primary-key-0123456789abcdef01234", "LOCALBOX_TOKEN_TTL": "10ms"},
	} {
		var c localbox.Config
		if err := config.LoadFrom(context.Background(), &c, config.MapLookuper(env)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestSharedSecretsAreLongEnough: a client secret, webhook key or admin key
// shorter than 32 bytes stops localbox, with a message naming the
// variable and never the value.
func TestSharedSecretsAreLongEnough(t *testing.T) {
	short, long := strings.Repeat("s", 31), strings.Repeat("l", 32)
	for _, name := range []string{"LOCALBOX_CLIENT_SECRET", "LOCALBOX_WEBHOOK_PRIMARY_KEY", "LOCALBOX_WEBHOOK_SECONDARY_KEY", "LOCALBOX_ADMIN_KEY"} {
		env := map[string]string{"LOCALBOX_CLIENT_ID": "id", "LOCALBOX_CLIENT_SECRET": long, "LOCALBOX_WEBHOOK_PRIMARY_KEY": long, name: short}
		var cfg localbox.Config
		err := config.LoadFrom(context.Background(), &cfg, config.MapLookuper(env))
		if err == nil || !strings.Contains(err.Error(), name+" is too short") || strings.Contains(err.Error(), short) {
			t.Errorf("%s of 31 bytes: %v", name, err)
		}
	}
}

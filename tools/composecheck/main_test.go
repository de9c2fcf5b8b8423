package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheck runs the check on the repository's docker-compose.yml and on
// copies of it with one thing broken each.
func TestCheck(t *testing.T) {
	compose, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile("../temporal-server/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	write := func(t *testing.T, text string) string {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "tools", "temporal-server"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tools", "temporal-server", "go.mod"), gomod, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), dockerfile, 0o644); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "docker-compose.yml")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	if err := check(context.Background(), write(t, string(compose))); err != nil {
		t.Fatalf("the repository's compose file: %v", err)
	}
	for _, tt := range []struct {
		name, old, new, want string
	}{
		{"auto-setup", "image: temporalio/server:1.29.1", "image: temporalio/auto-setup:1.29.1", "auto-setup is not for production"},
		{"server version", "image: temporalio/server:1.29.1", "image: temporalio/server:1.28.0", "want temporalio/server:1.29.1"},
		{"two services in one container", "SERVICES: history", "SERVICES: history:matching", `SERVICES must be "history"`},
		{"no schema job", "temporal-schema: {condition: service_completed_successfully}", "postgresql: {condition: service_healthy}", "must wait for temporal-schema"},
		{"visibility schema not updated", "--db temporal_visibility update-schema", "--db temporal_visibility version", "update-schema --schema-name postgresql/v12/visibility"},
		{"search attribute missing", "--name Stage --type Keyword", "", "search attribute Stage"},
		{"one worker", "replicas: 2", "replicas: 1", "at least two replicas"},
		{"no restart", "image: temporalio/server:1.29.1\n  # On a new database the first service to start writes the cluster metadata\n  # record; one that loses that race exits and is simply started again.\n  restart: unless-stopped", "image: temporalio/server:1.29.1", "restart must be unless-stopped"},
		{"UI version", "image: temporalio/ui:2.42.1", "image: temporalio/ui:2.40.0", "want temporalio/ui:2.42.1"},
		{"secret in plain", "CODEC_AUTH_TOKEN_FILE: /run/secrets/codec_auth_token", "CODEC_AUTH_TOKEN: plain", "CODEC_AUTH_TOKEN is a secret"},
		{"token sealing keys in plain", "FILESIGHT_TOKEN_SEAL_KEYS_FILE: /run/secrets/token_seal_keys", "FILESIGHT_TOKEN_SEAL_KEYS: plain", "FILESIGHT_TOKEN_SEAL_KEYS is a secret"},
		{"vault credential in plain", "FILESIGHT_VAULT_CREDENTIAL_FILE: /run/secrets/vault_worker_credential", "FILESIGHT_VAULT_CREDENTIAL: plain", "FILESIGHT_VAULT_CREDENTIAL is a secret"},
		{"worker with the detokenize credentials", "FILESIGHT_VAULT_CREDENTIAL_FILE: /run/secrets/vault_worker_credential",
			"FILESIGHT_VAULT_CREDENTIAL_FILE: /run/secrets/vault_worker_credential\n      VAULT_DETOKENIZE_CREDENTIALS_FILE: /run/secrets/vault_detokenize_credentials",
			"VAULT_DETOKENIZE_CREDENTIALS_FILE belongs to the vault alone"},
		{"worker mounting a vault secret", "secrets: [codec_keys, token_seal_keys, box_client_secret, mlengine_api_key, vault_worker_credential]",
			"secrets: [codec_keys, token_seal_keys, box_client_secret, mlengine_api_key, vault_worker_credential, vault_detokenize_credentials]", "worker: mounts the vault's secret vault_detokenize_credentials"},
		{"worker credential is the vault's list", "FILESIGHT_VAULT_CREDENTIAL_FILE: /run/secrets/vault_worker_credential", "FILESIGHT_VAULT_CREDENTIAL_FILE: /run/secrets/vault_tokenize_credentials",
			"FILESIGHT_VAULT_CREDENTIAL_FILE=/run/secrets/vault_tokenize_credentials is not one of its secrets"},
		{"worker without the vault", "FILESIGHT_VAULT_URL: http://vault:8720", "FILESIGHT_VAULT_URL: http://127.0.0.1:8720", "FILESIGHT_VAULT_URL must be the vault service"},
		{"retired vault key", "FILESIGHT_VAULT_URL: http://vault:8720", "FILESIGHT_VAULT_URL: http://vault:8720\n      FILESIGHT_VAULT_KEY_FILE: /run/secrets/vault_worker_credential", "FILESIGHT_VAULT_KEY_FILE is retired"},
		{"vault key not from a secret", "VAULT_TOKEN_KEY_FILE: /run/secrets/vault_token_key", "VAULT_TOKEN_KEY_FILE: /etc/vault_token_key", "VAULT_TOKEN_KEY_FILE=/etc/vault_token_key is not one of its secrets"},
		{"program not in the image", "command: [\"vault\"]", "command: [\"vaultd\"]", `runs "vaultd", which the Dockerfile does not build`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(string(compose), tt.old) {
				t.Fatalf("docker-compose.yml no longer contains %q: update the test", tt.old)
			}
			err := check(context.Background(), write(t, strings.Replace(string(compose), tt.old, tt.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

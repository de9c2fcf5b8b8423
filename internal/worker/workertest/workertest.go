// Package workertest configures the worker program for tests that run it
// (worker.Run) against real test servers. It is never linked into a
// program.
package workertest

import (
	"time"

	"filesight/internal/box"
	"filesight/internal/codec"
	"filesight/internal/localbox/localboxtest"
	"filesight/internal/secret"
	"filesight/internal/temporalclient"
	"filesight/internal/testenv"
	"filesight/internal/tokenseal"
	"filesight/internal/vault/vaultclient"
	"filesight/internal/vault/vaulttest"
	"filesight/internal/worker"
)

// Config is a valid worker configuration over the dev server tm and
// localbox lb, encrypting with keys (FILESIGHT_CODEC_KEYS material), with
// mlengine at mlURL and mlKey (any http URL when no job is submitted),
// metrics on a free port and small concurrency, and a fresh token sealing
// key. Its vault is nowhere (the worker starts anyway, and writing cards
// would wait): tests that write cards set Vault to VaultConfig of a
// vaulttest server. Tests change what they need.
func Config(tm *testenv.Temporal, lb *localboxtest.Server, keys secret.String, mlURL string, mlKey secret.String) worker.Config {
	// NewKeyString fails only when the system's random source does, which
	// the runtime treats as fatal anyway.
	seal, _ := codec.NewKeyString("worker-test-seal")
	return worker.Config{
		Temporal:  temporalclient.Config{Address: tm.HostPort, Namespace: tm.Namespace},
		Codec:     codec.Config{Keys: keys, Compress: true},
		TokenSeal: tokenseal.Config{Keys: seal},
		Box: box.EnvConfig{APIURL: lb.URL, UploadURL: lb.UploadURL, ClientID: lb.ClientID, ClientSecret: lb.ClientSecret,
			SubjectType: "enterprise", SubjectID: lb.EnterpriseID},
		MLEngineURL: mlURL, MLEngineAPIKey: mlKey,
		Vault:       vaultclient.Config{URL: "http://127.0.0.1:1", Credential: "no-vault-here-but-32-bytes-long-000"},
		MetricsAddr: "127.0.0.1:0", LogLevel: "info", LogFormat: "json",
		MaxConcurrentActivities: 16, MaxConcurrentWorkflowTasks: 4, ActivityPollers: 2, WorkflowPollers: 2,
		StopTimeout: 20 * time.Second,
	}
}

// VaultConfig is the worker's view of a test vault: its URL and the secret
// of its tokenize credential.
func VaultConfig(s *vaulttest.Server) vaultclient.Config {
	return vaultclient.Config{URL: s.URL, Credential: s.Tokenizer}
}

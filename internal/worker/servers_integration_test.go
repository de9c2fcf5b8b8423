//go:build integration

package worker_test

import (
	"context"
	"os"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"filesight/internal/codec"
	"filesight/internal/codec/codectest"
	"filesight/internal/localbox/localboxtest"
	"filesight/internal/mediatest"
	"filesight/internal/mlengine/mlenginetest"
	"filesight/internal/samplemedia"
	"filesight/internal/secret"
	"filesight/internal/testenv"
	"filesight/internal/vault/vaulttest"
	"filesight/internal/worker"
	"filesight/internal/worker/workertest"
)

// servers are what the worker program's integration tests run against:
// the dev server, localbox, mlengine with its real analyzers, the vault,
// a fresh payload key, and a client with the workers' converter.
type servers struct {
	tm   *testenv.Temporal
	lb   *localboxtest.Server
	ml   *mlenginetest.Server
	vs   *vaulttest.Server
	keys secret.String
	c    client.Client
	cfg  *worker.Config
}

// config is a worker configuration over the servers. Every call gives the
// same token sealing key, as every worker of one deployment has.
func (s *servers) config() worker.Config {
	if s.cfg == nil {
		cfg := workertest.Config(s.tm, s.lb, s.keys, s.ml.URL, secret.String(s.ml.APIKey))
		cfg.Vault = workertest.VaultConfig(s.vs)
		s.cfg = &cfg
	}
	return *s.cfg
}

func startServers(t *testing.T) *servers {
	t.Helper()
	mediatest.Require(t)
	s := &servers{tm: testenv.StartTemporal(t), lb: localboxtest.Start(t), ml: mlenginetest.Start(t),
		vs: vaulttest.NewServer(t, vaulttest.Options{}), keys: codectest.KeysString(codectest.NewKey(t, "worker-it"))}
	kr := codectest.ParseKeyring(t, s.keys)
	c, err := client.Dial(client.Options{HostPort: s.tm.HostPort, Namespace: s.tm.Namespace, DataConverter: codec.NewDataConverter(kr, codec.Options{Compress: true})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s.c = c
	return s
}

// clip is a short generated spoken clip (m4a) saying script.
func clip(t *testing.T, script string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	path, err := samplemedia.GenerateAudio(ctx, t.TempDir(), script)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

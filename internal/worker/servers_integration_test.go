//go:build integration

package worker_test

import (
	"context"
	"log/slog"
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

// runWorker runs the worker program with cfg until the test ends, and
// returns once it serves; a worker that fails to start or to stop cleanly
// fails the test.
func runWorker(t *testing.T, cfg worker.Config, log *slog.Logger) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan string, 1)
	go func() { done <- worker.Run(ctx, cfg, log, func(a string) { ready <- a }) }()
	exited := false
	t.Cleanup(func() {
		stop()
		if err := <-done; !exited && err != nil {
			t.Error(err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		exited = true
		done <- nil // for the cleanup
		t.Fatalf("worker: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("worker did not start")
	}
}

package worker

import (
	"context"
	"strings"
	"testing"
	"time"

	"filesight/internal/config"
	"filesight/internal/program/programtest"
)

const (
	codecKey = "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	sealKey  = "s1:c2VhbGluZy1rZXktMDEyMzQ1Njc4OWFiY2RlZjAxMjM="
)

func validEnv() map[string]string {
	return map[string]string{
		"FILESIGHT_CODEC_KEYS": codecKey, "FILESIGHT_TOKEN_SEAL_KEYS": sealKey,
		"BOX_API_URL": "http://127.0.0.1:8700", "BOX_UPLOAD_URL": "http://127.0.0.1:8700/api",
		"BOX_CLIENT_ID": "cid", "BOX_CLIENT_SECRET": "client-secret-value", "BOX_SUBJECT_ID": "1000001",
		"MLENGINE_API_KEY": "engine-key-value-0123456789abcdef01", "FILESIGHT_VAULT_URL": "http://127.0.0.1:8720",
		"FILESIGHT_VAULT_CREDENTIAL": "vault-credential-0123456789abcdefghij",
	}
}

func TestConfigDefaults(t *testing.T) {
	var c Config
	if err := config.LoadFrom(context.Background(), &c, config.MapLookuper(validEnv())); err != nil {
		t.Fatal(err)
	}
	if c.MetricsAddr != "127.0.0.1:9090" || c.MLEngineURL != "http://127.0.0.1:8710" || c.MaxConcurrentActivities != 16 ||
		c.MaxConcurrentWorkflowTasks != 4 || c.StopTimeout != 30*time.Second || c.Box.SubjectType != "enterprise" || c.CallbackBaseURL != "" ||
		c.Vault.URL != "http://127.0.0.1:8720" || c.Vault.HTTPClient != nil || c.Vault.Timeout != 0 {
		t.Fatalf("defaults: %+v", c)
	}
	o := workerOptions(c)
	if o.MaxConcurrentActivityExecutionSize != 16 || o.WorkerStopTimeout != 30*time.Second || o.MaxConcurrentWorkflowTaskPollers != 2 {
		t.Fatalf("worker options %+v", o)
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		unset []string
		set   map[string]string
		want  string
	}{
		{unset: []string{"MLENGINE_API_KEY"}, want: "MLENGINE_API_KEY"},
		{unset: []string{"FILESIGHT_VAULT_CREDENTIAL"}, want: "FILESIGHT_VAULT_CREDENTIAL"},
		{unset: []string{"FILESIGHT_VAULT_URL"}, want: "FILESIGHT_VAULT_URL"},
		{set: map[string]string{"FILESIGHT_VAULT_URL": "vault:8720"}, want: "FILESIGHT_VAULT_URL"},
		{unset: []string{"FILESIGHT_CODEC_KEYS"}, want: "FILESIGHT_CODEC_KEYS"},
		{unset: []string{"BOX_CLIENT_ID"}, want: "BOX_CLIENT_ID"},
		{unset: []string{"BOX_CLIENT_SECRET"}, want: "BOX_CLIENT_SECRET"},
		{set: map[string]string{"FILESIGHT_VAULT_CREDENTIAL": "short-secret"}, want: "FILESIGHT_VAULT_CREDENTIAL must be a tokenize credential's secret of at least 32"},
		{set: map[string]string{"FILESIGHT_CALLBACK_BASE_URL": "starter:8088"}, want: "FILESIGHT_CALLBACK_BASE_URL"},
		{set: map[string]string{"MLENGINE_URL": "ftp://x"}, want: "MLENGINE_URL"},
		{set: map[string]string{"BOX_SUBJECT_TYPE": "group"}, want: "BOX_SUBJECT_TYPE"},
		{set: map[string]string{"LOG_LEVEL": "loud"}, want: "LOG_LEVEL"},
		{set: map[string]string{"WORKER_MAX_CONCURRENT_ACTIVITIES": "0"}, want: "WORKER_MAX_CONCURRENT_ACTIVITIES"},
		{set: map[string]string{"WORKER_WORKFLOW_POLLERS": "8"}, want: "WORKER_WORKFLOW_POLLERS"},
		{set: map[string]string{"FILESIGHT_CODEC_KEYS": "k1:short"}, want: "FILESIGHT_CODEC_KEYS"},
		{unset: []string{"FILESIGHT_TOKEN_SEAL_KEYS"}, want: "FILESIGHT_TOKEN_SEAL_KEYS"},
		{set: map[string]string{"FILESIGHT_TOKEN_SEAL_KEYS": "s1:c2hvcnQ="}, want: "FILESIGHT_TOKEN_SEAL_KEYS"},
		{set: map[string]string{"FILESIGHT_TOKEN_SEAL_KEYS": "s1:" + codecKey[3:]}, want: "FILESIGHT_TOKEN_SEAL_KEYS: key \"s1\" is also codec key \"k1\""},
	} {
		env := validEnv()
		for _, k := range tc.unset {
			delete(env, k)
		}
		for k, v := range tc.set {
			env[k] = v
		}
		var c Config
		err := config.LoadFrom(context.Background(), &c, config.MapLookuper(env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: want an error naming %s, got %v", tc.unset, tc.set, tc.want, err)
			continue
		}
		for _, secretValue := range []string{"client-secret-value", "engine-key-value", "short-secret", "MDEyMzQ1Njc4OWFi", "vault-credential-0123", "c2VhbGluZy1r", "c2hvcnQ"} {
			if strings.Contains(err.Error(), secretValue) {
				t.Errorf("error leaks a secret: %v", err)
			}
		}
	}
}

func TestMainUsageAndConfigErrors(t *testing.T) {
	programtest.CheckExits(t, Main,
		programtest.Case{Args: []string{"-h"}, Code: 0, Stderr: "usage: worker"},
		programtest.Case{Args: []string{"serve"}, Env: validEnv(), Code: 2, Stderr: "no arguments"},
		programtest.Case{Args: []string{"--bogus"}, Env: validEnv(), Code: 2, Stderr: "bogus"},
		programtest.Case{Env: map[string]string{}, Code: 2, Stderr: "FILESIGHT_CODEC_KEYS"},
	)
}

package temporalclient

import (
	"context"
	"strings"
	"testing"

	"filesight/internal/config"
)

func TestTemporalOptions(t *testing.T) {
	var tc Config
	if err := config.LoadFrom(context.Background(), &tc, config.MapLookuper(map[string]string{})); err != nil {
		t.Fatal(err)
	}
	opts, err := tc.ClientOptions(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.HostPort != "127.0.0.1:7233" || opts.Namespace != "default" || opts.ConnectionOptions.TLS != nil || opts.Credentials != nil {
		t.Fatalf("defaults wrong: %+v", opts)
	}

	tc = Config{}
	if err := config.LoadFrom(context.Background(), &tc, config.MapLookuper(map[string]string{
		"TEMPORAL_ADDRESS": "ns.acct.tmprl.cloud:7233", "TEMPORAL_NAMESPACE": "ns.acct", "TEMPORAL_API_KEY": "k-123",
	})); err != nil {
		t.Fatal(err)
	}
	opts, err = tc.ClientOptions(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.ConnectionOptions.TLS == nil || opts.Credentials == nil {
		t.Fatal("API key must imply TLS and credentials")
	}

	tc = Config{}
	err = config.LoadFrom(context.Background(), &tc, config.MapLookuper(map[string]string{"TEMPORAL_TLS_CERT": "/c.pem"}))
	if err == nil || !strings.Contains(err.Error(), "TEMPORAL_TLS_KEY") {
		t.Fatalf("cert without key: %v", err)
	}
	tc = Config{Address: "x:1", TLSCert: "/nonexistent.pem", TLSKey: "/nonexistent.key"}
	if _, err := tc.ClientOptions(nil, nil); err == nil || !strings.Contains(err.Error(), "TEMPORAL_TLS_CERT") {
		t.Fatalf("bad cert path: %v", err)
	}
}

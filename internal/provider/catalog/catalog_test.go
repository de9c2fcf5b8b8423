package catalog_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"filesight/internal/config"
	"filesight/internal/provider"
	"filesight/internal/provider/catalog"
	"filesight/internal/tokenseal/tokensealtest"
)

// mlengineStandIn performs every analysis, as the bundled mlengine does.
type mlengineStandIn struct{ provider.Provider }

func (mlengineStandIn) Name() string { return "mlengine" }

func load(t *testing.T, env map[string]string) catalog.Config {
	t.Helper()
	var c catalog.Config
	if err := config.LoadFrom(context.Background(), &c, config.MapLookuper(env)); err != nil {
		t.Fatal(err)
	}
	return c
}

// With nothing set, nothing changes: every analysis stays with mlengine
// and no cloud account is needed.
func TestNothingConfigured(t *testing.T) {
	c := load(t, nil)
	s, err := catalog.Build(c, catalog.Deps{})
	if err != nil || len(s.Providers) != 0 || len(s.Queues) != 0 || len(catalog.CallbackReaders(c)) != 0 {
		t.Fatalf("%+v %v", s, err)
	}
	sel, err := c.Selection()
	if err != nil || sel.Check(map[string]provider.Provider{"mlengine": mlengineStandIn{}}) != nil {
		t.Fatalf("selection %v %v", sel, err)
	}
}

var allEnv = map[string]string{
	"FILESIGHT_ANALYSIS_PROVIDERS": "transcript=whisper,keywords=assemblyai,scenes=videoindexer,ocr=videoindexer",
	"VIDEOINDEXER_TENANT_ID":       "t", "VIDEOINDEXER_CLIENT_ID": "c", "VIDEOINDEXER_CLIENT_SECRET": "s",
	"VIDEOINDEXER_SUBSCRIPTION_ID": "sub", "VIDEOINDEXER_RESOURCE_GROUP": "rg", "VIDEOINDEXER_ACCOUNT_NAME": "acct",
	"VIDEOINDEXER_ACCOUNT_ID": "2cbbed36-1972-4506-9bc7-55367912df2d", "VIDEOINDEXER_LOCATION": "westeurope",
	"VIDEOINDEXER_CALLBACK_KEY": "vi-callback-key-0123456789abcdef01234",
	"ASSEMBLYAI_API_KEY":        "aai-key", "ASSEMBLYAI_CALLBACK_KEY": "aai-callback-key-0123456789abcdef0123",
	"WHISPER_URL": "http://gpu-box:8000",
}

func TestEverythingConfigured(t *testing.T) {
	env := map[string]string{"WHISPER_STORE_DIR": t.TempDir()}
	for k, v := range allEnv {
		env[k] = v
	}
	c := load(t, env)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	var tc client.Client // a nil interface is refused
	if _, err := catalog.Build(c, catalog.Deps{Temporal: tc}); err == nil || !strings.Contains(err.Error(), "Temporal") {
		t.Fatalf("whisper without a client: %v", err)
	}
	zlib := converter.NewZlibCodec(converter.ZlibCodecOptions{})
	if _, err := catalog.Build(c, catalog.Deps{Temporal: stubClient{}, Codec: zlib}); err == nil || !strings.Contains(err.Error(), "sealer") {
		t.Fatalf("whisper without a token sealer: %v", err)
	}
	s, err := catalog.Build(c, catalog.Deps{Temporal: stubClient{}, Codec: zlib, Sealer: tokensealtest.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]provider.Provider{"mlengine": mlengineStandIn{}}
	for _, p := range s.Providers {
		byName[p.Name()] = p
	}
	if len(byName) != 4 || len(s.Queues) != 1 || s.Queues[0].TaskQueue != "filesight-whisper" || s.Queues[0].Register == nil {
		t.Fatalf("set %+v", s)
	}
	if s.Policies["videoindexer"] != (provider.Policy{JobTimeout: 4 * time.Hour, PollInterval: 30 * time.Second}) {
		t.Fatalf("policies %+v", s.Policies)
	}
	sel, _ := c.Selection()
	if err := sel.Check(byName); err != nil {
		t.Fatal(err)
	}
	jobs := sel.Jobs(provider.AllAnalyses)
	if len(jobs) != 4 {
		t.Fatalf("jobs %+v", jobs)
	}
	readers := catalog.CallbackReaders(c)
	if len(readers) != 2 || readers["videoindexer"] == nil || readers["assemblyai"] == nil {
		t.Fatalf("readers %v", readers)
	}
}

func TestInvalidSettingsAreReportedTogether(t *testing.T) {
	// Loading validates (config.LoadFrom calls Config.Validate).
	var bad catalog.Config
	err := config.LoadFrom(context.Background(), &bad, config.MapLookuper(map[string]string{
		"FILESIGHT_ANALYSIS_PROVIDERS": "transcript",
		"VIDEOINDEXER_ACCOUNT_ID":      "not-a-guid",
		"WHISPER_URL":                  "gpu-box:8000",
	}))
	for _, want := range []string{"FILESIGHT_ANALYSIS_PROVIDERS", "VIDEOINDEXER_ACCOUNT_ID", "VIDEOINDEXER_TENANT_ID", "WHISPER_URL"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error naming %s, got %v", want, err)
		}
	}
	// A selection naming a provider that is not configured stops start-up.
	c := load(t, map[string]string{"FILESIGHT_ANALYSIS_PROVIDERS": "transcript=whisper"})
	sel, _ := c.Selection()
	if err := sel.Check(map[string]provider.Provider{"mlengine": mlengineStandIn{}}); err == nil || !strings.Contains(err.Error(), `"whisper" is not configured`) {
		t.Fatalf("got %v", err)
	}
}

// stubClient satisfies client.Client for construction; Build calls nothing.
type stubClient struct{ client.Client }

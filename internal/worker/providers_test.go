package worker

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"filesight/activities"
	"filesight/internal/codec/codectest"
	"filesight/internal/config"
	"filesight/internal/tokenseal/tokensealtest"
)

func loadConfig(t *testing.T, set map[string]string) (Config, error) {
	t.Helper()
	env := validEnv()
	maps.Copy(env, set)
	var c Config
	err := config.LoadFrom(context.Background(), &c, config.MapLookuper(env))
	return c, err
}

// assemblyAI enables the AssemblyAI adapter (it needs no Temporal client).
var assemblyAI = map[string]string{"ASSEMBLYAI_API_KEY": "assemblyai-key-value"}

func with(m map[string]string, kv ...string) map[string]string {
	out := maps.Clone(m)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// Every provider setting is checked at start-up, each error naming its
// variable and the offending pair, never a secret.
func TestProviderConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		set  map[string]string
		want string
	}{
		{map[string]string{"FILESIGHT_PROVIDER_MAX_OPEN_JOBS": "mlengine=0"}, `FILESIGHT_PROVIDER_MAX_OPEN_JOBS: "mlengine=0": the value must be a positive number`},
		{map[string]string{"FILESIGHT_PROVIDER_MAX_OPEN_JOBS": "mlengine=three"}, `FILESIGHT_PROVIDER_MAX_OPEN_JOBS: "mlengine=three"`},
		{map[string]string{"FILESIGHT_PROVIDER_MAX_OPEN_JOBS": "mlengine"}, `"mlengine" is not provider=value`},
		{map[string]string{"FILESIGHT_PROVIDER_MAX_OPEN_JOBS": "mlengine=2,mlengine=3"}, `provider "mlengine" is given twice`},
		{map[string]string{"FILESIGHT_PROVIDER_MAX_OPEN_JOBS": "rekognition=20"}, `FILESIGHT_PROVIDER_MAX_OPEN_JOBS names provider "rekognition", which is not configured (configured: mlengine)`},
		{map[string]string{"FILESIGHT_PROVIDER_ACTIVITIES_PER_SECOND": "mlengine=-1"}, `FILESIGHT_PROVIDER_ACTIVITIES_PER_SECOND: "mlengine=-1"`},
		{map[string]string{"FILESIGHT_PROVIDER_ACTIVITIES_PER_SECOND": "assemblyai=5"}, `FILESIGHT_PROVIDER_ACTIVITIES_PER_SECOND names provider "assemblyai"`},
		{map[string]string{"FILESIGHT_ANALYSIS_PROVIDERS": "transcript=whisper"}, `FILESIGHT_ANALYSIS_PROVIDERS names provider "whisper", which is not configured`},
		{map[string]string{"FILESIGHT_ANALYSIS_PROVIDERS": "subtitles=mlengine"}, `unknown analysis "subtitles"`},
		{with(assemblyAI, "ASSEMBLYAI_CALLBACK_KEY", "too-short"), "ASSEMBLYAI_CALLBACK_KEY"},
	} {
		_, err := loadConfig(t, tc.set)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: want an error containing %q, got %v", tc.set, tc.want, err)
			continue
		}
		for _, secretValue := range []string{"assemblyai-key-value", "too-short", "engine-key-value"} {
			if strings.Contains(err.Error(), secretValue) {
				t.Errorf("error leaks a secret: %v", err)
			}
		}
	}
}

// The worker builds mlengine and the enabled adapters, checks that each
// analysis goes to a provider that performs it, and gives every provider
// its task queue, deadline, poll interval and cap.
func TestBuildProviders(t *testing.T) {
	kr := codectest.NewKeyring(t, codectest.NewKey(t, "k1"))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	t.Run("defaults: mlengine for everything, no cap", func(t *testing.T) {
		cfg, err := loadConfig(t, nil)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := buildProviders(cfg, nil, kr, tokensealtest.New(t), log)
		if err != nil {
			t.Fatal(err)
		}
		if got := ps.names(); len(got) != 1 || got[0] != "mlengine" || ps.selection.String() != "*=mlengine" {
			t.Fatalf("providers %v selection %s", got, ps.selection)
		}
		if p := ps.policies["mlengine"]; p != (activities.ProviderPolicy{TaskQueue: "filesight-provider-mlengine"}) {
			t.Errorf("mlengine policy %+v", p)
		}
		if qs := providerQueues(cfg, ps, nil); len(qs) != 1 || qs[0].queue != "filesight-provider-mlengine" || !qs[0].opts.DisableWorkflowWorker ||
			qs[0].opts.TaskQueueActivitiesPerSecond != 0 || qs[0].opts.MaxConcurrentActivityExecutionSize != 16 {
			t.Errorf("provider queues %+v", qs)
		}
	})

	t.Run("speech on AssemblyAI, capped and rate-limited", func(t *testing.T) {
		cfg, err := loadConfig(t, with(assemblyAI,
			"FILESIGHT_ANALYSIS_PROVIDERS", "transcript=assemblyai,keywords=assemblyai",
			"FILESIGHT_PROVIDER_MAX_OPEN_JOBS", "assemblyai=2,mlengine=3",
			"FILESIGHT_PROVIDER_ACTIVITIES_PER_SECOND", "assemblyai=5",
			"ASSEMBLYAI_JOB_TIMEOUT", "45m"))
		if err != nil {
			t.Fatal(err)
		}
		ps, err := buildProviders(cfg, nil, kr, tokensealtest.New(t), log)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(ps.names(), ","); got != "mlengine,assemblyai" {
			t.Fatalf("providers %s", got)
		}
		want := map[string]activities.ProviderPolicy{
			"mlengine":   {TaskQueue: "filesight-provider-mlengine", MaxOpenJobs: 3},
			"assemblyai": {TaskQueue: "filesight-provider-assemblyai", JobTimeout: 45 * time.Minute, PollInterval: 5 * time.Second, MaxOpenJobs: 2},
		}
		if !maps.Equal(ps.policies, want) {
			t.Errorf("policies %+v", ps.policies)
		}
		rates := map[string]float64{}
		for _, q := range providerQueues(cfg, ps, nil) {
			rates[q.queue] = q.opts.TaskQueueActivitiesPerSecond
		}
		if !maps.Equal(rates, map[string]float64{"filesight-provider-mlengine": 0, "filesight-provider-assemblyai": 5}) {
			t.Errorf("rate limits by queue %v", rates)
		}
		if got := ps.selection.Jobs([]string{"media", "transcript", "keywords", "loudness"}); len(got) != 2 ||
			got[0].Provider != "mlengine" || got[1].Provider != "assemblyai" || strings.Join(got[1].Analyses, ",") != "transcript,keywords" {
			t.Errorf("jobs %+v", got)
		}
	})

	t.Run("an analysis the provider does not perform stops the worker", func(t *testing.T) {
		cfg, err := loadConfig(t, with(assemblyAI, "FILESIGHT_ANALYSIS_PROVIDERS", "scenes=assemblyai"))
		if err != nil {
			t.Fatal(err) // the names are fine; what assemblyai performs is known once it is built
		}
		_, err = buildProviders(cfg, nil, kr, tokensealtest.New(t), log)
		if err == nil || !strings.Contains(err.Error(), `scenes: provider "assemblyai" does not perform it`) {
			t.Fatalf("got %v", err)
		}
	})
}

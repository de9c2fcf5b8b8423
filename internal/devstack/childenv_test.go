package devstack

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"filesight/internal/codec"
	"filesight/internal/localbox"
	"filesight/internal/mlengine"
	"filesight/internal/starter"
	"filesight/internal/temporalclient"
	"filesight/internal/vault/vaultserver"
	"filesight/internal/worker"
)

// envNames lists the variables a go-envconfig configuration struct reads:
// its `env` tags, with nested structs and their prefix= option.
func envNames(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("env"), ",")
		name = strings.TrimSpace(name)
		if name != "" {
			out = append(out, prefix+name)
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			sub := prefix
			for _, o := range strings.Split(opts, ",") {
				if p, ok := strings.CutPrefix(strings.TrimSpace(o), "prefix="); ok {
					sub += p
				}
			}
			out = append(out, envNames(ft, sub)...)
		}
	}
	return out
}

// programConfigs are the configuration structs each program loads from
// its environment (the starter's for `serve`, the command devstack runs).
func programConfigs() map[string][]any {
	return map[string][]any{
		"temporal": nil,
		"localbox": {localbox.Config{}},
		"mlengine": {mlengine.Config{}},
		"vault":    {vaultserver.Config{}},
		"starter":  {starter.Config{}, temporalclient.Config{}, codec.Config{}, codec.ServerConfig{}},
		"worker":   {worker.Config{}},
	}
}

// Each program gets exactly what it reads: every variable of its
// configuration passes (from the user's environment or dev.env), and of
// dev.env's variables only those. When a program reads a new variable,
// this test names it.
func TestProgramVarsAreWhatTheProgramsRead(t *testing.T) {
	dir := t.TempDir()
	var devKeys []string
	for _, mode := range []Mode{ModeDev, ModeCluster} {
		env, err := LoadEnvFile(filepath.Join(dir, string(mode)+".env"))
		if err != nil {
			t.Fatal(err)
		}
		if err := Resolve(env, dir, mode); err != nil {
			t.Fatal(err)
		}
		devKeys = append(devKeys, env.Keys()...)
	}
	slices.Sort(devKeys)
	devKeys = slices.Compact(devKeys)
	pv := programVars()
	configs := programConfigs()
	if len(pv) != len(configs) {
		t.Fatalf("programVars names %d programs, the test knows %d", len(pv), len(configs))
	}
	for _, p := range append(Programs(), "temporal") {
		v, ok := pv[p]
		if !ok {
			t.Errorf("no variables listed for %s", p)
			continue
		}
		var reads []string
		for _, c := range configs[p] {
			reads = append(reads, envNames(reflect.TypeOf(c), "")...)
		}
		for _, k := range reads {
			if !v.has(k) || !v.has(k+"_FILE") {
				t.Errorf("%s reads %s, which devstack does not pass to it: add it to programVars", p, k)
			}
		}
		for _, k := range devKeys {
			if v.has(k) && !slices.Contains(reads, k) {
				t.Errorf("devstack passes dev.env's %s to %s, which does not read it", k, p)
			}
		}
	}
}

func TestChildEnvHoldsOnlyWhatTheChildReads(t *testing.T) {
	env, dir := resolvedEnv(t, ModeDev)
	s := &Stack{env: env, dataDir: dir}
	t.Setenv("MLENGINE_CONCURRENCY", "1")                   // a setting exported before make up
	t.Setenv("MLENGINE_API_KEY", "from-the-shell-not-used") // dev.env wins
	t.Setenv("AWS_SECRET_ACCESS_KEY", "unrelated-secret-of-the-user")
	t.Setenv("TEMPORAL_ENV", "prod") // would make the temporal CLI read another environment
	lookup := func(e []string, k string) (string, bool) {
		v, ok := "", false
		for _, kv := range e {
			if name, val, _ := strings.Cut(kv, "="); name == k {
				v, ok = val, true // the last one wins, as in exec.Cmd
			}
		}
		return v, ok
	}
	secrets := map[string]string{}
	for _, k := range env.Keys() {
		if v, _ := env.Get(k); isSecretVar(k) {
			secrets[k] = v
		}
	}
	pv := programVars()
	for name, want := range map[string][]string{
		"temporal": {},
		"localbox": {"LOCALBOX_CLIENT_SECRET", "LOCALBOX_ADMIN_KEY", "LOCALBOX_WEBHOOK_PRIMARY_KEY", "LOCALBOX_WEBHOOK_SECONDARY_KEY", "LOCALBOX_CONSOLE_PASSWORD"},
		"mlengine": {"MLENGINE_API_KEY", "MLENGINE_CALLBACK_KEY"},
		"vault":    {"VAULT_ENCRYPTION_KEYS", "VAULT_TOKEN_KEY", "VAULT_TOKENIZE_CREDENTIALS", "VAULT_DETOKENIZE_CREDENTIALS"},
		"starter":  {"FILESIGHT_CODEC_KEYS", "CODEC_AUTH_TOKEN", "BOX_WEBHOOK_PRIMARY_KEY", "BOX_WEBHOOK_SECONDARY_KEY", "MLENGINE_CALLBACK_KEY"},
		"worker":   {"FILESIGHT_CODEC_KEYS", "FILESIGHT_TOKEN_SEAL_KEYS", "BOX_CLIENT_SECRET", "MLENGINE_API_KEY", "FILESIGHT_VAULT_CREDENTIAL"},
	} {
		e := s.childEnv(pv[name])
		var got []string
		for k := range secrets {
			if _, ok := lookup(e, k); ok {
				got = append(got, k)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s gets the secrets %v, want %v", name, got, want)
		}
		if v, _ := lookup(e, "PATH"); v != os.Getenv("PATH") {
			t.Errorf("%s: PATH %q", name, v)
		}
		for _, k := range []string{"AWS_SECRET_ACCESS_KEY", "TEMPORAL_ENV", "TEMPORAL_CODEC_ENDPOINT"} {
			if _, ok := lookup(e, k); ok {
				t.Errorf("%s gets %s", name, k)
			}
		}
	}
	ml := s.childEnv(pv["mlengine"])
	if v, _ := lookup(ml, "MLENGINE_CONCURRENCY"); v != "1" {
		t.Errorf("a setting from the user's environment did not reach mlengine: %q", v)
	}
	if v, _ := lookup(ml, "MLENGINE_API_KEY"); v != secrets["MLENGINE_API_KEY"] {
		t.Error("the user's environment won over dev.env")
	}
	if v, _ := lookup(s.childEnv(pv["worker"], "WORKER_METRICS_ADDR=127.0.0.1:1"), "WORKER_METRICS_ADDR"); v != "127.0.0.1:1" {
		t.Errorf("extra did not win: %q", v)
	}
}

// isSecretVar tells dev.env's secrets by name (what the docs call
// secrets, and the derived variables that hold one).
func isSecretVar(k string) bool {
	for _, m := range []string{"SECRET", "KEY", "TOKEN", "CREDENTIAL", "PASSWORD"} {
		if strings.Contains(k, m) {
			return true
		}
	}
	return k == "TEMPORAL_CODEC_ENDPOINT"
}

// The dev server's codec endpoint (a credential) reaches it through the
// CLI's environment settings file, mode 0600, not its command line.
func TestDevServerCodecEndpointNotOnTheCommandLine(t *testing.T) {
	dir := t.TempDir()
	s := &Stack{dataDir: dir}
	const endpoint = "http://127.0.0.1:8081/secret-codec-token-0123456789"
	path, err := s.cliEnvFile(map[string]string{"ui-codec-endpoint": endpoint})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "env:\n  default:\n    ui-codec-endpoint: \""+endpoint+"\"\n") {
		t.Fatalf("settings file:\n%s", b)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.cliEnvFile(map[string]string{"ui-codec-endpoint": endpoint}); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
}

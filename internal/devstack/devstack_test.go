package devstack

import (
	"bytes"
	"context"
	"filesight/internal/testutil"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filesight/internal/codec"
	"filesight/internal/config"
	"filesight/internal/localbox"
	"filesight/internal/vault/vaultserver"
)

func TestResolveGeneratesOnceAndKeeps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dev.env")
	env, err := LoadEnvFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Resolve(env, dir, ModeDev); err != nil {
		t.Fatal(err)
	}
	if err := env.Save(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("dev.env mode %v, want 0600", st.Mode().Perm())
	}
	for _, k := range []string{"LOCALBOX_PUBLIC_URL", "LOCALBOX_CLIENT_ID", "LOCALBOX_CLIENT_SECRET", "LOCALBOX_ENTERPRISE_ID",
		"LOCALBOX_ADMIN_KEY", "TEMPORAL_ADDRESS", "FILESIGHT_CODEC_KEYS", "CODEC_AUTH_TOKEN", "MLENGINE_API_KEY",
		"MLENGINE_CALLBACK_KEY", "BOX_CLIENT_SECRET", "BOX_WEBHOOK_PRIMARY_KEY"} {
		if v, ok := env.Get(k); !ok || v == "" {
			t.Errorf("%s missing", k)
		}
	}
	get := func(e *EnvFile, k string) string { v, _ := e.Get(k); return v }
	if get(env, "BOX_CLIENT_SECRET") != get(env, "LOCALBOX_CLIENT_SECRET") || get(env, "BOX_WEBHOOK_PRIMARY_KEY") != get(env, "LOCALBOX_WEBHOOK_PRIMARY_KEY") {
		t.Error("the worker/starter view of Box does not match localbox's credentials")
	}
	if get(env, "BOX_UPLOAD_URL") != "http://127.0.0.1:8700/api" || get(env, "LOCALBOX_DATA_DIR") != filepath.Join(dir, "localbox") {
		t.Errorf("derived values: %s, %s", get(env, "BOX_UPLOAD_URL"), get(env, "LOCALBOX_DATA_DIR"))
	}
	// The generated codec keys and token are accepted by the codec package.
	var ccfg codec.Config
	if err := config.LoadFrom(context.Background(), &ccfg, env); err != nil {
		t.Fatal(err)
	}
	if _, err := ccfg.Keyring(); err != nil {
		t.Fatal(err)
	}
	var scfg codec.ServerConfig
	if err := config.LoadFrom(context.Background(), &scfg, env); err != nil {
		t.Fatalf("codec server config from dev.env: %v", err)
	}
	// The vault starts on its generated configuration; the worker holds its tokenize credential.
	var vcfg vaultserver.Config
	if err := config.LoadFrom(context.Background(), &vcfg, env); err != nil {
		t.Fatalf("vault config from dev.env: %v", err)
	}
	vs, err := vaultserver.New(context.Background(), vcfg, nil)
	if err != nil {
		t.Fatalf("vault on dev.env: %v", err)
	}
	vs.Close()
	if get(env, "VAULT_TOKENIZE_CREDENTIALS") != "worker:"+get(env, "FILESIGHT_VAULT_CREDENTIAL") || get(env, "FILESIGHT_VAULT_URL") != "http://127.0.0.1:8720" {
		t.Errorf("the worker's view of the vault: %s", get(env, "FILESIGHT_VAULT_URL"))
	}

	// localbox accepts its configuration, console included: a password of
	// at least 32 bytes, and the Temporal UI the console links to.
	var lcfg localbox.Config
	if err := config.LoadFrom(context.Background(), &lcfg, env); err != nil {
		t.Fatalf("localbox config from dev.env: %v", err)
	}
	if len(lcfg.Console.Password.Reveal()) < 32 || lcfg.Console.TemporalUIURL != "http://127.0.0.1:8233" || lcfg.Console.TemporalNamespace != "default" {
		t.Errorf("the console's settings: password of %d bytes, %q, %q", len(lcfg.Console.Password.Reveal()), lcfg.Console.TemporalUIURL, lcfg.Console.TemporalNamespace)
	}

	// A second run keeps secrets and edited base values, recomputes derived ones.
	secretBefore := get(env, "LOCALBOX_CLIENT_SECRET")
	data, _ := os.ReadFile(path)
	edited := strings.Replace(string(data), "LOCALBOX_ADDR=127.0.0.1:8700", "LOCALBOX_ADDR=127.0.0.1:18700", 1)
	edited += "FILESIGHT_INBOX_FOLDER_ID=\"42\"\n"
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	env2, err := LoadEnvFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Resolve(env2, dir, ModeDev); err != nil {
		t.Fatal(err)
	}
	if get(env2, "LOCALBOX_CLIENT_SECRET") != secretBefore {
		t.Error("secret regenerated on the second run")
	}
	if get(env2, "BOX_API_URL") != "http://127.0.0.1:18700" {
		t.Errorf("derived BOX_API_URL not recomputed: %s", get(env2, "BOX_API_URL"))
	}
	if get(env2, "FILESIGHT_INBOX_FOLDER_ID") != "42" {
		t.Errorf("unknown variable not kept: %q", get(env2, "FILESIGHT_INBOX_FOLDER_ID"))
	}
}

func TestResolveRejectsBadAddress(t *testing.T) {
	env := &EnvFile{vals: map[string]string{}}
	env.Set("STARTER_ADDR", "nonsense")
	if err := Resolve(env, t.TempDir(), ModeDev); err == nil || !strings.Contains(err.Error(), "STARTER_ADDR") {
		t.Fatalf("err = %v", err)
	}
}

// TestResolveCluster: in cluster mode every address follows
// CLUSTER_PORT_BASE, away from make up's ports, and the database password
// is generated once.
func TestResolveCluster(t *testing.T) {
	env, dir := resolvedEnv(t, ModeCluster)
	get := func(k string) string { v, _ := env.Get(k); return v }
	want := map[string]string{
		"CLUSTER_PORT_BASE": "17200", "CLUSTER_POSTGRES_ADDR": "127.0.0.1:17200", "TEMPORAL_ADDRESS": "127.0.0.1:17201",
		"TEMPORAL_UI_URL": "http://127.0.0.1:17214", "STARTER_ADDR": "127.0.0.1:17215", "STARTER_CODEC_ADDR": "127.0.0.1:17216",
		"LOCALBOX_ADDR": "127.0.0.1:17217", "MLENGINE_ADDR": "127.0.0.1:17218", "WORKER_METRICS_ADDR": "127.0.0.1:17219",
		"CODEC_CORS_ORIGINS": "http://127.0.0.1:17214,http://localhost:17214", "BOX_API_URL": "http://127.0.0.1:17217",
	}
	for k, v := range want {
		if get(k) != v {
			t.Errorf("%s = %q, want %q", k, get(k), v)
		}
	}
	password := get("CLUSTER_POSTGRES_PASSWORD")
	if len(password) < 16 {
		t.Fatalf("database password %q", password)
	}
	env.Set("CLUSTER_PORT_BASE", "20000")
	env.Set("STARTER_ADDR", "127.0.0.1:1") // derived in cluster mode: recomputed
	if err := Resolve(env, dir, ModeCluster); err != nil {
		t.Fatal(err)
	}
	if get("TEMPORAL_ADDRESS") != "127.0.0.1:20001" || get("STARTER_ADDR") != "127.0.0.1:20015" || get("CLUSTER_POSTGRES_PASSWORD") != password {
		t.Errorf("after moving the base: %s, %s, password kept %t", get("TEMPORAL_ADDRESS"), get("STARTER_ADDR"), get("CLUSTER_POSTGRES_PASSWORD") == password)
	}
	for _, bad := range []string{"x", "80", "65530"} {
		env.Set("CLUSTER_PORT_BASE", bad)
		if err := Resolve(env, dir, ModeCluster); err == nil || !strings.Contains(err.Error(), "CLUSTER_PORT_BASE") {
			t.Errorf("base %s: %v", bad, err)
		}
	}
}

func TestLoadEnvFileRejectsGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dev.env")
	os.WriteFile(path, []byte("# c\nGOOD=1\nthis is not a variable\n"), 0o600)
	if _, err := LoadEnvFile(path); err == nil || !strings.Contains(err.Error(), ":3:") {
		t.Fatalf("err = %v", err)
	}
}

func TestOutputPrefixesWholeLines(t *testing.T) {
	var buf bytes.Buffer
	o := NewOutput(&buf, false)
	a, b := o.Prefixed("alpha", 0), o.Prefixed("beta", 1)
	// Like two child processes: each stream has one writer (exec copies a
	// pipe from one goroutine), the streams run concurrently, and a line may
	// arrive in pieces.
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range 50 {
			a.Write([]byte("one "))
			a.Write([]byte("line\n"))
		}
	}()
	go func() {
		defer wg.Done()
		for range 50 {
			b.Write([]byte("two\r\nthree\n"))
		}
	}()
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 150 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines {
		switch l {
		case "alpha    | one line", "beta     | two", "beta     | three":
		default:
			t.Fatalf("mangled line %q", l)
		}
	}
}

func TestProcStopAndUnexpectedExit(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("process groups and signals as on Linux")
	}
	buf := &testutil.SyncBuffer{}
	out := NewOutput(buf, false)
	logPath := filepath.Join(t.TempDir(), "sleeper.log")
	p := &Proc{Name: "sleeper", Path: "/bin/sh", Args: []string{"-c", "echo ready; trap 'echo bye; exit 0' TERM; while :; do sleep 0.05; done"}, LogPath: logPath}
	if err := p.Start(out.Prefixed("sleeper", 0)); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if !p.Stopping() {
		t.Error("Stopping false after Stop")
	}
	log, _ := os.ReadFile(logPath)
	if !strings.Contains(string(log), "sleeper started") {
		t.Errorf("log file: %q", log)
	}

	q := &Proc{Name: "crasher", Path: "/bin/sh", Args: []string{"-c", "echo boom >&2; exit 3"}}
	if err := q.Start(out.Prefixed("crasher", 1)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-q.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("crasher did not exit")
	}
	if q.Err() == nil || q.Stopping() {
		t.Fatalf("err %v stopping %v", q.Err(), q.Stopping())
	}
	if !strings.Contains(buf.String(), "crasher  | boom") {
		t.Errorf("output %q", buf.String())
	}

	// A process ignoring SIGTERM is killed after the grace period.
	r := &Proc{Name: "stubborn", Path: "/bin/sh", Args: []string{"-c", "trap '' TERM; echo up; while :; do sleep 0.05; done"}}
	if err := r.Start(out.Prefixed("stubborn", 2)); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "stubborn | up in the output", func() bool { return strings.Contains(buf.String(), "stubborn | up") })
	if err := r.Stop(200 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("stop of a stubborn process: %v", err)
	}

	// Kill is a crash on purpose: SIGKILL at once (no trap runs), and the
	// exit counts as expected. StopSignal replaces SIGTERM (PostgreSQL's
	// fast shutdown is SIGINT).
	k := &Proc{Name: "victim", Path: "/bin/sh", Args: []string{"-c", "trap 'echo graceful' TERM INT; echo alive; while :; do sleep 0.05; done"}}
	if err := k.Start(out.Prefixed("victim", 3)); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "victim | alive in the output", func() bool { return strings.Contains(buf.String(), "victim   | alive") })
	k.Kill()
	if !k.Stopping() || k.Err() == nil || strings.Contains(buf.String(), "graceful") {
		t.Errorf("after Kill: stopping %v, err %v, output %q", k.Stopping(), k.Err(), buf.String())
	}
	i := &Proc{Name: "intish", Path: "/bin/sh", Args: []string{"-c", "trap 'echo got INT; exit 0' INT; trap 'echo got TERM; exit 0' TERM; echo ready; while :; do sleep 0.05; done"},
		StopSignal: syscall.SIGINT}
	if err := i.Start(out.Prefixed("intish", 4)); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "intish | ready in the output", func() bool { return strings.Contains(buf.String(), "intish   | ready") })
	if err := i.Stop(10 * time.Second); err != nil || !strings.Contains(buf.String(), "intish   | got INT") {
		t.Errorf("stop with SIGINT: %v, output %q", err, buf.String())
	}
}

func TestUIWorkflowURL(t *testing.T) {
	got := UIWorkflowURL("http://127.0.0.1:8233/", "default", "file-1-v2", "abc")
	if got != "http://127.0.0.1:8233/namespaces/default/workflows/file-1-v2/abc/history" {
		t.Fatal(got)
	}
}

func TestConsoleURL(t *testing.T) {
	if got := ConsoleURL("http://127.0.0.1:8700/", ""); got != "http://127.0.0.1:8700/app/" {
		t.Error(got)
	}
	if got := ConsoleURL("http://127.0.0.1:8700", "220000000001"); got != "http://127.0.0.1:8700/app/file/220000000001" {
		t.Error(got)
	}
}

func TestSaveRefusesValuesNeedingQuotes(t *testing.T) {
	env, _ := LoadEnvFile(filepath.Join(t.TempDir(), "dev.env"))
	env.Set("OK", "http://127.0.0.1:1/a_b-c.d,e@f+g=h%")
	if err := env.Save(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"a b", "a'b", "a$b", "a\nb", "a;b"} {
		env.Set("BAD", bad)
		if err := env.Save(); err == nil {
			t.Errorf("value %q saved", bad)
		}
	}
}

// Every listen address belongs to a program, so that Options.Without can
// leave exactly that program's addresses unchecked; Without accepts only
// programs the stack runs.
func TestWithoutNamesProgramsAndTheirAddresses(t *testing.T) {
	for _, k := range addressKeys {
		p := programOfAddress[k]
		if p != "temporal" && !slices.Contains(Programs(), p) {
			t.Errorf("address %s belongs to no program (%q)", k, p)
		}
	}
	_, err := Start(t.Context(), Options{DataDir: t.TempDir(), Without: []string{"nonsense"}, Out: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "nonsense") {
		t.Fatalf("Start with an unknown program in Without: %v", err)
	}
	env, _ := resolvedEnv(t, ModeDev)
	s := &Stack{opts: Options{Without: []string{"mlengine"}}, env: env}
	for _, a := range s.listenAddrs() {
		if a.key == "MLENGINE_ADDR" {
			t.Errorf("mlengine's address is checked although mlengine is not started")
		}
	}
}

// resolvedEnv is a fresh dev.env in a temporary data directory with every
// setting of mode resolved, and that directory.
func resolvedEnv(t *testing.T, mode Mode) (*EnvFile, string) {
	t.Helper()
	dir := t.TempDir()
	env, err := LoadEnvFile(filepath.Join(dir, "dev.env"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Resolve(env, dir, mode); err != nil {
		t.Fatal(err)
	}
	return env, dir
}

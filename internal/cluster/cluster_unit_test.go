package cluster

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"filesight/internal/secret"
)

const testPassword = secret.String("pw-0123456789abcdef-xyz")

// newTestCluster configures a cluster whose binaries are the given shell
// scripts (or empty files) in a temporary directory.
func newTestCluster(t *testing.T, scripts map[string]string) *Cluster {
	t.Helper()
	bin, pgBin := t.TempDir(), t.TempDir()
	for dir, names := range map[string][]string{bin: {"temporal-server", "temporal-sql-tool", "temporal-ui-server"}, pgBin: {"initdb", "postgres", "pg_isready"}} {
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"+scripts[n]), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	c, err := New(Config{Ports: Ports{Base: 20000}, Dir: t.TempDir(), BinDir: bin, PostgresBinDir: pgBin,
		PostgresOSUser: "nobody", PostgresPassword: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewChecks(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"short password", Config{Dir: "x", PostgresPassword: "short"}, "CLUSTER_POSTGRES_PASSWORD"},
		{"bad ports", Config{Dir: "x", Ports: Ports{Base: 80}, PostgresPassword: testPassword}, "CLUSTER_PORT_BASE"},
		{"no tools", Config{Dir: "x", BinDir: t.TempDir(), PostgresPassword: testPassword}, "make cluster-tools"},
	} {
		if _, err := New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error naming %s", tt.name, err, tt.want)
		}
	}
}

func TestWriteConfig(t *testing.T) {
	c := newTestCluster(t, nil)
	if err := c.WriteConfig(); err != nil {
		t.Fatal(err)
	}
	read := func(rel string) string {
		b, err := os.ReadFile(filepath.Join(c.Config().Dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), testPassword.Reveal()) {
			t.Errorf("%s holds the database password", rel)
		}
		return string(b)
	}
	base := read("temporal/config/base.yaml")
	for _, want := range []string{
		"# enable-template", `password: "{{ env "CLUSTER_POSTGRES_PASSWORD" }}"`, `connectAddr: "127.0.0.1:20000"`,
		"numHistoryShards: 4", "pluginName: postgres12", "databaseName: temporal_visibility",
		"  history:\n    rpc:\n      bindOnIP: 127.0.0.1\n      grpcPort: 20003\n      membershipPort: 20007\n",
		"  frontend:\n    rpc:\n      bindOnIP: 127.0.0.1\n      grpcPort: 20001\n      membershipPort: 20006\n      httpPort: 20002\n",
		`hostPort: "127.0.0.1:20001"`,
	} {
		if !strings.Contains(base, want) {
			t.Errorf("base.yaml lacks %q:\n%s", want, base)
		}
	}
	if strings.Count(base, "httpPort") != 1 {
		t.Errorf("only the frontend serves HTTP:\n%s", base)
	}
	for svc, metrics := range map[Service]string{Frontend: "20010", History: "20011", Matching: "20012", Worker: "20013"} {
		y := read("temporal/config/" + string(svc) + ".yaml")
		if !strings.Contains(y, `listenAddress: "127.0.0.1:`+metrics+`"`) || !strings.Contains(y, "level: warn") {
			t.Errorf("%s.yaml:\n%s", svc, y)
		}
	}
	ui := read("ui/config/cluster.yaml")
	for _, want := range []string{"# enable-template", `temporalGrpcAddress: "127.0.0.1:20001"`, "port: 20014", `endpoint: "{{ env "TEMPORAL_CODEC_ENDPOINT" }}"`} {
		if !strings.Contains(ui, want) {
			t.Errorf("ui config lacks %q:\n%s", want, ui)
		}
	}

	// The dynamic configuration belongs to the operator after the first write.
	dyn := filepath.Join(c.Config().Dir, "temporal", "dynamicconfig.yaml")
	if err := os.WriteFile(dyn, []byte("limit.maxIDLength:\n  - value: 255\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteConfig(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dyn); !strings.Contains(string(b), "maxIDLength") {
		t.Error("WriteConfig overwrote the operator's dynamic configuration")
	}
}

func TestServiceCommands(t *testing.T) {
	c := newTestCluster(t, nil)
	for _, svc := range Services() {
		cmd := c.Service(svc)
		args := strings.Join(cmd.Args, " ")
		if cmd.Name != "temporal-"+string(svc) || !strings.Contains(args, "--env "+string(svc)) || !strings.HasSuffix(args, "start --service "+string(svc)) || cmd.Ready == nil {
			t.Errorf("%s: %+v", svc, cmd)
		}
	}
	pg := c.Postgres()
	if pg.StopSignal != syscall.SIGINT || pg.Env == nil || !strings.Contains(strings.Join(pg.Args, " "), "-p 20000") {
		t.Errorf("postgres: %+v", pg)
	}
	for _, e := range pg.Env {
		if strings.Contains(e, testPassword.Reveal()) {
			t.Error("PostgreSQL's environment holds the password")
		}
	}
	if os.Geteuid() == 0 && (pg.Credential == nil || pg.Credential.Uid == 0) {
		t.Errorf("as root PostgreSQL must run as another user: %+v", pg.Credential)
	}
}

// TestSetupSchema runs the schema steps against a stand-in for
// temporal-sql-tool that records how it was called.
func TestSetupSchema(t *testing.T) {
	calls := filepath.Join(t.TempDir(), "calls")
	tool := `echo "$* password=$SQL_PASSWORD plugin=$SQL_PLUGIN host=$SQL_HOST:$SQL_PORT" >> ` + calls + `
case "$*" in
*update-schema*postgresql/v12/temporal) echo 'DEBUG Schema updated from 1.17 to 1.18' ;;
*update-schema*postgresql/v12/visibility) echo 'DEBUG found zero updates from current version 1.9' ;;
esac
`
	c := newTestCluster(t, map[string]string{"temporal-sql-tool": tool})
	var log strings.Builder
	v, err := c.SetupSchema(context.Background(), &log)
	if err != nil {
		t.Fatal(err)
	}
	if v.Persistence != "1.18" || v.Visibility != "1.9" {
		t.Errorf("versions %+v", v)
	}
	b, _ := os.ReadFile(calls)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	want := []string{
		"--db temporal create-database", "--db temporal setup-schema -v 0.0", "--db temporal update-schema --schema-name postgresql/v12/temporal",
		"--db temporal_visibility create-database", "--db temporal_visibility setup-schema -v 0.0", "--db temporal_visibility update-schema --schema-name postgresql/v12/visibility",
	}
	if len(lines) != len(want) {
		t.Fatalf("calls:\n%s", b)
	}
	for i, l := range lines {
		args, env, _ := strings.Cut(l, " password=")
		if args != want[i] {
			t.Errorf("call %d: %q, want %q", i, args, want[i])
		}
		// The password travels in the environment, never as an argument.
		if env != testPassword.Reveal()+" plugin=postgres12 host=127.0.0.1:20000" {
			t.Errorf("call %d environment: %q", i, env)
		}
	}

	failing := newTestCluster(t, map[string]string{"temporal-sql-tool": "echo 'connection refused' >&2; exit 1\n"})
	if _, err := failing.SetupSchema(context.Background(), &log); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("failing tool: %v", err)
	}
}

func TestNewestPostgres(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"13", "15", "9", "notes"} {
		if err := os.MkdirAll(filepath.Join(root, v, "bin"), 0o755); err != nil {
			t.Fatal(err)
		}
		if v != "notes" {
			os.WriteFile(filepath.Join(root, v, "bin", "postgres"), nil, 0o755)
		}
	}
	os.MkdirAll(filepath.Join(root, "16", "bin"), 0o755) // no server binary: a client-only install
	if got := newestPostgres(root); got != filepath.Join(root, "15", "bin") {
		t.Errorf("newest: %s", got)
	}
	if got := newestPostgres(filepath.Join(root, "none")); got != filepath.Join(root, "none", "15", "bin") {
		t.Errorf("none: %s", got)
	}
}

func TestOpenPath(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, as the case it handles")
	}
	cred := &syscall.Credential{Uid: 54321, Gid: 54321}
	top := t.TempDir()
	closed := filepath.Join(top, "a", "b")
	if err := os.MkdirAll(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chmod(top, 0o700)
	os.Chmod(filepath.Join(top, "a"), 0o700)
	// Below an allowed root: opened for search only.
	if err := openPath(closed, cred, []string{os.TempDir()}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{top, filepath.Join(top, "a"), closed} {
		st, _ := os.Stat(d)
		if st.Mode().Perm() != 0o701 {
			t.Errorf("%s: mode %v, want 0701", d, st.Mode().Perm())
		}
	}
	// Elsewhere: refused with the fix.
	os.Chmod(filepath.Join(top, "a"), 0o700)
	err := openPath(closed, cred, []string{filepath.Join(top, "a", "b")})
	if err == nil || !strings.Contains(err.Error(), "chmod o+x "+filepath.Join(top, "a")) {
		t.Errorf("closed directory outside the allowed roots: %v", err)
	}
	if st, _ := os.Stat(filepath.Join(top, "a")); st.Mode().Perm() != 0o700 {
		t.Error("a directory outside the allowed roots was changed")
	}
}

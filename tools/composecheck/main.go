// Command composecheck validates docker-compose.yml with the Compose
// specification's own Go loader (there is no Docker engine on CI), and
// checks the invariants filesight's deployment relies on.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

func main() {
	path := "docker-compose.yml"
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	if err := check(context.Background(), path); err != nil {
		fmt.Fprintln(os.Stderr, "composecheck:", err)
		os.Exit(1)
	}
	fmt.Println("composecheck: ok:", path)
}

func check(ctx context.Context, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	env := []string{"TEMPORAL_CODEC_ENDPOINT=http://localhost:8081/check", "BOX_CLIENT_ID=check", "BOX_SUBJECT_ID=1", "TEMPORAL_DB_PASSWORD=check"}
	opts, err := cli.NewProjectOptions([]string{abs},
		cli.WithWorkingDirectory(filepath.Dir(abs)),
		cli.WithEnv(env),
		cli.WithProfiles([]string{"dev"}),
		cli.WithName("filesight"),
	)
	if err != nil {
		return err
	}
	project, err := opts.LoadProject(ctx)
	if err != nil {
		return fmt.Errorf("loading %s: %w", path, err)
	}
	var problems []string
	want := []string{"postgresql", "temporal-schema", "temporal-setup", "temporal-ui", "worker", "starter", "mlengine", "vault", "localbox"}
	for _, svc := range temporalServices {
		want = append(want, "temporal-"+svc)
	}
	for _, name := range want {
		if _, ok := project.Services[name]; !ok {
			problems = append(problems, "missing service "+name)
		}
	}
	if lb, ok := project.Services["localbox"]; ok && !slices.Contains(lb.Profiles, "dev") {
		problems = append(problems, "localbox must run only in the dev profile")
	}
	if ui, ok := project.Services["temporal-ui"]; ok {
		if v := ui.Environment["TEMPORAL_CODEC_ENDPOINT"]; v == nil || *v == "" {
			problems = append(problems, "temporal-ui has no TEMPORAL_CODEC_ENDPOINT")
		}
	}
	pins, err := readPins(filepath.Join(filepath.Dir(abs), "tools", "temporal-server", "go.mod"))
	if err != nil {
		return err
	}
	problems = append(problems, clusterProblems(project, pins)...)
	problems = append(problems, vaultProblems(project)...)
	built, err := dockerfilePrograms(filepath.Join(filepath.Dir(abs), "Dockerfile"))
	if err != nil {
		return err
	}
	problems = append(problems, imageProblems(project, built)...)
	for name, svc := range project.Services {
		problems = append(problems, secretProblems(name, svc)...)
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("%s:\n  %s", path, strings.Join(problems, "\n  "))
	}
	return nil
}

// temporalServices are Temporal's server roles; the cluster runs each in a
// container of its own, as make cluster runs each in a process of its own.
var temporalServices = []string{"history", "matching", "frontend", "worker"}

// pins are the versions tools/temporal-server pins (make cluster runs them).
type pins struct{ server, ui string }

// readPins reads the server and UI server versions from the go.mod of
// tools/temporal-server.
func readPins(path string) (pins, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return pins{}, fmt.Errorf("reading the pinned Temporal versions: %w", err)
	}
	var p pins
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "go.temporal.io/server":
			p.server = strings.TrimPrefix(f[1], "v")
		case "github.com/temporalio/ui-server/v2":
			p.ui = strings.TrimPrefix(f[1], "v")
		}
	}
	if p.server == "" || p.ui == "" {
		return p, fmt.Errorf("%s pins no go.temporal.io/server or github.com/temporalio/ui-server/v2", path)
	}
	return p, nil
}

// clusterProblems checks that the Temporal part mirrors make cluster: no
// auto-setup image; the four services as separate temporalio/server
// containers of the pinned version, started only after the schema job; the
// schema job running temporal-sql-tool setup and update for both databases;
// the setup job registering filesight's search attributes before the
// workers and the starter start; several workers.
func clusterProblems(project *types.Project, p pins) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	for name, svc := range project.Services {
		if strings.HasPrefix(svc.Image, "temporalio/auto-setup") {
			add("service %s: temporalio/auto-setup is not for production; run temporalio/server with the temporal-schema job", name)
		}
	}
	completed := func(svc types.ServiceConfig, dep string) bool {
		d, ok := svc.DependsOn[dep]
		return ok && d.Condition == types.ServiceConditionCompletedSuccessfully
	}
	for _, role := range temporalServices {
		name := "temporal-" + role
		svc, ok := project.Services[name]
		if !ok {
			continue
		}
		if svc.Image != "temporalio/server:"+p.server {
			add("service %s: image %s, want temporalio/server:%s (the version tools/temporal-server pins)", name, svc.Image, p.server)
		}
		if v := svc.Environment["SERVICES"]; v == nil || *v != role {
			add("service %s: SERVICES must be %q: one Temporal service per container", name, role)
		}
		if v := svc.Environment["DB"]; v == nil || *v != "postgres12" {
			add("service %s: DB must be postgres12", name)
		}
		if !completed(svc, "temporal-schema") {
			add("service %s must wait for temporal-schema to complete successfully", name)
		}
		if svc.Restart != types.RestartPolicyUnlessStopped && svc.Restart != types.RestartPolicyAlways {
			add("service %s: restart must be unless-stopped or always (a service that loses the first-start race exits)", name)
		}
	}
	if svc, ok := project.Services["temporal-schema"]; ok {
		script := strings.Join(append(append([]string{}, svc.Entrypoint...), svc.Command...), " ")
		if svc.Image != "temporalio/admin-tools:"+p.server {
			add("service temporal-schema: image %s, want temporalio/admin-tools:%s", svc.Image, p.server)
		}
		for _, want := range []string{
			"--db temporal create-database", "--db temporal setup-schema", "--db temporal update-schema --schema-name postgresql/v12/temporal",
			"--db temporal_visibility create-database", "--db temporal_visibility setup-schema", "--db temporal_visibility update-schema --schema-name postgresql/v12/visibility",
		} {
			if !strings.Contains(script, "temporal-sql-tool "+want) {
				add("service temporal-schema does not run temporal-sql-tool %s", want)
			}
		}
		if v := svc.Environment["SQL_PLUGIN"]; v == nil || *v != "postgres12" {
			add("service temporal-schema: SQL_PLUGIN must be postgres12")
		}
	}
	if svc, ok := project.Services["temporal-setup"]; ok {
		script := strings.Join(append(append([]string{}, svc.Entrypoint...), svc.Command...), " ")
		if svc.Image != "temporalio/admin-tools:"+p.server {
			add("service temporal-setup: image %s, want temporalio/admin-tools:%s", svc.Image, p.server)
		}
		for _, sa := range []string{"FileID", "MediaKind", "Stage"} {
			if !strings.Contains(script, "--name "+sa+" --type Keyword") {
				add("service temporal-setup does not register the search attribute %s (Keyword)", sa)
			}
		}
		if _, ok := svc.DependsOn["temporal-frontend"]; !ok {
			add("service temporal-setup must start after temporal-frontend")
		}
	}
	if ui, ok := project.Services["temporal-ui"]; ok && ui.Image != "temporalio/ui:"+p.ui {
		add("service temporal-ui: image %s, want temporalio/ui:%s (the UI server tools/temporal-server pins)", ui.Image, p.ui)
	}
	for _, name := range []string{"worker", "starter"} {
		if svc, ok := project.Services[name]; ok && !completed(svc, "temporal-setup") {
			add("service %s must wait for temporal-setup to complete successfully (search attributes)", name)
		}
	}
	if w, ok := project.Services["worker"]; ok && (w.Deploy == nil || w.Deploy.Replicas == nil || *w.Deploy.Replicas < 2) {
		add("service worker: run at least two replicas (deploy.replicas)")
	}
	return out
}

// secretProblems flags secrets written as plain values instead of *_FILE.
func secretProblems(name string, svc types.ServiceConfig) []string {
	var out []string
	for k, v := range svc.Environment {
		if v == nil || strings.HasSuffix(k, "_FILE") {
			continue
		}
		upper := strings.ToUpper(k)
		for _, marker := range []string{"SECRET", "API_KEY", "CODEC_KEYS", "SEAL_KEYS", "AUTH_TOKEN", "WEBHOOK_PRIMARY", "WEBHOOK_SECONDARY", "CALLBACK_KEY", "ADMIN_KEY",
			"VAULT_KEY", "CREDENTIAL", "TOKEN_KEY", "ENCRYPTION_KEYS"} {
			if strings.Contains(upper, marker) {
				out = append(out, fmt.Sprintf("service %s: %s is a secret: give it as %s_FILE", name, k, k))
			}
		}
	}
	return out
}

// vaultOwn are the vault's own settings: its keys and the credential lists,
// the detokenize one included. Only the vault may see them.
var vaultOwn = []string{"VAULT_ENCRYPTION_KEYS", "VAULT_TOKEN_KEY", "VAULT_TOKENIZE_CREDENTIALS", "VAULT_DETOKENIZE_CREDENTIALS"}

// vaultProblems checks the vault and what the workers hold of it: the vault
// service with its keys and credential lists from files; the worker with the
// vault's URL and its own tokenize credential from a file, and nothing of
// the vault's own (no key, no credential list, none of their secret files);
// no service mounting the vault's secrets besides the vault; and no
// FILESIGHT_VAULT_KEY, the retired local tokenizer's key.
func vaultProblems(project *types.Project) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	env := func(svc types.ServiceConfig, k string) string {
		if v := svc.Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	vaultSecrets := map[string]bool{} // secret names the vault reads its own settings from
	if v, ok := project.Services["vault"]; ok {
		for _, k := range vaultOwn {
			path := env(v, k+"_FILE")
			if path == "" {
				add("service vault: %s_FILE is not set", k)
				continue
			}
			name, mounted := secretAt(v, path)
			if !mounted {
				add("service vault: %s_FILE=%s is not one of its secrets", k, path)
				continue
			}
			vaultSecrets[name] = true
		}
	}
	for name, svc := range project.Services {
		for k := range svc.Environment {
			if strings.HasPrefix(k, "FILESIGHT_VAULT_KEY") {
				add("service %s: %s is retired (the worker uses the vault service: FILESIGHT_VAULT_URL, FILESIGHT_VAULT_CREDENTIAL_FILE)", name, k)
			}
			if name != "vault" && slices.ContainsFunc(vaultOwn, func(own string) bool { return k == own || k == own+"_FILE" }) {
				add("service %s: %s belongs to the vault alone", name, k)
			}
		}
		if name == "vault" {
			continue
		}
		for _, sec := range svc.Secrets {
			if vaultSecrets[sec.Source] {
				add("service %s: mounts the vault's secret %s", name, sec.Source)
			}
		}
	}
	if w, ok := project.Services["worker"]; ok {
		if u := env(w, "FILESIGHT_VAULT_URL"); !strings.HasPrefix(u, "http://vault:") && !strings.HasPrefix(u, "https://vault:") {
			add("service worker: FILESIGHT_VAULT_URL must be the vault service (http://vault:8720), not %q", u)
		}
		if path := env(w, "FILESIGHT_VAULT_CREDENTIAL_FILE"); path == "" {
			add("service worker: FILESIGHT_VAULT_CREDENTIAL_FILE is not set (the worker's tokenize credential)")
		} else if _, ok := secretAt(w, path); !ok {
			add("service worker: FILESIGHT_VAULT_CREDENTIAL_FILE=%s is not one of its secrets", path)
		}
	}
	return out
}

// secretAt names the secret svc mounts at path (/run/secrets/<target>).
func secretAt(svc types.ServiceConfig, path string) (string, bool) {
	for _, sec := range svc.Secrets {
		target := sec.Target
		if target == "" {
			target = sec.Source
		}
		if !strings.HasPrefix(target, "/") {
			target = "/run/secrets/" + target
		}
		if target == path {
			return sec.Source, true
		}
	}
	return "", false
}

// dockerfilePrograms lists the programs the Dockerfile's go build builds
// (./worker ./starter ... → worker, starter, ...).
func dockerfilePrograms(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the Dockerfile: %w", err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, "go build") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "./") && !strings.Contains(f[2:], "/") && len(f) > 2 {
				out = append(out, f[2:])
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s builds no program (no go build ./program line)", path)
	}
	return out, nil
}

// imageProblems checks that every service run from the project's image
// (build: .) runs a program the Dockerfile builds.
func imageProblems(project *types.Project, built []string) []string {
	var out []string
	for name, svc := range project.Services {
		if svc.Build == nil || len(svc.Command) == 0 {
			continue
		}
		if !slices.Contains(built, svc.Command[0]) {
			out = append(out, fmt.Sprintf("service %s runs %q, which the Dockerfile does not build (it builds %s)", name, svc.Command[0], strings.Join(built, ", ")))
		}
	}
	return out
}

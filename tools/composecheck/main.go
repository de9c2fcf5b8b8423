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
	want := []string{"postgresql", "temporal", "temporal-ui", "worker", "starter", "mlengine", "localbox"}
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
	for name, svc := range project.Services {
		problems = append(problems, secretProblems(name, svc)...)
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("%s:\n  %s", path, strings.Join(problems, "\n  "))
	}
	return nil
}

// secretProblems flags secrets written as plain values instead of *_FILE.
func secretProblems(name string, svc types.ServiceConfig) []string {
	var out []string
	for k, v := range svc.Environment {
		if v == nil || strings.HasSuffix(k, "_FILE") {
			continue
		}
		upper := strings.ToUpper(k)
		for _, marker := range []string{"SECRET", "API_KEY", "CODEC_KEYS", "AUTH_TOKEN", "WEBHOOK_PRIMARY", "WEBHOOK_SECONDARY", "CALLBACK_KEY", "ADMIN_KEY", "VAULT_KEY"} {
			if strings.Contains(upper, marker) {
				out = append(out, fmt.Sprintf("service %s: %s is a secret: give it as %s_FILE", name, k, k))
			}
		}
	}
	return out
}

package cluster

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"

	"filesight/internal/probe"
)

// SchemaVersions are the schema versions of the two databases after setup.
type SchemaVersions struct {
	Persistence, Visibility string
}

// schemaVersion finds the version temporal-sql-tool reports at the end of
// update-schema ("Schema updated from 1.17 to 1.18", "found zero updates
// from current version 1.18").
var schemaVersion = regexp.MustCompile(`(?:updated from [0-9.]+ to|from current version) ([0-9]+\.[0-9]+)`)

// SetupSchema creates the two databases if missing and brings their schemas
// to the newest version embedded in temporal-sql-tool (create-database,
// setup-schema -v 0.0, update-schema --schema-name
// postgresql/v12/{temporal,visibility}). Every step is idempotent, so the
// same sequence sets up a new cluster and upgrades an existing one after
// the server (and with it the tool) was updated. The tool's output goes to
// log; the password reaches it through its environment (SQL_PASSWORD).
func (c *Cluster) SetupSchema(ctx context.Context, log io.Writer) (SchemaVersions, error) {
	var v SchemaVersions
	host, port, _ := net.SplitHostPort(c.cfg.Ports.Postgres())
	env := []string{"PATH=" + os.Getenv("PATH"), "SQL_PLUGIN=postgres12", "SQL_HOST=" + host, "SQL_PORT=" + port,
		"SQL_USER=" + DBUser, "SQL_PASSWORD=" + c.cfg.PostgresPassword.Reveal()}
	for _, db := range []struct {
		name, schema string
		version      *string
	}{
		{DBPersistence, "postgresql/v12/temporal", &v.Persistence},
		{DBVisibility, "postgresql/v12/visibility", &v.Visibility},
	} {
		for _, step := range [][]string{
			{"create-database"},
			{"setup-schema", "-v", "0.0"},
			{"update-schema", "--schema-name", db.schema},
		} {
			var out bytes.Buffer
			cmd := exec.CommandContext(ctx, c.paths.sqlTool, append([]string{"--db", db.name}, step...)...)
			cmd.Env = env
			cmd.Stdout, cmd.Stderr = io.MultiWriter(log, &out), io.MultiWriter(log, &out)
			if err := cmd.Run(); err != nil {
				return v, fmt.Errorf("temporal-sql-tool --db %s %s: %w: %s", db.name, strings.Join(step, " "), err, lastLine(out.String()))
			}
			if step[0] == "update-schema" {
				m := schemaVersion.FindAllStringSubmatch(out.String(), -1)
				if len(m) == 0 {
					return v, fmt.Errorf("temporal-sql-tool --db %s update-schema did not report the schema version: %s", db.name, lastLine(out.String()))
				}
				*db.version = m[len(m)-1][1]
			}
		}
	}
	return v, nil
}

func lastLine(s string) string {
	var last string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			last = t
		}
	}
	return last
}

// healthService is the gRPC health service name each server role reports
// (history reports SERVING only once it owns its shards).
var healthService = map[Service]string{
	Frontend: "temporal.api.workflowservice.v1.WorkflowService",
	History:  "temporal.api.workflowservice.v1.HistoryService",
	Matching: "temporal.api.workflowservice.v1.MatchingService",
}

// Service is the command of one Temporal service's process.
func (c *Cluster) Service(s Service) Command {
	cmd := Command{
		Name: s.ProcessName(),
		Path: c.paths.server,
		// --allow-no-auth: this cluster listens on 127.0.0.1 only; a
		// cluster reachable from other machines configures an authorizer
		// and TLS instead (docs/operations.md).
		Args: []string{"--root", c.temporalDir(), "--config", "config", "--env", string(s), "--allow-no-auth", "start", "--service", string(s)},
		Dir:  c.temporalDir(),
		// The configuration templates read the database password.
		Vars: []string{"CLUSTER_POSTGRES_PASSWORD"},
	}
	if name, ok := healthService[s]; ok {
		cmd.Ready = probe.GRPCHealth(c.cfg.Ports.GRPC(s), name)
	} else {
		// The internal worker service serves no gRPC; its metrics
		// endpoint answers once it runs.
		cmd.Ready = probe.HTTP("http://" + c.cfg.Ports.Metrics(s) + "/metrics")
	}
	return cmd
}

// UI is the command of the Temporal UI server.
func (c *Cluster) UI() Command {
	return Command{
		Name: "temporal-ui",
		Path: c.paths.ui,
		Args: []string{"--root", c.uiDir(), "--config", "config", "--env", "cluster", "start"},
		Dir:  c.uiDir(),
		// The configuration template reads the codec endpoint, which
		// carries the codec token (never on the command line).
		Vars:  []string{"TEMPORAL_CODEC_ENDPOINT"},
		Ready: probe.HTTP(c.UIURL() + "/"),
	}
}

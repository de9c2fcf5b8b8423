// Package cluster describes a production-shaped Temporal cluster on one
// machine, without containers: a PostgreSQL instance of its own, the
// persistence and visibility schemas applied with temporal-sql-tool,
// Temporal's frontend, history, matching and internal worker services as
// four temporal-server processes with their own ports and membership, SQL
// advanced visibility with filesight's search attributes, and the Temporal UI
// server with filesight's codec endpoint.
//
// The package says what to run and how to tell that it is ready (Command);
// a supervisor (internal/devstack's cluster mode) runs the processes. See
// docs/operations.md for the topology, ports, sizing and upgrades.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"filesight/internal/secret"
)

// Service is one of Temporal's server roles, each run as its own process.
type Service string

// Temporal's services.
const (
	Frontend Service = "frontend"
	History  Service = "history"
	Matching Service = "matching"
	// Worker is Temporal's internal worker service (system workflows:
	// retention, scanners, batch operations), not a filesight worker.
	Worker Service = "worker"
)

// Services lists Temporal's services in start order: history first (it owns
// the shards), then matching, then the frontend everyone calls, then the
// internal worker service, which is a client of the frontend.
func Services() []Service { return []Service{History, Matching, Frontend, Worker} }

// ProcessName is the name a service's process runs under (log prefix, log file).
func (s Service) ProcessName() string { return "temporal-" + string(s) }

// HistoryShards is the number of history shards. It is fixed when the
// persistence schema is first used and can never change afterwards; 4 suits
// one machine (production clusters choose 512 or more up front, see
// docs/operations.md).
const HistoryShards = 4

// Config describes one cluster.
type Config struct {
	// Ports is the cluster's port block.
	Ports Ports
	// Dir holds the cluster's state: postgres/ (the database), temporal/
	// and ui/ (generated configuration).
	Dir string
	// BinDir holds temporal-server, temporal-sql-tool and temporal-ui-server
	// (make cluster-tools).
	BinDir string
	// PostgresBinDir holds initdb, postgres and pg_isready; empty means the
	// newest /usr/lib/postgresql/*/bin (Debian's postgresql package).
	PostgresBinDir string
	// PostgresOSUser is the account PostgreSQL runs as when this process
	// runs as root (PostgreSQL refuses to run as root); default "postgres".
	PostgresOSUser string
	// OpenBelow lists directories below which, when running as root, the
	// directories leading to the database may be made searchable (o+x) for
	// PostgresOSUser. Directories elsewhere on the path are never changed.
	OpenBelow []string
	// PostgresPassword is the password of the database role "temporal".
	PostgresPassword secret.String
	// Namespace is registered with Retention (default 72h).
	Namespace string
	Retention time.Duration
	// LogLevel of the Temporal services (default warn).
	LogLevel string
}

// DBUser is the PostgreSQL role Temporal connects as; it owns the
// temporal and temporal_visibility databases.
const DBUser = "temporal"

// Databases are the persistence and the visibility database.
const (
	DBPersistence = "temporal"
	DBVisibility  = "temporal_visibility"
)

// Command is how to run one of the cluster's processes and how to tell that
// it serves.
type Command struct {
	// Name is the process name (log prefix and log file).
	Name string
	Path string
	Args []string
	// Env, when not nil, is the whole environment of the process.
	Env []string
	// Vars, when Env is nil, names the supervisor's variables the process
	// needs (besides the search path, home and locale); it gets no other.
	Vars []string
	Dir  string
	// Credential runs the process as another user (PostgreSQL under root).
	Credential *syscall.Credential
	// StopSignal asks the process to stop (zero: SIGTERM).
	StopSignal syscall.Signal
	// Ready returns nil once the process serves.
	Ready func(ctx context.Context) error
}

// Cluster is a configured cluster on this machine.
type Cluster struct {
	cfg   Config
	pg    postgres
	paths struct{ server, sqlTool, ui string }
}

// New checks the configuration and finds the binaries.
func New(cfg Config) (*Cluster, error) {
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.Retention == 0 {
		cfg.Retention = 72 * time.Hour
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "warn"
	}
	if cfg.Ports.Base == 0 {
		cfg.Ports.Base = DefaultPortBase
	}
	if cfg.PostgresOSUser == "" {
		cfg.PostgresOSUser = "postgres"
	}
	var errs []error
	if err := cfg.Ports.Validate(); err != nil {
		errs = append(errs, err)
	}
	if cfg.Dir == "" {
		errs = append(errs, errors.New("cluster directory not set"))
	}
	if len(cfg.PostgresPassword.Reveal()) < 16 {
		errs = append(errs, errors.New("CLUSTER_POSTGRES_PASSWORD must be at least 16 characters"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("cluster directory %s: %w", cfg.Dir, err)
	}
	cfg.Dir = abs
	c := &Cluster{cfg: cfg}
	c.paths.server = filepath.Join(cfg.BinDir, "temporal-server")
	c.paths.sqlTool = filepath.Join(cfg.BinDir, "temporal-sql-tool")
	c.paths.ui = filepath.Join(cfg.BinDir, "temporal-ui-server")
	var missing []string
	for _, p := range []string{c.paths.server, c.paths.sqlTool, c.paths.ui} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing %v: run `make cluster-tools` first", missing)
	}
	pg, err := findPostgres(cfg)
	if err != nil {
		return nil, err
	}
	c.pg = pg
	return c, nil
}

// Config is the cluster's configuration with defaults applied.
func (c *Cluster) Config() Config { return c.cfg }

// Ports is the cluster's port block.
func (c *Cluster) Ports() Ports { return c.cfg.Ports }

// FrontendAddress is where clients (the SDK, the CLI, the UI server) connect.
func (c *Cluster) FrontendAddress() string { return c.cfg.Ports.GRPC(Frontend) }

// UIURL is the Temporal UI's base URL.
func (c *Cluster) UIURL() string { return "http://" + c.cfg.Ports.UI() }

func (c *Cluster) temporalDir() string { return filepath.Join(c.cfg.Dir, "temporal") }
func (c *Cluster) uiDir() string       { return filepath.Join(c.cfg.Dir, "ui") }

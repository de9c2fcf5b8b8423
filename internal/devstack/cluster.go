package devstack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"filesight/internal/cluster"
	"filesight/internal/secret"
)

// startCluster brings up the Temporal cluster of cluster mode
// (internal/cluster): PostgreSQL, the schemas, the four services, the
// namespace and search attributes, and the UI server.
func (s *Stack) startCluster() error {
	began := time.Now()
	ports, err := clusterPorts(s.get)
	if err != nil {
		return err
	}
	c, err := cluster.New(cluster.Config{
		Ports:            ports,
		Dir:              s.dataDir,
		BinDir:           s.opts.BinDir,
		OpenBelow:        []string{ModuleRoot(), os.TempDir()},
		PostgresPassword: secret.String(s.get("CLUSTER_POSTGRES_PASSWORD")),
		Namespace:        s.get("TEMPORAL_NAMESPACE"),
	})
	if err != nil {
		return err
	}
	s.cluster = c

	pgLog, err := os.OpenFile(filepath.Join(s.dataDir, "logs", "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	created, err := c.PreparePostgres(s.ctx, pgLog)
	pgLog.Close()
	if err != nil {
		return err
	}
	if created {
		s.out.Printf("created the PostgreSQL database cluster in %s", filepath.Join(s.dataDir, "postgres", "data"))
	}
	s.out.Printf("starting PostgreSQL on %s", ports.Postgres())
	if _, err := s.run(s.clusterSpec(c.Postgres(), 0)); err != nil {
		return err
	}

	schemaLog, err := os.OpenFile(filepath.Join(s.dataDir, "logs", "schema.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(schemaLog, "----- temporal-sql-tool %s -----\n", time.Now().Format(time.RFC3339))
	v, err := c.SetupSchema(s.ctx, schemaLog)
	schemaLog.Close()
	if err != nil {
		return fmt.Errorf("%w (log: %s)", err, schemaLog.Name())
	}
	s.out.Printf("schemas up to date: %s %s, %s %s (temporal-sql-tool)", cluster.DBPersistence, v.Persistence, cluster.DBVisibility, v.Visibility)

	if err := c.WriteConfig(); err != nil {
		return err
	}
	// The first service (history) starts alone: on a new database it writes
	// the cluster metadata record, and two processes doing that at once
	// make one of them exit. The other three then start together, as they
	// would on three machines; each finds the others through the
	// membership table in the database.
	procs := map[cluster.Service]*Proc{}
	specs := map[cluster.Service]procSpec{}
	for i, svc := range cluster.Services() {
		if svc == cluster.Worker {
			s.out.Printf("starting Temporal's internal worker service (membership %s)", ports.Membership(svc))
		} else {
			s.out.Printf("starting Temporal %s service (gRPC %s, membership %s)", svc, ports.GRPC(svc), ports.Membership(svc))
		}
		specs[svc] = s.clusterSpec(c.Service(svc), i+1)
		if procs[svc], err = s.start(specs[svc]); err != nil {
			return err
		}
		if i == 0 {
			if err := s.awaitReady(procs[svc], specs[svc]); err != nil {
				return err
			}
		}
	}
	for _, svc := range cluster.Services() {
		if err := s.awaitReady(procs[svc], specs[svc]); err != nil {
			return err
		}
	}
	frontend := procs[cluster.Frontend]
	if err := s.connectTemporal(frontend); err != nil {
		return err
	}
	ns := s.get("TEMPORAL_NAMESPACE")
	var nsCreated bool
	err = waitFor(s.ctx, frontend, "namespace "+ns, time.Minute, func(ctx context.Context) (err error) {
		nsCreated, err = c.RegisterNamespace(ctx, s.tc)
		return err
	})
	if err != nil {
		return err
	}
	if nsCreated {
		s.out.Printf("registered namespace %s (retention %s)", ns, c.Config().Retention)
	}
	var added []string
	err = waitFor(s.ctx, frontend, "search attributes", time.Minute, func(ctx context.Context) (err error) {
		a, err := cluster.EnsureSearchAttributes(ctx, s.tc, ns, searchAttributes)
		added = append(added, a...)
		return err
	})
	if err != nil {
		return err
	}
	if len(added) > 0 {
		s.out.Printf("registered search attributes %v (Keyword, SQL visibility)", added)
	}
	err = waitFor(s.ctx, frontend, "search attributes in visibility queries", time.Minute, func(ctx context.Context) error {
		return cluster.SearchAttributesUsable(ctx, s.tc, searchAttributes)
	})
	if err != nil {
		return err
	}

	s.out.Printf("starting the Temporal UI server on %s", c.UIURL())
	if _, err := s.run(s.clusterSpec(c.UI(), len(cluster.Services())+1)); err != nil {
		return err
	}
	s.out.Printf("Temporal cluster up in %s", time.Since(began).Round(100*time.Millisecond))
	return nil
}

// clusterSpec turns a cluster command into a procSpec; a command without
// an environment of its own gets the variables it names (Command.Vars).
func (s *Stack) clusterSpec(c cluster.Command, color int) procSpec {
	sp := s.spec(c.Name, color, c.Path, c.Args, vars{Names: c.Vars})
	if c.Env != nil {
		sp.env = c.Env
	}
	sp.dir, sp.credential, sp.stopSignal, sp.ready = c.Dir, c.Credential, c.StopSignal, c.Ready
	// Generous: the machine may be busy, and history reports SERVING
	// only once it owns its shards.
	sp.readyTimeout = 2 * time.Minute
	return sp
}

// printCluster prints where the cluster's parts listen.
func (s *Stack) printCluster() {
	p := s.cluster.Ports()
	s.out.Printf("Temporal HTTP    http://%s (frontend's HTTP API)", p.FrontendHTTP())
	for _, svc := range cluster.Services() {
		grpc := p.GRPC(svc)
		if svc == cluster.Worker {
			grpc = "no gRPC API"
		}
		s.out.Printf("  %-14s %s, membership %s, metrics http://%s/metrics", svc, grpc, p.Membership(svc), p.Metrics(svc))
	}
	s.out.Printf("PostgreSQL       %s (role %s, password CLUSTER_POSTGRES_PASSWORD in dev.env; databases %s, %s; data %s)",
		p.Postgres(), cluster.DBUser, cluster.DBPersistence, cluster.DBVisibility, filepath.Join(s.dataDir, "postgres", "data"))
}

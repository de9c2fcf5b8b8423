package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// postgres is the cluster's PostgreSQL instance.
type postgres struct {
	bin  string // directory of initdb, postgres, pg_isready
	dir  string // <Dir>/postgres, owned by the account PostgreSQL runs as
	data string // <dir>/data, the database cluster
	// cred is nil unless running as root: then the unprivileged account.
	cred *syscall.Credential
	user string
}

// debianPostgres is where Debian's postgresql package puts the server binaries.
const debianPostgres = "/usr/lib/postgresql"

func findPostgres(cfg Config) (postgres, error) {
	pg := postgres{bin: cfg.PostgresBinDir, dir: filepath.Join(cfg.Dir, "postgres")}
	pg.data = filepath.Join(pg.dir, "data")
	if pg.bin == "" {
		pg.bin = newestPostgres(debianPostgres)
	}
	for _, p := range []string{"initdb", "postgres", "pg_isready"} {
		if _, err := os.Stat(filepath.Join(pg.bin, p)); err != nil {
			return pg, fmt.Errorf("PostgreSQL server binaries not found (%s): install Debian's postgresql package (make cluster-deps)", filepath.Join(pg.bin, p))
		}
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup(cfg.PostgresOSUser)
		if err != nil {
			return pg, fmt.Errorf("PostgreSQL refuses to run as root and there is no account %q to run it as (Debian's postgresql package creates it): %w", cfg.PostgresOSUser, err)
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err := errors.Join(err1, err2); err != nil {
			return pg, fmt.Errorf("account %s: %w", cfg.PostgresOSUser, err)
		}
		if uid == 0 {
			return pg, fmt.Errorf("account %s is root; PostgreSQL needs an unprivileged account", cfg.PostgresOSUser)
		}
		pg.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
		pg.user = cfg.PostgresOSUser
	}
	return pg, nil
}

// newestPostgres returns the bin directory of the highest major version
// under root (e.g. /usr/lib/postgresql/15/bin), or root/15/bin when none is
// there, so that the error message names the expected place.
func newestPostgres(root string) string {
	entries, _ := os.ReadDir(root)
	best := -1
	for _, e := range entries {
		if v, err := strconv.Atoi(e.Name()); err == nil && v > best {
			if _, err := os.Stat(filepath.Join(root, e.Name(), "bin", "postgres")); err == nil {
				best = v
			}
		}
	}
	if best < 0 {
		return filepath.Join(root, "15", "bin")
	}
	return filepath.Join(root, strconv.Itoa(best), "bin")
}

// PreparePostgres creates the database cluster on first use: its directory
// (owned by the unprivileged account when running as root, with the
// directories leading to it made searchable where Config.OpenBelow allows),
// then initdb with the role "temporal" as superuser, password
// authentication over TCP and no Unix socket. An existing database cluster
// is left alone. initdb's output goes to log.
func (c *Cluster) PreparePostgres(ctx context.Context, log io.Writer) (created bool, err error) {
	pg := c.pg
	if err := os.MkdirAll(pg.dir, 0o700); err != nil {
		return false, fmt.Errorf("creating %s: %w", pg.dir, err)
	}
	if pg.cred != nil {
		if err := os.Chown(pg.dir, int(pg.cred.Uid), int(pg.cred.Gid)); err != nil {
			return false, fmt.Errorf("handing %s to %s: %w", pg.dir, pg.user, err)
		}
		if err := openPath(filepath.Dir(pg.dir), pg.cred, c.cfg.OpenBelow); err != nil {
			return false, fmt.Errorf("PostgreSQL runs as %s, which must reach %s: %w", pg.user, pg.dir, err)
		}
	}
	if _, err := os.Stat(filepath.Join(pg.data, "PG_VERSION")); err == nil {
		return false, nil
	}
	// initdb reads the superuser's password from a file; it lives only
	// for the run, readable by the database account alone.
	pwfile := filepath.Join(pg.dir, ".pwfile")
	if err := os.WriteFile(pwfile, []byte(c.cfg.PostgresPassword.Reveal()+"\n"), 0o600); err != nil {
		return false, fmt.Errorf("writing the initdb password file: %w", err)
	}
	defer os.Remove(pwfile)
	if pg.cred != nil {
		if err := os.Chown(pwfile, int(pg.cred.Uid), int(pg.cred.Gid)); err != nil {
			return false, fmt.Errorf("handing the initdb password file to %s: %w", pg.user, err)
		}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(pg.bin, "initdb"),
		"--pgdata", pg.data, "--username", DBUser, "--pwfile", pwfile,
		"--auth-host", "scram-sha-256", "--auth-local", "peer", "--encoding", "UTF8", "--no-locale")
	cmd.Dir = pg.dir
	cmd.Env = pgEnv()
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred}
	if err := cmd.Run(); err != nil {
		return false, fmt.Errorf("initdb %s: %w", pg.data, err)
	}
	return true, nil
}

// pgEnv is PostgreSQL's whole environment: it needs none of the secrets
// the supervisor's environment carries.
func pgEnv() []string {
	return []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C", "LC_ALL=C", "TZ=UTC"}
}

// Postgres is the command of the PostgreSQL server: listening on the
// cluster's port on 127.0.0.1 only, no Unix socket (so it never collides
// with a system instance), logging to stderr. SIGINT is PostgreSQL's fast
// shutdown (SIGTERM would wait for every client to disconnect).
func (c *Cluster) Postgres() Command {
	host, port, _ := net.SplitHostPort(c.cfg.Ports.Postgres())
	return Command{
		Name: "postgres",
		Path: filepath.Join(c.pg.bin, "postgres"),
		Args: []string{"-D", c.pg.data, "-p", port,
			"-c", "listen_addresses=" + host,
			"-c", "unix_socket_directories=",
			// Four Temporal services with pools of 10 + 4 connections
			// each, the schema tool and an operator's psql.
			"-c", "max_connections=200",
			"-c", "logging_collector=off",
			"-c", "log_min_messages=warning",
			// Temporal's services race to create their system rows at
			// start; the losers' statements would only be noise.
			"-c", "log_min_error_statement=panic",
		},
		Env:        pgEnv(),
		Dir:        c.pg.dir,
		Credential: c.pg.cred,
		StopSignal: syscall.SIGINT,
		Ready:      c.postgresReady,
	}
}

func (c *Cluster) postgresReady(ctx context.Context) error {
	host, port, _ := net.SplitHostPort(c.cfg.Ports.Postgres())
	cmd := exec.CommandContext(ctx, filepath.Join(c.pg.bin, "pg_isready"), "-h", host, "-p", port, "-U", DBUser, "-d", "postgres")
	cmd.Env = pgEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_isready: %s", strings.TrimSpace(string(out)))
	}
	return nil
}

// openPath makes every directory from dir up to / searchable by cred's
// user: directories that already are stay untouched; a closed one below
// one of the openBelow roots gets o+x (search, never read); any other
// closed directory is an error naming it and the fix.
func openPath(dir string, cred *syscall.Credential, openBelow []string) error {
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if !searchable(st, cred) {
			if !below(d, openBelow) {
				return fmt.Errorf("%s (mode %#o) is closed to it: run `chmod o+x %s`, or give the cluster a data directory elsewhere (CLUSTER_DATA_DIR=/var/tmp/filesight-cluster)", d, st.Mode().Perm(), d)
			}
			if err := os.Chmod(d, st.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("making %s searchable: %w", d, err)
			}
		}
		if parent := filepath.Dir(d); parent == d {
			return nil
		}
	}
}

func searchable(st fs.FileInfo, cred *syscall.Credential) bool {
	perm := st.Mode().Perm()
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return perm&0o001 != 0
	}
	switch {
	case sys.Uid == cred.Uid:
		return perm&0o100 != 0
	case sys.Gid == cred.Gid || slices.Contains(cred.Groups, sys.Gid):
		return perm&0o010 != 0
	}
	return perm&0o001 != 0
}

// below reports whether d lies strictly below one of roots.
func below(d string, roots []string) bool {
	for _, r := range roots {
		if r == "" {
			continue
		}
		if rel, err := filepath.Rel(filepath.Clean(r), d); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
			return true
		}
	}
	return false
}

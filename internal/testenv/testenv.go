// Package testenv starts real servers for integration tests: the Temporal
// dev server from the pinned CLI (bin/temporal, built by `make tools`, never
// downloaded), with filesight's search attributes and encrypted payloads.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"filesight/internal/codec"
	"filesight/internal/codec/codectest"
	"filesight/internal/freeport"
	"filesight/internal/temporalclient"
	"filesight/workflows"
)

// ModuleRoot returns the directory of filesight's go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("module filesight\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testenv: go.mod of module filesight not found above the working directory")
		}
		dir = parent
	}
}

// TemporalCLI returns the path of the pinned Temporal CLI: $TEMPORAL_CLI_PATH,
// or bin/temporal under the module root. It fails the test if it is missing.
func TemporalCLI(t testing.TB) string {
	t.Helper()
	p := os.Getenv("TEMPORAL_CLI_PATH")
	if p == "" {
		p = filepath.Join(ModuleRoot(t), "bin", "temporal")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testenv: Temporal CLI not found at %s (run `make tools` to build the pinned CLI): %v", p, err)
	}
	return p
}

// FreeAddr returns a free 127.0.0.1:port below the kernel's ephemeral
// range (see freeport), for a server the test starts as a separate process.
// Callers that listen themselves should listen on :0 instead.
func FreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// Temporal is a running dev server.
type Temporal struct {
	Client        client.Client
	HostPort      string
	Namespace     string
	UIURL         string // empty unless WithUI
	Keyring       *codec.Keyring
	DataConverter converter.DataConverter
	LogPath       string
	server        *testsuite.DevServer
}

type options struct {
	ui            bool
	codecEndpoint string
	dbFile        string
}

// Option configures StartTemporal.
type Option func(*options)

// WithUI enables the web UI on a free port; codecEndpoint, if set, is passed
// as --ui-codec-endpoint.
func WithUI(codecEndpoint string) Option {
	return func(o *options) { o.ui, o.codecEndpoint = true, codecEndpoint }
}

// WithDBFile persists the server's state in a SQLite file.
func WithDBFile(path string) Option { return func(o *options) { o.dbFile = path } }

// SearchAttributes are the custom search attributes filesight registers.
func SearchAttributes() temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrFileID).ValueSet(""),
		temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrMediaKind).ValueSet(""),
		temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrStage).ValueSet(""),
	)
}

// StartTemporal starts the pinned dev server on a free loopback port, with
// the search attributes registered, and returns a client whose data
// converter encrypts payloads. Everything stops when the test ends.
func StartTemporal(t testing.TB, opts ...Option) *Temporal {
	t.Helper()
	var o options
	for _, fn := range opts {
		fn(&o)
	}
	kr := codectest.NewKeyring(t)
	dc := codec.NewDataConverter(kr, codec.Options{Compress: true})
	logPath := filepath.Join(t.TempDir(), "temporal-dev-server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	// Concurrent test packages each start a dev server, and the CLI picks
	// free ports for its internal services itself, so two of them can race
	// for a port and one crash at start-up. A start that fails is tried
	// again on fresh ports; each failure is logged with the server's output.
	var (
		srv      *testsuite.DevServer
		hostPort string
		uiURL    string
	)
	const attempts = 3
	for attempt := 1; ; attempt++ {
		var dso testsuite.DevServerOptions
		hostPort, uiURL, dso = devServerOptions(t, o, dc, logFile)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		srv, err = testsuite.StartDevServer(ctx, dso)
		cancel()
		if err == nil {
			break
		}
		if attempt == attempts {
			logFile.Close()
			t.Fatalf("testenv: starting Temporal dev server (%d attempts): %v\n%s", attempts, err, tail(logPath))
		}
		t.Logf("testenv: dev server start %d failed, trying other ports: %v\n%s", attempt, err, tail(logPath))
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Logf("testenv: stopping dev server: %v", err)
		}
		logFile.Close()
	})
	return &Temporal{
		Client: srv.Client(), HostPort: hostPort, Namespace: "default", UIURL: uiURL,
		Keyring: kr, DataConverter: dc, LogPath: logPath, server: srv,
	}
}

func devServerOptions(t testing.TB, o options, dc converter.DataConverter, logFile *os.File) (hostPort, uiURL string, dso testsuite.DevServerOptions) {
	hostPort = FreeAddr(t)
	dso = testsuite.DevServerOptions{
		ExistingPath: TemporalCLI(t),
		ClientOptions: &client.Options{
			HostPort:         hostPort,
			Namespace:        "default",
			DataConverter:    dc,
			FailureConverter: temporalclient.FailureConverter(dc),
			Logger:           tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelWarn}))),
		},
		DBFilename:       o.dbFile,
		LogLevel:         "warn",
		LogFormat:        "json",
		SearchAttributes: SearchAttributes(),
		Stdout:           logFile,
		Stderr:           logFile,
	}
	if o.ui {
		_, port, _ := net.SplitHostPort(FreeAddr(t))
		dso.EnableUI = true
		dso.UIPort = port
		uiURL = "http://127.0.0.1:" + port
		if o.codecEndpoint != "" {
			dso.ExtraArgs = append(dso.ExtraArgs, "--ui-codec-endpoint", o.codecEndpoint)
		}
	}
	return hostPort, uiURL, dso
}

// NewClient dials the server again with other options (for example without
// the codec, to look at what the server really stores).
func (tm *Temporal) NewClient(t testing.TB, dc converter.DataConverter) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: tm.HostPort, Namespace: tm.Namespace, DataConverter: dc})
	if err != nil {
		t.Fatalf("testenv: dialing %s: %v", tm.HostPort, err)
	}
	t.Cleanup(c.Close)
	return c
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	s := string(b)
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	return strings.TrimSpace(s)
}

// String describes the server for logs.
func (tm *Temporal) String() string {
	return fmt.Sprintf("temporal dev server %s (ui %s)", tm.HostPort, tm.UIURL)
}

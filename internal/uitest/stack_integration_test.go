//go:build integration

package uitest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"filesight/activities"
	"filesight/internal/box"
	"filesight/internal/codec"
	"filesight/internal/codec/codectest"
	"filesight/internal/devstack"
	"filesight/internal/localbox"
	"filesight/internal/localbox/localboxtest"
	"filesight/internal/mlengine/mlenginetest"
	"filesight/internal/provider"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/secret"
	"filesight/internal/starter"
	"filesight/internal/temporalclient"
	"filesight/internal/testenv"
	"filesight/internal/testutil"
	"filesight/internal/tokenseal/tokensealtest"
	"filesight/internal/vault"
	"filesight/workflows"
)

// system is filesight as a user runs it, every part real and on its own
// 127.0.0.1 port: the Temporal dev server with its UI, localbox, mlengine
// with the real analyzers, the starter (serving webhooks, callbacks and the
// codec server, from the same code as `starter serve`) and a worker built
// from the production workflow and activities.
type system struct {
	tm *testenv.Temporal
	// tc decodes with the system's key (tm.Client has testenv's own key).
	tc client.Client
	lb *localboxtest.Server
	ml *mlenginetest.Server
	bc *box.Client
	// starterURL receives localbox's webhooks and mlengine's callbacks.
	starterURL string
	// codecEndpoint is what the UI was given: the codec server's URL with
	// the token as its first path segment (a credential: never logged).
	codecEndpoint string
	inboxID       string
	// consolePassword logs in to localbox's web console, which links each
	// file to its workflow in this system's Temporal UI.
	consolePassword secret.String
}

func randomToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// logOnFailure prints a component's log (b) when the test fails.
func logOnFailure(t *testing.T, name string, b *testutil.SyncBuffer) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log (tail):\n%s", name, tail(b.String(), 4000))
		}
	})
}

func startSystem(t *testing.T, ctx context.Context) *system {
	t.Helper()
	s := &system{}
	key := codectest.NewKey(t, "ui-test")
	keys := codectest.KeysString(key)
	codecToken := randomToken(t)

	// The dev server's UI must know the codec endpoint when it starts; the
	// starter, which hosts the codec server, comes up once Temporal is there.
	starterAddr, codecAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	s.starterURL = "http://" + starterAddr
	s.codecEndpoint = "http://" + codecAddr + "/" + codecToken
	s.tm = testenv.StartTemporal(t, testenv.WithUI(s.codecEndpoint))
	_, uiPort, _ := net.SplitHostPort(strings.TrimPrefix(s.tm.UIURL, "http://"))

	s.consolePassword = secret.String(randomToken(t))
	s.lb = localboxtest.Start(t, localboxtest.WithConfig(func(c *localbox.Config) {
		c.Console.Password = s.consolePassword
		c.Console.TemporalUIURL = s.tm.UIURL
		c.Console.TemporalNamespace = s.tm.Namespace
	}))
	s.ml = mlenginetest.Start(t)

	// The starter, configured through its environment like the program.
	starterLog := &testutil.SyncBuffer{}
	logOnFailure(t, "starter", starterLog)
	env := envconfig.MapLookuper(map[string]string{
		"TEMPORAL_ADDRESS":          s.tm.HostPort,
		"TEMPORAL_NAMESPACE":        s.tm.Namespace,
		"FILESIGHT_CODEC_KEYS":      keys.Reveal(),
		"STARTER_ADDR":              starterAddr,
		"STARTER_CODEC_ADDR":        codecAddr,
		"CODEC_AUTH_TOKEN":          codecToken,
		"CODEC_CORS_ORIGINS":        s.tm.UIURL + ",http://localhost:" + uiPort,
		"BOX_WEBHOOK_PRIMARY_KEY":   s.lb.WebhookPrimaryKey.Reveal(),
		"BOX_WEBHOOK_SECONDARY_KEY": s.lb.WebhookSecondaryKey.Reveal(),
		"MLENGINE_CALLBACK_KEY":     s.ml.CallbackKey,
		"STARTER_SHUTDOWN_TIMEOUT":  "2s",
	})
	sctx, stopStarter := context.WithCancel(context.Background())
	starterDone := make(chan int, 1)
	go func() { starterDone <- starter.Main(sctx, []string{"serve"}, starterLog, starterLog, env) }()
	t.Cleanup(func() {
		stopStarter()
		<-starterDone
	})
	testutil.WaitFor(t, 30*time.Second, "the starter and its codec server to be ready", func() bool {
		select {
		case code := <-starterDone:
			starterDone <- code
			t.Fatalf("the starter exited with code %d", code)
		default:
		}
		// The codec server answers the UI's CORS preflight once it listens.
		return httpStatus(ctx, "starter /readyz", http.MethodGet, s.starterURL+"/readyz", "", http.StatusOK) == nil &&
			httpStatus(ctx, "codec server preflight", http.MethodOptions, s.codecEndpoint+"/decode", s.tm.UIURL, http.StatusNoContent) == nil
	})

	// The worker: the production workflow and activities over localbox and
	// mlengine, with the same client settings and payload encryption as
	// the worker program (internal/worker).
	workerLog := &testutil.SyncBuffer{}
	logOnFailure(t, "worker", workerLog)
	log := slog.New(slog.NewTextHandler(workerLog, &slog.HandlerOptions{Level: slog.LevelInfo}))
	kr := codectest.NewKeyring(t, key)
	copts, err := temporalclient.Config{Address: s.tm.HostPort, Namespace: s.tm.Namespace}.
		ClientOptions(log, codec.NewDataConverter(kr, codec.Options{Compress: true}))
	if err != nil {
		t.Fatal(err)
	}
	if s.tc, err = client.DialContext(ctx, copts); err != nil {
		t.Fatalf("dialing Temporal: %v", err)
	}
	t.Cleanup(s.tc.Close)
	s.bc, err = box.NewClient(box.Config{APIURL: s.lb.URL, UploadURL: s.lb.UploadURL, ClientID: s.lb.ClientID,
		ClientSecret: s.lb.ClientSecret, SubjectType: "enterprise", SubjectID: s.lb.EnterpriseID, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := vault.New(secret.String(randomToken(t)))
	if err != nil {
		t.Fatal(err)
	}
	ml := mlengineapi.New(mlengineapi.Config{BaseURL: s.ml.URL, APIKey: secret.String(s.ml.APIKey)})
	acts, err := activities.New(s.bc, []provider.Provider{ml}, tok, tokensealtest.New(t), activities.Options{CallbackBaseURL: s.starterURL, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(s.tc, workflows.TaskQueue, worker.Options{
		MaxConcurrentActivityExecutionSize: 16, MaxConcurrentWorkflowTaskExecutionSize: 4,
		MaxConcurrentActivityTaskPollers: 2, MaxConcurrentWorkflowTaskPollers: 2, WorkerStopTimeout: 5 * time.Second,
	})
	workflows.Register(w, acts)
	if err := w.Start(); err != nil {
		t.Fatalf("starting the worker: %v", err)
	}
	t.Cleanup(w.Stop)

	// The inbox folder and its FILE.UPLOADED webhook to the starter, made
	// the way `make up` makes them.
	if s.inboxID, _, err = devstack.EnsureInbox(ctx, s.bc); err != nil {
		t.Fatal(err)
	}
	if _, _, err := devstack.EnsureWebhook(ctx, s.bc, s.inboxID, s.starterURL+"/webhooks/box", "", ""); err != nil {
		t.Fatal(err)
	}
	return s
}

// httpStatus checks that a request is answered with want. Errors name the
// request by what, not by its URL, which may hold the codec token.
func httpStatus(ctx context.Context, what, method, u, origin string, want int) error {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return fmt.Errorf("%s: bad request", what)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("%s: %s, want %d", what, resp.Status, want)
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

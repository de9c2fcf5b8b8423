//go:build integration

// Package uitest drives the Temporal UI of a real dev server in headless
// Chromium, to prove that a file's workflow is shown the way users need it.
package uitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.temporal.io/sdk/worker"

	"filesight/activities"
	"filesight/activities/activitiestest"
	"filesight/internal/box"
	"filesight/internal/codec"
	"filesight/internal/devstack"
	"filesight/internal/provider"
	"filesight/internal/secret"
	"filesight/internal/starter"
	"filesight/internal/testenv"
	"filesight/internal/vault"
	"filesight/workflows"
)

const (
	fileID     = "4242"
	versionID  = "777"
	fileName   = "keynote-talk.mp4"
	webhookKey = "ui-test-webhook-key-0123456789"
	codecToken = "ui-test-codec-token-0123456789"
)

// chromiumPath finds Debian's chromium (make deps installs it), or $CHROME_PATH.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROME_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium found: install Debian's chromium (make deps) or set CHROME_PATH")
	return ""
}

// artifactDir is where screenshots go: $FILESIGHT_ARTIFACTS_DIR, else
// test-artifacts/ at the module root (git-ignored by the lead's .gitignore).
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("FILESIGHT_ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join(testenv.ModuleRoot(t), ".data", "test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestTemporalUIShowsDecodedWorkflow(t *testing.T) {
	chrome := chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The codec server listens first: the dev server's UI is told its URL,
	// with the token as the first path segment (internal/codec).
	codecLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var codecHandler atomic.Pointer[http.Handler]
	var decodeCalls atomic.Int64
	codecSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/decode") && r.Method == http.MethodPost {
			decodeCalls.Add(1)
		}
		if h := codecHandler.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		http.Error(w, "starting", http.StatusServiceUnavailable)
	})}
	go codecSrv.Serve(codecLn)
	t.Cleanup(func() { codecSrv.Close() })
	codecEndpoint := "http://" + codecLn.Addr().String() + "/" + codecToken

	tm := testenv.StartTemporal(t, testenv.WithUI(codecEndpoint))
	_, uiPort, _ := net.SplitHostPort(strings.TrimPrefix(tm.UIURL, "http://"))
	var h http.Handler = codec.NewHTTPHandler(codec.Codecs(tm.Keyring, codec.Options{Compress: true}), codec.HTTPOptions{
		Token: codecToken, AllowedOrigins: []string{tm.UIURL, "http://localhost:" + uiPort},
	})
	codecHandler.Store(&h)

	// A real worker runs the real workflow and activities over in-memory
	// Box and provider fakes (the analyzers are not what this test is about).
	fakeBox := activitiestest.NewBox(time.Now, time.Hour)
	fakeBox.AddFile(fileID, fileName, 5_000_000, versionID)
	ml := activitiestest.NewProvider("mlengine", time.Now, activitiestest.Plan{
		FetchAfter: 500 * time.Millisecond, Duration: 2 * time.Second, RetryAfter: time.Second, Result: activitiestest.TalkResult(),
	})
	tok, err := vault.New("ui-test-vault-key-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	acts, err := activities.New(fakeBox, []provider.Provider{ml}, tok, activities.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(tm.Client, workflows.TaskQueue, worker.Options{})
	workflows.Register(w, acts)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	// The start goes through the starter's webhook handler, as from Box.
	svc := starter.NewService(tm.Client, starter.Options{SetFileIDAttribute: true})
	sh, err := starter.NewHandler(starter.HandlerConfig{
		Service: svc, BoxVerifier: box.NewWebhookVerifier(webhookKey, ""), ParseBoxEvent: starter.ParseBoxEvent,
	})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{
		"type": "webhook_event", "id": "ui-event-1", "trigger": "FILE.UPLOADED", "created_at": time.Now().Format(time.RFC3339),
		"source": map[string]any{"type": "file", "id": fileID, "name": fileName, "size": 5_000_000,
			"file_version": map[string]any{"type": "file_version", "id": versionID}, "parent": map[string]any{"type": "folder", "id": "1"}},
	})
	req, _ := http.NewRequest(http.MethodPost, "/webhooks/box", bytes.NewReader(body))
	for k, v := range box.SignWebhook(secret.String(webhookKey), "", body, time.Now().UTC().Format(time.RFC3339), "d1") {
		req.Header[k] = v
	}
	rec := &recorder{header: http.Header{}}
	sh.ServeHTTP(rec, req)
	if rec.code != http.StatusAccepted {
		t.Fatalf("webhook: %d %s", rec.code, rec.body.String())
	}
	wfID := workflows.WorkflowID(fileID, versionID)
	run := tm.Client.GetWorkflow(ctx, wfID, "")
	var res workflows.ProcessFileResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	if res.Outcome != workflows.OutcomeSuccess {
		t.Fatalf("workflow outcome %+v", res)
	}

	// Headless Chromium opens the workflow's page.
	allocCtx, allocCancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chrome),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 2200),
	)
	defer allocCancel()
	bctx, bcancel := chromedp.NewContext(allocCtx)
	defer bcancel()

	page := devstack.UIWorkflowURL(tm.UIURL, tm.Namespace, wfID, run.GetRunID())
	t.Logf("workflow page: %s", page)
	artifacts := artifactDir(t)
	screenshot := func(name string) {
		shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
			return
		}
		path := filepath.Join(artifacts, name)
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Errorf("saving %s: %v", path, err)
			return
		}
		t.Logf("screenshot: %s", path)
	}
	// waitText waits until the page shows every needle, or fails with what
	// the page showed instead (and a screenshot of it).
	waitText := func(what, shot string, needles ...string) {
		t.Helper()
		args := make([]any, len(needles))
		for i, n := range needles {
			args[i] = n
		}
		_, err := chromedp.Run(bctx, chromedp.PollFunction[bool](
			`(...needles) => needles.every(n => document.body.innerText.includes(n))`,
			chromedp.WithPollingArgs(args...), chromedp.WithPollingInterval(250*time.Millisecond),
			chromedp.WithPollingTimeout(60*time.Second)))
		screenshot(shot)
		if err != nil {
			body, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.innerText`))
			var missing []string
			for _, n := range needles {
				if !strings.Contains(body, n) {
					missing = append(missing, n)
				}
			}
			t.Fatalf("%s: the page does not show %q (%v); it shows:\n%s", what, missing, err, truncate(body, 3000))
		}
	}

	if err := chromedp.Do(bctx, chromedp.Navigate(page)); err != nil {
		t.Fatalf("opening %s: %v", page, err)
	}
	// Input and result are stored encrypted: these JSON fields can only be
	// shown after the UI had them decoded by the codec server.
	waitText("history page", "temporal-ui-history.png",
		`"file_name": "keynote-talk.mp4"`, `"source": "webhook"`, `"outcome": "success"`, `"media_kind": "video"`,
		"Analyze keynote-talk.mp4 (file 4242, version 777) from webhook",    // static summary
		`Submit mlengine job "mlengine"`, "Write skills cards to file 4242", // activity summaries
	)
	if decodeCalls.Load() == 0 {
		t.Fatal("the UI showed decoded payloads without calling the codec server")
	}

	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`[data-testid="search-attributes-tab"]`))); err != nil {
		t.Fatalf("opening the Search Attributes tab: %v", err)
	}
	waitText("search attributes tab", "temporal-ui-search-attributes.png",
		`"FileID": "4242"`, `"MediaKind": "video"`, `"Stage": "done"`)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(c int)           { r.code = c }

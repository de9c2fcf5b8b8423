//go:build integration

package uitest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"filesight/internal/samplemedia"
	"filesight/internal/testenv"
)

// generateTalk starts generating a talk while the test does something else
// (starts the servers); the function it returns waits for the file's path.
// When the test ends, cancel stops ffmpeg before its directory is removed.
func generateTalk(t *testing.T, ctx context.Context, cancel context.CancelFunc, spec samplemedia.TalkSpec) func() string {
	t.Helper()
	type clip struct {
		path string
		err  error
	}
	clipc := make(chan clip, 1)
	dir := t.TempDir()
	done := make(chan struct{})
	go func() {
		defer close(done)
		p, err := samplemedia.GenerateTalk(ctx, dir, spec)
		clipc <- clip{p, err}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return func() string {
		t.Helper()
		c := <-clipc
		if c.err != nil {
			t.Fatalf("generating the clip: %v", c.err)
		}
		return c.path
	}
}

// startChromium starts headless Chromium (Debian's, or $CHROME_PATH) with a
// fresh profile and returns its browser context; it stops with the test.
func startChromium(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	allocCtx, allocCancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath(t)),
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
	t.Cleanup(allocCancel)
	bctx, bcancel := chromedp.NewContext(allocCtx)
	t.Cleanup(bcancel)
	return bctx
}

// artifactDir is where screenshots go: $FILESIGHT_ARTIFACTS_DIR, else def
// (a git-ignored directory) at the module root.
func artifactDir(t *testing.T, def string) string {
	t.Helper()
	dir := os.Getenv("FILESIGHT_ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join(testenv.ModuleRoot(t), def)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// saveScreenshot saves the whole page as dir/name.
func saveScreenshot(t *testing.T, bctx context.Context, dir, name string) {
	t.Helper()
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Errorf("saving %s: %v", path, err)
		return
	}
	t.Logf("screenshot: %s", path)
}

// inPage waits in the page until body (the body of a JavaScript function)
// returns a truthy value, checking every 100 ms up to timeout, and returns
// that value. It needs no eval in the page (chromedp's Poll compiles its
// predicate with new Function, which a strict Content-Security-Policy
// refuses), so it works on pages with one.
func inPage[T any](t *testing.T, bctx context.Context, what, body string, timeout time.Duration) T {
	t.Helper()
	type result struct {
		OK bool `json:"ok"`
		V  T    `json:"v"`
	}
	expr := fmt.Sprintf(`new Promise((resolve) => {
		const deadline = Date.now() + %d;
		const check = () => {
			let v = null;
			try { v = (() => { %s })(); } catch (e) { v = null; }
			if (v) { resolve({ ok: true, v }); return; }
			if (Date.now() >= deadline) { resolve({ ok: false }); return; }
			setTimeout(check, 100);
		};
		check();
	})`, timeout.Milliseconds(), body)
	res, err := chromedp.Run(bctx, chromedp.Evaluate[result](expr, chromedp.EvalAwaitPromise))
	if err == nil && res.OK {
		return res.V
	}
	text, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	loc, _ := chromedp.Run(bctx, chromedp.Location())
	if err == nil {
		err = fmt.Errorf("not within %s", timeout)
	}
	t.Fatalf("waiting for %s: %v; the page (%s) shows:\n%s", what, err, loc, tail(strings.TrimSpace(text), 3000))
	var zero T
	return zero
}

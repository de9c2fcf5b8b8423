//go:build integration

// Package uitest drives the Temporal UI of a real dev server in headless
// Chromium, to prove that a file's workflow is shown the way users need it:
// the file is uploaded into localbox, whose webhook makes the starter start
// the workflow, which a real worker runs against localbox and mlengine;
// then the browser opens the run's page and the payloads are decoded by the
// codec server the starter hosts. It drives localbox's web console the same
// way (console_integration_test.go).
package uitest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/converter"

	"filesight/internal/box"
	"filesight/internal/codec"
	"filesight/internal/devstack"
	"filesight/internal/mediatest"
	"filesight/internal/samplemedia"
	"filesight/internal/testutil"
	"filesight/workflows"
)

const fileName = "quarterly-talk.mp4"

// shortTalk is a quick clip (about 8 s) with speech and two slides, so
// every analysis has something to find.
func shortTalk() samplemedia.TalkSpec {
	return samplemedia.TalkSpec{
		Slides: []samplemedia.Slide{
			{Text: "BETTER DATA\nMachine Learning", Duration: 4},
			{Text: "SEARCH RESULTS\nSpoken Words", Duration: 4},
		},
		Script: "Welcome to this short talk about better data.\n\n" +
			"We search the results for spoken words.",
	}
}

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

func TestTemporalUIShowsUploadedFile(t *testing.T) {
	mediatest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	started := time.Now()

	// The clip is generated while the servers start.
	clip := generateTalk(t, ctx, cancel, shortTalk())
	s := startSystem(t, ctx)
	clipPath := clip()
	t.Logf("system up in %s", time.Since(started).Round(time.Millisecond))

	// A user uploads the file into the inbox; nothing else starts the workflow.
	f, err := devstack.Upload(ctx, s.bc, s.inboxID, clipPath, fileName)
	if err != nil {
		t.Fatal(err)
	}
	wfID := workflows.WorkflowID(f.ID, f.VersionID())
	var runID string
	testutil.WaitFor(t, 30*time.Second, "localbox's webhook to start "+wfID, func() bool {
		d, err := s.tc.DescribeWorkflowExecution(ctx, wfID, "")
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return false
		}
		if err != nil {
			t.Fatalf("describing %s: %v", wfID, err)
		}
		runID = d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
		return true
	})
	var res workflows.ProcessFileResult
	if err := s.tc.GetWorkflow(ctx, wfID, runID).Get(ctx, &res); err != nil {
		t.Fatalf("workflow %s: %v", wfID, err)
	}
	t.Logf("workflow done %s after start: %+v", time.Since(started).Round(time.Millisecond), res)
	if res.Outcome != workflows.OutcomeSuccess || res.MediaKind != workflows.MediaVideo {
		t.Fatalf("workflow result %+v, want outcome %s for a video", res, workflows.OutcomeSuccess)
	}

	// The start came from localbox's signed webhook, accepted by the starter.
	var deliveries []string
	accepted := false
	for _, d := range s.lb.Deliveries(t) {
		deliveries = append(deliveries, fmt.Sprintf("%s→%s %d", d.Trigger, d.Address, d.StatusCode))
		if d.Trigger == "FILE.UPLOADED" && d.Address == s.starterURL+"/webhooks/box" && d.Delivered && d.StatusCode == http.StatusAccepted {
			accepted = true
		}
	}
	if !accepted {
		t.Errorf("localbox delivered no FILE.UPLOADED webhook that the starter accepted; deliveries: %v", deliveries)
	}

	// The cards the workflow reports are on the file in localbox.
	assertCards(t, ctx, s, f.ID, res.Cards)

	// What Temporal stores is encrypted: without the codec server the UI
	// could show none of the fields asserted below.
	assertEncryptedHistory(t, ctx, s, wfID, runID)

	// Headless Chromium opens the workflow's page.
	bctx := startChromium(t, ctx)

	// Count the browser's successful calls to the codec server's decode
	// (chromedp enables the Network domain on every target).
	var mu sync.Mutex
	decodeReqs := map[network.RequestID]bool{}
	decoded := 0
	err = chromedp.Listen(bctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			if e.Request.Method == "POST" && strings.HasPrefix(e.Request.URL, s.codecEndpoint+"/decode") {
				decodeReqs[e.RequestID] = true
			}
		case *network.EventResponseReceived:
			if decodeReqs[e.RequestID] && e.Response.Status == 200 {
				decoded++
			}
		}
	})
	if err != nil {
		t.Fatalf("starting chromium: %v", err)
	}

	page := devstack.UIWorkflowURL(s.tm.UIURL, s.tm.Namespace, wfID, runID)
	t.Logf("workflow page: %s", page)
	artifacts := artifactDir(t, filepath.Join(".data", "test-artifacts"))
	screenshot := func(name string) { saveScreenshot(t, bctx, artifacts, name) }
	// waitText waits until the page shows every needle, or fails with what
	// the page showed instead (and a screenshot of it). The UI renders
	// summaries and details (markdown) in same-origin iframes: their text
	// counts as the page's.
	const pageText = `() => [document.body, ...Array.from(document.querySelectorAll("iframe"), f => f.contentDocument && f.contentDocument.body)]
		.filter(Boolean).map(b => b.innerText).join("\n")`
	waitText := func(what, shot string, needles ...string) {
		t.Helper()
		args := make([]any, len(needles))
		for i, n := range needles {
			args[i] = n
		}
		_, err := chromedp.Run(bctx, chromedp.PollFunction[bool](
			`(...needles) => { const text = (`+pageText+`)(); return needles.every(n => text.includes(n)) }`,
			chromedp.WithPollingArgs(args...), chromedp.WithPollingInterval(250*time.Millisecond),
			chromedp.WithPollingTimeout(45*time.Second)))
		screenshot(shot)
		if err != nil {
			body, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`(`+pageText+`)()`))
			var missing []string
			for _, n := range needles {
				if !strings.Contains(body, n) {
					missing = append(missing, n)
				}
			}
			t.Fatalf("%s: the page does not show %q (%v); it shows:\n%s", what, missing, err, tail(body, 3000))
		}
	}
	openTab := func(testID string) {
		t.Helper()
		if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`[data-testid="`+testID+`"]`))); err != nil {
			t.Fatalf("opening the tab %s: %v", testID, err)
		}
	}

	if err := chromedp.Do(bctx, chromedp.Navigate(page)); err != nil {
		t.Fatalf("opening %s: %v", page, err)
	}
	// Input, result, summaries and details are stored encrypted (checked
	// above): the UI can show them only after the codec server decoded them.
	waitText("history page", "temporal-ui-history.png",
		fmt.Sprintf(`"file_id": "%s"`, f.ID), fmt.Sprintf(`"file_version_id": "%s"`, f.VersionID()),
		fmt.Sprintf(`"file_name": "%s"`, fileName), `"source": "webhook"`, `"trigger": "FILE.UPLOADED"`, // input
		`"outcome": "success"`, `"media_kind": "video"`, `"timeline:scenes"`, // result
		`Submit mlengine job "mlengine"`, fmt.Sprintf("Write skills cards to file %s", f.ID), // activity summaries
	)
	mu.Lock()
	n := decoded
	mu.Unlock()
	if n == 0 {
		t.Fatal("the page shows decoded payloads, yet the browser made no successful POST to the codec server's /decode")
	}
	t.Logf("the browser had the codec server decode %d time(s)", n)

	openTab("user-metadata-tab")
	waitText("user metadata tab", "temporal-ui-user-metadata.png",
		fmt.Sprintf("Analyze %s (file %s, version %s) from webhook", fileName, f.ID, f.VersionID()),                  // static summary
		"Started by webhook on FILE.UPLOADED",                                                                        // static details
		"Events with Metadata", `Submit mlengine job "mlengine"`, fmt.Sprintf("Write skills cards to file %s", f.ID), // activity summaries
		"Stage: done", // current details
	)

	openTab("search-attributes-tab")
	waitText("search attributes tab", "temporal-ui-search-attributes.png",
		fmt.Sprintf(`"FileID": "%s"`, f.ID), `"MediaKind": "video"`, `"Stage": "done"`)
	t.Logf("total %s", time.Since(started).Round(time.Millisecond))
}

// assertCards checks that the file in localbox carries exactly the cards
// the workflow reports having written, the status card saying success.
func assertCards(t *testing.T, ctx context.Context, s *system, fileID string, reported []string) {
	t.Helper()
	doc, err := s.bc.GetSkillsCards(ctx, "", fileID)
	if err != nil {
		t.Fatalf("reading the cards of file %s from localbox: %v", fileID, err)
	}
	var onFile []string
	for _, c := range doc.Cards {
		code := c.SkillCardType
		if c.SkillCardTitle != nil && c.SkillCardTitle.Code != "" {
			code = c.SkillCardTitle.Code
		}
		onFile = append(onFile, code)
		switch {
		case c.SkillCardType == "status" && (c.Status == nil || c.Status.Code != box.StatusSuccess):
			t.Errorf("status card on file %s: %+v", fileID, c.Status)
		case c.SkillCardType != "status" && len(c.Entries) == 0:
			t.Errorf("%s card on file %s has no entries", code, fileID)
		}
	}
	var want []string
	for _, name := range reported {
		_, code, found := strings.Cut(name, ":")
		if !found {
			code = name
		}
		want = append(want, code)
	}
	slices.Sort(onFile)
	slices.Sort(want)
	t.Logf("cards on file %s: %v", fileID, onFile)
	if len(want) < 4 || !slices.Equal(onFile, want) {
		t.Errorf("cards on file %s are %v; the workflow reports %v (want transcript, keywords, timelines and status)", fileID, onFile, reported)
	}
}

// assertEncryptedHistory reads the run's history without the codec and
// checks that its input, result and summaries are encrypted payloads.
func assertEncryptedHistory(t *testing.T, ctx context.Context, s *system, wfID, runID string) {
	t.Helper()
	raw := s.tm.NewClient(t, nil)
	it := raw.GetWorkflowHistory(ctx, wfID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	checked := map[string]int{}
	check := func(what string, ps ...interface {
		GetMetadata() map[string][]byte
		GetData() []byte
	}) {
		for _, p := range ps {
			checked[what]++
			if enc := string(p.GetMetadata()[converter.MetadataEncoding]); enc != codec.EncodingEncrypted {
				t.Errorf("%s is stored with encoding %q, not %s", what, enc, codec.EncodingEncrypted)
			}
			for _, plain := range []string{"file_id", "outcome", fileName, "Analyze", "Submit"} {
				if strings.Contains(string(p.GetData()), plain) {
					t.Errorf("%s holds %q in clear", what, plain)
				}
			}
		}
	}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("reading the history of %s: %v", wfID, err)
		}
		if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			for _, p := range a.GetInput().GetPayloads() {
				check("the workflow input", p)
			}
		}
		if a := ev.GetWorkflowExecutionCompletedEventAttributes(); a != nil {
			for _, p := range a.GetResult().GetPayloads() {
				check("the workflow result", p)
			}
		}
		if sum := ev.GetUserMetadata().GetSummary(); sum != nil {
			check("a summary", sum)
		}
	}
	for _, what := range []string{"the workflow input", "the workflow result", "a summary"} {
		if checked[what] == 0 {
			t.Errorf("the history of %s has no %s to check", wfID, what)
		}
	}
	t.Logf("encrypted in the stored history: %v", checked)
}

//go:build integration

package uitest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"filesight/internal/box"
	"filesight/internal/localbox"
	"filesight/internal/localbox/localboxtest"
	"filesight/internal/mediatest"
	"filesight/internal/samplemedia"
	"filesight/internal/secret"
	"filesight/workflows"
)

// consoleClipName is what the clip is called on disk, so in localbox too.
const consoleClipName = "console-clip.mp4"

// consoleTalk is a short talk (three slides of 5 s, a sentence spoken on
// each) whose speech has words that no slide shows.
func consoleTalk() samplemedia.TalkSpec {
	return samplemedia.TalkSpec{
		Slides: []samplemedia.Slide{
			{Text: "BETTER DATA", Duration: 5},
			{Text: "SEARCH RESULTS", Duration: 5},
			{Text: "CLOUD SERVICE", Duration: 5},
		},
		Script: "Welcome to this short talk about better data.\n\n" +
			"We search the results for spoken words.\n\n" +
			"The system sends the video to a service for analysis.",
	}
}

// TestConsoleInABrowser drives localbox's web console in headless Chromium
// on the real system (Temporal, localbox, mlengine, the starter, a worker):
// log in, upload a talk through the page, watch its status turn to success
// without a reload, play it from a transcript line and a timeline segment,
// search a word that was only spoken and land on the file at that moment,
// follow the link to its workflow in the Temporal UI.
func TestConsoleInABrowser(t *testing.T) {
	mediatest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	started := time.Now()

	clip := generateTalk(t, ctx, cancel, consoleTalk())
	s := startSystem(t, ctx)
	generated := clip()
	clipPath := filepath.Join(filepath.Dir(generated), consoleClipName)
	if err := os.Rename(generated, clipPath); err != nil {
		t.Fatal(err)
	}
	t.Logf("system up in %s", time.Since(started).Round(time.Millisecond))

	bctx := startChromium(t, ctx)
	recordPolicyViolations(t, bctx)
	artifacts := artifactDir(t, "testdata-artifacts")
	shot := func(name string) { saveScreenshot(t, bctx, artifacts, name) }
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// Log in: the inbox asks for the password first, then comes back.
	inbox := s.lb.URL + "/app/folder/" + s.inboxID
	do("opening the inbox", chromedp.Navigate(inbox), chromedp.WaitVisible(chromedp.CSS(`#password`)))
	shot("console-login.png")
	do("logging in",
		chromedp.SendKeys(chromedp.CSS(`#password`), s.consolePassword.Reveal()),
		chromedp.Click(chromedp.CSS(`.login button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#upload input[type=file]`)),
	)
	if loc, _ := chromedp.Run(bctx, chromedp.Location()); loc != inbox {
		t.Fatalf("after the login the browser is at %s, not %s", loc, inbox)
	}

	// Upload through the page; the page is never reloaded (the mark stays).
	do("marking the page", chromedp.Evaluate[chromedp.Void](`window.sameDocument = "inbox"`))
	do("choosing the clip", chromedp.SetUploadFiles(chromedp.CSS(`#upload input[type=file]`), []string{clipPath}))
	fileID := inPage[string](t, bctx, "the uploaded file in the list",
		`const r = document.querySelector('#items tr.file'); return r && r.dataset.fileId`, 30*time.Second)
	upStatus := inPage[string](t, bctx, "the upload to be reported",
		`const s = document.getElementById('upload-status').textContent; return s.startsWith('Uploaded') && s`, 30*time.Second)
	t.Logf("%s (file %s) after %s", upStatus, fileID, time.Since(started).Round(time.Millisecond))
	shot("console-folder-uploaded.png")

	// Watch the status, recording every state the row shows, until success.
	seen := inPage[[]string](t, bctx, "the status to turn to success without a reload", `
		const seen = window.seenStatus = window.seenStatus || [];
		const st = document.querySelector('#items tr.file[data-file-id="`+fileID+`"] [data-status]');
		if (st && seen[seen.length - 1] !== st.dataset.status) seen.push(st.dataset.status);
		return window.sameDocument === "inbox" && st && st.dataset.status === "success" && seen`, 150*time.Second)
	t.Logf("status seen in the list: %v, success after %s", seen, time.Since(started).Round(time.Millisecond))
	if len(seen) < 2 || slices.Index(seen, "success") != len(seen)-1 {
		t.Errorf("the list showed %v: want a pending state (none, processing) before success", seen)
	}
	shot("console-folder-done.png")
	noPolicyViolations(t, bctx, "the inbox, after the upload and its refreshes")

	// What the workflow wrote, to choose what to click and search.
	f, err := s.bc.GetFile(ctx, "", fileID)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := s.bc.GetSkillsCards(ctx, "", fileID)
	if err != nil {
		t.Fatal(err)
	}
	line, word := chooseLineAndWord(t, doc, consoleClipName)
	t.Logf("transcript line at %ds: %q; a word only spoken: %q", line.Appears[0].Start, line.Text, word)

	// The file: the player over the content endpoint and the cards.
	do("opening the file", chromedp.Click(chromedp.CSS(`#items tr.file[data-file-id="`+fileID+`"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`#player`)))
	inPage[bool](t, bctx, "the player to load the media", `const p = document.getElementById('player'); return p.readyState >= 1 && p.duration > 0`, 30*time.Second)
	start := line.Appears[0].Start
	do("clicking the transcript line", chromedp.Click(chromedp.CSS(fmt.Sprintf(`.transcript button.line[data-start="%d"]`, start))))
	at := inPage[float64](t, bctx, "the player to seek to the line",
		fmt.Sprintf(`const p = document.getElementById('player'); return !p.seeking && Math.abs(p.currentTime - %d) < 1 && p.currentTime + 1e-9`, start), 20*time.Second)
	// inPage waited for the player to be within 1 s of the line's start
	// (it fails the test otherwise).
	t.Logf("clicked the line at %ds: the player is at %.2fs", start, at)
	shot("console-file.png")

	// A timeline segment moves the player too (one away from where it is).
	seg := inPage[float64](t, bctx, "a timeline segment away from the player's position", `
		const p = document.getElementById('player');
		for (const r of document.querySelectorAll('.timeline rect.seg')) {
			if (Math.abs(Number(r.dataset.start) - p.currentTime) >= 2) { r.id = 'segment-to-click'; return Number(r.dataset.start) + 1e-9; }
		}
		return null`, 5*time.Second)
	do("clicking a timeline segment", chromedp.Click(chromedp.CSS(`#segment-to-click`)))
	at = inPage[float64](t, bctx, "the player to seek to the segment",
		fmt.Sprintf(`const p = document.getElementById('player'); return !p.seeking && Math.abs(p.currentTime - %d) < 1 && p.currentTime + 1e-9`, int(seg)), 20*time.Second)
	t.Logf("clicked a timeline segment at %ds: the player is at %.2fs", int(seg), at)

	// The workflow link names the file version's workflow.
	wfID := workflows.WorkflowID(fileID, f.VersionID())
	href := inPage[string](t, bctx, "the workflow link", `const a = document.querySelector('a.workflow'); return a && a.href`, 5*time.Second)
	if want := s.tm.UIURL + "/namespaces/" + s.tm.Namespace + "/workflows/" + wfID; href != want {
		t.Errorf("workflow link %q, want %q", href, want)
	}

	// Search a word only spoken: the result is the file, with the moment.
	do("searching", chromedp.SendKeys(chromedp.CSS(`.top .search input[name=q]`), word),
		chromedp.Click(chromedp.CSS(`.top .search button`)),
		chromedp.WaitVisible(chromedp.CSS(`li.result[data-id="`+fileID+`"]`)))
	shot("console-search.png")
	moment := inPage[string](t, bctx, "a transcript moment among the matches", `
		for (const li of document.querySelectorAll('li.result[data-id="`+fileID+`"] .matches li')) {
			const a = li.querySelector('a.moment');
			if (a && li.querySelector('.where').textContent.startsWith('Transcript') &&
				li.querySelector('.text').textContent.toLowerCase().includes(`+jsString(word)+`)) return a.getAttribute('href');
		}
		return null`, 5*time.Second)
	m := regexp.MustCompile(`^/app/file/` + fileID + `\?t=(\d+)$`).FindStringSubmatch(moment)
	if m == nil {
		t.Fatalf("the match links to %q", moment)
	}
	do("opening the moment", chromedp.Click(chromedp.CSS(`li.result[data-id="`+fileID+`"] a.moment[href="`+moment+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#player`)))
	landed := inPage[string](t, bctx, "the file at the moment of the match",
		`const p = document.getElementById('player'); return !p.seeking && p.readyState >= 1 && Math.abs(p.currentTime - `+m[1]+`) < 1 && location.pathname`, 30*time.Second)
	if landed != "/app/file/"+fileID {
		t.Fatalf("the search landed on %s", landed)
	}
	shot("console-search-landed.png")
	noPolicyViolations(t, bctx, "the file page")

	// The workflow link opens the run in the Temporal UI.
	d, err := s.tc.DescribeWorkflowExecution(ctx, wfID, "")
	if err != nil {
		t.Fatalf("describing %s: %v", wfID, err)
	}
	runID := d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	do("opening the workflow link", chromedp.Navigate(href))
	inPage[bool](t, bctx, "the Temporal UI to show the run",
		`return location.pathname.includes(`+jsString(runID)+`) && document.body.innerText.includes(`+jsString(wfID)+`)`, 45*time.Second)
	shot("console-temporal-ui.png")
	t.Logf("total %s", time.Since(started).Round(time.Millisecond))
}

// chooseLineAndWord picks the transcript line to click (the latest one) and
// a word that was spoken but is neither on screen nor in the file name.
func chooseLineAndWord(t *testing.T, doc *box.SkillsDocument, name string) (box.CardEntry, string) {
	t.Helper()
	words := func(s string) []string {
		return regexp.MustCompile(`[a-z]+`).FindAllString(strings.ToLower(s), -1)
	}
	shown := map[string]bool{}
	for _, w := range words(name) {
		shown[w] = true
	}
	var transcript []box.CardEntry
	for _, c := range doc.Cards {
		switch c.SkillCardType {
		case box.CardTypeTimeline:
			for _, e := range c.Entries {
				for _, w := range words(e.Text) {
					shown[w] = true
				}
			}
		case box.CardTypeTranscript:
			transcript = c.Entries
		}
	}
	var line box.CardEntry
	word := ""
	for _, e := range transcript {
		if len(e.Appears) > 0 && e.Appears[0].Start >= 2 && (len(line.Appears) == 0 || e.Appears[0].Start > line.Appears[0].Start) {
			line = e
		}
		for _, w := range words(e.Text) {
			if word == "" && len(w) >= 5 && !shown[w] {
				word = w
			}
		}
	}
	if len(line.Appears) == 0 || word == "" {
		b, _ := json.Marshal(doc.Cards)
		t.Fatalf("no transcript line after 2 s or no word only spoken in the cards: %s", b)
	}
	return line, word
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestConsoleHostileCardsInABrowser: card text, titles and names written to
// be markup stay text in a real browser, also after the page refreshed the
// cards itself (the one place where the script parses HTML), with no
// Content-Security-Policy or Trusted Types violation on the way.
func TestConsoleHostileCardsInABrowser(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	password := secret.String(randomToken(t))
	lb := localboxtest.Start(t, localboxtest.WithConfig(func(c *localbox.Config) { c.Console.Password = password }))
	bc, err := box.NewClient(box.Config{APIURL: lb.URL, UploadURL: lb.UploadURL, ClientID: lb.ClientID, ClientSecret: lb.ClientSecret,
		SubjectType: "enterprise", SubjectID: lb.EnterpriseID})
	if err != nil {
		t.Fatal(err)
	}
	hostile := []string{
		`<script>window.pwned=1</script>`,
		`"><img src=x onerror="window.pwned=2">`,
		`</svg><svg onload="window.pwned=3">`,
		`' onmouseover='window.pwned=4`,
		`</textarea><iframe src="javascript:window.top.pwned=5"></iframe>`,
	}
	folder, err := bc.CreateFolder(ctx, "", "0", `<img src=x onerror="window.pwned=6">`)
	if err != nil {
		t.Fatal(err)
	}
	f, err := bc.UploadFile(ctx, "", folder.ID, `"><img src=x onerror="window.pwned=7">.mp4`, strings.NewReader("not a video"))
	if err != nil {
		t.Fatal(err)
	}
	meta := func(title string) box.CardMeta {
		return box.CardMeta{SkillID: "filesight", InvocationID: "i", Title: title, TitleCode: title}
	}
	var transcript, timeline []box.CardEntry
	for i, h := range hostile {
		transcript = append(transcript, box.CardEntry{Text: h, Appears: []box.Appearance{box.At(i)}})
		timeline = append(timeline, box.CardEntry{Text: h, Appears: []box.Appearance{box.Span(i, i+1)}})
	}
	cards := []box.Card{
		box.NewTranscriptCard(meta(hostile[0]), 10, transcript),
		box.NewKeywordCard(meta(hostile[1]), hostile...),
		box.NewTimelineCard(meta(hostile[2]), 10, timeline),
		// processing: the page keeps refreshing its cards
		box.NewStatusCard(meta(hostile[3]), box.StatusProcessing, strings.Join(hostile, " ")),
	}
	if err := bc.UpsertSkillsCards(ctx, "", f.ID, cards); err != nil {
		t.Fatal(err)
	}

	bctx := startChromium(t, ctx)
	recordPolicyViolations(t, bctx)
	artifacts := artifactDir(t, "testdata-artifacts")
	if err := chromedp.Do(bctx, chromedp.Navigate(lb.URL+"/app/file/"+f.ID), chromedp.WaitVisible(chromedp.CSS(`#password`)),
		chromedp.SendKeys(chromedp.CSS(`#password`), password.Reveal()),
		chromedp.Click(chromedp.CSS(`.login button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#cards`))); err != nil {
		t.Fatalf("logging in to the file page: %v", err)
	}
	// refreshed waits until the page has replaced the element id (it
	// refreshes what is processing), so that the fragment path ran too.
	refreshed := func(id string) {
		t.Helper()
		if err := chromedp.Do(bctx, chromedp.Evaluate[chromedp.Void](`document.getElementById(`+jsString(id)+`).dataset.old = 'yes'`)); err != nil {
			t.Fatal(err)
		}
		inPage[bool](t, bctx, "the page to refresh #"+id, `const e = document.getElementById(`+jsString(id)+`); return e && !e.dataset.old`, 30*time.Second)
	}
	type verdict struct {
		Pwned    any `json:"pwned"`
		Scripts  int `json:"scripts"`
		Elements int `json:"elements"`
	}
	check := func(what string) {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[verdict](`({
			pwned: window.pwned === undefined ? null : window.pwned,
			scripts: document.scripts.length,
			elements: document.querySelectorAll('img, iframe, textarea, svg[onload], [onerror], [onmouseover]').length,
		})`))
		if err != nil {
			t.Fatal(err)
		}
		if v.Pwned != nil || v.Scripts != 1 || v.Elements != 0 {
			t.Errorf("%s: %+v (want nothing run, the console's one script, no injected element)", what, v)
		}
		noPolicyViolations(t, bctx, what)
	}

	refreshed("cards")
	saveScreenshot(t, bctx, artifacts, "console-hostile-cards.png")
	check("the file page, refreshed")
	texts, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('.transcript .text'), (e) => e.textContent)`))
	if err != nil || !slices.Equal(texts, hostile) {
		t.Errorf("the transcript shows %q (%v), want the hostile text as text", texts, err)
	}
	if msg, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('.card-status .message').textContent`)); msg != strings.Join(hostile, " ") {
		t.Errorf("the status message shows %q", msg)
	}

	if err := chromedp.Do(bctx, chromedp.Navigate(lb.URL+"/app/folder/"+folder.ID), chromedp.WaitVisible(chromedp.CSS(`#items`))); err != nil {
		t.Fatal(err)
	}
	refreshed("items")
	check("the folder page, refreshed")
	if err := chromedp.Do(bctx, chromedp.Navigate(lb.URL+"/app/search?q=pwned"), chromedp.WaitVisible(chromedp.CSS(`.results`))); err != nil {
		t.Fatal(err)
	}
	check("the search page")
}

// recordPolicyViolations makes every page the browser opens record its
// Content-Security-Policy and Trusted Types violations in
// window.policyViolations, from before the page's own scripts run.
func recordPolicyViolations(t *testing.T, bctx context.Context) {
	t.Helper()
	_, err := chromedp.Call(bctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
		window.policyViolations = [];
		document.addEventListener('securitypolicyviolation', (e) =>
			window.policyViolations.push(e.violatedDirective + ' ' + (e.blockedURI || '') + ' ' + (e.sample || '')));`})
	if err != nil {
		t.Fatalf("installing the policy violation recorder: %v", err)
	}
}

// noPolicyViolations fails when the page reported a policy violation: the
// console's own pages must work under its policy.
func noPolicyViolations(t *testing.T, bctx context.Context, what string) {
	t.Helper()
	v, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`window.policyViolations`))
	if err != nil {
		t.Fatalf("reading the policy violations of %s: %v", what, err)
	}
	if len(v) != 0 {
		t.Errorf("%s: policy violations %q", what, v)
	}
}

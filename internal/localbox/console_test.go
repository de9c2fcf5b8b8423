package localbox_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"filesight/internal/box"
	"filesight/internal/localbox"
	"filesight/internal/localbox/localboxtest"
	"filesight/internal/secret"
	"filesight/internal/testutil"
	"filesight/workflows"
)

// consolePassword is the console password of the tests (32 bytes or more).
const consolePassword = "console-password-of-the-tests-0123456789"

func startConsole(t testing.TB, opts ...localboxtest.Option) *localboxtest.Server {
	t.Helper()
	return localboxtest.Start(t, append([]localboxtest.Option{localboxtest.WithConfig(func(c *localbox.Config) {
		c.Console.Password = secret.String(consolePassword)
		c.Console.TemporalUIURL = "http://temporal-ui.example:8233/"
		c.Console.TemporalNamespace = "filesight-ns"
	})}, opts...)...)
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, like a browser seen one request at a time.
type browser struct {
	t    testing.TB
	base string
	c    *http.Client
}

func newBrowser(t testing.TB, lb *localboxtest.Server) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: lb.URL, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	Status int
	Header http.Header
	Body   string
}

func (b *browser) do(method, path string, form url.Values, hdr ...string) *page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return &page{Status: res.StatusCode, Header: res.Header, Body: string(raw)}
}

func (b *browser) get(path string) *page { b.t.Helper(); return b.do(http.MethodGet, path, nil) }

func (p *page) want(t testing.TB, status int) *page {
	t.Helper()
	if p.Status != status {
		t.Fatalf("status %d, want %d:\n%s", p.Status, status, p.Body)
	}
	return p
}

// find returns the first submatch of re in the page, or fails.
func (p *page) find(t testing.TB, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("the page has no match for %s:\n%s", re, p.Body)
	}
	return m[1]
}

const csrfField = `name="csrf" value="([^"]+)"`

// login logs the browser in with password and returns the answer.
func (b *browser) login(password string) *page {
	b.t.Helper()
	form := b.get("/app/login").want(b.t, http.StatusOK)
	return b.do(http.MethodPost, "/app/login", url.Values{"csrf": {form.find(b.t, csrfField)}, "password": {password}, "next": {"/app/folder/0"}})
}

func cookieNamed(h http.Header, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestConsoleLogin(t *testing.T) {
	lb := startConsole(t)
	b := newBrowser(t, lb)

	p := b.get("/app/folder/0").want(t, http.StatusSeeOther)
	if loc := p.Header.Get("Location"); loc != "/app/login?next=%2Fapp%2Ffolder%2F0" {
		t.Fatalf("not logged in: redirected to %q", loc)
	}
	p = b.get("/app/login").want(t, http.StatusOK)
	lc := cookieNamed(p.Header, "localbox_console_login")
	if lc == nil || !lc.HttpOnly || lc.SameSite != http.SameSiteStrictMode || lc.Path != "/app/login" || lc.Value != p.find(t, csrfField) {
		t.Fatalf("login form cookie %+v", lc)
	}

	if p := b.login("wrong-password-wrong-password-wrong"); p.Status != http.StatusUnauthorized || !strings.Contains(p.Body, "Wrong password.") ||
		cookieNamed(p.Header, "localbox_console") != nil {
		t.Fatalf("wrong password: %d %v\n%s", p.Status, p.Header["Set-Cookie"], p.Body)
	}
	p = b.login(consolePassword).want(t, http.StatusSeeOther)
	if p.Header.Get("Location") != "/app/folder/0" {
		t.Fatalf("after login: %q", p.Header.Get("Location"))
	}
	sc := cookieNamed(p.Header, "localbox_console")
	if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.Path != "/app" || sc.Secure ||
		sc.MaxAge != int((8*time.Hour)/time.Second) || len(sc.Value) < 43 {
		t.Fatalf("session cookie %+v", sc)
	}
	p = b.get("/app/folder/0").want(t, http.StatusOK)
	for k, v := range map[string]string{
		"Content-Type":               "text/html; charset=utf-8",
		"Cache-Control":              "no-store",
		"X-Content-Type-Options":     "nosniff",
		"X-Frame-Options":            "DENY",
		"Referrer-Policy":            "no-referrer",
		"Content-Security-Policy":    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; require-trusted-types-for 'script'; trusted-types console",
		"Cross-Origin-Opener-Policy": "same-origin",
	} {
		if got := p.Header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	// The login page sends a logged-in browser on.
	if p := b.get("/app/login?next=/app/search").want(t, http.StatusSeeOther); p.Header.Get("Location") != "/app/search" {
		t.Errorf("login page when logged in: %q", p.Header.Get("Location"))
	}

	// The admin key logs in too; nothing else does; without a password and
	// an admin key, nobody.
	if p := newBrowser(t, lb).login(lb.AdminKey.Reveal()); p.Status != http.StatusSeeOther {
		t.Errorf("admin key: %d", p.Status)
	}
	closed := localboxtest.Start(t, localboxtest.WithConfig(func(c *localbox.Config) { c.AdminKey = "" }))
	cb := newBrowser(t, closed)
	p = cb.get("/app/login").want(t, http.StatusOK)
	if !strings.Contains(p.Body, "Nobody can log in") || strings.Contains(p.Body, `name="password"`) {
		t.Errorf("no password configured:\n%s", p.Body)
	}
	formTok := cookieNamed(p.Header, "localbox_console_login").Value
	if p := cb.do(http.MethodPost, "/app/login", url.Values{"csrf": {formTok}, "password": {""}}); p.Status != http.StatusForbidden ||
		cookieNamed(p.Header, "localbox_console") != nil {
		t.Errorf("logging in without a password configured: %d", p.Status)
	}

	// The session cookie is Secure over https.
	req := httptest.NewRequest(http.MethodGet, "https://localbox.example/app/login", nil)
	rec := httptest.NewRecorder()
	lb.Server().Handler().ServeHTTP(rec, req)
	if c := cookieNamed(rec.Header(), "localbox_console_login"); c == nil || !c.Secure {
		t.Errorf("over https: %+v", c)
	}

	// next never leads off the console.
	for next, want := range map[string]string{
		"https://evil.example/app/x": "/app/folder/0", "//evil.example/app/": "/app/folder/0", "/2.0/files/1": "/app/folder/0",
		"/app/search?q=a": "/app/search?q=a", "/app/login": "/app/folder/0", `/app/\evil`: "/app/folder/0",
	} {
		nb := newBrowser(t, lb)
		form := nb.get("/app/login").want(t, http.StatusOK)
		p := nb.do(http.MethodPost, "/app/login", url.Values{"csrf": {form.find(t, csrfField)}, "password": {consolePassword}, "next": {next}})
		if p.Status != http.StatusSeeOther || p.Header.Get("Location") != want {
			t.Errorf("next=%s: %d → %q, want %q", next, p.Status, p.Header.Get("Location"), want)
		}
	}
}

func TestConsoleLoginThrottled(t *testing.T) {
	lb := startConsole(t)
	b := newBrowser(t, lb)
	var last *page
	for range 12 {
		if last = b.login("wrong-password-wrong-password-wrong"); last.Status == http.StatusTooManyRequests {
			break
		}
	}
	if last.Status != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
		t.Fatalf("12 wrong passwords in a row: %d, Retry-After %q", last.Status, last.Header.Get("Retry-After"))
	}
	if p := b.login(consolePassword); p.Status != http.StatusTooManyRequests {
		t.Fatalf("right password while throttled: %d", p.Status)
	}
}

// TestConsoleCSRF: every form that changes something needs the session's
// token and a same-origin request; the login form needs its own token;
// uploads carry a bearer token the API checks, never a cookie.
func TestConsoleCSRF(t *testing.T) {
	lb := startConsole(t)
	tok := lb.ParentToken(t)
	b := newBrowser(t, lb)
	b.login(consolePassword).want(t, http.StatusSeeOther)
	folder := b.get("/app/folder/0").want(t, http.StatusOK)
	csrf := folder.find(t, csrfField)

	folders := func() []string {
		var names []string
		for _, e := range getJSON(t, lb.URL+"/2.0/folders/0/items", tok).wantStatus(t, http.StatusOK).json(t)["entries"].([]any) {
			names = append(names, e.(map[string]any)["name"].(string))
		}
		return names
	}
	for name, c := range map[string]struct {
		form url.Values
		hdr  []string
	}{
		"no token":          {url.Values{"name": {"no token"}}, nil},
		"wrong token":       {url.Values{"name": {"wrong token"}, "csrf": {otherToken(csrf)}}, nil},
		"another session's": {url.Values{"name": {"other"}, "csrf": {newSessionCSRF(t, lb)}}, nil},
		"cross-site fetch":  {url.Values{"name": {"cross site"}, "csrf": {csrf}}, []string{"Sec-Fetch-Site", "cross-site"}},
		"foreign origin":    {url.Values{"name": {"foreign"}, "csrf": {csrf}}, []string{"Origin", "http://evil.example"}},
	} {
		p := b.do(http.MethodPost, "/app/folder/0/folders", c.form, c.hdr...)
		if p.Status != http.StatusForbidden || !strings.Contains(p.Body, "did not come from this console") {
			t.Errorf("%s: %d\n%s", name, p.Status, p.Body)
		}
	}
	if got := folders(); len(got) != 0 {
		t.Fatalf("refused forms created folders: %v", got)
	}
	p := b.do(http.MethodPost, "/app/folder/0/folders", url.Values{"name": {"Talks"}, "csrf": {csrf}}, "Sec-Fetch-Site", "same-origin", "Origin", lb.URL)
	if p.Status != http.StatusSeeOther || !slices.Equal(folders(), []string{"Talks"}) {
		t.Fatalf("a genuine form: %d, folders %v", p.Status, folders())
	}

	// A login form posted without its cookie (from another site) logs nobody in.
	nb := newBrowser(t, lb)
	form := nb.get("/app/login")
	nb.c.Jar, _ = cookiejar.New(nil)
	p = nb.do(http.MethodPost, "/app/login", url.Values{"csrf": {form.find(t, csrfField)}, "password": {consolePassword}})
	if p.Status != http.StatusForbidden || cookieNamed(p.Header, "localbox_console") != nil {
		t.Errorf("login without the form cookie: %d %v", p.Status, p.Header["Set-Cookie"])
	}

	// The page's upload token uploads into its folder and nowhere else;
	// the API ignores the session cookie.
	upTok := folder.find(t, `data-upload-token="([^"]+)"`)
	talks := getJSON(t, lb.URL+"/2.0/folders/0/items", tok).json(t)["entries"].([]any)[0].(map[string]any)["id"].(string)
	ct, body := multipartBody(t, "attributes", attrsJSON("a.txt", "0"), "file", "hello")
	call(t, http.MethodPost, lb.UploadURL+"/2.0/files/content", upTok, ct, body).wantStatus(t, http.StatusCreated)
	ct, body = multipartBody(t, "attributes", attrsJSON("b.txt", talks), "file", "hello")
	call(t, http.MethodPost, lb.UploadURL+"/2.0/files/content", upTok, ct, body).wantError(t, http.StatusNotFound, "not_found")
	other := lb.UploadFile(t, talks, "c.txt", []byte("c"))
	getJSON(t, lb.URL+"/2.0/files/"+other.ID, upTok).wantError(t, http.StatusNotFound, "not_found")
	ct, body = multipartBody(t, "attributes", attrsJSON("d.txt", "0"), "file", "hello")
	cookie := b.c.Jar.Cookies(mustURL(t, lb.URL+"/app/"))
	if len(cookie) == 0 {
		t.Fatal("no session cookie in the jar")
	}
	call(t, http.MethodPost, lb.UploadURL+"/2.0/files/content", "", ct, body, header("Cookie", cookie[0].String())).
		wantError(t, http.StatusUnauthorized, "unauthorized")

	// Logging out needs the token too; then the session and its tokens are gone.
	if p := b.do(http.MethodPost, "/app/logout", url.Values{}); p.Status != http.StatusForbidden {
		t.Fatalf("logout without token: %d", p.Status)
	}
	b.get("/app/folder/0").want(t, http.StatusOK)
	b.do(http.MethodPost, "/app/logout", url.Values{"csrf": {csrf}}).want(t, http.StatusSeeOther)
	if p := b.get("/app/folder/0"); p.Status != http.StatusSeeOther {
		t.Fatalf("after logout: %d", p.Status)
	}
	if p := b.get("/app/folder/0/rows"); p.Status != http.StatusUnauthorized {
		t.Fatalf("fragment after logout: %d", p.Status)
	}
	ct, body = multipartBody(t, "attributes", attrsJSON("e.txt", "0"), "file", "hello")
	call(t, http.MethodPost, lb.UploadURL+"/2.0/files/content", upTok, ct, body).wantError(t, http.StatusUnauthorized, "unauthorized")
}

// otherToken is tok with its first character changed.
func otherToken(tok string) string {
	if tok[0] == 'x' {
		return "y" + tok[1:]
	}
	return "x" + tok[1:]
}

// newSessionCSRF logs another browser in and returns its form token.
func newSessionCSRF(t testing.TB, lb *localboxtest.Server) string {
	t.Helper()
	b := newBrowser(t, lb)
	b.login(consolePassword).want(t, http.StatusSeeOther)
	return b.get("/app/folder/0").want(t, http.StatusOK).find(t, csrfField)
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// hostile is card text that would run script if it reached the page as markup.
var hostile = []string{
	`<script>window.pwned=1</script>`,
	`"><img src=x onerror="window.pwned=2">`,
	`</svg><svg onload=window.pwned=3>`,
	`javascript:window.pwned=4`,
	`' onmouseover='window.pwned=5`,
	`{{.}} </textarea></title><iframe src=//evil.example>`,
}

// hostileCards puts every hostile string into every kind of card text.
func hostileCards() []box.Card {
	var entries []box.CardEntry
	var words []string
	for i, h := range hostile {
		entries = append(entries, box.CardEntry{Text: h, Appears: []box.Appearance{box.Span(i*5, i*5+3)}})
		words = append(words, h)
	}
	meta := func(title string) box.CardMeta { return titled(title, "<b>"+title+"</b>") }
	transcript := make([]box.CardEntry, len(entries))
	for i, e := range entries {
		transcript[i] = box.CardEntry{Text: e.Text, Appears: []box.Appearance{box.At(e.Appears[0].Start)}}
	}
	return []box.Card{
		box.NewTranscriptCard(meta(hostile[0]), 60, transcript),
		box.NewKeywordCard(meta(hostile[1]), words...),
		box.NewTimelineCard(meta(hostile[2]), 60, entries),
		box.NewStatusCard(meta(hostile[3]), box.StatusSuccess, strings.Join(hostile, " ")),
	}
}

// assertInert checks a console answer: no hostile string as markup, every
// one escaped, and no script but the console's own.
func assertInert(t *testing.T, what, body string, fragment bool) {
	t.Helper()
	for _, bad := range []string{"pwned=1</script>", "<img src=x", `"><img`, "<svg onload", "<iframe", `href="javascript:`, "onmouseover='"} {
		if strings.Contains(body, bad) {
			t.Errorf("%s: contains %q as markup", what, bad)
		}
	}
	for _, escaped := range []string{"&lt;script&gt;window.pwned=1&lt;/script&gt;", "&#34;&gt;&lt;img src=x onerror=&#34;window.pwned=2&#34;&gt;"} {
		if !strings.Contains(body, escaped) {
			t.Errorf("%s: lacks the escaped text %q", what, escaped)
		}
	}
	want := 1
	if fragment {
		want = 0
	}
	if n := strings.Count(strings.ToLower(body), "<script"); n != want {
		t.Errorf("%s: %d script elements, want %d (the console's own)", what, n, want)
	}
}

// TestConsoleEscapesHostileCards: card text, titles, status codes and
// messages, file and folder names are untrusted; they reach every page as
// text only.
func TestConsoleEscapesHostileCards(t *testing.T) {
	lb := startConsole(t)
	tok := lb.ParentToken(t)
	folder := lb.CreateFolder(t, "0", `<img src=x onerror="window.pwned=2"> folder`)
	f := lb.UploadFile(t, folder, `"><img src=x onerror="window.pwned=2">.mp4`, []byte("v"))
	putCards(t, lb, tok, f.ID, hostileCards())
	b := newBrowser(t, lb)
	b.login(consolePassword).want(t, http.StatusSeeOther)

	for _, c := range []struct {
		path     string
		fragment bool
	}{
		{"/app/folder/" + folder, false},
		{"/app/folder/" + folder + "/rows", true},
		{"/app/file/" + f.ID, false},
		{"/app/file/" + f.ID + "/cards", true},
		{"/app/search?q=" + url.QueryEscape("pwned OR img"), false},
	} {
		p := b.get(c.path).want(t, http.StatusOK)
		if c.path != "/app/folder/"+folder+"/rows" {
			assertInert(t, c.path, p.Body, c.fragment)
		} else if strings.Contains(p.Body, "<img src=x") || strings.Contains(p.Body, `"><img`) {
			t.Errorf("%s: the file name as markup", c.path)
		}
	}
	// The keyword chips link to a search, never to the keyword itself.
	p := b.get("/app/file/" + f.ID)
	for _, href := range regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(p.Body, -1) {
		if !strings.HasPrefix(href[1], "/") && !strings.HasPrefix(href[1], "http://temporal-ui.example:8233/") {
			t.Errorf("link off the console: %q", href[1])
		}
	}
}

// TestConsolePages: what the folder, file and search pages show.
func TestConsolePages(t *testing.T) {
	lb := startConsole(t)
	tok := lb.ParentToken(t)
	inbox := lb.CreateFolder(t, "0", "inbox")
	done := lb.UploadFile(t, inbox, "talk.mp4", []byte("0123456789"))
	busy := lb.UploadFile(t, inbox, "busy.wav", []byte("wav"))
	fresh := lb.UploadFile(t, inbox, "fresh.pdf", []byte("pdf"))
	putCards(t, lb, tok, done.ID, talkCards("welcome to the pangolin conference", "we discuss pricing"))
	putCards(t, lb, tok, busy.ID, []box.Card{box.NewStatusCard(testCardMeta, box.StatusProcessing, "Analysing.")})
	b := newBrowser(t, lb)
	b.login(consolePassword).want(t, http.StatusSeeOther)

	// The folder: items with their status; it refreshes while something is pending.
	p := b.get("/app/folder/"+inbox).want(t, http.StatusOK)
	for _, want := range []string{
		`<a href="/app/folder/0">All Files</a>`,
		`<a href="/app/file/` + done.ID + `">talk.mp4</a></td><td>10 B</td>`,
		`data-file-id="` + busy.ID + `"`,
		`data-status="success"`, `data-status="processing"`, `data-status="none"`, ">Waiting<",
		`data-refresh-url="/app/folder/` + inbox + `/rows?offset=0" data-refresh="on"`,
		`data-upload-url="/api/2.0/files/content"`, `data-folder-id="` + inbox + `"`,
	} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("folder page lacks %s", want)
		}
	}
	// The refreshed rows come in a table (an HTML parser drops a lone tbody).
	if p := b.get("/app/folder/"+inbox+"/rows").want(t, http.StatusOK); !strings.HasPrefix(p.Body, `<table><tbody id="items"`) ||
		!strings.Contains(p.Body, `data-status="processing"`) || strings.Contains(p.Body, "<html") {
		t.Errorf("rows fragment:\n%s", p.Body)
	}
	if p := b.get("/app/file/"+busy.ID+"/cards").want(t, http.StatusOK); !strings.HasPrefix(p.Body, `<section id="cards"`) ||
		!strings.Contains(p.Body, `data-refresh="on"`) {
		t.Errorf("cards fragment:\n%s", p.Body)
	}
	// Nothing comes from another origin: the console works offline.
	for _, ref := range regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(p.Body, -1) {
		if !strings.HasPrefix(ref[1], "/") {
			t.Errorf("folder page refers to %q", ref[1])
		}
	}
	for _, asset := range []struct{ path, ctype string }{{"/app/static/console.js", "text/javascript; charset=utf-8"}, {"/app/static/console.css", "text/css; charset=utf-8"}} {
		if p := b.get(asset.path).want(t, http.StatusOK); p.Header.Get("Content-Type") != asset.ctype || len(p.Body) < 500 {
			t.Errorf("%s: %q, %d bytes", asset.path, p.Header.Get("Content-Type"), len(p.Body))
		}
	}
	if p := b.get("/app/static/nothing.js"); p.Status != http.StatusNotFound {
		t.Errorf("unknown asset: %d", p.Status)
	}

	// The file: the player over the content endpoint, the cards, the
	// workflow link; it is not refreshing (success).
	p = b.get("/app/file/"+done.ID+"?t=12").want(t, http.StatusOK)
	wf := "http://temporal-ui.example:8233/namespaces/filesight-ns/workflows/" + workflows.WorkflowID(done.ID, done.VersionID)
	for _, want := range []string{
		`<video id="player" controls preload="metadata" src="/2.0/files/` + done.ID + `/content?access_token=`,
		`data-t="12"`,
		`<a class="workflow" href="` + wf + `"`,
		`<button type="button" class="line" data-start="3"><span class="stamp">0:03</span> <span class="text">welcome to the pangolin conference</span></button>`,
		`<li class="current"><button type="button" class="line" data-start="12">`,
		`<a class="chip" href="/app/search?q=%22pangolin%22">pangolin</a>`,
		`<span class="label">QUARTERLY NUMBERS</span>`,
		`<rect class="seg" x="333.3" y="0" width="83.3" height="12" data-start="20"`,
		`data-status="success"`, `Analysed: everything.`,
		`data-refresh-url="/app/file/` + done.ID + `/cards" data-refresh="off"`,
	} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("file page lacks %s", want)
		}
	}
	// The player's token reads this file's content, with ranges, and nothing else.
	media := p.find(t, `<video id="player" controls preload="metadata" src="([^"]+)"`)
	media = strings.ReplaceAll(media, "&amp;", "&")
	r := call(t, http.MethodGet, lb.URL+media, "", "", nil, header("Range", "bytes=2-5"))
	if r.Status != http.StatusPartialContent || string(r.Body) != "2345" || r.Header.Get("Content-Range") != "bytes 2-5/10" || r.Header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("ranged read with the player's token: %d %q %q", r.Status, r.Body, r.Header.Get("Content-Range"))
	}
	playerTok := mustURL(t, media).Query().Get("access_token")
	getJSON(t, lb.URL+"/2.0/files/"+busy.ID+"/content", playerTok).wantError(t, http.StatusNotFound, "not_found")
	call(t, http.MethodDelete, lb.URL+"/2.0/files/"+done.ID, playerTok, "", nil).wantError(t, http.StatusForbidden, "insufficient_scope")

	if p := b.get("/app/file/"+busy.ID).want(t, http.StatusOK); !strings.Contains(p.Body, `<audio id="player"`) ||
		!strings.Contains(p.Body, `data-refresh="on"`) || !strings.Contains(p.Body, "Analysing.") {
		t.Errorf("a processing audio file:\n%s", p.Body)
	}
	if p := b.get("/app/file/"+fresh.ID).want(t, http.StatusOK); !strings.Contains(p.Body, "No preview for this kind of file.") {
		t.Errorf("a pdf:\n%s", p.Body)
	}

	// Search: results link to the file and to the moment of each hit.
	p = b.get("/app/search?q=pricing").want(t, http.StatusOK)
	for _, want := range []string{
		"1 result for <q>pricing</q>",
		`<a class="name" href="/app/file/` + done.ID + `">talk.mp4</a> <span class="path">All Files / inbox</span>`,
		`<a class="moment" href="/app/file/` + done.ID + `?t=12"><span class="where">Transcript 0:12</span></a> <span class="text">we discuss pricing</span>`,
		`<span class="where">Keywords</span> <span class="text">pricing</span>`,
	} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("search page lacks %s\n%s", want, p.Body)
		}
	}
	if p := b.get("/app/search?q=" + url.QueryEscape("NOT pricing")); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "cannot be searched") {
		t.Errorf("bad query: %d", p.Status)
	}
	if p := b.get("/app/search").want(t, http.StatusOK); strings.Contains(p.Body, "result") {
		t.Errorf("empty search shows results")
	}

	for _, path := range []string{"/app/file/999", "/app/file/" + inbox, "/app/folder/" + done.ID, "/app/folder/x", "/app/elsewhere"} {
		if p := b.get(path); p.Status != http.StatusNotFound || !strings.Contains(p.Body, "There is nothing here.") {
			t.Errorf("%s: %d", path, p.Status)
		}
	}
}

// TestConsoleKeepsSecretsOutOfTheLog: passwords (right and wrong), the
// session cookie, form tokens and the pages' access tokens never reach the
// log, while the logins and refusals do.
func TestConsoleKeepsSecretsOutOfTheLog(t *testing.T) {
	var buf testutil.SyncBuffer
	lb := startConsole(t, localboxtest.WithLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	f := lb.UploadFile(t, "0", "talk.mp4", []byte("0123456789"))
	b := newBrowser(t, lb)
	wrong := "wrong-password-" + consolePassword
	b.login(wrong).want(t, http.StatusUnauthorized)
	login := b.login(consolePassword).want(t, http.StatusSeeOther)
	session := cookieNamed(login.Header, "localbox_console").Value
	folder := b.get("/app/folder/0").want(t, http.StatusOK)
	csrf := folder.find(t, csrfField)
	upload := folder.find(t, `data-upload-token="([^"]+)"`)
	file := b.get("/app/file/"+f.ID).want(t, http.StatusOK)
	player := file.find(t, `access_token=([A-Za-z0-9]+)`)
	call(t, http.MethodGet, lb.URL+"/2.0/files/"+f.ID+"/content?access_token="+player, "", "", nil).wantStatus(t, http.StatusOK)
	b.do(http.MethodPost, "/app/folder/0/folders", url.Values{"name": {"x"}, "csrf": {otherToken(csrf)}}).want(t, http.StatusForbidden)
	b.do(http.MethodPost, "/app/logout", url.Values{"csrf": {csrf}}).want(t, http.StatusSeeOther)
	lb.Close()

	logs := buf.String()
	for _, want := range []string{"console login refused: wrong password", `"msg":"console login"`, "console form refused: missing or wrong CSRF token", "/app/file/"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	for name, s := range map[string]string{"console password": consolePassword, "wrong password": wrong, "session cookie": session,
		"form token": csrf, "upload token": upload, "player token": player, "admin key": lb.AdminKey.Reveal()} {
		if strings.Contains(logs, s) {
			t.Errorf("the log contains the %s", name)
		}
	}
}

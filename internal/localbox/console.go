package localbox

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"filesight/internal/secret"
)

// The web console under /app/ (paths as in Box's web app: /app/folder/{id},
// /app/file/{id}): folders with the processing status of their files,
// uploads through the real upload API, a file's preview with its Skills
// cards rendered as Box renders them, and search. Pages are rendered on
// the server with html/template; a little plain JavaScript (embedded, like
// the style sheet: the console needs nothing from the network) seeks the
// player, refreshes what is still processing and uploads.
//
// Access: a login with LOCALBOX_CONSOLE_PASSWORD or LOCALBOX_ADMIN_KEY
// starts a session (console_session.go). Pages never hold the password or
// a token that reaches beyond what the page shows: the player gets a
// download token for its one file, the upload form an upload token for its
// one folder, both short-lived and revoked at logout.

// ConsoleConfig configures the web console. Its zero value is the default.
type ConsoleConfig struct {
	// Password logs in to the console (as does the admin key). It must be
	// at least 32 bytes long. With neither set, nobody can log in.
	Password secret.String `env:"LOCALBOX_CONSOLE_PASSWORD"`
	// SessionTTL is how long a login lasts (default 8h).
	SessionTTL time.Duration `env:"LOCALBOX_CONSOLE_SESSION_TTL, default=8h"`
	// TemporalUIURL is the base URL of the Temporal UI; a file's page links
	// to its workflow there. Empty leaves the link out.
	TemporalUIURL string `env:"LOCALBOX_CONSOLE_TEMPORAL_UI_URL"`
	// TemporalNamespace is the namespace of filesight's workflows (default "default").
	TemporalNamespace string `env:"LOCALBOX_CONSOLE_TEMPORAL_NAMESPACE, default=default"`
}

// minConsolePassword is the shortest console password accepted.
const minConsolePassword = 32

func (c *ConsoleConfig) validate() []error {
	var errs []error
	if !c.Password.IsZero() && len(c.Password.Reveal()) < minConsolePassword {
		errs = append(errs, fmt.Errorf("LOCALBOX_CONSOLE_PASSWORD is shorter than %d bytes", minConsolePassword))
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = 8 * time.Hour
	}
	if c.SessionTTL < time.Minute {
		errs = append(errs, fmt.Errorf("LOCALBOX_CONSOLE_SESSION_TTL %s is shorter than 1m", c.SessionTTL))
	}
	if c.TemporalNamespace == "" {
		c.TemporalNamespace = "default"
	}
	c.TemporalUIURL = strings.TrimRight(c.TemporalUIURL, "/")
	if c.TemporalUIURL != "" {
		if u, err := url.Parse(c.TemporalUIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("LOCALBOX_CONSOLE_TEMPORAL_UI_URL %q is not an absolute http(s) URL", c.TemporalUIURL))
		}
	}
	return errs
}

//go:embed console
var consoleFiles embed.FS

// consoleCSP allows the console's own scripts, styles, media and requests
// and nothing else: no inline script or style, no plug-ins, no framing, and
// DOM sinks only through the console's Trusted Types policy.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; " +
	"require-trusted-types-for 'script'; trusted-types console"

// console serves /app/.
type console struct {
	s        *Server
	pages    map[string]*template.Template
	static   fs.FS
	sessions *sessionStore
	// logins throttles login attempts per client address.
	logins *rateLimiter
	// crossOrigin refuses state-changing requests a browser sends from
	// another origin (Sec-Fetch-Site, Origin); the forms' tokens do the rest.
	crossOrigin *http.CrossOriginProtection
}

// consoleHandler is a console page or action; sess is nil on the login pages.
type consoleHandler func(w http.ResponseWriter, r *http.Request, sess *session) error

// consoleError is an error shown to the person as a page with a fixed message.
type consoleError struct {
	status int
	msg    string
}

func (e *consoleError) Error() string { return fmt.Sprintf("%d: %s", e.status, e.msg) }

func consoleErr(status int, msg string) *consoleError { return &consoleError{status, msg} }

var errConsoleNotFound = consoleErr(http.StatusNotFound, "There is nothing here. The item may have been deleted.")

func newConsole(s *Server) *console {
	static, err := fs.Sub(consoleFiles, "console/static")
	if err != nil {
		panic(err) // the embedded tree is part of the program
	}
	return &console{
		s:           s,
		pages:       parseConsoleTemplates(),
		static:      static,
		sessions:    newSessionStore(),
		logins:      newRateLimiter(0.2, 10),
		crossOrigin: http.NewCrossOriginProtection(),
	}
}

// consoleRoutes registers the console's routes on mux.
func (s *Server) consoleRoutes(mux *http.ServeMux) {
	c := newConsole(s)
	page := func(pattern string, h consoleHandler) { mux.Handle(pattern, c.wrap(c.authed(h, false))) }
	fragment := func(pattern string, h consoleHandler) { mux.Handle(pattern, c.wrap(c.authed(h, true))) }
	form := func(pattern string, h consoleHandler) { mux.Handle(pattern, c.wrap(c.authed(c.checkForm(h), false))) }

	mux.Handle("GET /app", http.RedirectHandler("/app/", http.StatusMovedPermanently))
	page("GET /app/{$}", func(w http.ResponseWriter, r *http.Request, _ *session) error {
		http.Redirect(w, r, "/app/folder/0", http.StatusSeeOther)
		return nil
	})
	mux.Handle("GET /app/login", c.wrap(c.loginPage))
	mux.Handle("POST /app/login", c.wrap(c.login))
	form("POST /app/logout", c.logout)
	page("GET /app/folder/{id}", c.folderPage)
	fragment("GET /app/folder/{id}/rows", c.folderRows)
	form("POST /app/folder/{id}/folders", c.createFolder)
	page("GET /app/file/{id}", c.filePage)
	fragment("GET /app/file/{id}/cards", c.fileCards)
	page("GET /app/search", c.searchPage)
	mux.Handle("GET /app/static/{name}", c.wrap(c.staticFile))
	mux.Handle("/app/", c.wrap(func(http.ResponseWriter, *http.Request, *session) error { return errConsoleNotFound }))
}

// wrap sets the console's security headers and renders errors as pages.
func (c *console) wrap(h consoleHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", consoleCSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		err := h(w, r, nil)
		if err == nil {
			return
		}
		var ce *consoleError
		if !errors.As(err, &ce) {
			var ae *apiError
			switch {
			case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
				ce = errConsoleNotFound
			case errors.As(err, &ae) && ae.Status < 500:
				ce = consoleErr(ae.Status, ae.Message)
			default:
				c.s.log.ErrorContext(r.Context(), "console request failed", "method", r.Method, "path", r.URL.Path,
					"request_id", requestID(r.Context()), "error", err)
				ce = consoleErr(http.StatusInternalServerError, "Something went wrong. The details are in localbox's log.")
			}
		}
		c.render(w, r, ce.status, "error", &errorView{layoutView: layoutView{Title: http.StatusText(ce.status)}, Message: ce.msg})
	})
}

// render executes a page template; fragments are pages too (their
// template is the fragment alone).
func (c *console) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	t := c.pages[name]
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, name, data); err != nil {
		c.s.log.ErrorContext(r.Context(), "rendering console page failed", "page", name, "request_id", requestID(r.Context()), "error", err)
		http.Error(w, "Something went wrong. The details are in localbox's log.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, b.String())
}

func (c *console) staticFile(w http.ResponseWriter, r *http.Request, _ *session) error {
	b, err := fs.ReadFile(c.static, r.PathValue("name"))
	if err != nil {
		return errConsoleNotFound
	}
	name := r.PathValue("name")
	w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
	return nil
}

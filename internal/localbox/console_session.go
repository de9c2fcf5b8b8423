package localbox

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Console sessions, CSRF protection and the API tokens pages use.
//
//   - A login starts a session: a random 256-bit ID in a cookie that is
//     HttpOnly, SameSite=Strict, limited to /app, Secure when localbox is
//     served over https, and expiring with the session
//     (LOCALBOX_CONSOLE_SESSION_TTL). Sessions live in memory: a restart
//     logs everybody out. Only the ID's SHA-256 is kept.
//   - Every form that changes something carries the session's CSRF token
//     (compared in constant time), and is refused when the browser says it
//     comes from another origin (net/http's CrossOriginProtection). The
//     login form has its own token, in a cookie and in the form (double
//     submit), so nobody can log a browser in behind its user's back.
//     Login attempts are throttled per client address.
//   - Uploads go from the page to the real upload API with an access token
//     restricted to the folder shown (item_upload), so the API never looks
//     at cookies and a request forged by another site carries no
//     credential; the player streams from the real content endpoint with a
//     token restricted to its file (item_download). Both expire with the
//     session (at most LOCALBOX_TOKEN_TTL) and are revoked at logout; the
//     admin API lists them like other downscoped tokens.

const (
	sessionCookie = "localbox_console"
	loginCookie   = "localbox_console_login"
	// maxSessions bounds the sessions kept; the one expiring first goes.
	maxSessions = 1000
	// loginFormTTL is how long a login form stays valid.
	loginFormTTL = time.Hour
	// minTokenLeft: a cached page token with less time left is replaced.
	minTokenLeft = 10 * time.Minute
	// formMaxBytes bounds a console form's body.
	formMaxBytes = 64 << 10
)

// session is one login.
type session struct {
	csrf string
	// marker is the parent_hash of the API tokens minted for the session,
	// so that logging out revokes them all.
	marker  string
	expires time.Time

	mu     sync.Mutex
	tokens map[string]mintedToken
}

type mintedToken struct {
	value   string
	expires time.Time
}

type sessionStore struct {
	mu sync.Mutex
	m  map[string]*session // by SHA-256 of the cookie value
}

func newSessionStore() *sessionStore { return &sessionStore{m: map[string]*session{}} }

// randomSecret returns 256 random bits, base64url.
func randomSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create starts a session and returns the cookie value that names it.
func (st *sessionStore) create(now time.Time, ttl time.Duration) (string, *session) {
	id := randomSecret()
	sess := &session{csrf: randomSecret(), marker: hashToken("console-session:" + randomSecret()), expires: now.Add(ttl), tokens: map[string]mintedToken{}}
	st.mu.Lock()
	defer st.mu.Unlock()
	for k, s := range st.m {
		if !now.Before(s.expires) {
			delete(st.m, k)
		}
	}
	if len(st.m) >= maxSessions {
		var first string
		for k, s := range st.m {
			if first == "" || s.expires.Before(st.m[first].expires) {
				first = k
			}
		}
		delete(st.m, first)
	}
	st.m[hashToken(id)] = sess
	return id, sess
}

// get returns the live session a cookie value names, or nil.
func (st *sessionStore) get(id string, now time.Time) *session {
	if id == "" {
		return nil
	}
	k := hashToken(id)
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.m[k]
	if s != nil && !now.Before(s.expires) {
		delete(st.m, k)
		return nil
	}
	return s
}

func (st *sessionStore) delete(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.m, hashToken(id))
}

// sameSecret compares got with a configured secret in constant time; an
// unset secret matches nothing.
func sameSecret(got, want string) bool {
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// secure reports whether cookies must be Secure: the request came over
// TLS, or localbox is published under https (behind a proxy).
func (c *console) secure(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(c.s.cfg.PublicURL, "https://")
}

func (c *console) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, ttl time.Duration) {
	ck := &http.Cookie{Name: name, Value: value, Path: path, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.secure(r)}
	if ttl > 0 {
		ck.MaxAge = int(ttl / time.Second)
		ck.Expires = c.s.now().Add(ttl)
	} else {
		ck.MaxAge = -1
	}
	http.SetCookie(w, ck)
}

func cookieValue(r *http.Request, name string) string {
	ck, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return ck.Value
}

func (c *console) currentSession(r *http.Request) *session {
	return c.sessions.get(cookieValue(r, sessionCookie), c.s.now())
}

// authed runs h with the request's session. Without one, a page goes to
// the login page (and back after it); a fragment or a form answers 401.
func (c *console) authed(h consoleHandler, fragment bool) consoleHandler {
	return func(w http.ResponseWriter, r *http.Request, _ *session) error {
		sess := c.currentSession(r)
		if sess != nil {
			return h(w, r, sess)
		}
		if fragment || r.Method != http.MethodGet {
			return consoleErr(http.StatusUnauthorized, "Your session has ended. Log in again.")
		}
		http.Redirect(w, r, "/app/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return nil
	}
}

const msgFormRefused = "This form did not come from this console, or it has expired. Reload the page and try again."

// checkForm guards a state-changing form: same origin, and the session's
// CSRF token in the form.
func (c *console) checkForm(h consoleHandler) consoleHandler {
	return func(w http.ResponseWriter, r *http.Request, sess *session) error {
		if err := c.readForm(w, r); err != nil {
			return err
		}
		if !sameSecret(r.PostForm.Get("csrf"), sess.csrf) {
			c.s.log.InfoContext(r.Context(), "console form refused: missing or wrong CSRF token", "path", r.URL.Path, "request_id", requestID(r.Context()))
			return consoleErr(http.StatusForbidden, msgFormRefused)
		}
		return h(w, r, sess)
	}
}

// readForm refuses cross-origin posts and parses a bounded form body.
func (c *console) readForm(w http.ResponseWriter, r *http.Request) error {
	if err := c.crossOrigin.Check(r); err != nil {
		c.s.log.InfoContext(r.Context(), "console form refused: cross-origin request", "path", r.URL.Path, "request_id", requestID(r.Context()))
		return consoleErr(http.StatusForbidden, msgFormRefused)
	}
	r.Body = http.MaxBytesReader(w, r.Body, formMaxBytes)
	if err := r.ParseForm(); err != nil {
		return consoleErr(http.StatusBadRequest, "The form could not be read.")
	}
	return nil
}

// localNext is where to go after the login: a console path, never
// another site.
func localNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/app/") ||
		strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") || strings.HasPrefix(u.Path, "/app/login") {
		return "/app/folder/0"
	}
	return u.RequestURI()
}

type loginView struct {
	layoutView
	FormCSRF string
	Next     string
	Error    string
	Disabled bool
}

func (c *console) loginDisabled() bool {
	return c.s.cfg.Console.Password.IsZero() && c.s.cfg.AdminKey.IsZero()
}

// showLogin renders the login form with a fresh form token.
func (c *console) showLogin(w http.ResponseWriter, r *http.Request, status int, next, msg string) {
	tok := randomSecret()
	c.setCookie(w, r, loginCookie, tok, "/app/login", loginFormTTL)
	c.render(w, r, status, "login", &loginView{layoutView: layoutView{Title: "Log in"}, FormCSRF: tok, Next: localNext(next), Error: msg, Disabled: c.loginDisabled()})
}

func (c *console) loginPage(w http.ResponseWriter, r *http.Request, _ *session) error {
	next := r.URL.Query().Get("next")
	if c.currentSession(r) != nil {
		http.Redirect(w, r, localNext(next), http.StatusSeeOther)
		return nil
	}
	c.showLogin(w, r, http.StatusOK, next, "")
	return nil
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (c *console) login(w http.ResponseWriter, r *http.Request, _ *session) error {
	if err := c.readForm(w, r); err != nil {
		return err
	}
	next := r.PostForm.Get("next")
	if !sameSecret(r.PostForm.Get("csrf"), cookieValue(r, loginCookie)) {
		c.s.log.InfoContext(r.Context(), "console login refused: missing or wrong form token", "request_id", requestID(r.Context()))
		c.showLogin(w, r, http.StatusForbidden, next, "The login form expired. Try again.")
		return nil
	}
	c.logins.prune(c.s.now())
	if ok, wait := c.logins.allow(clientAddr(r), c.s.now()); !ok {
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		c.showLogin(w, r, http.StatusTooManyRequests, next, fmt.Sprintf("Too many login attempts. Try again in %d seconds.", secs))
		return nil
	}
	if c.loginDisabled() {
		c.showLogin(w, r, http.StatusForbidden, next, "")
		return nil
	}
	pw := r.PostForm.Get("password")
	// Both comparisons always run, in constant time.
	okPassword := sameSecret(pw, c.s.cfg.Console.Password.Reveal())
	okAdmin := sameSecret(pw, c.s.cfg.AdminKey.Reveal())
	if !okPassword && !okAdmin {
		c.s.log.InfoContext(r.Context(), "console login refused: wrong password", "client", clientAddr(r), "request_id", requestID(r.Context()))
		c.showLogin(w, r, http.StatusUnauthorized, next, "Wrong password.")
		return nil
	}
	id, _ := c.sessions.create(c.s.now(), c.s.cfg.Console.SessionTTL)
	c.setCookie(w, r, sessionCookie, id, "/app", c.s.cfg.Console.SessionTTL)
	c.setCookie(w, r, loginCookie, "", "/app/login", 0)
	c.s.log.InfoContext(r.Context(), "console login", "client", clientAddr(r), "with", map[bool]string{true: "console password", false: "admin key"}[okPassword],
		"request_id", requestID(r.Context()))
	http.Redirect(w, r, localNext(next), http.StatusSeeOther)
	return nil
}

func (c *console) logout(w http.ResponseWriter, r *http.Request, sess *session) error {
	if _, err := c.s.store.w.ExecContext(r.Context(), `UPDATE tokens SET revoked_at = ? WHERE parent_hash = ? AND revoked_at IS NULL`,
		millis(c.s.now()), sess.marker); err != nil {
		return fmt.Errorf("revoking the session's tokens: %w", err)
	}
	c.sessions.delete(cookieValue(r, sessionCookie))
	c.setCookie(w, r, sessionCookie, "", "/app", 0)
	http.Redirect(w, r, "/app/login", http.StatusSeeOther)
	return nil
}

// apiToken returns an access token for the page: scope on the one item
// (typ, id), expiring with the session (at most LOCALBOX_TOKEN_TTL). A
// session reuses its tokens while they have time left.
func (c *console) apiToken(ctx context.Context, sess *session, scope, typ string, id int64) (string, error) {
	key := scope + " " + typ + " " + idString(id)
	now := c.s.now()
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if t, ok := sess.tokens[key]; ok && t.expires.Sub(now) > minTokenLeft {
		return t.value, nil
	}
	exp := now.Add(c.s.cfg.TokenTTL)
	if sess.expires.Before(exp) {
		exp = sess.expires
	}
	tok := newToken()
	resURL := c.s.cfg.PublicURL + "/2.0/" + typ + "s/" + idString(id)
	if _, err := c.s.store.w.ExecContext(ctx, `INSERT INTO tokens(hash, parent_hash, user_id, scopes, resource_type, resource_id, resource_url, issued_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, hashToken(tok), sess.marker, c.s.user.ID, scope, typ, idString(id), resURL, millis(now), millis(exp)); err != nil {
		return "", fmt.Errorf("issuing a console token: %w", err)
	}
	sess.tokens[key] = mintedToken{value: tok, expires: exp}
	return tok, nil
}

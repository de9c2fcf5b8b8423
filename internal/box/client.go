package box

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"filesight/internal/boundedio"
	"filesight/internal/secret"
)

// Default base URLs of Box's cloud service.
const (
	DefaultAPIURL    = "https://api.box.com"
	DefaultUploadURL = "https://upload.box.com/api"
)

// Config configures a Client.
type Config struct {
	// APIURL serves /oauth2/* and /2.0/*; UploadURL serves /2.0/files/content
	// uploads. No trailing slash. Box: https://api.box.com and
	// https://upload.box.com/api; localbox serves both at one address
	// (APIURL http://127.0.0.1:8700, UploadURL http://127.0.0.1:8700/api).
	APIURL, UploadURL string
	// The Box app's OAuth2 credentials (Client Credentials Grant).
	ClientID     string
	ClientSecret secret.String
	// SubjectType is "enterprise" (SubjectID = enterprise ID, the app's
	// service account) or "user" (SubjectID = user ID).
	SubjectType, SubjectID string
	// HTTPClient defaults to a client without an overall timeout (downloads
	// stream for as long as they need; use contexts for deadlines).
	HTTPClient *http.Client
	// Logger defaults to slog.Default(). Request headers are never logged.
	Logger *slog.Logger
}

// EnvConfig is the environment form of Config, for programs that load
// settings with internal/config (every variable also accepts NAME_FILE).
type EnvConfig struct {
	APIURL       string        `env:"BOX_API_URL, default=https://api.box.com"`
	UploadURL    string        `env:"BOX_UPLOAD_URL, default=https://upload.box.com/api"`
	ClientID     string        `env:"BOX_CLIENT_ID"`
	ClientSecret secret.String `env:"BOX_CLIENT_SECRET"`
	SubjectType  string        `env:"BOX_SUBJECT_TYPE, default=enterprise"`
	SubjectID    string        `env:"BOX_SUBJECT_ID"`
}

// Config converts to a Config with the given HTTP client and logger (either may be nil).
func (e EnvConfig) Config(hc *http.Client, log *slog.Logger) Config {
	return Config{
		APIURL: e.APIURL, UploadURL: e.UploadURL, ClientID: e.ClientID, ClientSecret: e.ClientSecret,
		SubjectType: e.SubjectType, SubjectID: e.SubjectID, HTTPClient: hc, Logger: log,
	}
}

// Client calls the Box API. It is safe for concurrent use.
type Client struct {
	cfg  Config
	hc   *http.Client
	log  *slog.Logger
	now  func() time.Time
	auth parentCache
}

// NewClient checks cfg and returns a Client. It makes no request: the parent
// token is fetched on first use.
func NewClient(cfg Config) (*Client, error) {
	var problems []string
	for name, v := range map[string]*string{"APIURL": &cfg.APIURL, "UploadURL": &cfg.UploadURL} {
		*v = strings.TrimRight(*v, "/")
		u, err := url.Parse(*v)
		if *v == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			problems = append(problems, name+" must be an absolute http(s) URL")
		} else if u.RawQuery != "" || u.Fragment != "" {
			problems = append(problems, name+" must not have a query or fragment")
		}
	}
	if cfg.ClientID == "" {
		problems = append(problems, "ClientID is required")
	}
	if cfg.ClientSecret.IsZero() {
		problems = append(problems, "ClientSecret is required")
	}
	if cfg.SubjectType != "enterprise" && cfg.SubjectType != "user" {
		problems = append(problems, `SubjectType must be "enterprise" or "user"`)
	}
	if cfg.SubjectID == "" {
		problems = append(problems, "SubjectID is required")
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return nil, fmt.Errorf("box: invalid config: %s", strings.Join(problems, "; "))
	}
	c := &Client{cfg: cfg, log: cfg.Logger, now: time.Now}
	// A shallow copy, so the redirect policy below does not change the
	// caller's client.
	hc := http.Client{}
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	if hc.CheckRedirect == nil {
		hc.CheckRedirect = checkRedirect
	}
	c.hc = &hc
	if c.log == nil {
		c.log = slog.Default()
	}
	return c, nil
}

// APIURL returns the configured API base URL.
func (c *Client) APIURL() string { return c.cfg.APIURL }

// UploadURL returns the configured upload base URL.
func (c *Client) UploadURL() string { return c.cfg.UploadURL }

// FileContentURL is the download URL of a file: APIURL/2.0/files/{id}/content.
// A holder of a token may add ?access_token=... (Box accepts it there) to
// hand the URL to a service that cannot set headers.
func (c *Client) FileContentURL(fileID string) string {
	return c.cfg.APIURL + "/2.0/files/" + url.PathEscape(fileID) + "/content"
}

// FileResourceURL is the resource a downscoped token is restricted to:
// APIURL/2.0/files/{id}.
func (c *Client) FileResourceURL(fileID string) string {
	return c.cfg.APIURL + "/2.0/files/" + url.PathEscape(fileID)
}

// checkRedirect follows up to 10 redirects (Box sends downloads to
// dl.boxcloud.com) and never carries the Authorization header to another
// origin, port included: the redirect target is pre-signed.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	first := via[0].URL
	if req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
		req.Header.Del("Authorization")
	}
	return nil
}

// request describes one call to Box.
type request struct {
	op      string // for errors and logs, without IDs' secrets: "GET /2.0/files/{id}"
	method  string
	url     string
	token   secret.String              // "" → the parent token
	noAuth  bool                       // OAuth2 endpoints authenticate in the form
	body    []byte                     // replayable body
	stream  func() (io.Reader, func()) // non-replayable body: reader and a cleanup run after the call
	ctype   string
	accept  []int // success statuses
	header  http.Header
	secrets []string // values to redact from error messages (besides the token)
}

// do sends r and returns the open response for an accepted status, or a
// *Error (body closed). A 401 answered to the parent token clears the cache
// and, when the body can be replayed, the call is retried once with a fresh
// parent token.
func (c *Client) do(ctx context.Context, r request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		tok := r.token
		usedParent := false
		if !r.noAuth && tok.IsZero() {
			var err error
			if tok, err = c.ParentToken(ctx); err != nil {
				return nil, err
			}
			usedParent = true
		}
		resp, err := c.send(ctx, r, tok)
		if err == nil {
			return resp, nil
		}
		e, ok := AsError(err)
		if !ok || e.StatusCode != http.StatusUnauthorized || !usedParent {
			return nil, err
		}
		c.auth.invalidate(tok)
		if r.stream != nil || attempt > 0 {
			if r.stream != nil {
				e.staleParent = true
			}
			return nil, err
		}
		c.log.InfoContext(ctx, "box: parent token refused, refreshing once", "op", r.op, "request_id", e.RequestID)
	}
}

func (c *Client) send(ctx context.Context, r request, tok secret.String) (*http.Response, error) {
	var body io.Reader
	var cleanup func()
	if r.stream != nil {
		body, cleanup = r.stream()
	} else if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	if cleanup != nil {
		defer cleanup()
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return nil, &Error{Op: r.op, Err: errors.New("building request: invalid URL or method")}
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	if !tok.IsZero() {
		req.Header.Set("Authorization", "Bearer "+tok.Reveal())
	}
	start := c.now()
	resp, err := c.hc.Do(req)
	if err != nil {
		e := networkError(r.op, err)
		if ctx.Err() != nil && !errors.Is(e.Err, ctx.Err()) {
			e.Err = fmt.Errorf("%w (%v)", ctx.Err(), e.Err)
		}
		c.log.DebugContext(ctx, "box call failed", "op", r.op, "error", e.Error(), "elapsed", c.now().Sub(start))
		return nil, e
	}
	if slices.Contains(r.accept, resp.StatusCode) {
		c.log.DebugContext(ctx, "box call", "op", r.op, "status", resp.StatusCode, "request_id", resp.Header.Get("box-request-id"), "elapsed", c.now().Sub(start))
		return resp, nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()
	e := responseError(r.op, resp, b, append([]string{tok.Reveal(), c.cfg.ClientSecret.Reveal()}, r.secrets...)...)
	c.log.DebugContext(ctx, "box call refused", "op", r.op, "status", e.StatusCode, "code", e.Code, "request_id", e.RequestID, "elapsed", c.now().Sub(start))
	return nil, e
}

// maxJSONBody bounds JSON answers (a folder page, a metadata instance with
// an hour of transcript cards is a few MB).
const maxJSONBody = 64 << 20

// doJSON sends r and decodes a JSON answer into out (unless out is nil).
func (c *Client) doJSON(ctx context.Context, r request, out any) error {
	resp, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	dec := json.NewDecoder(&boundedio.Reader{R: resp.Body, N: maxJSONBody, Err: errAnswerTooLarge})
	if err := dec.Decode(out); err != nil {
		if errors.Is(err, errAnswerTooLarge) {
			return &Error{StatusCode: resp.StatusCode, Op: r.op, Code: "invalid_response",
				Message: fmt.Sprintf("answer is larger than %d bytes", maxJSONBody), RequestID: resp.Header.Get("box-request-id")}
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || isNetErr(err) {
			return networkError(r.op, fmt.Errorf("reading answer: %w", err))
		}
		return &Error{StatusCode: resp.StatusCode, Op: r.op, Code: "invalid_response", Message: "answer is not the expected JSON: " + err.Error(), RequestID: resp.Header.Get("box-request-id")}
	}
	return nil
}

// errAnswerTooLarge ends the reading of an answer past its limit.
var errAnswerTooLarge = errors.New("answer too large")

func isNetErr(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne)
}

func jsonBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only maps and structs built by this package are marshalled; a
		// failure is a programming error (e.g. a channel in a metadata doc).
		panic(fmt.Sprintf("box: marshalling request body: %v", err))
	}
	return b
}

// api joins the API base URL and a path made of literal segments and
// path-escaped IDs.
func (c *Client) api(path string, ids ...string) string {
	return c.cfg.APIURL + fill(path, ids)
}

func (c *Client) upload(path string, ids ...string) string {
	return c.cfg.UploadURL + fill(path, ids)
}

// fill replaces each "{}" in path with the next escaped id.
func fill(path string, ids []string) string {
	var b strings.Builder
	for _, id := range ids {
		i := strings.Index(path, "{}")
		if i < 0 {
			panic("box: more ids than placeholders in " + path)
		}
		b.WriteString(path[:i])
		b.WriteString(url.PathEscape(id))
		path = path[i+2:]
	}
	b.WriteString(path)
	return b.String()
}

func requireID(op, what, id string) error {
	if strings.TrimSpace(id) == "" {
		return fmt.Errorf("box: %s: %s is required", op, what)
	}
	return nil
}

// parentCache holds the parent (CCG) token and collapses concurrent
// refreshes into one request.
type parentCache struct {
	mu       sync.Mutex
	tok      secret.String
	exp      time.Time
	refresh  time.Time // when to fetch a new one
	inflight *flight
}

type flight struct {
	done chan struct{}
	tok  secret.String
	exp  time.Time
	err  error
}

func (p *parentCache) invalidate(tok secret.String) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tok == tok {
		p.tok, p.exp, p.refresh = "", time.Time{}, time.Time{}
	}
}

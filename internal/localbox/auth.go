package localbox

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// OAuth 2.0 grant and token types of POST /oauth2/token.
const (
	grantClientCredentials = "client_credentials"
	// GrantTokenExchange is the RFC 8693 grant that downscopes a token.
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	// TokenTypeAccessToken is the subject_token_type of an exchange.
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
)

// parentScopes are the app scopes a CCG token carries.
var parentScopes = []string{"root_readwrite", "manage_webhook"}

// downscopable are the scopes a token exchange may ask for (Box's list).
var downscopable = map[string]bool{
	"annotation_edit": true, "annotation_view_all": true, "annotation_view_self": true,
	"base_explorer": true, "base_picker": true, "base_preview": true, "base_upload": true,
	"item_delete": true, "item_download": true, "item_preview": true, "item_rename": true,
	"item_share": true, "item_upload": true, "item_read": true,
	"root_readonly": true, "root_readwrite": true,
}

// action is what a request does to an item; each needs one of some scopes.
type action int

const (
	actRead     action = iota // file/folder info, folder listing, metadata read, versions
	actDownload               // file content
	actWrite                  // uploads, new versions, folder creation, metadata writes, updates
	actDelete                 // file deletion
)

var actionScopes = map[action][]string{
	actRead:     {"item_preview", "item_read", "base_preview", "base_explorer", "root_readonly", "root_readwrite"},
	actDownload: {"item_download", "root_readonly", "root_readwrite"},
	actWrite:    {"item_upload", "base_upload", "root_readwrite"},
	actDelete:   {"item_delete", "root_readwrite"},
}

var actionNames = map[action]string{actRead: "read", actDownload: "download", actWrite: "write", actDelete: "delete"}

// principal is the validated access token of a request.
type principal struct {
	hash       string
	userID     string
	scopes     map[string]bool
	downscoped bool
	resType    string // "" when the token is not restricted to one item
	resID      string
	expiresAt  int64
}

// authorize checks that p may perform act on the item (typ, id).
//
// A token restricted to one item gets 404 not_found for every other item,
// whether it exists or not (nothing leaks about other items); on its own
// item, a missing scope is 403 insufficient_scope.
func (p *principal) authorize(act action, typ string, id int64) error {
	if p.resType != "" && (p.resType != typ || p.resID != idString(id)) {
		return notFound(typ + " " + idString(id))
	}
	if slices.ContainsFunc(actionScopes[act], func(s string) bool { return p.scopes[s] }) {
		return nil
	}
	return insufficientScope(fmt.Sprintf("The access token does not allow %s access to %s %d (needs one of: %s)",
		actionNames[act], typ, id, strings.Join(actionScopes[act], ", ")))
}

// requireParent refuses downscoped tokens (webhook management needs the app's
// own token, as the manage_webhook scope cannot be downscoped).
func (p *principal) requireParent() error {
	if p.downscoped || !p.scopes["manage_webhook"] {
		return insufficientScope("This operation needs the application's own token, not a downscoped one")
	}
	return nil
}

func principalFrom(ctx context.Context) *principal {
	p, _ := ctx.Value(ctxPrincipal).(*principal)
	return p
}

func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

const tokenAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newToken returns 32 random alphanumeric characters (~190 bits), the shape
// of a Box access token.
func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = tokenAlphabet[int(b[i])%len(tokenAlphabet)]
	}
	return string(b[:])
}

// bearer extracts the access token from the Authorization header, or from
// the access_token query parameter where allowQuery.
func bearer(r *http.Request, allowQuery bool) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	if allowQuery {
		return r.URL.Query().Get("access_token")
	}
	return ""
}

// lookupToken validates a raw token: known, not revoked, not expired.
func (s *Server) lookupToken(ctx context.Context, tok string) (*principal, error) {
	if tok == "" {
		return nil, unauthorized("The access token is missing")
	}
	var (
		p        = &principal{hash: hashToken(tok)}
		parent   sql.NullString
		scopes   string
		revoked  sql.NullInt64
		issuedAt int64
	)
	err := s.store.r.QueryRowContext(ctx, `SELECT parent_hash, user_id, scopes, resource_type, resource_id, issued_at, expires_at, revoked_at
		FROM tokens WHERE hash = ?`, p.hash).Scan(&parent, &p.userID, &scopes, &p.resType, &p.resID, &issuedAt, &p.expiresAt, &revoked)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, unauthorized("The access token provided is invalid")
	case err != nil:
		return nil, fmt.Errorf("looking up token: %w", err)
	case revoked.Valid:
		return nil, unauthorized("The access token has been revoked")
	case s.now().UnixMilli() >= p.expiresAt:
		return nil, unauthorized("The access token has expired")
	}
	p.downscoped = parent.Valid
	p.scopes = map[string]bool{}
	for sc := range strings.FieldsSeq(scopes) {
		p.scopes[sc] = true
	}
	return p, nil
}

// authenticated wraps an API handler: it validates the token, applies the
// per-token rate limit and puts the principal in the request context.
func (s *Server) authenticated(allowQueryToken bool, h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := s.lookupToken(r.Context(), bearer(r, allowQueryToken))
		if err != nil {
			return err
		}
		if ok, wait := s.limiter.allow(p.hash, s.now()); !ok {
			return rateLimited(int((wait + time.Second - 1) / time.Second))
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), ctxPrincipal, p)))
	}
}

// --- OAuth 2.0 endpoints ---

func (s *Server) parseOAuthForm(w http.ResponseWriter, r *http.Request) *oauthError {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return &oauthError{http.StatusBadRequest, "invalid_request", "The request body must be application/x-www-form-urlencoded"}
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return &oauthError{http.StatusBadRequest, "invalid_request", "The request body could not be parsed"}
	}
	return nil
}

// clientAuth checks client_id/client_secret from the form or HTTP Basic.
func (s *Server) clientAuth(r *http.Request) *oauthError {
	id, sec := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if bid, bsec, ok := r.BasicAuth(); ok && id == "" && sec == "" {
		id, sec = bid, bsec
	}
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(s.cfg.ClientID)) == 1
	secOK := subtle.ConstantTimeCompare([]byte(sec), []byte(s.cfg.ClientSecret.Reveal())) == 1
	if !idOK || !secOK {
		return &oauthError{http.StatusBadRequest, "invalid_client", "The client credentials are invalid"}
	}
	return nil
}

type tokenResponse struct {
	AccessToken     string `json:"access_token"`
	ExpiresIn       int64  `json:"expires_in"`
	TokenType       string `json:"token_type"`
	RestrictedTo    []any  `json:"restricted_to"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if e := s.parseOAuthForm(w, r); e != nil {
		writeOAuthError(w, e)
		return
	}
	var (
		resp *tokenResponse
		err  error
	)
	switch gt := r.PostForm.Get("grant_type"); gt {
	case grantClientCredentials:
		resp, err = s.grantCCG(r)
	case GrantTokenExchange:
		resp, err = s.grantExchange(r)
	case "":
		err = &oauthError{http.StatusBadRequest, "invalid_request", "The grant_type parameter is missing"}
	default:
		err = &oauthError{http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("Grant type %q is not supported by localbox", gt)}
	}
	var oe *oauthError
	switch {
	case errors.As(err, &oe):
		writeOAuthError(w, oe)
		return
	case err != nil:
		s.log.ErrorContext(r.Context(), "issuing token failed", "request_id", requestID(r.Context()), "error", err)
		writeOAuthError(w, &oauthError{http.StatusInternalServerError, "server_error", "Issuing the token failed"})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) grantCCG(r *http.Request) (*tokenResponse, error) {
	if e := s.clientAuth(r); e != nil {
		return nil, e
	}
	st, sid := r.PostForm.Get("box_subject_type"), r.PostForm.Get("box_subject_id")
	switch {
	case st == "enterprise" && sid == s.cfg.EnterpriseID:
	case st == "user" && sid == s.user.ID:
	case st != "enterprise" && st != "user":
		return nil, &oauthError{http.StatusBadRequest, "invalid_request", "box_subject_type must be \"enterprise\" or \"user\""}
	default:
		return nil, &oauthError{http.StatusBadRequest, "invalid_grant", "Grant credentials are invalid: unknown box_subject_id"}
	}
	now := s.now()
	tok := newToken()
	exp := now.Add(s.cfg.TokenTTL)
	_, err := s.store.w.ExecContext(r.Context(), `INSERT INTO tokens(hash, parent_hash, user_id, scopes, issued_at, expires_at) VALUES (?, NULL, ?, ?, ?, ?)`,
		hashToken(tok), s.user.ID, strings.Join(parentScopes, " "), millis(now), millis(exp))
	if err != nil {
		return nil, fmt.Errorf("storing token: %w", err)
	}
	return &tokenResponse{AccessToken: tok, ExpiresIn: int64(s.cfg.TokenTTL / time.Second), TokenType: "bearer", RestrictedTo: []any{}}, nil
}

var resourcePath = regexp.MustCompile(`^(?:/api)?/2\.0/(files|folders)/([0-9]+)/?$`)

// errInvalidResource is Box's answer to a token exchange whose resource is
// not an item the subject token can reach: one that does not exist (never
// did, or was deleted), one its user cannot see, or a URL that names no
// item. Box does not tell these apart, and neither does localbox (the log
// says which it was).
func errInvalidResource() *oauthError {
	return &oauthError{http.StatusBadRequest, "invalid_resource", "The target resource is invalid."}
}

// parseResource accepts <public URL>/2.0/files/{id} (or folders, or with
// the /api upload prefix), on localbox's own host or api.box.com.
func (s *Server) parseResource(r *http.Request, raw string) (typ string, id int64, err error) {
	u, perr := url.Parse(raw)
	bad := errInvalidResource()
	if perr != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return "", 0, bad
	}
	pub, _ := url.Parse(s.cfg.PublicURL)
	if !strings.EqualFold(u.Host, pub.Host) && !strings.EqualFold(u.Host, r.Host) && !strings.EqualFold(u.Host, "api.box.com") {
		return "", 0, bad
	}
	p := strings.TrimPrefix(u.Path, strings.TrimRight(pub.Path, "/"))
	m := resourcePath.FindStringSubmatch(p)
	if m == nil {
		return "", 0, bad
	}
	typ = strings.TrimSuffix(m[1], "s")
	if id, err = parseID(m[2], typ); err != nil {
		return "", 0, bad
	}
	return typ, id, nil
}

func (s *Server) grantExchange(r *http.Request) (*tokenResponse, error) {
	f := r.PostForm
	if f.Get("subject_token") == "" {
		return nil, &oauthError{http.StatusBadRequest, "invalid_request", "The subject_token parameter is missing"}
	}
	if stt := f.Get("subject_token_type"); stt != TokenTypeAccessToken {
		return nil, &oauthError{http.StatusBadRequest, "invalid_request", "subject_token_type must be " + TokenTypeAccessToken}
	}
	if f.Get("actor_token") != "" {
		return nil, &oauthError{http.StatusBadRequest, "invalid_request", "actor_token (annotator tokens) is not supported by localbox"}
	}
	subj, err := s.lookupToken(r.Context(), f.Get("subject_token"))
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return nil, &oauthError{http.StatusBadRequest, "invalid_grant", "The subject token is invalid, expired or revoked"}
		}
		return nil, err
	}
	scopes := strings.Fields(f.Get("scope"))
	if len(scopes) == 0 {
		return nil, &oauthError{http.StatusBadRequest, "invalid_scope", "The scope parameter is missing"}
	}
	slices.Sort(scopes)
	scopes = slices.Compact(scopes)
	for _, sc := range scopes {
		if !downscopable[sc] {
			return nil, &oauthError{http.StatusBadRequest, "invalid_scope", fmt.Sprintf("Scope %q cannot be requested in a token exchange", sc)}
		}
		if subj.downscoped && !subj.scopes[sc] {
			return nil, &oauthError{http.StatusUnauthorized, "invalid_scope", fmt.Sprintf("The subject token does not hold scope %q", sc)}
		}
	}
	var (
		resType, resID, resURL string
		object                 map[string]any
	)
	if raw := f.Get("resource"); raw != "" {
		typ, id, err := s.parseResource(r, raw)
		if err != nil {
			s.log.InfoContext(r.Context(), "token exchange refused: the resource is not a localbox file or folder URL",
				"request_id", requestID(r.Context()), "resource", raw)
			return nil, err
		}
		switch typ {
		case "file":
			fr, err := getFile(r.Context(), s.store.r, id)
			if err != nil {
				return nil, s.resourceErr(r, err, raw)
			}
			object = fileMini(fr)
		case "folder":
			fo, err := getFolder(r.Context(), s.store.r, id)
			if err != nil {
				return nil, s.resourceErr(r, err, raw)
			}
			object = folderMini(fo)
		}
		resType, resID, resURL = typ, idString(id), raw
	}
	if subj.resType != "" {
		if resType == "" {
			resType, resID = subj.resType, subj.resID
			if err := s.store.r.QueryRowContext(r.Context(), `SELECT resource_url FROM tokens WHERE hash = ?`, subj.hash).Scan(&resURL); err != nil {
				return nil, fmt.Errorf("reading subject token: %w", err)
			}
		} else if resType != subj.resType || resID != subj.resID {
			return nil, &oauthError{http.StatusUnauthorized, "invalid_grant", "The subject token is restricted to another item"}
		}
	}
	now := s.now()
	exp := min(millis(now.Add(s.cfg.TokenTTL)), subj.expiresAt)
	tok := newToken()
	_, err = s.store.w.ExecContext(r.Context(), `INSERT INTO tokens(hash, parent_hash, user_id, scopes, resource_type, resource_id, resource_url, issued_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, hashToken(tok), subj.hash, subj.userID, strings.Join(scopes, " "), resType, resID, resURL, millis(now), exp)
	if err != nil {
		return nil, fmt.Errorf("storing token: %w", err)
	}
	restricted := make([]any, 0, len(scopes))
	for _, sc := range scopes {
		e := map[string]any{"scope": sc}
		if object != nil {
			e["object"] = object
		}
		restricted = append(restricted, e)
	}
	return &tokenResponse{
		AccessToken: tok, ExpiresIn: max(0, (exp-millis(now))/1000), TokenType: "bearer",
		RestrictedTo: restricted, IssuedTokenType: TokenTypeAccessToken,
	}, nil
}

func (s *Server) resourceErr(r *http.Request, err error, raw string) error {
	if isNotFound(err) {
		s.log.InfoContext(r.Context(), "token exchange refused: the resource does not exist",
			"request_id", requestID(r.Context()), "resource", raw)
		return errInvalidResource()
	}
	return err
}

func isNotFound(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if e := s.parseOAuthForm(w, r); e != nil {
		writeOAuthError(w, e)
		return
	}
	if e := s.clientAuth(r); e != nil {
		writeOAuthError(w, e)
		return
	}
	tok := r.PostForm.Get("token")
	if tok == "" {
		writeOAuthError(w, &oauthError{http.StatusBadRequest, "invalid_request", "The token parameter is missing"})
		return
	}
	// Revoking a token also revokes every token exchanged from it. Unknown
	// tokens are accepted silently (RFC 7009).
	_, err := s.store.w.ExecContext(r.Context(), `WITH RECURSIVE tree(h) AS (
			SELECT ? UNION SELECT tokens.hash FROM tokens JOIN tree ON tokens.parent_hash = tree.h)
		UPDATE tokens SET revoked_at = ? WHERE hash IN tree AND revoked_at IS NULL`, hashToken(tok), millis(s.now()))
	if err != nil {
		s.log.ErrorContext(r.Context(), "revoking token failed", "request_id", requestID(r.Context()), "error", err)
		writeOAuthError(w, &oauthError{http.StatusInternalServerError, "server_error", "Revoking the token failed"})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

package codec

import (
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strings"

	"go.temporal.io/sdk/converter"

	"filesight/internal/oidc"
	"filesight/internal/secret"
)

// HTTPOptions configure the codec server.
type HTTPOptions struct {
	// Token is the shared bearer token a caller may present. With neither
	// Token nor AccessTokens every caller is let in (only for a closed
	// development setup; ServerConfig.Validate refuses it).
	Token secret.String
	// AccessTokens, when set, also lets in a caller whose bearer token it
	// verifies: the signed-in user's access token that the Temporal UI
	// forwards (codec.passAccessToken).
	AccessTokens *oidc.Verifier
	// Logger records refused callers (why, never the token) and who
	// decoded with an access token (default: discard).
	Logger *slog.Logger
	// AllowedOrigins are the browser origins (the Temporal UI) allowed by CORS.
	AllowedOrigins []string
	// MaxBodyBytes bounds a request body (default 4 MiB, twice Temporal's payload limit).
	MaxBodyBytes int64
}

// NewHTTPHandler serves POST {prefix}/encode and {prefix}/decode as the
// Temporal UI and CLI expect, behind CORS and a bearer token.
//
// The shared token is accepted in the Authorization header, or as the
// first path segment (POST /{token}/decode): the Temporal UI of a dev
// server without SSO cannot send a header, so there the configured codec
// endpoint URL itself is the credential and must be treated as one. In
// production the UI, with single sign-on and codec.passAccessToken, sends
// the user's access token instead, which AccessTokens verifies; the
// endpoint URL then carries no credential.
func NewHTTPHandler(codecs []converter.PayloadCodec, opts HTTPOptions) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 4 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	inner := converter.NewPayloadCodecHTTPHandler(codecs...)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && slices.Contains(opts.AllowedOrigins, origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Max-Age", "600")
			h.Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			if origin == "" || !slices.Contains(opts.AllowedOrigins, origin) {
				http.Error(w, "origin not allowed", http.StatusForbidden)
				return
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST, OPTIONS")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if status := opts.authorize(r); status != http.StatusOK {
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="filesight-codec"`)
			}
			http.Error(w, http.StatusText(status), status)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, opts.MaxBodyBytes)
		inner.ServeHTTP(w, r)
	})
}

// authorize answers 200 for a caller with the shared token (bearer, or
// first path segment) or a valid access token, 401 otherwise, and 503 when
// an access token cannot be checked now (the identity provider's keys are
// unreachable).
func (opts HTTPOptions) authorize(r *http.Request) int {
	if opts.Token.IsZero() && opts.AccessTokens == nil {
		return http.StatusOK
	}
	// Never the path: its first segment may be the codec token.
	log := opts.Logger.With("operation", operation(r.URL.Path), "namespace", r.Header.Get("X-Namespace"), "remote", r.RemoteAddr)
	auth := r.Header.Get("Authorization")
	if auth == "" {
		first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		if sameSecret(first, opts.Token) {
			return http.StatusOK
		}
		log.InfoContext(r.Context(), "codec request refused", "reason", "no Authorization header and no codec token in the path")
		return http.StatusUnauthorized
	}
	scheme, got, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || got == "" {
		log.InfoContext(r.Context(), "codec request refused", "reason", "Authorization is not a bearer token")
		return http.StatusUnauthorized
	}
	if sameSecret(got, opts.Token) {
		return http.StatusOK
	}
	if opts.AccessTokens == nil {
		log.InfoContext(r.Context(), "codec request refused", "reason", "wrong codec token")
		return http.StatusUnauthorized
	}
	claims, err := opts.AccessTokens.Verify(r.Context(), got)
	switch {
	case errors.Is(err, oidc.ErrInvalidToken):
		log.InfoContext(r.Context(), "codec request refused", "reason", "access token not accepted", "error", err)
		return http.StatusUnauthorized
	case err != nil:
		log.ErrorContext(r.Context(), "codec request: the access token cannot be checked", "error", err)
		return http.StatusServiceUnavailable
	}
	// An audit trail of who decoded history.
	log.InfoContext(r.Context(), "codec request", "subject", claims.Subject, "issuer", claims.Issuer, "key_id", claims.KeyID)
	return http.StatusOK
}

// sameSecret compares got with a configured secret in constant time; an
// unset secret matches nothing.
func sameSecret(got string, want secret.String) bool {
	return !want.IsZero() && subtle.ConstantTimeCompare([]byte(got), []byte(want.Reveal())) == 1
}

// operation names a codec request for the logs: "encode" or "decode" when
// the path ends so, else "other". Never a path segment as such: a
// request to /<token> would put the token in the logs.
func operation(p string) string {
	switch b := path.Base(p); b {
	case "encode", "decode":
		return b
	}
	return "other"
}

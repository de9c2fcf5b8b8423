package codec

import (
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"

	"go.temporal.io/sdk/converter"

	"filesight/internal/secret"
)

// HTTPOptions configure the codec server.
type HTTPOptions struct {
	// Token is the bearer token a caller must present. Empty disables the
	// check (only for a closed development setup; Config.Validate refuses it).
	Token secret.String
	// AllowedOrigins are the browser origins (the Temporal UI) allowed by CORS.
	AllowedOrigins []string
	// MaxBodyBytes bounds a request body (default 4 MiB, twice Temporal's payload limit).
	MaxBodyBytes int64
}

// NewHTTPHandler serves POST {prefix}/encode and {prefix}/decode as the
// Temporal UI and CLI expect, behind CORS and a bearer token.
//
// The token is accepted in the Authorization header, or as the first path
// segment (POST /{token}/decode): the Temporal UI of a dev server without SSO
// cannot send a header, so there the configured codec endpoint URL itself is
// the credential and must be treated as one.
func NewHTTPHandler(codecs []converter.PayloadCodec, opts HTTPOptions) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 4 << 20
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
		if !opts.Token.IsZero() && !authorized(r, opts.Token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="filesight-codec"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, opts.MaxBodyBytes)
		inner.ServeHTTP(w, r)
	})
}

func authorized(r *http.Request, token secret.String) bool {
	want := []byte(token.Reveal())
	if auth := r.Header.Get("Authorization"); auth != "" {
		got, ok := strings.CutPrefix(auth, "Bearer ")
		return ok && subtle.ConstantTimeCompare([]byte(got), want) == 1
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return subtle.ConstantTimeCompare([]byte(first), want) == 1
}

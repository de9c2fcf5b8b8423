package provider

import (
	"errors"
	"fmt"
	"net/url"

	"filesight/internal/secret"
)

// AccessTokenParam is the query parameter Box's download endpoint (GET
// /2.0/files/{id}/content, developer.box.com) accepts instead of an
// Authorization header.
const AccessTokenParam = "access_token"

// TokenURL returns the media URL with the file-scoped read token in its
// access_token query parameter, for services that can only be given a URL
// (they fetch it with a plain GET, without headers). The result embeds the
// token, so it is a secret itself: put it on the wire with Reveal, never in
// a log or an error (Redact strips it).
//
// This is the only form in which a cloud provider receives anything of
// ours to fetch media with: a token restricted to one file and to reading,
// revoked when the job no longer needs it, never the application's
// credentials.
func TokenURL(mediaURL string, token secret.String) (secret.String, error) {
	if !IsHTTPURL(mediaURL) {
		return "", fmt.Errorf("media URL %q is not an http(s) URL", stripURL(mediaURL))
	}
	u, _ := url.Parse(mediaURL)
	if token.IsZero() {
		return "", errors.New("no read token to build the media URL with")
	}
	q := u.Query()
	q.Set(AccessTokenParam, token.Reveal())
	u.RawQuery = q.Encode()
	return secret.String(u.String()), nil
}

// Package vaultclient is the Go client of the vault service
// (internal/vault/vaultserver). A Client with a tokenize credential is a
// vault.Tokenizer, so NewRedactor gives the card writer a Redactor whose
// tokens the vault can map back; a Client with a detokenize credential can
// detokenize, read the audit log and manage keys.
package vaultclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"filesight/internal/secret"
	"filesight/internal/vault"
)

// Config configures a Client. The env tags are the worker's variables.
type Config struct {
	// URL is the vault's base URL, e.g. http://127.0.0.1:8720.
	URL string `env:"FILESIGHT_VAULT_URL"`
	// Credential is the secret of a tokenize credential (workers) or of a
	// detokenize credential (people and tools that may read values).
	Credential secret.String `env:"FILESIGHT_VAULT_CREDENTIAL"`
	// Timeout bounds one request (default 30s).
	Timeout time.Duration
	// HTTPClient is used for requests (default: a client with Timeout). It
	// is not read from the environment: noinit keeps it nil when Config is
	// loaded with go-envconfig, which would otherwise set an empty client
	// without a timeout.
	HTTPClient *http.Client `env:",noinit"`
}

// Client calls the vault service. It is safe for concurrent use.
type Client struct {
	base       *url.URL
	credential secret.String
	hc         *http.Client
}

// New checks cfg and returns a Client. Errors name the variable at fault.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("FILESIGHT_VAULT_URL must be an http(s) URL such as http://127.0.0.1:8720")
	}
	if cfg.Credential.IsZero() {
		return nil, errors.New("FILESIGHT_VAULT_CREDENTIAL is required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: cfg.Timeout}
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return &Client{base: u, credential: cfg.Credential, hc: hc}, nil
}

// String keeps the credential out of fmt output.
func (c *Client) String() string { return "vaultclient.Client{" + c.base.String() + "}" }

// GoString keeps the credential out of %#v.
func (c *Client) GoString() string { return c.String() }

// Error is a request the vault refused or could not answer. It never holds
// a value or a credential.
type Error struct {
	Op         string // "tokenize", "detokenize", …
	StatusCode int    // 0 when no response arrived
	Code       string // the API's error code
	Message    string
	Retryable  bool
	RetryAfter time.Duration // from Retry-After, when given
	Err        error         // the transport error, when no response arrived
}

func (e *Error) Error() string {
	if e.StatusCode == 0 {
		return fmt.Sprintf("vault %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("vault %s: %d %s: %s", e.Op, e.StatusCode, e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// do sends a request and decodes a JSON answer into out.
func (c *Client) do(ctx context.Context, op, method, path string, query url.Values, in, out any) error {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return &Error{Op: op, Err: fmt.Errorf("encoding the request: %w", err)}
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return &Error{Op: op, Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.credential.Reveal())
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// url.Error quotes the URL, which holds no secret; keep the cause.
		return &Error{Op: op, Retryable: ctx.Err() == nil, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return &Error{Op: op, Retryable: true, Err: fmt.Errorf("reading the response: %w", err)}
	}
	if resp.StatusCode != http.StatusOK {
		e := &Error{Op: op, StatusCode: resp.StatusCode, Code: "unknown", Message: http.StatusText(resp.StatusCode),
			Retryable: resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests}
		var eb vault.ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
			e.Code, e.Message, e.Retryable = eb.Error.Code, eb.Error.Message, eb.Error.Retryable
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		}
		return e
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &Error{Op: op, StatusCode: resp.StatusCode, Code: "bad_response", Message: "the response is not the expected JSON"}
	}
	return nil
}

// Tokenize implements vault.Tokenizer: one request per vault.MaxTokenizeItems
// items (a card document is normally one request).
func (c *Client) Tokenize(ctx context.Context, items []vault.Item) ([]string, error) {
	out := make([]string, 0, len(items))
	for start := 0; start < len(items); start += vault.MaxTokenizeItems {
		chunk := items[start:min(len(items), start+vault.MaxTokenizeItems)]
		var resp vault.TokenizeResponse
		if err := c.do(ctx, "tokenize", http.MethodPost, vault.PathTokenize, nil, vault.TokenizeRequest{Items: chunk}, &resp); err != nil {
			return nil, err
		}
		if len(resp.Tokens) != len(chunk) {
			return nil, &Error{Op: "tokenize", StatusCode: http.StatusOK, Code: "bad_response", Message: fmt.Sprintf("%d tokens for %d items", len(resp.Tokens), len(chunk))}
		}
		out = append(out, resp.Tokens...)
	}
	return out, nil
}

// CheckTokenize reports whether the client's credential is a tokenize
// credential, without tokenizing anything: it sends an empty tokenize
// request, which the vault refuses as invalid (400) only after it has
// accepted the credential. nil means a tokenize credential; an *Error with
// StatusCode 401 (unknown to the vault) or 403 (a credential of the other
// role: a detokenize credential) means the wrong one; any other error
// means the vault could not be asked. A worker checks at start that it was
// not given more than it needs.
func (c *Client) CheckTokenize(ctx context.Context) error {
	var resp vault.TokenizeResponse
	err := c.do(ctx, "tokenize", http.MethodPost, vault.PathTokenize, nil, vault.TokenizeRequest{Items: []vault.Item{}}, &resp)
	var e *Error
	if errors.As(err, &e) && e.StatusCode == http.StatusBadRequest && e.Code == vault.CodeInvalidRequest {
		return nil
	}
	return err
}

// Detokenize maps tokens back to values (detokenize credential). reason is
// recorded in the audit log. Unknown tokens come back with Result
// vault.ResultNotFound.
func (c *Client) Detokenize(ctx context.Context, tokens []string, reason string) ([]vault.DetokenizeResult, error) {
	var resp vault.DetokenizeResponse
	if err := c.do(ctx, "detokenize", http.MethodPost, vault.PathDetokenize, nil, vault.DetokenizeRequest{Tokens: tokens, Reason: reason}, &resp); err != nil {
		return nil, err
	}
	return resp.Results, nil
}

// AuditQuery selects audit events; the zero value is the newest 100.
type AuditQuery struct {
	Limit  int
	Before int64
	Token  string
	Actor  string
	Action string
}

// Audit lists audit events, newest first (detokenize credential).
func (c *Client) Audit(ctx context.Context, q AuditQuery) (vault.AuditPage, error) {
	v := url.Values{}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Before > 0 {
		v.Set("before", strconv.FormatInt(q.Before, 10))
	}
	for k, s := range map[string]string{"token": q.Token, "actor": q.Actor, "action": q.Action} {
		if s != "" {
			v.Set(k, s)
		}
	}
	var page vault.AuditPage
	err := c.do(ctx, "audit", http.MethodGet, vault.PathAudit, v, nil, &page)
	return page, err
}

// Keys reports the active key and the values per key (detokenize credential).
func (c *Client) Keys(ctx context.Context) (vault.KeysStatus, error) {
	var ks vault.KeysStatus
	err := c.do(ctx, "keys", http.MethodGet, vault.PathKeys, nil, nil, &ks)
	return ks, err
}

// Reencrypt re-seals every value under the active key (detokenize credential).
func (c *Client) Reencrypt(ctx context.Context) (vault.ReencryptResponse, error) {
	var r vault.ReencryptResponse
	err := c.do(ctx, "reencrypt", http.MethodPost, vault.PathReencrypt, nil, struct{}{}, &r)
	return r, err
}

// NewRedactor returns a Redactor that tokenizes through the vault service
// described by cfg (a tokenize credential).
func NewRedactor(cfg Config, opts vault.RedactorOptions) (*vault.Redactor, error) {
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return vault.NewRedactor(c, opts), nil
}

package localbox_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"filesight/internal/localbox"
	"filesight/internal/localbox/localboxtest"
)

// resp is an answer read whole.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("decoding %s: %v", r.Body, err)
	}
	return m
}

// wantStatus fails unless the status is want.
func (r *resp) wantStatus(t testing.TB, want int) *resp {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d: %s", r.Status, want, r.Body)
	}
	return r
}

// wantError checks Box's error envelope.
func (r *resp) wantError(t testing.TB, status int, code string) map[string]any {
	t.Helper()
	r.wantStatus(t, status)
	m := r.json(t)
	if m["type"] != "error" || m["code"] != code || m["status"] != float64(status) || m["request_id"] == "" || m["message"] == "" {
		t.Fatalf("error envelope = %s, want type error, status %d, code %q, request_id and message", r.Body, status, code)
	}
	if m["request_id"] != r.Header.Get("box-request-id") {
		t.Fatalf("request_id %v differs from the box-request-id header %q", m["request_id"], r.Header.Get("box-request-id"))
	}
	return m
}

type reqOpt func(*http.Request)

func header(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }

func call(t testing.TB, method, u, token, contentType string, body io.Reader, opts ...reqOpt) *resp {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for _, o := range opts {
		o(req)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading answer of %s %s: %v", method, u, err)
	}
	return &resp{Status: res.StatusCode, Header: res.Header, Body: b}
}

func getJSON(t testing.TB, u, token string) *resp {
	t.Helper()
	return call(t, http.MethodGet, u, token, "", nil)
}

func sendJSON(t testing.TB, method, u, token string, v any, opts ...reqOpt) *resp {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return call(t, method, u, token, "application/json", bytes.NewReader(b), opts...)
}

func postForm(t testing.TB, u string, form url.Values) *resp {
	t.Helper()
	return call(t, http.MethodPost, u, "", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
}

// multipartBody builds an upload body from parts given as name, content
// pairs; a part named "file" is a file part.
func multipartBody(t testing.TB, parts ...string) (contentType string, body *bytes.Buffer) {
	t.Helper()
	body = &bytes.Buffer{}
	mw := multipart.NewWriter(body)
	for i := 0; i+1 < len(parts); i += 2 {
		var (
			w   io.Writer
			err error
		)
		if parts[i] == "file" {
			w, err = mw.CreateFormFile("file", "f.bin")
		} else {
			w, err = mw.CreateFormField(parts[i])
		}
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(w, parts[i+1])
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), body
}

func attrsJSON(name, parent string) string {
	b, _ := json.Marshal(map[string]any{"name": name, "parent": map[string]string{"id": parent}})
	return string(b)
}

func exchange(t testing.TB, ts *localboxtest.Server, subject, scope, resource string) *resp {
	t.Helper()
	form := url.Values{
		"grant_type": {localbox.GrantTokenExchange}, "subject_token": {subject},
		"subject_token_type": {localbox.TokenTypeAccessToken}, "scope": {scope},
	}
	if resource != "" {
		form.Set("resource", resource)
	}
	return postForm(t, ts.URL+"/oauth2/token", form)
}

func accessToken(t testing.TB, r *resp) string {
	t.Helper()
	r.wantStatus(t, http.StatusOK)
	tok, _ := r.json(t)["access_token"].(string)
	if tok == "" {
		t.Fatalf("no access_token in %s", r.Body)
	}
	return tok
}

// str digs a string out of decoded JSON by keys.
func str(m map[string]any, keys ...string) string {
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[k]
	}
	s, _ := cur.(string)
	return s
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

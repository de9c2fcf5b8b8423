package mlengine_test

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filesight/internal/egress/egresstest"
	"filesight/internal/mlengine"
	"filesight/internal/mlengine/mlenginetest"
	"filesight/internal/provider"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/testutil"
)

// internalService listens on 127.0.0.3, an address the test engine does
// not allow (mlenginetest allows 127.0.0.1 only), and counts requests.
func internalService(t *testing.T) (addr string, hits *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.3: %v", err)
	}
	hits = &atomic.Int32{}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "instance credentials")
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	return ln.Addr().String(), hits
}

// TestSubmitRefusesInternalURLs: media and callback URLs naming private,
// loopback, link-local (cloud metadata) or carrier-grade NAT addresses that
// MLENGINE_ALLOWED_HOSTS does not list are refused at submission.
func TestSubmitRefusesInternalURLs(t *testing.T) {
	fake := newFake(t, nil)
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake))
	for _, tc := range []struct{ media, callback, want string }{
		{"http://169.254.169.254/latest/meta-data/iam/security-credentials/", "", "media_url: 169.254.169.254 is a link-local (cloud metadata) address; list it in MLENGINE_ALLOWED_HOSTS"},
		{"http://[fd00:ec2::254]/latest/meta-data/", "", "media_url: fd00:ec2::254 is a private address"},
		{"http://10.0.0.8/2.0/files/1/content", "", "media_url: 10.0.0.8 is a private address"},
		{"http://100.100.100.200/latest/meta-data/", "", "carrier-grade NAT"},
		{"http://127.0.0.3:8700/x", "", "media_url: 127.0.0.3 is a loopback address"},
		{"http://[::1]:8700/x", "", "media_url: ::1 is a loopback address"},
		{"http://127.0.0.1:8700/ok", "http://192.168.1.20/callbacks/mlengine", "callback_url: 192.168.1.20 is a private address"},
		{"http://127.0.0.1:8700/ok", "http://[fe80::1]/cb", "callback_url: fe80::1 is a link-local"},
	} {
		code, _, body := call(t, ts, "POST", "/v1/jobs", mlengineapi.SubmitRequest{MediaURL: tc.media, CallbackURL: tc.callback}, nil)
		eb := decodeJSON[mlengineapi.ErrorBody](t, body)
		if code != http.StatusBadRequest || eb.Error.Code != mlengine.CodeInvalidRequest || !strings.Contains(eb.Error.Message, tc.want) {
			t.Errorf("%s %s: HTTP %d %+v, want 400 saying %q", tc.media, tc.callback, code, eb.Error, tc.want)
		}
	}
	if n := fake.calls.Load(); n != 0 {
		t.Fatalf("analyzer ran %d times", n)
	}
}

// TestFetchRefusesInternalTargets: a media URL whose name resolves to an
// internal address when it is fetched (accepted at submission: names are
// checked on the addresses dialled), or that redirects to one, fails with
// media_url_refused, not retryable; a callback URL whose name resolves to
// one is never called and not retried. The internal service hears nothing.
func TestFetchRefusesInternalTargets(t *testing.T) {
	internal, hits := internalService(t)
	media := []byte("media")
	ms := newMediaServer(t, media, "tok")
	ms.override = func(w http.ResponseWriter, r *http.Request, _ int) bool {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://"+internal+"/latest/meta-data/", http.StatusFound)
			return true
		}
		return false
	}
	_, port, _ := net.SplitHostPort(internal)
	resolver := egresstest.NewResolver(map[string][]string{"media.example": {"127.0.0.3"}, "hooks.example": {"127.0.0.3"}})
	var logs testutil.SyncBuffer
	fake := newFake(t, media)
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(fake), mlengine.WithResolver(resolver),
		mlengine.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	for name, url := range map[string]string{
		"name resolving to an internal address": "http://media.example:" + port + "/m",
		"redirect to an internal address":       ms.URL + "/redirect",
	} {
		id := submit(t, ts, name, mlengineapi.SubmitRequest{MediaURL: url, MediaToken: "tok", Analyses: []string{"media"}})
		j := waitStatus(t, ts, id, provider.StateFailed)
		if j.Error == nil || j.Error.Code != mlengine.CodeMediaURLRefused || j.Error.Retryable || !strings.Contains(j.Error.Message, "MLENGINE_ALLOWED_HOSTS") {
			t.Errorf("%s: job error %+v", name, j.Error)
		}
	}
	// The callback of a job that succeeds goes nowhere, once.
	id := submit(t, ts, "callback", mlengineapi.SubmitRequest{MediaURL: ms.URL + "/m", MediaToken: "tok", Analyses: []string{"media"},
		CallbackURL: "http://hooks.example:" + port + "/callbacks/mlengine"})
	waitStatus(t, ts, id, provider.StateSucceeded)
	testutil.WaitFor(t, 10*time.Second, "the callback to be given up", func() bool {
		return strings.Contains(logs.String(), "callback failed, giving up")
	})
	if got := strings.Count(logs.String(), "callback failed"); got != 1 {
		t.Errorf("%d failed callback attempts, want 1 (a refused host is not retried)", got)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the internal service received %d requests", n)
	}
	if !strings.Contains(logs.String(), "media URL refused by the outbound policy") {
		t.Errorf("the refusal is not logged")
	}
}

package egress_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"filesight/internal/egress"
	"filesight/internal/egress/egresstest"
)

func mustPolicy(t *testing.T, o egress.Options) *egress.Policy {
	t.Helper()
	p, err := egress.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckURL(t *testing.T) {
	open := mustPolicy(t, egress.Options{Setting: "MLENGINE_ALLOWED_HOSTS"})
	dev := mustPolicy(t, egress.Options{Allow: []string{"127.0.0.1"}})
	listed := mustPolicy(t, egress.Options{Allow: []string{"10.0.0.0/8", "*.internal.example", "Starter", "fd00::1"}, ListedOnly: true})
	for _, tc := range []struct {
		p     *egress.Policy
		url   string
		words string // "" = allowed
	}{
		{open, "https://api.box.com/2.0/files/1/content", ""},
		{open, "http://93.184.216.34/x", ""},
		{open, "http://169.254.169.254/latest/meta-data/", "link-local (cloud metadata)"},
		{open, "http://[fd00:ec2::254]/latest/meta-data/", "a private address"},
		{open, "http://100.100.100.200/latest/meta-data/", "carrier-grade NAT"},
		{open, "http://127.0.0.1:8700/2.0/files/1/content", "a loopback address; list it in MLENGINE_ALLOWED_HOSTS"},
		{open, "http://[::1]:8088/callbacks", "loopback"},
		{open, "http://[::ffff:127.0.0.1]/", "loopback"},
		{open, "http://10.1.2.3/", "private"},
		{open, "http://172.16.0.1/", "private"},
		{open, "http://192.168.1.1/", "private"},
		{open, "http://0.0.0.0:8700/", "unspecified"},
		{open, "http://[fe80::1%25eth0]/", "link-local"},
		{open, "http://224.0.0.1/", "multicast"},
		{open, "http://192.0.0.192/", "IETF protocol"},
		{open, "http://[64:ff9b::a9fe:a9fe]/", "NAT64"},
		{open, "http://[2002:a9fe:a9fe::]/", "6to4"},
		{open, "ftp://example.com/x", `"ftp" URLs`},
		{open, "file:///etc/passwd", `"file" URLs`},
		{open, "http:///nohost", "no host"},
		{dev, "http://127.0.0.1:8700/2.0/files/1/content", ""},
		{dev, "http://127.0.0.2:8700/", "loopback"},
		{listed, "http://starter:8088/callbacks/mlengine", ""},
		{listed, "http://a.b.internal.example/", ""},
		{listed, "http://internal.example/", "not listed"},
		{listed, "http://10.9.8.7/", ""},
		{listed, "http://[fd00::1]/", ""},
		{listed, "https://api.box.com/", "not listed"},
		{listed, "http://8.8.8.8/", "not listed"},
	} {
		err := tc.p.CheckURL(tc.url)
		switch {
		case tc.words == "" && err != nil:
			t.Errorf("%s refused: %v", tc.url, err)
		case tc.words != "" && (!errors.Is(err, egress.ErrRefused) || !strings.Contains(err.Error(), tc.words)):
			t.Errorf("%s: %v, want a refusal saying %q", tc.url, err, tc.words)
		}
	}
}

func TestBadEntries(t *testing.T) {
	for _, e := range []string{"10.0.0.0/33", "*.", "bad host!", "*.a..b", "::1/200"} {
		_, err := egress.New(egress.Options{Allow: []string{e}, Setting: "MLENGINE_ALLOWED_HOSTS"})
		if err == nil || !strings.Contains(err.Error(), "MLENGINE_ALLOWED_HOSTS") {
			t.Errorf("%q: %v", e, err)
		}
	}
}

// listenPair starts two servers on the same port of 127.0.0.2 (a host the
// policy allows) and 127.0.0.1 (an internal service it does not), and
// counts what each receives.
func listenPair(t *testing.T, allowed http.Handler) (port string, internalHits *atomic.Int32) {
	t.Helper()
	internalHits = &atomic.Int32{}
	internal := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalHits.Add(1)
		io.WriteString(w, "internal secret")
	})
	for range 20 {
		la, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			t.Skipf("cannot listen on 127.0.0.2: %v", err)
		}
		_, port, _ = net.SplitHostPort(la.Addr().String())
		li, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err != nil {
			la.Close()
			continue
		}
		for _, s := range []*httptest.Server{{Listener: la, Config: &http.Server{Handler: allowed}}, {Listener: li, Config: &http.Server{Handler: internal}}} {
			s.Start()
			t.Cleanup(s.Close)
		}
		return port, internalHits
	}
	t.Fatal("no port free on both 127.0.0.1 and 127.0.0.2")
	return "", nil
}

// TestDNSRebinding: a name that resolves to an allowed address at first
// and to an internal one on the next lookup reaches the internal service
// never. The address checked is the address dialled.
func TestDNSRebinding(t *testing.T) {
	port, internalHits := listenPair(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close") // the next request dials again
		io.WriteString(w, "media")
	}))
	r := egresstest.NewResolver(map[string][]string{"media.example": {"127.0.0.2", "127.0.0.1"}})
	p := mustPolicy(t, egress.Options{Allow: []string{"127.0.0.2"}, Resolver: r})
	c := &http.Client{Transport: p.Transport(), CheckRedirect: p.CheckRedirect}
	get := func() (string, error) {
		resp, err := c.Get("http://media.example:" + port + "/m")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if body, err := get(); err != nil || body != "media" {
		t.Fatalf("first fetch: %q %v", body, err)
	}
	body, err := get()
	if !errors.Is(err, egress.ErrRefused) || !strings.Contains(err.Error(), `"media.example" resolves to 127.0.0.1, a loopback address`) {
		t.Fatalf("second fetch, after the name rebound to 127.0.0.1: %q %v", body, err)
	}
	if n := internalHits.Load(); n != 0 {
		t.Fatalf("the internal service received %d requests", n)
	}
	if n := r.Lookups("media.example"); n != 2 {
		t.Fatalf("%d lookups, want one per connection", n)
	}
}

// TestRedirectsStayWithinThePolicy: an allowed host redirecting to an
// internal one, by address or by a name that resolves to it, is not
// followed; a redirect to an allowed place is.
func TestRedirectsStayWithinThePolicy(t *testing.T) {
	var port string
	allowed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-address":
			http.Redirect(w, r, "http://127.0.0.1:"+port+"/secret", http.StatusFound)
		case "/to-name":
			http.Redirect(w, r, "http://internal.example:"+port+"/secret", http.StatusFound)
		case "/to-metadata":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		case "/to-allowed":
			http.Redirect(w, r, "/media", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		default:
			io.WriteString(w, "media")
		}
	})
	port, internalHits := listenPair(t, allowed)
	r := egresstest.NewResolver(map[string][]string{"internal.example": {"127.0.0.1"}})
	p := mustPolicy(t, egress.Options{Allow: []string{"127.0.0.2"}, Resolver: r, MaxRedirects: 5})
	c := &http.Client{Transport: p.Transport(), CheckRedirect: p.CheckRedirect}
	for path, want := range map[string]string{"/to-address": "loopback", "/to-name": "loopback", "/to-metadata": "link-local",
		"/loop": "more than 5 redirects", "/to-allowed": ""} {
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.2:%s%s", port, path))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want != "" || string(b) != "media" {
				t.Errorf("%s: followed to %q", path, b)
			}
			continue
		}
		if want == "" || !errors.Is(err, egress.ErrRefused) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want a refusal saying %q", path, err, want)
		}
	}
	if n := internalHits.Load(); n != 0 {
		t.Fatalf("the internal service received %d requests", n)
	}
}

// TestListedNameTrusted: a listed name may resolve to a private address
// (a service on the compose network); an unlisted one may not.
func TestListedNameTrusted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	r := egresstest.NewResolver(map[string][]string{"starter": {"127.0.0.1"}, "evil.example": {"127.0.0.1"}})
	p := mustPolicy(t, egress.Options{Allow: []string{"starter"}, Resolver: r})
	c := &http.Client{Transport: p.Transport()}
	resp, err := c.Get("http://starter:" + port + "/")
	if err != nil {
		t.Fatalf("listed name: %v", err)
	}
	resp.Body.Close()
	if _, err := c.Get("http://evil.example:" + port + "/"); !errors.Is(err, egress.ErrRefused) {
		t.Fatalf("unlisted name resolving to loopback: %v", err)
	}
}

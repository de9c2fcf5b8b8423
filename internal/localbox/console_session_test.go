package localbox

import (
	"strings"
	"testing"
	"time"

	"filesight/internal/secret"
)

func TestSessionStoreExpiresAndBounds(t *testing.T) {
	st := newSessionStore()
	now := time.Unix(1_800_000_000, 0)
	id, s := st.create(now, time.Hour)
	if len(id) < 43 || s.csrf == "" || s.csrf == id || len(s.marker) != 64 {
		t.Fatalf("session %q %+v", id, s)
	}
	if st.get(id, now.Add(59*time.Minute)) != s {
		t.Fatal("a live session is not found")
	}
	if st.get(id+"x", now) != nil || st.get("", now) != nil {
		t.Fatal("an unknown cookie names a session")
	}
	if st.get(id, now.Add(time.Hour)) != nil {
		t.Fatal("an expired session is found")
	}
	if len(st.m) != 0 {
		t.Fatal("an expired session is kept")
	}

	// The store keeps at most maxSessions: the one expiring first goes.
	first, _ := st.create(now, time.Minute)
	var last string
	for i := range maxSessions {
		last, _ = st.create(now.Add(time.Duration(i)*time.Millisecond), time.Hour)
	}
	if len(st.m) != maxSessions || st.get(first, now) != nil || st.get(last, now) == nil {
		t.Fatalf("%d sessions; first kept %t", len(st.m), st.get(first, now) != nil)
	}
	// Only hashes are kept.
	for k := range st.m {
		if k == last {
			t.Fatal("the cookie value is a key of the store")
		}
	}
}

func TestLocalNext(t *testing.T) {
	for in, want := range map[string]string{
		"": "/app/folder/0", "/app/file/1?t=3": "/app/file/1?t=3", "/app/": "/app/", "/appx": "/app/folder/0",
		"http://evil.example/app/": "/app/folder/0", "//evil.example/app/": "/app/folder/0", "/app/login?next=x": "/app/folder/0",
		"/2.0/files/1": "/app/folder/0", "/app/\\\\evil": "/app/folder/0", "/app/%0d%0aX: y": "/app/%0D%0AX:%20y", // stays encoded
		"javascript:alert(1)//app/": "/app/folder/0",
	} {
		if got := localNext(in); got != want {
			t.Errorf("localNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConsoleConfigValidate(t *testing.T) {
	c := ConsoleConfig{}
	if errs := c.validate(); len(errs) != 0 || c.SessionTTL != 8*time.Hour || c.TemporalNamespace != "default" {
		t.Fatalf("zero value: %v %+v", errs, c)
	}
	c = ConsoleConfig{Password: secret.String(strings.Repeat("x", 31)), SessionTTL: time.Second, TemporalUIURL: "ftp://x"}
	errs := c.validate()
	if len(errs) != 3 {
		t.Fatalf("errors: %v", errs)
	}
	for _, e := range errs {
		if strings.Contains(e.Error(), strings.Repeat("x", 31)) {
			t.Fatalf("the password is in an error: %v", e)
		}
	}
	c = ConsoleConfig{Password: secret.String(strings.Repeat("x", 32)), TemporalUIURL: "http://127.0.0.1:8233/"}
	if errs := c.validate(); len(errs) != 0 || c.TemporalUIURL != "http://127.0.0.1:8233" {
		t.Fatalf("valid: %v %q", errs, c.TemporalUIURL)
	}
}

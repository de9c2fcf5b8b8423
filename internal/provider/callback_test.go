package provider

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestCallbackSigner(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := CallbackSigner{Provider: "videoindexer", Key: "k-0123456789abcdef0123456789abcdef", Now: clock}
	signed, err := s.Sign("https://starter.example/callbacks/videoindexer?x=1", "file-1-v2", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(signed.Reveal())
	if u.Query().Get("x") != "1" || u.Path != "/callbacks/videoindexer" {
		t.Fatalf("existing query or path lost: %s", u)
	}
	// The provider appends its own parameters; they do not matter.
	q := u.Query()
	q.Set("id", "abc")
	q.Set("state", "Processed")
	if wf, err := s.Verify(q); err != nil || wf != "file-1-v2" {
		t.Fatalf("Verify = %q, %v", wf, err)
	}

	fail := func(name string, v CallbackSigner, q url.Values) {
		t.Helper()
		if _, err := v.Verify(q); !errors.Is(err, ErrCallbackAuth) {
			t.Errorf("%s: got %v, want ErrCallbackAuth", name, err)
		}
	}
	late := s
	late.Now = func() time.Time { return now.Add(time.Hour + time.Second) }
	fail("expired", late, q)
	other := s
	other.Provider = "assemblyai"
	fail("other provider's endpoint", other, q)
	fail("no key", CallbackSigner{Provider: "videoindexer"}, q)
	for _, p := range []string{CallbackParamWorkflow, CallbackParamExpires, CallbackParamSignature} {
		m, _ := url.ParseQuery(q.Encode())
		m.Set(p, m.Get(p)+"0")
		fail("tampered "+p, s, m)
		m.Del(p)
		fail("missing "+p, s, m)
	}
	rotated := s
	rotated.Key, rotated.Secondary = "n-0123456789abcdef0123456789abcdef", s.Key
	if _, err := rotated.Verify(q); err != nil {
		t.Errorf("old key as secondary: %v", err)
	}

	if _, err := (CallbackSigner{}).Sign("https://x/cb", "wf", time.Hour); err == nil {
		t.Error("signing without a key must fail")
	}
	if _, err := s.Sign("https://x/cb", "", time.Hour); err == nil {
		t.Error("signing without a workflow must fail")
	}
	if err := (CallbackSigner{Key: "short"}).Validate(); err == nil || !strings.Contains(err.Error(), "32") {
		t.Errorf("short key: %v", err)
	}
}

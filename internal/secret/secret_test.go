package secret

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestStringNeverFormatsItsValue(t *testing.T) {
	const raw = "s3cr3t-token-value"
	s := String(raw)
	type wrapper struct{ Tok String }
	outputs := []string{
		fmt.Sprint(s), fmt.Sprintf("%s %v %q %x %d %+v %#v", s, s, s, s, s, s, s),
		fmt.Sprintf("%+v %#v", wrapper{s}, wrapper{s}),
		fmt.Errorf("calling box with %v: %w", s, errors.New("boom")).Error(),
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("msg", "token", s)
	outputs = append(outputs, buf.String())
	for _, out := range outputs {
		if strings.Contains(out, raw) {
			t.Errorf("secret leaked in %q", out)
		}
	}
}

// JSON marshals the value on purpose (see the package doc): structs holding a
// String travel in encrypted payloads, and must not be logged whole.
func TestStringJSONRoundTrip(t *testing.T) {
	b, err := json.Marshal(struct{ T String }{"abc"})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"T":"abc"}` {
		t.Fatalf("got %s", b)
	}
	if String("").String() != "" || String("x").Fingerprint() == "" || String("x").Fingerprint() == String("y").Fingerprint() {
		t.Fatal("fingerprint or empty handling wrong")
	}
}

func TestCheckShared(t *testing.T) {
	short := String(strings.Repeat("k", MinSharedBytes-1))
	err := CheckShared("MLENGINE_API_KEY", short)
	if err == nil || !strings.Contains(err.Error(), "MLENGINE_API_KEY") || !strings.Contains(err.Error(), "32 bytes") || strings.Contains(err.Error(), short.Reveal()) {
		t.Fatalf("short key: %v", err)
	}
	if err := CheckShared("X", String(strings.Repeat("k", MinSharedBytes))); err != nil {
		t.Fatalf("32 bytes: %v", err)
	}
	if err := CheckShared("X", ""); err != nil {
		t.Fatalf("empty: %v", err)
	}
}

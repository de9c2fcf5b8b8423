package tokenseal_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"filesight/internal/codec"
	"filesight/internal/codec/codectest"
	"filesight/internal/secret"
	"filesight/internal/tokenseal"
)

const value = secret.String("downscoped-token-value-0123456789")

func newSealer(t *testing.T, keys ...codec.Key) *tokenseal.Sealer {
	t.Helper()
	s, err := tokenseal.New(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealOpenRoundTrip(t *testing.T) {
	s := newSealer(t, codectest.NewKey(t, "seal-1"))
	sealed, err := s.Seal(value, "box-token/42/read")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sealed, tokenseal.Prefix+"seal-1.") {
		t.Errorf("sealed value %q does not name its format and key", sealed)
	}
	if strings.Contains(sealed, value.Reveal()) {
		t.Fatal("the sealed value contains the token")
	}
	again, _ := s.Seal(value, "box-token/42/read")
	if again == sealed {
		t.Error("two seals of one value are equal (the nonce must be random)")
	}
	got, err := s.Open(sealed, "box-token/42/read")
	if err != nil || got != value {
		t.Fatalf("Open = %v, %v", got == value, err)
	}
	if _, err := s.Seal("", "x"); err == nil {
		t.Error("sealing an empty value succeeded")
	}
}

// The newest key seals, every key opens: values sealed before a rotation
// still open after it, values sealed after it name the new key, and a
// worker still on the old list reports the new key as unknown (another
// worker may open it), not as invalid.
func TestRotation(t *testing.T) {
	k1, k2 := codectest.NewKey(t, "seal-1"), codectest.NewKey(t, "seal-2")
	before := newSealer(t, k1)
	during := newSealer(t, k2, k1) // phase 1: seal-2 known everywhere, seal-1 still seals
	after := newSealer(t, k1, k2)  // phase 2: seal-2 seals
	retired := newSealer(t, k2)    // phase 3: seal-1 removed once its tokens expired

	old, _ := before.Seal(value, "l")
	if during.ActiveKeyID() != "seal-1" || after.ActiveKeyID() != "seal-2" {
		t.Fatalf("active keys %s %s", during.ActiveKeyID(), after.ActiveKeyID())
	}
	for name, s := range map[string]*tokenseal.Sealer{"during": during, "after": after} {
		if got, err := s.Open(old, "l"); err != nil || got != value {
			t.Errorf("%s: a value sealed before the rotation: %v", name, err)
		}
	}
	fresh, _ := after.Seal(value, "l")
	if !strings.HasPrefix(fresh, tokenseal.Prefix+"seal-2.") {
		t.Errorf("after the rotation the value is sealed as %q", fresh[:20])
	}
	for name, s := range map[string]*tokenseal.Sealer{"during": during, "retired": retired} {
		if got, err := s.Open(fresh, "l"); err != nil || got != value {
			t.Errorf("%s: a value sealed after the rotation: %v", name, err)
		}
	}
	if _, err := before.Open(fresh, "l"); !errors.Is(err, tokenseal.ErrUnknownKey) || errors.Is(err, tokenseal.ErrInvalid) {
		t.Errorf("a worker without seal-2: %v, want ErrUnknownKey", err)
	}
	if _, err := retired.Open(old, "l"); !errors.Is(err, tokenseal.ErrUnknownKey) {
		t.Errorf("a retired key: %v, want ErrUnknownKey", err)
	}
}

func TestOpenRefusesTamperingWrongKeyAndLabel(t *testing.T) {
	k := codectest.NewKey(t, "seal-1")
	s := newSealer(t, k)
	sealed, _ := s.Seal(value, "box-token/42/read")
	rest := strings.TrimPrefix(sealed, tokenseal.Prefix+"seal-1.")
	raw, _ := base64.RawURLEncoding.DecodeString(rest)
	flip := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 1
		return tokenseal.Prefix + "seal-1." + base64.RawURLEncoding.EncodeToString(b)
	}
	other := codectest.NewKey(t, "seal-1") // same ID, other key material
	otherKey := newSealer(t, other)
	for name, c := range map[string]struct {
		s             *tokenseal.Sealer
		sealed, label string
	}{
		"nonce bit flipped":      {s, flip(0), "box-token/42/read"},
		"ciphertext bit flipped": {s, flip(len(raw) / 2), "box-token/42/read"},
		"tag bit flipped":        {s, flip(len(raw) - 1), "box-token/42/read"},
		"truncated":              {s, tokenseal.Prefix + "seal-1." + base64.RawURLEncoding.EncodeToString(raw[:10]), "box-token/42/read"},
		"other label":            {s, sealed, "box-token/43/read"},
		"other purpose":          {s, sealed, "box-token/42/write"},
		"wrong key, same ID":     {otherKey, sealed, "box-token/42/read"},
		"not base64":             {s, tokenseal.Prefix + "seal-1.***", "box-token/42/read"},
		"no prefix":              {s, "seal-1." + rest, "box-token/42/read"},
		"no key ID":              {s, tokenseal.Prefix + rest, "box-token/42/read"},
		"empty":                  {s, "", "box-token/42/read"},
		"the raw token":          {s, value.Reveal(), "box-token/42/read"},
	} {
		got, err := c.s.Open(c.sealed, c.label)
		if !errors.Is(err, tokenseal.ErrInvalid) || got != "" {
			t.Errorf("%s: Open = %q, %v; want ErrInvalid", name, got.Reveal(), err)
		}
		if err != nil && strings.Contains(err.Error(), value.Reveal()) {
			t.Errorf("%s: the error shows the value", name)
		}
	}
	// A key ID may contain dots: the data never does.
	dotted := newSealer(t, codectest.NewKey(t, "2026.12.seal"))
	ds, _ := dotted.Seal(value, "l")
	if got, err := dotted.Open(ds, "l"); err != nil || got != value {
		t.Errorf("dotted key ID: %v", err)
	}
}

// A payload codec cannot open a sealed value even when it shares the key
// (associated data differs), and the configuration refuses shared keys in
// the first place.
func TestSealingKeysAreNotCodecKeys(t *testing.T) {
	k := codectest.NewKey(t, "k")
	shared := codectest.KeysString(k)
	cfg := tokenseal.Config{Keys: shared}
	err := cfg.CheckSeparate(codectest.KeysString(codectest.NewKey(t, "c"), k))
	if err == nil || !strings.Contains(err.Error(), "FILESIGHT_TOKEN_SEAL_KEYS") {
		t.Errorf("shared key accepted: %v", err)
	}
	if err := cfg.CheckSeparate(codectest.KeysString(codectest.NewKey(t, "c"))); err != nil {
		t.Errorf("separate keys refused: %v", err)
	}
	s, err := cfg.Sealer()
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := s.Seal(value, "")
	raw, _ := base64.RawURLEncoding.DecodeString(sealed[strings.LastIndexByte(sealed, '.')+1:])
	payload := &commonpb.Payload{
		Metadata: map[string][]byte{converter.MetadataEncoding: []byte(codec.EncodingEncrypted), codec.MetadataKeyID: []byte("k")},
		Data:     raw,
	}
	if _, err := codec.NewCodec(codectest.NewKeyring(t, k)).Decode([]*commonpb.Payload{payload}); err == nil {
		t.Error("the payload codec opened a sealed value")
	}
}

func TestConfigErrorsNameTheVariableNotTheKey(t *testing.T) {
	short := "seal-1:" + base64.StdEncoding.EncodeToString([]byte("only-sixteen-byt"))
	for name, keys := range map[string]string{
		"empty":     "",
		"no id":     base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"short key": short,
		"not b64":   "seal-1:@@@@secret-material@@@@",
		"dup":       codectest.KeysString(codectest.NewKey(t, "a"), codectest.NewKey(t, "a")).Reveal(),
	} {
		_, err := tokenseal.Config{Keys: secret.String(keys)}.Sealer()
		if err == nil || !strings.Contains(err.Error(), "FILESIGHT_TOKEN_SEAL_KEYS") {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if strings.Contains(err.Error(), "secret-material") || strings.Contains(err.Error(), "b25seS1zaXh0ZWVu") {
			t.Errorf("%s: the error shows key material: %v", name, err)
		}
	}
	s := newSealer(t, codectest.NewKey(t, "seal-9"))
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%+v", s), fmt.Sprintf("%#v", s)} {
		if out != "tokenseal.Sealer{active: seal-9}" {
			t.Errorf("formatting shows %q", out)
		}
	}
}

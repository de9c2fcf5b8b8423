package codectest_test

import (
	"testing"

	"filesight/internal/codec"
	"filesight/internal/codec/codectest"
)

func TestKeysRoundTrip(t *testing.T) {
	a, b := codectest.NewKey(t, "a"), codectest.NewKey(t, "b")
	keys, err := codec.ParseKeys(codectest.KeysString(a, b))
	if err != nil || len(keys) != 2 || keys[0].ID != "a" || string(keys[1].Secret) != string(b.Secret) {
		t.Fatalf("parsed %v, %v", keys, err)
	}
	if kr := codectest.NewKeyring(t, a, b); kr.ActiveKeyID() != "b" {
		t.Errorf("active key %s, want b", kr.ActiveKeyID())
	}
	if kr := codectest.ParseKeyring(t, codectest.KeysString(a, b)); kr.ActiveKeyID() != "b" {
		t.Errorf("parsed keyring's active key %s, want b", kr.ActiveKeyID())
	}
	if kr := codectest.NewKeyring(t); kr.ActiveKeyID() != "test" {
		t.Errorf("default keyring's key %s", kr.ActiveKeyID())
	}
}

package vaultserver

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"filesight/internal/vault"
)

func testKeyring(t *testing.T, spec string) *keyring {
	t.Helper()
	kr, err := parseKeyring(secretOf(spec))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func openTestStore(t *testing.T) *store {
	t.Helper()
	st, err := openStore(context.Background(), filepath.Join(t.TempDir(), "vault.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.close() })
	return st
}

const key1 = "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes

func TestStoreHasSecureDelete(t *testing.T) {
	st := openTestStore(t)
	var on int
	if err := st.db.QueryRow("PRAGMA secure_delete").Scan(&on); err != nil || on != 1 {
		t.Fatalf("secure_delete = %d (%v)", on, err)
	}
}

func TestStoreRefusesAnIDCollision(t *testing.T) {
	st, kr := openTestStore(t), testKeyring(t, key1)
	ctx := context.Background()
	if _, err := st.put(ctx, kr, []entry{{id: "00000000000000000000", kind: vault.KindCard, mac: []byte{1}, value: "4242424242424242"}}); err != nil {
		t.Fatal(err)
	}
	// The same ID again with the same MAC is a repeat: nothing new.
	if n, err := st.put(ctx, kr, []entry{{id: "00000000000000000000", kind: vault.KindCard, mac: []byte{1}, value: "4242424242424242"}}); err != nil || n != 0 {
		t.Fatalf("repeat: %d %v", n, err)
	}
	_, err := st.put(ctx, kr, []entry{{id: "00000000000000000000", kind: vault.KindCard, mac: []byte{2}, value: "5555555555554444"}})
	if !errors.Is(err, errCollision) || strings.Contains(err.Error(), "5555") {
		t.Fatalf("collision: %v", err)
	}
}

// A sealed value moved to another row (or relabelled with another kind)
// does not decrypt: the row's ID, kind and key ID are authenticated.
func TestSealedValuesAreBoundToTheirRow(t *testing.T) {
	st, kr := openTestStore(t), testKeyring(t, key1)
	ctx := context.Background()
	if _, err := st.put(ctx, kr, []entry{
		{id: "aaaaaaaaaaaaaaaaaaaa", kind: vault.KindCard, mac: []byte{1}, value: "4242424242424242"},
		{id: "bbbbbbbbbbbbbbbbbbbb", kind: vault.KindCard, mac: []byte{2}, value: "5555555555554444"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.db.Exec("UPDATE vault_values SET sealed = (SELECT sealed FROM vault_values WHERE id = 'aaaaaaaaaaaaaaaaaaaa') WHERE id = 'bbbbbbbbbbbbbbbbbbbb'"); err != nil {
		t.Fatal(err)
	}
	_, err := st.detokenize(ctx, kr, []vault.Token{{Kind: vault.KindCard, ID: "bbbbbbbbbbbbbbbbbbbb"}}, vault.AuditEvent{Actor: "t", Action: "detokenize", Remote: "test"})
	if err == nil || !strings.Contains(err.Error(), "authentication failed") {
		t.Fatalf("moved ciphertext: %v", err)
	}
	// Nothing was audited as returned: the transaction rolled back.
	var n int
	if err := st.db.QueryRow("SELECT COUNT(*) FROM audit").Scan(&n); err != nil || n != 0 {
		t.Fatalf("audit rows %d %v", n, err)
	}
}

func TestDeniedLimiter(t *testing.T) {
	l := &deniedLimiter{perMinute: 2}
	now := timeAt(0)
	for i, want := range []bool{true, true, false, false} {
		if ok, _ := l.admit(now); ok != want {
			t.Fatalf("request %d admitted %v", i, ok)
		}
	}
	ok, dropped := l.admit(timeAt(61))
	if !ok || dropped != 2 {
		t.Fatalf("next minute: %v, %d dropped", ok, dropped)
	}
}

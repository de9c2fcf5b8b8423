// Package tokensealtest makes token sealers for tests. It is never linked
// into a program.
package tokensealtest

import (
	"testing"

	"filesight/internal/codec"
	"filesight/internal/codec/codectest"
	"filesight/internal/tokenseal"
)

// New returns a sealer over keys, the last one sealing; with no keys, over
// one fresh random key named "seal-test".
func New(t testing.TB, keys ...codec.Key) *tokenseal.Sealer {
	t.Helper()
	if len(keys) == 0 {
		keys = []codec.Key{codectest.NewKey(t, "seal-test")}
	}
	s, err := tokenseal.New(keys...)
	if err != nil {
		t.Fatalf("tokensealtest: %v", err)
	}
	return s
}

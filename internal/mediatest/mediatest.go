// Package mediatest holds the test helpers around internal/samplemedia.
package mediatest

import (
	"testing"

	"filesight/internal/samplemedia"
)

// Require fails the test (it does not skip) when a tool the analyzers or
// the sample generator need is missing (samplemedia.Check).
func Require(t testing.TB) {
	t.Helper()
	if err := samplemedia.Check(); err != nil {
		t.Fatalf("%v (%s)", err, samplemedia.InstallHint)
	}
}

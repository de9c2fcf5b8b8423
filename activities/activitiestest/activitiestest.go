// Package activitiestest holds in-memory fakes of the Box client and of an
// ML provider, for unit tests of the activities and of the workflow (with
// Temporal's test environment and its virtual clock). They enforce what the
// real services enforce where the workflow depends on it: token scopes,
// file restriction, revocation, Box's card schema, idempotent submission.
package activitiestest

import (
	"time"
)

// Clock returns the current time; tests pass the test environment's Now.
type Clock func() time.Time

// Call is one recorded call.
type Call struct {
	Op  string
	At  time.Time
	Err error
	// Token is the fingerprint of the token revoked (Revoke calls).
	Token string
}

// callsOf returns the calls of op among calls ("" for all), in order.
func callsOf(calls []Call, op string) []Call {
	var out []Call
	for _, c := range calls {
		if op == "" || c.Op == op {
			out = append(out, c)
		}
	}
	return out
}

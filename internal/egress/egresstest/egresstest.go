// Package egresstest provides a scripted DNS resolver for tests of
// outbound URL policies (egress.Resolver): a name can resolve to an
// allowed address first and to an internal one the next time, as in a DNS
// rebinding attack. It is never linked into a program.
package egresstest

import (
	"context"
	"net"
	"net/netip"
	"sync"
)

// Resolver answers each lookup of a name with the next of its scripted
// addresses (the last one repeats); unknown names are not found.
type Resolver struct {
	mu      sync.Mutex
	answers map[string][]netip.Addr
	lookups map[string]int
}

// NewResolver scripts answers: name → the addresses of its successive
// lookups, one address each.
func NewResolver(answers map[string][]string) *Resolver {
	r := &Resolver{answers: map[string][]netip.Addr{}, lookups: map[string]int{}}
	for name, as := range answers {
		for _, a := range as {
			r.answers[name] = append(r.answers[name], netip.MustParseAddr(a))
		}
	}
	return r
}

// LookupNetIP implements egress.Resolver.
func (r *Resolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	as, ok := r.answers[host]
	if !ok || len(as) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	i := min(r.lookups[host], len(as)-1)
	r.lookups[host]++
	return []netip.Addr{as[i]}, nil
}

// Lookups is how many times name was looked up.
func (r *Resolver) Lookups(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lookups[name]
}

package workflows_test

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	"filesight/workflows/semaphore"
)

// fakeSemaphore plays the providers' semaphores for ProcessFile's unit
// tests (the semaphore workflow has tests of its own): the RequestLease
// activity queues the request, a release signal frees the lease, and at
// most limit leases are granted at once, first come first served, by
// signalling the run. limit 0 grants nothing.
type fakeSemaphore struct {
	env *testsuite.TestWorkflowEnvironment

	mu         sync.Mutex
	limit      int
	fail       error // returned by RequestLease when set
	requests   []semaphore.LeaseRequest
	held       []string
	waiting    []semaphore.LeaseRequest
	grantedAt  map[string]time.Time
	releasedAt map[string]time.Time
	releases   []string // lease IDs in release order (withdrawals included)
	maxHeld    int
}

func newFakeSemaphore(env *testsuite.TestWorkflowEnvironment) *fakeSemaphore {
	f := &fakeSemaphore{env: env, limit: 1, grantedAt: map[string]time.Time{}, releasedAt: map[string]time.Time{}}
	env.RegisterActivityWithOptions(f.requestLease, activity.RegisterOptions{Name: "RequestLease"})
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, "", semaphore.SignalRelease, mock.Anything).Return(
		func(_, _, _, _ string, arg any) error {
			f.release(arg.(semaphore.Release).LeaseID)
			return nil
		}).Maybe()
	return f
}

func (f *fakeSemaphore) setLimit(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.limit = n
}

func (f *fakeSemaphore) requestLease(_ context.Context, in semaphore.LeaseRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, in)
	if f.fail != nil {
		return f.fail
	}
	id := in.Request.LeaseID
	if slices.Contains(f.held, id) {
		f.env.SignalWorkflow(semaphore.SignalGranted, semaphore.Grant{Resource: in.Resource, LeaseID: id})
		return nil
	}
	if !slices.ContainsFunc(f.waiting, func(r semaphore.LeaseRequest) bool { return r.Request.LeaseID == id }) {
		f.waiting = append(f.waiting, in)
	}
	f.grantLocked()
	return nil
}

func (f *fakeSemaphore) release(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.releases = append(f.releases, id)
	f.releasedAt[id] = f.env.Now()
	f.held = slices.DeleteFunc(f.held, func(h string) bool { return h == id })
	f.waiting = slices.DeleteFunc(f.waiting, func(r semaphore.LeaseRequest) bool { return r.Request.LeaseID == id })
	f.grantLocked()
}

func (f *fakeSemaphore) grantLocked() {
	for len(f.held) < f.limit && len(f.waiting) > 0 {
		r := f.waiting[0]
		f.waiting = f.waiting[1:]
		f.held = append(f.held, r.Request.LeaseID)
		f.maxHeld = max(f.maxHeld, len(f.held))
		f.grantedAt[r.Request.LeaseID] = f.env.Now()
		f.env.SignalWorkflow(semaphore.SignalGranted, semaphore.Grant{Resource: r.Resource, LeaseID: r.Request.LeaseID})
	}
}

// snapshot returns the requests and the releases so far.
func (f *fakeSemaphore) snapshot() (requests []semaphore.LeaseRequest, releases []string, maxHeld int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests), slices.Clone(f.releases), f.maxHeld
}

func (f *fakeSemaphore) times(id string) (granted, released time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.grantedAt[id], f.releasedAt[id]
}

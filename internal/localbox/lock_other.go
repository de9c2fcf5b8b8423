//go:build !unix

package localbox

// dirLock is a no-op where flock(2) does not exist; run one localbox per
// data directory there.
type dirLock struct{}

func lockDir(string) (*dirLock, error) { return &dirLock{}, nil }

func (*dirLock) release() error { return nil }

// Package boundedio reads what a peer sends up to a limit and says so when
// there is more, instead of cutting it short without a word as
// io.LimitReader does (a decoder would take the cut for a truncated answer
// and a caller might retry it, or pass a cut file off as whole).
package boundedio

import "io"

// Reader reads at most N bytes of R. Asked for more, it looks for one byte
// beyond the limit: if there is one, it fails with Err; if R has ended,
// it ends too.
type Reader struct {
	R   io.Reader
	N   int64 // bytes still allowed
	Err error // returned past the limit
}

func (l *Reader) Read(p []byte) (int, error) {
	if l.N <= 0 {
		var probe [1]byte
		n, err := l.R.Read(probe[:])
		if n > 0 {
			return 0, l.Err
		}
		return 0, err
	}
	if int64(len(p)) > l.N {
		p = p[:l.N]
	}
	n, err := l.R.Read(p)
	l.N -= int64(n)
	return n, err
}

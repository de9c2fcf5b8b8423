package boundedio

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReader(t *testing.T) {
	tooLarge := errors.New("too large")
	for _, tc := range []struct {
		in    string
		limit int64
		want  string
		err   error
	}{
		{"hello", 10, "hello", nil},
		{"hello", 5, "hello", nil}, // exactly the limit
		{"hello!", 5, "", tooLarge},
		{"", 0, "", nil},
		{"x", 0, "", tooLarge},
	} {
		for name, r := range map[string]io.Reader{"whole": strings.NewReader(tc.in), "byte by byte": iotest.OneByteReader(strings.NewReader(tc.in))} {
			got, err := io.ReadAll(&Reader{R: r, N: tc.limit, Err: tooLarge})
			if !errors.Is(err, tc.err) || (tc.err == nil && string(got) != tc.want) {
				t.Errorf("%q limit %d (%s): %q, %v; want %q, %v", tc.in, tc.limit, name, got, err, tc.want, tc.err)
			}
		}
	}
}

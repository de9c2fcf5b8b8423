package replayer

import (
	"strings"
	"testing"

	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/sdk/temporal"

	"filesight/internal/codec"
	"filesight/internal/codec/codectest"
	"filesight/internal/temporalclient"
)

// chain decodes every link of a failure encrypted the way the programs
// store them, and says so when a link does not decode.
func TestChainDecodesEncryptedFailures(t *testing.T) {
	dc := codec.NewDataConverter(codectest.NewKeyring(t), codec.Options{Compress: true})
	cause := temporal.NewNonRetryableApplicationError("box: 403 forbidden", "Forbidden", nil)
	f := temporalclient.FailureConverter(dc).ErrorToFailure(temporal.NewApplicationErrorWithCause("describing file 7", "", cause))
	for g := f; g != nil; g = g.GetCause() {
		if g.GetMessage() != "Encoded failure" {
			t.Fatalf("failure not encoded: %q", g.GetMessage())
		}
	}
	got := chain(dc, f)
	if len(got) != 2 || got[0].Message != "describing file 7" || got[1].Message != "box: 403 forbidden" ||
		got[1].Kind != "application error Forbidden" || !got[1].NonRetryable || got[0].NonRetryable {
		t.Fatalf("chain = %+v", got)
	}
	var b strings.Builder
	(&Summary{Failure: got}).WriteText(&b)
	if !strings.Contains(b.String(), "failure     describing file 7 [application error]\n  caused by: box: 403 forbidden [application error Forbidden, non-retryable]\n") {
		t.Errorf("text:\n%s", b.String())
	}

	other := codec.NewDataConverter(codectest.NewKeyring(t, codectest.NewKey(t, "other")), codec.Options{Compress: true})
	if got := chain(other, f); len(got) != 2 || !strings.HasPrefix(got[0].Message, "(cannot decode the failure message: ") {
		t.Fatalf("with another key: %+v", got)
	}
	plain := &failurepb.Failure{Message: "plain", FailureInfo: &failurepb.Failure_TimeoutFailureInfo{TimeoutFailureInfo: &failurepb.TimeoutFailureInfo{}}}
	if got := chain(dc, plain); len(got) != 1 || got[0].Message != "plain" || got[0].Kind != "timeout unspecified" {
		t.Fatalf("plain failure: %+v", got)
	}
}

package starter_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.temporal.io/api/serviceerror"

	"filesight/internal/starter"
	"filesight/workflows"
)

func TestFilterCheck(t *testing.T) {
	tests := []struct {
		name   string
		f      starter.Filter
		file   string
		ext    string
		size   int64
		passes bool
	}{
		{"zero filter accepts everything", starter.Filter{}, "x.bin", "", 1 << 40, true},
		{"allowed extension", starter.Filter{Extensions: []string{"mp4"}}, "talk.mp4", "", 1, true},
		{"case and dot insensitive", starter.Filter{Extensions: []string{".MP4"}}, "TALK.Mp4", "", 1, true},
		{"explicit extension wins over name", starter.Filter{Extensions: []string{"mov"}}, "noext", "mov", 1, true},
		{"other extension", starter.Filter{Extensions: []string{"mp4"}}, "notes.txt", "", 1, false},
		{"no extension with allow list", starter.Filter{Extensions: []string{"mp4"}}, "README", "", 1, false},
		{"at the size limit", starter.Filter{MaxSize: 100}, "a.mp4", "", 100, true},
		{"over the size limit", starter.Filter{MaxSize: 100}, "a.mp4", "", 101, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reason := tc.f.Check(tc.file, tc.ext, tc.size)
			if (reason == "") != tc.passes {
				t.Fatalf("Check = %q, want passes=%v", reason, tc.passes)
			}
		})
	}
}

func TestStartValidatesAndRerunPolicy(t *testing.T) {
	fake := newFakeTemporal()
	svc := starter.NewService(fake, starter.Options{})
	ctx := context.Background()
	if _, err := svc.Start(ctx, workflows.ProcessFileInput{FileID: "1"}); !errors.Is(err, starter.ErrInvalid) {
		t.Fatalf("start without version: %v, want ErrInvalid", err)
	}
	if fake.startCount() != 0 {
		t.Fatal("invalid start reached Temporal")
	}
	d, err := svc.Start(ctx, workflows.ProcessFileInput{FileID: "1", FileVersionID: "2", Source: starter.SourceManual}, starter.StartOptions{RerunFailed: true})
	if err != nil || d.Outcome != starter.OutcomeStarted || d.WorkflowID != "file-1-v2" {
		t.Fatalf("start: %+v %v", d, err)
	}
	if p := fake.starts[0].WorkflowIDReusePolicy.String(); p != "AllowDuplicateFailedOnly" {
		t.Errorf("rerun policy = %s", p)
	}
	if !fake.starts[0].WorkflowExecutionErrorWhenAlreadyStarted {
		t.Error("already-started must surface as an error to tell duplicates apart")
	}
	if fake.starts[0].TypedSearchAttributes.Size() != 0 {
		t.Error("search attributes set although SetSearchAttributes is off")
	}
}

func TestUnavailableErrorsAreMarked(t *testing.T) {
	for _, tc := range []struct {
		err         error
		unavailable bool
	}{
		{serviceerror.NewUnavailable("x"), true},
		{serviceerror.NewDeadlineExceeded("x"), true},
		{serviceerror.NewResourceExhausted(0, "x"), true},
		{context.DeadlineExceeded, true},
		{errors.New("dial tcp: connection refused"), true},
		{serviceerror.NewInvalidArgument("x"), false},
		{serviceerror.NewPermissionDenied("x", ""), false},
		{serviceerror.NewNamespaceNotFound("x"), false},
		// A retry cannot cure these either: a namespace in the wrong state,
		// an API the server does not implement.
		{serviceerror.NewFailedPrecondition("x"), false},
		{serviceerror.NewUnimplemented("x"), false},
		// Wrapped by a caller, they keep their class.
		{fmt.Errorf("start: %w", serviceerror.NewFailedPrecondition("x")), false},
		{fmt.Errorf("start: %w", serviceerror.NewUnavailable("x")), true},
		{serviceerror.NewCanceled("x"), true},
		{context.Canceled, true},
		{serviceerror.NewInternal("x"), true},
	} {
		fake := newFakeTemporal()
		fake.startErr = tc.err
		_, err := starter.NewService(fake, starter.Options{}).Start(context.Background(), workflows.ProcessFileInput{FileID: "1", FileVersionID: "2"})
		if errors.Is(err, starter.ErrUnavailable) != tc.unavailable {
			t.Errorf("%T: ErrUnavailable=%v, want %v (%v)", tc.err, !tc.unavailable, tc.unavailable, err)
		}
		if !strings.Contains(err.Error(), "file-1-v2") {
			t.Errorf("error does not say what failed: %v", err)
		}
	}
}

func TestSummaryAndDetails(t *testing.T) {
	in := workflows.ProcessFileInput{FileID: "11", FileVersionID: "22", FileName: strings.Repeat("n", 300) + ".mp4",
		Size: 5, Source: starter.SourceBackfill, EventID: "ev", Trigger: "FILE.UPLOADED"}
	s := starter.Summary(in)
	if !strings.Contains(s, "file 11, version 22") || !strings.Contains(s, "backfill") || len([]rune(s)) > 200 {
		t.Errorf("summary %q", s)
	}
	d := starter.Details(in)
	for _, want := range []string{"`11`", "`22`", "5 bytes", "backfill", "`FILE.UPLOADED`", "`ev`"} {
		if !strings.Contains(d, want) {
			t.Errorf("details lack %q: %s", want, d)
		}
	}
	if s := starter.Summary(workflows.ProcessFileInput{FileID: "9", FileVersionID: "8"}); !strings.Contains(s, "Analyze file 9") {
		t.Errorf("summary without name %q", s)
	}
}

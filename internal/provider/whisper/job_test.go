package whisper_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"filesight/internal/provider"
	"filesight/internal/provider/whisper"
	"filesight/workflows"
)

func jobEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	// A busy machine may not schedule a workflow task within the SDK's
	// default deadlock timeout of 1 s; a real deadlock still fails.
	env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: 30 * time.Second})
	env.RegisterWorkflowWithOptions(whisper.TranscriptionJob, workflow.RegisterOptions{Name: whisper.JobWorkflowName})
	env.SetTestTimeout(30 * time.Second)
	return env
}

var jobInput = whisper.JobInput{
	Provider: "whisper", ParentWorkflowID: "file-1-v2", Signal: workflows.SignalJobCallback,
	MediaURL: "https://box.example/2.0/files/1/content", SealedMediaToken: "fsseal1.k.sealed",
	Analyses: []string{provider.AnalysisTranscript}, AttemptTimeout: time.Minute, HeartbeatTimeout: 10 * time.Second, MaxAttempts: 3,
}

// captureSignal records the callbacks sent to the submitting workflow, as
// the workflow's own type decodes them.
func captureSignal(env *testsuite.TestWorkflowEnvironment, got *[]workflows.JobCallback) {
	env.OnSignalExternalWorkflow(mock.Anything, "file-1-v2", "", workflows.SignalJobCallback, mock.Anything).Return(nil).Run(func(args mock.Arguments) {
		b, _ := json.Marshal(args.Get(4))
		var cb workflows.JobCallback
		_ = json.Unmarshal(b, &cb)
		*got = append(*got, cb)
	})
}

func TestJobSucceedsAfterRetries(t *testing.T) {
	env := jobEnv(t)
	var calls atomic.Int32
	env.RegisterActivityWithOptions(func(ctx context.Context, in whisper.TranscribeInput) (whisper.JobOutput, error) {
		if in.SealedMediaToken != "fsseal1.k.sealed" || in.JobID == "" {
			return whisper.JobOutput{}, errors.New("bad input")
		}
		if calls.Add(1) < 3 {
			return whisper.JobOutput{}, temporal.NewApplicationErrorWithOptions("server busy", whisper.ErrTypeUnavailable,
				temporal.ApplicationErrorOptions{NextRetryDelay: time.Second})
		}
		return whisper.JobOutput{Words: 12, Duration: 6}, nil
	}, activity.RegisterOptions{Name: whisper.ActivityName})
	var cbs []workflows.JobCallback
	captureSignal(env, &cbs)
	env.ExecuteWorkflow(whisper.JobWorkflowName, jobInput)
	var out whisper.JobOutput
	if err := env.GetWorkflowResult(&out); err != nil || out.Words != 12 || calls.Load() != 3 {
		t.Fatalf("result %+v %v after %d attempts", out, err, calls.Load())
	}
	if len(cbs) != 1 || cbs[0].Provider != "whisper" || cbs[0].Status != "succeeded" || cbs[0].JobID != "default-test-workflow-id" {
		t.Fatalf("callbacks %+v", cbs)
	}
}

func TestJobFailureCarriesTheJobError(t *testing.T) {
	env := jobEnv(t)
	var calls atomic.Int32
	env.RegisterActivityWithOptions(func(ctx context.Context, in whisper.TranscribeInput) (whisper.JobOutput, error) {
		calls.Add(1)
		return whisper.JobOutput{}, temporal.NewApplicationErrorWithOptions("the read token was refused", whisper.ErrTypeMediaUnauthorized,
			temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{provider.JobError{Code: whisper.ErrTypeMediaUnauthorized, Message: "the read token was refused", Retryable: true}}})
	}, activity.RegisterOptions{Name: whisper.ActivityName})
	var cbs []workflows.JobCallback
	captureSignal(env, &cbs)
	env.ExecuteWorkflow(whisper.JobWorkflowName, jobInput)
	err := env.GetWorkflowError()
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || !ae.NonRetryable() || ae.Type() != whisper.ErrTypeMediaUnauthorized {
		t.Fatalf("got %v", err)
	}
	var je provider.JobError
	if err := ae.Details(&je); err != nil || !je.Retryable || je.Code != whisper.ErrTypeMediaUnauthorized {
		t.Fatalf("details %+v %v", je, err)
	}
	if calls.Load() != 1 || len(cbs) != 1 || cbs[0].Status != "failed" {
		t.Fatalf("%d attempts, callbacks %+v", calls.Load(), cbs)
	}
}

func TestJobGivesUpAfterMaxAttempts(t *testing.T) {
	env := jobEnv(t)
	var calls atomic.Int32
	env.RegisterActivityWithOptions(func(ctx context.Context, in whisper.TranscribeInput) (whisper.JobOutput, error) {
		calls.Add(1)
		return whisper.JobOutput{}, temporal.NewApplicationErrorWithOptions("the transcription server: Service Unavailable", whisper.ErrTypeUnavailable,
			temporal.ApplicationErrorOptions{NextRetryDelay: time.Second, Details: []any{provider.JobError{Code: whisper.ErrTypeUnavailable, Message: "the transcription server: Service Unavailable", Retryable: true}}})
	}, activity.RegisterOptions{Name: whisper.ActivityName})
	in := jobInput
	in.ParentWorkflowID = "" // no callback
	env.ExecuteWorkflow(whisper.JobWorkflowName, in)
	var ae *temporal.ApplicationError
	err := env.GetWorkflowError()
	if !errors.As(err, &ae) || calls.Load() != 3 {
		t.Fatalf("%v after %d attempts", err, calls.Load())
	}
	var je provider.JobError
	if ae.Details(&je) != nil || !je.Retryable || je.Code != whisper.ErrTypeUnavailable {
		t.Fatalf("details %+v", je)
	}
}

// The submitting workflow may be gone; the job still succeeds.
func TestJobSucceedsWhenTheCallbackCannotBeDelivered(t *testing.T) {
	env := jobEnv(t)
	env.RegisterActivityWithOptions(func(ctx context.Context, in whisper.TranscribeInput) (whisper.JobOutput, error) {
		return whisper.JobOutput{Words: 1}, nil
	}, activity.RegisterOptions{Name: whisper.ActivityName})
	env.OnSignalExternalWorkflow(mock.Anything, "file-1-v2", "", workflows.SignalJobCallback, mock.Anything).Return(errors.New("workflow not found"))
	env.ExecuteWorkflow(whisper.JobWorkflowName, jobInput)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
}

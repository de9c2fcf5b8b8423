package workflows

import (
	"fmt"
	"math"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"filesight/activities"
)

// Activity timeouts and retry policies. docs/workflow.md explains each
// choice; in short: start-to-close bounds one attempt (one or two HTTP
// calls), schedule-to-close bounds how long we keep trying, and only the
// poll's schedule-to-close is long, because it *is* the job's deadline.

// unlimitedAttempts is "retry until the schedule-to-close timeout (or, for
// revocation, forever)". On the server MaximumAttempts 0 means the same,
// but Temporal's test environment turns 0 into 10 attempts, and the polls
// of a long job are many more than 10: an explicit bound keeps tests and
// production identical.
const unlimitedAttempts = math.MaxInt32

// Box calls: a few seconds each; Box's own 429s are honoured through
// NextRetryDelay, other transient failures back off exponentially.
var boxRetry = &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute}

var issueOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    30 * time.Second,
	ScheduleToCloseTimeout: 10 * time.Minute,
	RetryPolicy:            boxRetry,
	// A token issued by an attempt still running when the workflow is
	// cancelled must reach the workflow, so that it gets revoked.
	WaitForCancellation: true,
}

var describeOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    30 * time.Second,
	ScheduleToCloseTimeout: 5 * time.Minute,
	RetryPolicy:            boxRetry,
}

var submitOptions = workflow.ActivityOptions{
	StartToCloseTimeout: time.Minute,
	// A provider with a full queue answers 429 + Retry-After; 15 minutes
	// of that and the job counts as failed to submit.
	ScheduleToCloseTimeout: 15 * time.Minute,
	RetryPolicy:            &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	// A job created by an attempt still running when the workflow is
	// cancelled must reach the workflow, so that it gets cancelled.
	WaitForCancellation: true,
}

// pollOptions: each attempt is one status call. ScheduleToCloseTimeout is
// set per use to the time left until the job's deadline; unlimited attempts
// let the retries (= the polls) go on until then. NextRetryDelay from the
// activity sets the pace; the backoff here only applies to errors that do
// not set it (network failures).
var pollOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: unlimitedAttempts},
}

var statusOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    30 * time.Second,
	ScheduleToCloseTimeout: 2 * time.Minute,
	RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 15 * time.Second},
}

var cancelOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    30 * time.Second,
	ScheduleToCloseTimeout: 5 * time.Minute,
	RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second},
}

// revokeOptions: unbounded retry (no schedule-to-close, unlimited attempts).
// A token that expires meanwhile ends the retries by itself (the activity
// reports it expired), so the loop is bounded by the token's lifetime.
var revokeOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute, MaximumAttempts: unlimitedAttempts},
}

// Card writes: one attempt fetches results from the provider (possibly
// megabytes) and writes one metadata document; it heartbeats between the
// two. Retries stop a minute before the write token expires.
const (
	writeStartToClose = 2 * time.Minute
	writeHeartbeat    = time.Minute
	writeMaxTotal     = 20 * time.Minute
	writeMinTotal     = time.Minute
	tokenMargin       = time.Minute
)

func (r *run) writeOptions(ctx workflow.Context, tok activities.Token) workflow.ActivityOptions {
	total := writeMaxTotal
	if !tok.ExpiresAt.IsZero() {
		total = min(total, tok.ExpiresAt.Sub(workflow.Now(ctx))-tokenMargin)
	}
	return workflow.ActivityOptions{
		StartToCloseTimeout:    writeStartToClose,
		HeartbeatTimeout:       writeHeartbeat,
		ScheduleToCloseTimeout: max(total, writeMinTotal),
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	}
}

// bestEffort bounds an activity used during clean-up.
func bestEffort(o workflow.ActivityOptions) workflow.ActivityOptions {
	o.ScheduleToCloseTimeout = 2 * time.Minute
	rp := *o.RetryPolicy
	rp.MaximumAttempts = 5
	o.RetryPolicy = &rp
	return o
}

// ao applies options and a one-line summary (shown by the Temporal UI for
// the activity). Summaries name files, jobs and token fingerprints, never
// secrets.
func (r *run) ao(ctx workflow.Context, o workflow.ActivityOptions, format string, args ...any) workflow.Context {
	o.Summary = fmt.Sprintf(format, args...)
	return workflow.WithActivityOptions(ctx, o)
}

package workflows

import (
	"errors"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"filesight/activities"
)

var (
	// errDeadline marks a job whose deadline passed.
	errDeadline = errors.New("job deadline passed")
	// errWriteToken marks a card write that failed because no write
	// token could be issued.
	errWriteToken = errors.New("issuing a write token")
)

// invalidInput is the failure of a run refused for its input: retrying
// the same input cannot help.
func invalidInput(what string, err error) error {
	return temporal.NewNonRetryableApplicationError(what+": "+err.Error(), string(ErrTypeInvalidInput), nil)
}

// isPollTimeout recognises the end of a poll activity by its deadline:
// either the schedule-to-close timeout fired, or the next retry would have
// been after it (then the last "still running" failure is returned).
func isPollTimeout(err error) bool {
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		return true
	}
	var ae *temporal.ActivityError
	if errors.As(err, &ae) && ae.RetryState() == enumspb.RETRY_STATE_TIMEOUT {
		return true
	}
	return activities.ErrTypeStillRunning.Matches(err)
}

// failureText is the innermost useful message of an activity error chain,
// without Temporal's wrapping ("activity error (type: ..., scheduledEventID...)").
func failureText(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		return "timed out (" + strings.ToLower(strings.TrimPrefix(te.TimeoutType().String(), "TIMEOUT_TYPE_")) + ")"
	}
	var ce *temporal.CanceledError
	if errors.As(err, &ce) {
		return "cancelled"
	}
	return err.Error()
}

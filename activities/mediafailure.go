package activities

import (
	"fmt"
	"strings"

	"filesight/internal/provider"
)

// errorMessage is the provider's message of a failed job: Error without
// the "code: " the workflow puts in front of it.
func (j JobOutcome) errorMessage() string {
	if j.ErrorCode == "" {
		return j.Error
	}
	return strings.TrimPrefix(j.Error, j.ErrorCode+": ")
}

// mediaFailure is the fixed text of a job that failed because of the media
// itself (a provider.Reason: not readable audio or video, too long, ...),
// as people see it on the status card: the provider's fixed message, never
// a tool's output or a path (provider.MediaFailureText).
func (j JobOutcome) mediaFailure() (string, bool) {
	if j.State != JobFailed {
		return "", false
	}
	return provider.MediaFailureText(j.ErrorCode, j.errorMessage())
}

// mediaFailureMessage is the whole status message of a run that produced
// no card because a job failed on the media: that job's fixed text alone.
func mediaFailureMessage(jobs []JobOutcome) (string, bool) {
	for _, j := range jobs {
		if text, ok := j.mediaFailure(); ok {
			return text, true
		}
	}
	return "", false
}

// mediaFailureReason is how a media failure is named among others.
func mediaFailureReason(j JobOutcome) (string, bool) {
	text, ok := j.mediaFailure()
	if !ok {
		return "", false
	}
	return fmt.Sprintf("job %q: %s", j.Name, strings.TrimSuffix(text, ".")), true
}

// permanentMediaFailure makes a job that failed because of the media
// non-retryable whatever its provider says: the same file fails again.
func permanentMediaFailure(st provider.JobStatus) provider.JobStatus {
	if st.Error != nil && st.Error.Retryable && provider.Reason(st.Error.Code).Media() {
		e := *st.Error
		e.Retryable = false
		st.Error = &e
	}
	return st
}

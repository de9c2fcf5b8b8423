package activities

import (
	"context"
	"net/http"

	"go.temporal.io/sdk/activity"

	"filesight/internal/provider"
)

// What WriteCards does with the ML results besides building cards: redact
// them before anything is built, and delete them at their providers once
// the cards are written.

// redactJobs replaces the sensitive values in every fetched result by vault
// tokens, with one Redactor call per result document, and counts what it
// replaced or left out into each job. The result is first put in the form
// the cards show it (prepareResult), so that what the vault sees is exactly
// what is written. When the vault fails, nothing is replaced and the error
// is returned classified (classifyVault): WriteCards then fails and is
// retried; it never writes a value, nor a placeholder instead of a token.
func redactJobs(ctx context.Context, r Redactor, jobs []fetchedJob) error {
	for i := range jobs {
		j := &jobs[i]
		if j.result == nil {
			continue
		}
		prepared := prepareResult(j.result)
		red, found, err := r.RedactResult(ctx, prepared)
		if err != nil {
			return classifyVault("redacting the result of job "+j.Ref.String(), err)
		}
		j.result = red
		// Keywords that hold a value, or a word of one ("jane" after
		// jane.doe@example.com), are left out rather than tokenized.
		j.redactions = len(found) + len(prepared.Keywords) - len(red.Keywords)
	}
	return nil
}

// writeProgress is WriteCards' heartbeat. Heartbeat details outlive an
// attempt: the next attempt of the same activity reads them.
type writeProgress struct {
	// Fetched names the job whose result was fetched last.
	Fetched string `json:"fetched,omitempty"`
	// Written is set once the cards are on the file, before the results are
	// deleted: a retry (the attempt's completion was lost, or its worker
	// died just after) returns it instead of fetching results that may be
	// gone.
	Written *WriteCardsResult `json:"written,omitempty"`
}

// writtenBefore returns what an earlier attempt of this activity wrote,
// if it got that far.
func (a *Activities) writtenBefore(ctx context.Context) (WriteCardsResult, bool) {
	if !activity.IsActivity(ctx) || !activity.HasHeartbeatDetails(ctx) {
		return WriteCardsResult{}, false
	}
	var p writeProgress
	if err := activity.GetHeartbeatDetails(ctx, &p); err != nil || p.Written == nil {
		return WriteCardsResult{}, false
	}
	return *p.Written, true
}

// recordWritten records that the cards are written, and reports whether
// the results may be deleted now. The SDK batches heartbeats (one per 80 %
// of the heartbeat timeout; the rest are sent later or, when the attempt
// fails, with the failure), so with Options.Heartbeats the record is also
// sent at once through the client; if that fails, the results are left to
// their providers' retention rather than deleted unrecorded.
func (a *Activities) recordWritten(ctx context.Context, res WriteCardsResult) bool {
	if !activity.IsActivity(ctx) {
		return true
	}
	p := writeProgress{Written: &res}
	activity.RecordHeartbeat(ctx, p)
	if a.opts.Heartbeats == nil {
		return true
	}
	if err := a.opts.Heartbeats.RecordActivityHeartbeat(ctx, activity.GetInfo(ctx).TaskToken, p); err != nil {
		a.log(ctx).WarnContext(ctx, "could not record that the cards are written; the results are left to their providers' retention", "error", err)
		return false
	}
	return true
}

// releaseResults deletes the results of the jobs that succeeded at their
// providers, where the provider can (provider.ResultDeleter): the cards
// hold what is needed, and raw ML output may hold values the cards show
// only as tokens. It is best effort: a failure is logged and the provider's
// own retention deletes the result later.
func (a *Activities) releaseResults(ctx context.Context, jobs []JobOutcome) {
	deleted := 0
	for _, j := range jobs {
		if j.State != JobSucceeded {
			continue
		}
		d, ok := a.providers[j.Ref.Provider].(provider.ResultDeleter)
		if !ok {
			continue
		}
		err := d.DeleteResult(ctx, j.Ref)
		if pe, ok := provider.AsError(err); ok && pe.StatusCode == http.StatusNotFound {
			err = nil // the job itself is gone: so is its result
		}
		if err != nil {
			a.log(ctx).WarnContext(ctx, "the result of a job could not be deleted at its provider; its retention will", "job", j.Ref.String(), "error", err)
			continue
		}
		deleted++
	}
	if deleted > 0 {
		a.log(ctx).InfoContext(ctx, "results deleted at their providers", "results", deleted)
	}
}

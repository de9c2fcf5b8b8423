package workflows

import (
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"filesight/internal/provider"
)

// How a run presents itself: the Stage search attribute, the "current
// details" the Temporal UI shows, and the progress query. None of it holds
// a secret: tokens appear by fingerprint.

func (r *run) setStage(ctx workflow.Context, stage Stage) {
	r.stage = stage
	r.upsert(ctx, temporal.NewSearchAttributeKeyKeyword(SearchAttrStage).ValueSet(string(stage)))
	r.updateDetails(ctx)
}

func (r *run) upsert(ctx workflow.Context, u temporal.SearchAttributeUpdate) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, u); err != nil {
		workflow.GetLogger(ctx).Warn("upserting a search attribute failed", "error", err)
	}
}

func (r *run) warn(format string, args ...any) {
	if len(r.warnings) < 32 {
		r.warnings = append(r.warnings, fmt.Sprintf(format, args...))
	}
}

// updateDetails refreshes the workflow's "current details", the markdown
// the Temporal UI shows on the workflow page. No secret ever goes in.
func (r *run) updateDetails(ctx workflow.Context) {
	var b strings.Builder
	b.WriteString(fmt.Sprintf("**Stage:** %s  \n**File:** %s", r.stage, r.in.FileID))
	if r.in.FileVersionID != "" {
		b.WriteString(fmt.Sprintf(" v%s", r.in.FileVersionID))
	}
	if r.fileName != "" {
		b.WriteString(fmt.Sprintf(" (%s)", r.fileName))
	}
	b.WriteString(fmt.Sprintf("  \n**Media:** %s\n", r.mediaKind))
	for _, j := range r.jobs {
		b.WriteString(fmt.Sprintf("\n- job `%s` on %s: **%s**", j.spec.Name, j.spec.Provider, j.state))
		if j.ref.ID != "" {
			b.WriteString(fmt.Sprintf(" (id %s)", j.ref.ID))
		}
		if j.attempt > 1 {
			b.WriteString(fmt.Sprintf(", attempt %d", j.attempt))
		}
		if j.lease != nil {
			b.WriteString(fmt.Sprintf(", lease %s (at most %d %s jobs at once)", j.lease.state, j.maxOpen, j.spec.Provider))
		}
		if j.mediaFetched {
			b.WriteString(", media fetched")
		}
		if j.err != "" {
			b.WriteString(fmt.Sprintf(" — %s", j.err))
		}
	}
	if len(r.tokens) > 0 {
		b.WriteString("\n\n**Tokens:**")
		for _, t := range r.tokens {
			b.WriteString(fmt.Sprintf(" %s %s=%s;", t.tok.Purpose, t.tok.ID, t.state))
		}
	}
	workflow.SetCurrentDetails(ctx, b.String())
}

func (r *run) progress() Progress {
	p := Progress{
		WorkflowID: r.wfID, FileID: r.in.FileID, FileName: r.fileName, Stage: r.stage, MediaKind: r.mediaKind,
		Jobs: []JobProgress{}, Tokens: []TokenProgress{}, Callbacks: len(r.callbacks), Outcome: r.outcome,
		Failed: slices.Clone(r.failed), Warnings: slices.Clone(r.warnings),
	}
	for _, j := range r.jobs {
		p.Jobs = append(p.Jobs, JobProgress{
			Name: j.spec.Name, Provider: j.spec.Provider, JobID: j.ref.ID, Analyses: slices.Clone(j.spec.Analyses),
			State: j.state, MediaFetched: j.mediaFetched, Deadline: j.deadline, Callback: j.callbackUsed || r.callbackPending(j), Error: j.err,
			Attempt: j.attempt, PreviousAttempts: slices.Clone(j.prior), TaskQueue: j.queue, Lease: j.leaseProgress(),
		})
	}
	for _, t := range r.tokens {
		p.Tokens = append(p.Tokens, TokenProgress{
			ID: t.tok.ID, Purpose: t.tok.Purpose, Scopes: slices.Clone(t.tok.Scopes), State: t.state, ExpiresAt: t.tok.ExpiresAt,
		})
	}
	return p
}

func processingMessage(kind MediaKind, specs []JobSpec) string {
	var names []string
	for _, s := range specs {
		for _, an := range s.Analyses {
			if n := analysisLabel(an); n != "" && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return fmt.Sprintf("Analysing this %s file (%s). Results will appear here when ready.", kind, strings.Join(names, ", "))
}

func analysisLabel(a string) string {
	switch a {
	case provider.AnalysisTranscript:
		return "transcript"
	case provider.AnalysisKeywords:
		return "keywords"
	case provider.AnalysisScenes:
		return "scenes"
	case provider.AnalysisOCR:
		return "on-screen text"
	}
	return ""
}

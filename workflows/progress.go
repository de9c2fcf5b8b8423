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

// setStage moves the run to stage. Runs recorded before
// changeStageUpserts upsert every stage; the others only the published
// ones, together with whatever waits in r.pending, in one upsert.
func (r *run) setStage(ctx workflow.Context, stage Stage) {
	r.stage = stage
	switch {
	case !r.fewerUpserts:
		r.upsert(ctx, stageAttribute(stage))
	case publishedStage(stage):
		r.upsert(ctx, append(r.pending, stageAttribute(stage))...)
		r.pending = nil
	}
	r.updateDetails(ctx)
}

// setMediaKind records the kind; the MediaKind search attribute goes out
// at once (runs recorded before changeStageUpserts) or with the next
// published stage.
func (r *run) setMediaKind(ctx workflow.Context, kind MediaKind) {
	r.mediaKind = kind
	u := temporal.NewSearchAttributeKeyKeyword(SearchAttrMediaKind).ValueSet(string(kind))
	if r.fewerUpserts {
		r.pending = append(r.pending, u)
		return
	}
	r.upsert(ctx, u)
}

// publishStart makes the run findable by FileID and Stage from its first
// workflow task: one upsert of what the start did not already set (the
// starter sets both unless STARTER_SET_SEARCH_ATTRIBUTES=false), none when
// it set both.
func (r *run) publishStart(ctx workflow.Context) {
	fileID := temporal.NewSearchAttributeKeyKeyword(SearchAttrFileID)
	stage := temporal.NewSearchAttributeKeyKeyword(SearchAttrStage)
	set := workflow.GetTypedSearchAttributes(ctx)
	var us []temporal.SearchAttributeUpdate
	if v, ok := set.GetKeyword(fileID); !ok || v != r.in.FileID {
		us = append(us, fileID.ValueSet(r.in.FileID))
	}
	if v, ok := set.GetKeyword(stage); !ok || v != string(StageStarting) {
		us = append(us, stageAttribute(StageStarting))
	}
	if len(us) > 0 {
		r.upsert(ctx, us...)
	}
	r.updateDetails(ctx)
}

// publishedStage reports whether a stage is one users filter on, and so
// upserted as the Stage search attribute: "starting" (the start),
// "processing" (the jobs run at the providers) and the final stages. The
// others last a workflow task or two and show only in the progress query
// and the UI.
func publishedStage(s Stage) bool {
	switch s {
	case StageDescribing, StageSubmitting, StageWriting, StageCleaningUp:
		return false
	}
	return true
}

func stageAttribute(s Stage) temporal.SearchAttributeUpdate {
	return temporal.NewSearchAttributeKeyKeyword(SearchAttrStage).ValueSet(string(s))
}

func (r *run) upsert(ctx workflow.Context, us ...temporal.SearchAttributeUpdate) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, us...); err != nil {
		workflow.GetLogger(ctx).Warn("upserting search attributes failed", "error", err)
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

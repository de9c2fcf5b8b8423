package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"filesight/activities"
	"filesight/internal/box"
)

// tokenRun is one downscoped token of the run. Every token issued is in
// run.tokens, so that the compensation revokes whatever is left.
type tokenRun struct {
	tok   activities.Token
	state activities.TokenState
	err   string
}

func (r *run) issueToken(ctx workflow.Context, purpose activities.TokenPurpose, scopes ...string) (*tokenRun, error) {
	return r.issueTokenWith(ctx, issueOptions, purpose, scopes...)
}

func (r *run) issueTokenWith(ctx workflow.Context, o workflow.ActivityOptions, purpose activities.TokenPurpose, scopes ...string) (*tokenRun, error) {
	var tok activities.Token
	err := workflow.ExecuteActivity(r.ao(ctx, o, "Issue %s token (%s) for file %s", purpose, strings.Join(scopes, " "), r.in.FileID),
		a.IssueToken, activities.IssueTokenInput{FileID: r.in.FileID, Purpose: purpose, Scopes: scopes}).Get(ctx, &tok)
	if err != nil {
		return nil, err
	}
	t := &tokenRun{tok: tok, state: activities.TokenIssued}
	r.tokens = append(r.tokens, t)
	r.updateDetails(ctx)
	return t, nil
}

// revoke revokes one token now, on a disconnected context: revocation must
// happen even if the workflow is being cancelled.
func (r *run) revoke(ctx workflow.Context, t *tokenRun) {
	if t.state != activities.TokenIssued {
		return
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	r.collectRevoke(dctx, t, r.startRevoke(dctx, t))
}

func (r *run) startRevoke(ctx workflow.Context, t *tokenRun) workflow.Future {
	return workflow.ExecuteActivity(r.ao(ctx, revokeOptions, "Revoke %s token %s", t.tok.Purpose, t.tok.ID), a.RevokeToken, t.tok)
}

func (r *run) collectRevoke(ctx workflow.Context, t *tokenRun, f workflow.Future) {
	var res activities.RevokeTokenResult
	if err := f.Get(ctx, &res); err != nil {
		t.state, t.err = activities.TokenRevokeFailed, failureText(err)
		r.warn("revoking %s token %s failed: %v", t.tok.Purpose, t.tok.ID, t.err)
	} else {
		t.state = res.State
	}
	r.updateDetails(ctx)
}

// revokeAll revokes, in parallel, every token still issued.
func (r *run) revokeAll(ctx workflow.Context) {
	var open []*tokenRun
	var fs []workflow.Future
	for _, t := range r.tokens {
		if t.state == activities.TokenIssued {
			open = append(open, t)
			fs = append(fs, r.startRevoke(ctx, t))
		}
	}
	for i, f := range fs {
		r.collectRevoke(ctx, open[i], f)
	}
}

// writeMode is how hard a card write tries.
type writeMode int

const (
	// duringRun: the activities' own retry policies, and a write refused
	// because its token was rejected (it expired while the write was
	// retrying) is tried once more with a new token.
	duringRun writeMode = iota
	// duringCleanUp: bounded retries (bestEffort) and a single token, so
	// that the compensation ends whatever Box does.
	duringCleanUp
)

// options applies the mode to an activity's options.
func (m writeMode) options(o workflow.ActivityOptions) workflow.ActivityOptions {
	if m == duringCleanUp {
		return bestEffort(o)
	}
	return o
}

// tokens is how many write tokens one write may use.
func (m writeMode) tokens() int {
	if m == duringCleanUp {
		return 1
	}
	return 2
}

// withWriteToken issues a write token for one write and revokes it right
// after; a token rejected by Box is replaced as the mode allows. A failure
// to issue the token wraps errWriteToken.
func (r *run) withWriteToken(ctx workflow.Context, mode writeMode, write func(activities.Token) error) error {
	var err error
	for range mode.tokens() {
		var t *tokenRun
		t, err = r.issueTokenWith(ctx, mode.options(issueOptions), activities.PurposeWrite, box.ScopeItemUpload)
		if err != nil {
			return fmt.Errorf("%w: %w", errWriteToken, err)
		}
		err = write(t.tok)
		r.revoke(ctx, t)
		if !activities.ErrTypeTokenRejected.Matches(err) {
			return err
		}
	}
	return err
}

// writeStatus sets the file's cards to one status card (code is a
// box.Status* value), with a write token of its own.
func (r *run) writeStatus(ctx workflow.Context, mode writeMode, code, message string) error {
	return r.withWriteToken(ctx, mode, func(tok activities.Token) error {
		return workflow.ExecuteActivity(r.ao(ctx, mode.options(r.writeOptions(ctx, tok)), "Write %q status card to file %s", code, r.in.FileID), a.WriteStatus,
			activities.WriteStatusInput{FileID: r.in.FileID, Token: tok, InvocationID: r.wfID, Code: code, Message: message}).Get(ctx, nil)
	})
}

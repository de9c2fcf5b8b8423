package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"filesight/activities"
)

type tokenRun struct {
	tok   activities.Token
	state string
	err   string
}

func (r *run) issueToken(ctx workflow.Context, purpose string, scopes ...string) (*tokenRun, error) {
	return r.issueTokenWith(ctx, issueOptions, purpose, scopes...)
}

func (r *run) issueTokenWith(ctx workflow.Context, o workflow.ActivityOptions, purpose string, scopes ...string) (*tokenRun, error) {
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

// withWriteToken issues a write token for one write and revokes it right
// after. If the write is refused because the token was rejected (expired
// while the write was retrying), it tries once more with a new token.
func (r *run) withWriteToken(ctx workflow.Context, write func(activities.Token) error) error {
	var err error
	for round := 0; round < 2; round++ {
		var t *tokenRun
		t, err = r.issueToken(ctx, activities.PurposeWrite, activities.ScopeItemUpload)
		if err != nil {
			return fmt.Errorf("issuing a write token: %w", err)
		}
		err = write(t.tok)
		r.revoke(ctx, t)
		if !hasType(err, activities.ErrTypeTokenRejected) {
			return err
		}
	}
	return err
}

func (r *run) writeStatus(ctx workflow.Context, code, message string) error {
	return r.withWriteToken(ctx, func(tok activities.Token) error {
		return workflow.ExecuteActivity(r.ao(ctx, r.writeOptions(ctx, tok), "Write %q status card to file %s", code, r.in.FileID), a.WriteStatus,
			activities.WriteStatusInput{FileID: r.in.FileID, Token: tok, InvocationID: r.wfID, Code: code, Message: message}).Get(ctx, nil)
	})
}

// writeStatusBestEffort is for clean-up: bounded retries, failure only warned.
func (r *run) writeStatusBestEffort(ctx workflow.Context, code, message string) {
	t, err := r.issueTokenWith(ctx, bestEffort(issueOptions), activities.PurposeWrite, activities.ScopeItemUpload)
	if err != nil {
		r.warn("the final status card was not written: issuing a write token: %v", failureText(err))
		return
	}
	o := bestEffort(r.writeOptions(ctx, t.tok))
	err = workflow.ExecuteActivity(r.ao(ctx, o, "Write %q status card to file %s", code, r.in.FileID), a.WriteStatus,
		activities.WriteStatusInput{FileID: r.in.FileID, Token: t.tok, InvocationID: r.wfID, Code: code, Message: message}).Get(ctx, nil)
	if err != nil {
		r.warn("the final status card was not written: %v", failureText(err))
	}
	r.revoke(ctx, t)
}

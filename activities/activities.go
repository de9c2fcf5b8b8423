// Package activities holds ProcessFile's activities: everything that talks
// to Box and to the ML providers. Each method is one short, retry-safe step;
// errors are classified into Temporal application errors (see errors.go) so
// that retry policies retry what can succeed later and stop at once on what
// cannot.
package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"filesight/internal/box"
	"filesight/internal/provider"
	"filesight/internal/secret"
	"filesight/internal/tokenseal"
	"filesight/internal/vault"
)

// Box is the part of the Box client the activities use (*box.Client).
type Box interface {
	Downscope(ctx context.Context, fileID string, scopes ...string) (box.Token, error)
	Revoke(ctx context.Context, token secret.String) error
	GetFile(ctx context.Context, token secret.String, fileID string, fields ...string) (*box.File, error)
	FileContentURL(fileID string) string
	UpsertSkillsCards(ctx context.Context, token secret.String, fileID string, cards []box.Card) error
}

// Redactor replaces the sensitive values in an ML result document by vault
// tokens (*vault.Redactor; the worker's tokenizes through the vault
// service): one call per document, returning a redacted copy. An error
// means nothing was replaced; the caller retries or gives up, and never
// writes the document unredacted.
type Redactor interface {
	RedactResult(ctx context.Context, res *provider.Result) (*provider.Result, []vault.Finding, error)
}

// HeartbeatRecorder records an activity's heartbeat at once, without the
// SDK's batching (client.Client does).
type HeartbeatRecorder interface {
	RecordActivityHeartbeat(ctx context.Context, taskToken []byte, details ...interface{}) error
}

// Options configure the activities.
type Options struct {
	// CallbackBaseURL is the starter's public base URL; jobs are submitted
	// with callback URL {CallbackBaseURL}/callbacks/{provider}. Empty: no
	// callbacks, polling only.
	CallbackBaseURL string
	// SkillID is the cards' skill.id (default "filesight").
	SkillID string
	// Limits keep card documents modest (defaults in cards.go).
	MaxTranscriptEntries int
	MaxKeywords          int
	MaxTimelineEntries   int
	// Heartbeats, when set (the worker passes its Temporal client), records
	// that WriteCards has written the cards before it deletes the results
	// at their providers, so that a retry of the same activity (whose
	// completion was lost) finds that record rather than deleted results.
	// Without it the record is an ordinary heartbeat, which the SDK may
	// hold back for a while (see writeProgress).
	Heartbeats HeartbeatRecorder
	// Now is the clock (default time.Now); tests replace it.
	Now func() time.Time
	// Logger for what the activities do (default slog.Default()). Tokens
	// are logged by fingerprint only.
	Logger *slog.Logger
	// Selection gives each analysis its provider (PlanJobs); the zero
	// value gives every analysis to mlengine.
	Selection provider.Selection
	// Policies are the providers' task queues, deadlines, poll intervals
	// and concurrency caps, by provider name (PlanJobs).
	Policies map[string]ProviderPolicy
}

// Activities is registered with the worker; the workflow calls its methods
// by name through a nil *Activities.
type Activities struct {
	box       Box
	sealer    *tokenseal.Sealer
	providers map[string]provider.Provider
	redactor  Redactor
	cards     cardBuilder
	opts      Options
}

// New builds the activities. Every provider is registered under its Name();
// redactor must not be nil (sensitive values never reach the metadata
// store), nor sealer (token values never enter workflow history in clear).
func New(b Box, providers []provider.Provider, redactor Redactor, sealer *tokenseal.Sealer, opts Options) (*Activities, error) {
	if b == nil {
		return nil, errors.New("activities: a Box client is required")
	}
	if sealer == nil {
		return nil, errors.New("activities: a token sealer is required")
	}
	if redactor == nil {
		return nil, errors.New("activities: a redactor (vault) is required")
	}
	if len(providers) == 0 {
		return nil, errors.New("activities: at least one provider is required")
	}
	m := make(map[string]provider.Provider, len(providers))
	for _, p := range providers {
		if p == nil || p.Name() == "" {
			return nil, errors.New("activities: a provider has no name")
		}
		if _, dup := m[p.Name()]; dup {
			return nil, fmt.Errorf("activities: provider %q registered twice", p.Name())
		}
		m[p.Name()] = p
	}
	if opts.CallbackBaseURL != "" {
		u, err := url.Parse(opts.CallbackBaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("activities: callback base URL %q is not an http(s) URL", opts.CallbackBaseURL)
		}
		opts.CallbackBaseURL = strings.TrimRight(opts.CallbackBaseURL, "/")
	}
	if opts.SkillID == "" {
		opts.SkillID = "filesight"
	}
	if opts.MaxTranscriptEntries <= 0 {
		opts.MaxTranscriptEntries = defaultMaxTranscriptEntries
	}
	if opts.MaxKeywords <= 0 {
		opts.MaxKeywords = defaultMaxKeywords
	}
	if opts.MaxTimelineEntries <= 0 {
		opts.MaxTimelineEntries = defaultMaxTimelineEntries
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if len(opts.Selection.Providers()) == 0 {
		opts.Selection = defaultSelection()
	}
	cards := cardBuilder{skillID: opts.SkillID, limits: cardLimits{
		transcriptEntries: opts.MaxTranscriptEntries, keywords: opts.MaxKeywords, timelineEntries: opts.MaxTimelineEntries,
	}}
	return &Activities{box: b, sealer: sealer, providers: m, redactor: redactor, cards: cards, opts: opts}, nil
}

// providerNames lists the registered provider names, sorted. (Exported
// methods of Activities are activities: keep helpers unexported.)
func (a *Activities) providerNames() []string {
	names := make([]string, 0, len(a.providers))
	for n := range a.providers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (a *Activities) log(ctx context.Context) *slog.Logger {
	l := a.opts.Logger
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		l = l.With("workflow_id", info.WorkflowExecution.ID, "activity", info.ActivityType.Name, "attempt", info.Attempt)
	}
	return l
}

func (a *Activities) provider(name string) (provider.Provider, error) {
	p, ok := a.providers[name]
	if !ok {
		return nil, permanent(fmt.Sprintf("no provider %q on this worker (have %s)", name, strings.Join(a.providerNames(), ", ")), ErrTypeUnknownProvider)
	}
	return p, nil
}

// IssueToken exchanges the service's token for one restricted to a file
// and the given scopes, and returns it sealed (see Token).
func (a *Activities) IssueToken(ctx context.Context, in IssueTokenInput) (Token, error) {
	if in.FileID == "" || len(in.Scopes) == 0 {
		return Token{}, permanent("issue token: file ID and scopes are required", ErrTypeInvalid)
	}
	t, err := a.box.Downscope(ctx, in.FileID, in.Scopes...)
	if err != nil {
		return Token{}, classifyBox(fmt.Sprintf("issuing a %s token for file %s", in.Purpose, in.FileID), err)
	}
	tok := Token{
		ID: t.AccessToken.Fingerprint(), Purpose: in.Purpose, FileID: in.FileID,
		Scopes: t.Scopes, ExpiresAt: t.ExpiresAt,
	}
	if tok.Sealed, err = a.sealer.Seal(t.AccessToken, tok.sealLabel()); err != nil {
		// The token exists but cannot be handed on: revoke it at once
		// (best effort; it expires anyway) rather than leave it live.
		_ = a.box.Revoke(ctx, t.AccessToken)
		return Token{}, permanent(fmt.Sprintf("sealing the %s token for file %s: %v", in.Purpose, in.FileID, err), ErrTypeSealedToken)
	}
	a.log(ctx).InfoContext(ctx, "token issued", "token_id", tok.ID, "purpose", tok.Purpose, "file_id", tok.FileID,
		"scopes", strings.Join(tok.Scopes, " "), "expires_at", tok.ExpiresAt)
	return tok, nil
}

// expiryGrace is how long past its expiry a token is still revoked, in
// case our clock runs behind Box's.
const expiryGrace = time.Minute

// RevokeToken revokes a token; one already expired is left alone (and
// reported so). Revoking twice is harmless.
func (a *Activities) RevokeToken(ctx context.Context, t Token) (RevokeTokenResult, error) {
	if !t.ExpiresAt.IsZero() && a.opts.Now().After(t.ExpiresAt.Add(expiryGrace)) {
		a.log(ctx).InfoContext(ctx, "token already expired; nothing to revoke", "token_id", t.ID, "purpose", t.Purpose)
		return RevokeTokenResult{State: TokenExpired}, nil
	}
	value, err := a.tokenValue(t)
	if err != nil {
		return RevokeTokenResult{}, err
	}
	if err := a.box.Revoke(ctx, value); err != nil {
		return RevokeTokenResult{}, classifyBox(fmt.Sprintf("revoking %s token %s", t.Purpose, t.ID), err)
	}
	a.log(ctx).InfoContext(ctx, "token revoked", "token_id", t.ID, "purpose", t.Purpose, "file_id", t.FileID)
	return RevokeTokenResult{State: TokenRevoked}, nil
}

// tokenValue opens a token's sealed value (or takes the clear value of a
// run recorded before sealing). A value sealed under a key this worker
// lacks fails retryably, so that a worker with the key takes the retry;
// one that fails authentication, or does not match the token's
// fingerprint, cannot succeed anywhere.
func (a *Activities) tokenValue(t Token) (secret.String, error) {
	switch {
	case t.Sealed != "":
		v, err := a.sealer.Open(t.Sealed, t.sealLabel())
		if errors.Is(err, tokenseal.ErrUnknownKey) {
			return "", retryable(fmt.Sprintf("opening %s token %s: %v", t.Purpose, t.ID, err), ErrTypeSealedToken, 0)
		}
		if err != nil {
			return "", permanent(fmt.Sprintf("opening %s token %s: %v", t.Purpose, t.ID, err), ErrTypeSealedToken)
		}
		if v.Fingerprint() != t.ID {
			return "", permanent(fmt.Sprintf("%s token %s: the sealed value does not match the token's fingerprint", t.Purpose, t.ID), ErrTypeSealedToken)
		}
		return v, nil
	case !t.LegacyAccessToken.IsZero():
		return t.LegacyAccessToken, nil
	}
	return "", permanent(fmt.Sprintf("%s token %s carries no value", t.Purpose, t.ID), ErrTypeInvalid)
}

// DescribeFile reads the file's name, size, extension and current version
// with the read token. A file that is gone is not an error: Found is false.
func (a *Activities) DescribeFile(ctx context.Context, in DescribeFileInput) (FileInfo, error) {
	token, err := a.tokenValue(in.Token)
	if err != nil {
		return FileInfo{}, err
	}
	f, err := a.box.GetFile(ctx, token, in.FileID, "name", "extension", "size", "file_version", "item_status")
	if e, ok := box.AsError(err); ok && e.NotFound() {
		return FileInfo{ID: in.FileID, Found: false}, nil
	}
	if err != nil {
		return FileInfo{}, classifyBox("describing file "+in.FileID, err)
	}
	info := FileInfo{
		ID: in.FileID, Name: f.Name, Extension: f.Extension, Size: f.Size, FileVersionID: f.VersionID(),
		Found: f.ItemStatus == "" || f.ItemStatus == "active",
	}
	return info, nil
}

// WriteStatus sets the file's cards to one status card.
func (a *Activities) WriteStatus(ctx context.Context, in WriteStatusInput) error {
	token, err := a.tokenValue(in.Token)
	if err != nil {
		return err
	}
	card := a.cards.status(in.InvocationID, in.Code, in.Message)
	if err := a.box.UpsertSkillsCards(ctx, token, in.FileID, []box.Card{card}); err != nil {
		return classifyBox(fmt.Sprintf("writing the %s status card to file %s", in.Code, in.FileID), err)
	}
	a.log(ctx).InfoContext(ctx, "status card written", "file_id", in.FileID, "code", in.Code, "token_id", in.Token.ID)
	return nil
}

// WriteCards fetches each finished job's result from its provider (results
// never travel through workflow history), replaces the sensitive values in
// each by vault tokens (one vault call per result; see redactJobs), builds
// the Box Skills cards and the status card from them (see cardBuilder),
// and sets the file's cards to exactly that list (create-or-patch: a retry
// rewrites the same cards, never duplicates). Once the cards are written it
// deletes the results at their providers (best effort; see
// releaseResults); a retry after that returns what the first attempt
// wrote.
func (a *Activities) WriteCards(ctx context.Context, in WriteCardsInput) (WriteCardsResult, error) {
	if res, ok := a.writtenBefore(ctx); ok {
		a.log(ctx).InfoContext(ctx, "skills cards already written by an earlier attempt", "file_id", in.FileID,
			"cards", strings.Join(res.Cards, ","), "status", res.StatusCode)
		a.releaseResults(ctx, in.Jobs)
		return res, nil
	}
	token, err := a.tokenValue(in.Token)
	if err != nil {
		return WriteCardsResult{}, err
	}
	jobs, err := a.fetchResults(ctx, in.Jobs)
	if err != nil {
		return WriteCardsResult{}, err
	}
	if err := redactJobs(ctx, a.redactor, jobs); err != nil {
		return WriteCardsResult{}, err
	}
	cards, res := a.cards.build(in.InvocationID, jobs)
	if err := a.box.UpsertSkillsCards(ctx, token, in.FileID, cards); err != nil {
		return WriteCardsResult{}, classifyBox(fmt.Sprintf("writing %d skills cards to file %s", len(cards), in.FileID), err)
	}
	a.log(ctx).InfoContext(ctx, "skills cards written", "file_id", in.FileID, "cards", strings.Join(res.Cards, ","),
		"status", res.StatusCode, "failed", strings.Join(res.Failed, ","), "redactions", res.Redactions, "token_id", in.Token.ID)
	if a.recordWritten(ctx, res) {
		a.releaseResults(ctx, in.Jobs)
	}
	return res, nil
}

// fetchResults fetches the result of every succeeded job. A failure that
// may pass fails the activity (it is retried); one that retrying cannot fix
// is kept on the job, for the status card to name.
func (a *Activities) fetchResults(ctx context.Context, outcomes []JobOutcome) ([]fetchedJob, error) {
	jobs := make([]fetchedJob, len(outcomes))
	for i, j := range outcomes {
		jobs[i].JobOutcome = j
		if j.State != JobSucceeded {
			continue
		}
		p, err := a.provider(j.Ref.Provider)
		if err != nil {
			return nil, err
		}
		res, err := p.Result(ctx, j.Ref)
		if err != nil {
			cerr := classifyProvider("fetching the result of job "+j.Ref.String(), err)
			if isRetryable(cerr) {
				return nil, cerr
			}
			a.log(ctx).WarnContext(ctx, "the result of a job could not be fetched", "job", j.Ref.String(), "error", err)
			jobs[i].fetchErr = err
		} else {
			jobs[i].result = res
		}
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, writeProgress{Fetched: j.Name})
		}
	}
	return jobs, nil
}

// SubmitJob submits a job; the idempotency key makes retries land on the
// same job.
func (a *Activities) SubmitJob(ctx context.Context, in SubmitJobInput) (provider.JobRef, error) {
	p, err := a.provider(in.Provider)
	if err != nil {
		return provider.JobRef{}, err
	}
	token, err := a.tokenValue(in.ReadToken)
	if err != nil {
		return provider.JobRef{}, err
	}
	req := provider.JobRequest{
		IdempotencyKey: in.IdempotencyKey,
		MediaURL:       a.box.FileContentURL(in.FileID),
		MediaToken:     token,
		Analyses:       in.Analyses,
		Labels:         in.Labels,
	}
	if a.opts.CallbackBaseURL != "" {
		req.CallbackURL = a.opts.CallbackBaseURL + "/callbacks/" + url.PathEscape(p.Name())
	}
	ref, err := p.Submit(ctx, req)
	if err != nil {
		return provider.JobRef{}, classifyProvider(fmt.Sprintf("submitting job %s to %s", in.IdempotencyKey, in.Provider), err)
	}
	if ref.Provider == "" {
		ref.Provider = p.Name()
	}
	a.log(ctx).InfoContext(ctx, "job submitted", "job", ref.String(), "idempotency_key", in.IdempotencyKey,
		"analyses", strings.Join(in.Analyses, ","), "read_token_id", in.ReadToken.ID)
	return ref, nil
}

// AwaitJob is one poll of Temporal's infrequent-polling pattern: it reads
// the job's status once and, unless the mode's condition holds, fails with
// a retryable ErrTypeStillRunning whose NextRetryDelay paces the next poll.
// However long the job runs, the workflow history holds one activity.
func (a *Activities) AwaitJob(ctx context.Context, in AwaitJobInput) (provider.JobStatus, error) {
	p, err := a.provider(in.Ref.Provider)
	if err != nil {
		return provider.JobStatus{}, err
	}
	st, err := p.Status(ctx, in.Ref)
	if err != nil {
		return provider.JobStatus{}, classifyProvider("reading the status of job "+in.Ref.String(), err)
	}
	if st.State.Terminal() || (in.Mode == AwaitMediaFetched && st.MediaFetched) {
		return permanentMediaFailure(st), nil
	}
	attempt := int32(1)
	if activity.IsActivity(ctx) {
		attempt = activity.GetInfo(ctx).Attempt
	}
	delay := PollDelay(st.RetryAfter, attempt, in.MinDelay, in.MaxDelay)
	fetched := "media not fetched yet"
	if st.MediaFetched {
		fetched = "media fetched"
	}
	msg := fmt.Sprintf("job %s still %s (%.0f%%, %s); next poll in %s", in.Ref, st.State, st.Progress*100, fetched, delay)
	// Benign: an expected "not yet", which the SDK logs at debug level and
	// keeps out of its failure metrics (every poll is one such failure).
	return provider.JobStatus{}, temporal.NewApplicationErrorWithOptions(msg, string(ErrTypeStillRunning), temporal.ApplicationErrorOptions{
		NextRetryDelay: delay, Category: temporal.ApplicationErrorCategoryBenign,
	})
}

// PollDelay is the pause before the next poll: the provider's Retry-After
// when it gives one, otherwise growing by half with each attempt from
// minDelay; always within [minDelay, maxDelay].
func PollDelay(retryAfter time.Duration, attempt int32, minDelay, maxDelay time.Duration) time.Duration {
	if minDelay <= 0 {
		minDelay = 2 * time.Second
	}
	if maxDelay < minDelay {
		maxDelay = minDelay
	}
	d := retryAfter
	if d <= 0 {
		f := float64(minDelay) * math.Pow(1.5, float64(max(attempt, 1)-1))
		if f > float64(maxDelay) {
			f = float64(maxDelay)
		}
		d = time.Duration(f)
	}
	return min(max(d, minDelay), maxDelay)
}

// GetJobStatus reads a job's status once (after a callback).
func (a *Activities) GetJobStatus(ctx context.Context, ref provider.JobRef) (provider.JobStatus, error) {
	p, err := a.provider(ref.Provider)
	if err != nil {
		return provider.JobStatus{}, err
	}
	st, err := p.Status(ctx, ref)
	if err != nil {
		return provider.JobStatus{}, classifyProvider("reading the status of job "+ref.String(), err)
	}
	return permanentMediaFailure(st), nil
}

// CancelJob cancels a job at its provider. A job that is already gone is
// not an error.
func (a *Activities) CancelJob(ctx context.Context, ref provider.JobRef) error {
	p, err := a.provider(ref.Provider)
	if err != nil {
		return err
	}
	if err := p.Cancel(ctx, ref); err != nil {
		if pe, ok := provider.AsError(err); ok && pe.StatusCode == 404 {
			return nil
		}
		return classifyProvider("cancelling job "+ref.String(), err)
	}
	a.log(ctx).InfoContext(ctx, "job cancelled at the provider", "job", ref.String())
	return nil
}

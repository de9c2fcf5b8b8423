package workflows_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"filesight/activities"
	"filesight/activities/activitiestest"
	"filesight/internal/box"
	"filesight/internal/provider"
	"filesight/internal/tokenseal/tokensealtest"
	"filesight/internal/vault"
	"filesight/workflows"
)

const (
	fileID    = "1001"
	versionID = "2002"
)

// harness runs ProcessFile in Temporal's test environment (virtual clock)
// with the real activities over a fake Box and fake providers.
type harness struct {
	t         *testing.T
	env       *testsuite.TestWorkflowEnvironment
	box       *activitiestest.Box
	providers []*activitiestest.Provider

	mu       sync.Mutex
	started  []string       // activity types, in start order
	attempts map[string]int // activity type -> attempts started
	sa       []string       // "Name=value" in upsert order
	queues   []string       // "Activity@task queue" of every first attempt, in start order
	commands *commandCounter
	sem      *fakeSemaphore
}

type harnessOption func(*harnessConfig)

type harnessConfig struct {
	extraProviders []string
	plans          map[string]activitiestest.Plan
	callbackBase   string
	tokenLifetime  time.Duration
	selection      string
	policies       map[string]activities.ProviderPolicy
	// wrap, when set, stands between the activities and each fake provider
	// (to lose an answer, fail a call).
	wrap func(provider.Provider) provider.Provider
	// parents are more workflows to register (before the harness's mocks,
	// as the test environment requires), by name.
	parents map[string]any
}

// withParent registers a workflow that runs ProcessFile as its child.
func withParent(name string, wf any) harnessOption {
	return func(c *harnessConfig) {
		if c.parents == nil {
			c.parents = map[string]any{}
		}
		c.parents[name] = wf
	}
}

// withWrappedProviders puts wrap between the activities and every provider.
func withWrappedProviders(wrap func(provider.Provider) provider.Provider) harnessOption {
	return func(c *harnessConfig) { c.wrap = wrap }
}

// withTokenLifetime sets how long the fake Box's downscoped tokens live.
func withTokenLifetime(d time.Duration) harnessOption {
	return func(c *harnessConfig) { c.tokenLifetime = d }
}

// withSelection gives analyses to providers (FILESIGHT_ANALYSIS_PROVIDERS).
func withSelection(sel string) harnessOption {
	return func(c *harnessConfig) { c.selection = sel }
}

// withPolicy sets a provider's policy as the worker's configuration would.
func withPolicy(name string, p activities.ProviderPolicy) harnessOption {
	return func(c *harnessConfig) {
		if c.policies == nil {
			c.policies = map[string]activities.ProviderPolicy{}
		}
		c.policies[name] = p
	}
}

func withProvider(name string, plan activitiestest.Plan) harnessOption {
	return func(c *harnessConfig) { c.extraProviders = append(c.extraProviders, name); c.plans[name] = plan }
}

func newHarness(t *testing.T, plan activitiestest.Plan, opts ...harnessOption) *harness {
	t.Helper()
	cfg := harnessConfig{plans: map[string]activitiestest.Plan{"mlengine": plan}, callbackBase: "http://127.0.0.1:8088", tokenLifetime: time.Hour}
	for _, o := range opts {
		o(&cfg)
	}
	var s testsuite.WorkflowTestSuite
	s.SetLogger(nopLogger{})
	env := s.NewTestWorkflowEnvironment()
	h := &harness{t: t, env: env, attempts: map[string]int{}, commands: &commandCounter{}}
	h.box = activitiestest.NewBox(env.Now, cfg.tokenLifetime)
	var provs []provider.Provider
	for _, name := range append([]string{"mlengine"}, cfg.extraProviders...) {
		p := activitiestest.NewProvider(name, env.Now, cfg.plans[name])
		h.providers = append(h.providers, p)
		if cfg.wrap != nil {
			provs = append(provs, cfg.wrap(p))
			continue
		}
		provs = append(provs, p)
	}
	tok, err := vault.New("unit-test-vault-key-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	sel, err := provider.ParseSelection(cfg.selection, "mlengine")
	if err != nil {
		t.Fatal(err)
	}
	acts, err := activities.New(h.box, provs, tok, tokensealtest.New(t), activities.Options{
		CallbackBaseURL: cfg.callbackBase, Now: env.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Selection: sel, Policies: cfg.policies,
	})
	if err != nil {
		t.Fatal(err)
	}
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{h.commands},
		// The SDK's default of 1 s fails a workflow task that a busy machine
		// (CI, parallel test packages) did not schedule for a second: seen
		// as "Potential deadlock detected" in TestCallbackBeforeFirstPoll.
		// A real deadlock still fails the test, after this long.
		DeadlockDetectionTimeout: testDeadlockTimeout})
	workflows.Register(env, acts)
	for name, wf := range cfg.parents {
		env.RegisterWorkflowWithOptions(wf, workflow.RegisterOptions{Name: name})
	}
	h.sem = newFakeSemaphore(env)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflows.WorkflowID(fileID, versionID), TaskQueue: workflows.TaskQueue})
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if info.Attempt == 1 {
			h.started = append(h.started, info.ActivityType.Name)
			h.queues = append(h.queues, info.ActivityType.Name+"@"+info.TaskQueue)
		}
		h.attempts[info.ActivityType.Name]++
	})
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		h.mu.Lock()
		defer h.mu.Unlock()
		// One entry per upsert: "Name=value" per attribute, space-separated.
		sas := args.Get(0).(temporal.SearchAttributes)
		var set []string
		for _, name := range []string{workflows.SearchAttrFileID, workflows.SearchAttrMediaKind, workflows.SearchAttrStage} {
			if v, ok := sas.GetKeyword(temporal.NewSearchAttributeKeyKeyword(name)); ok {
				set = append(set, name+"="+v)
			}
		}
		h.sa = append(h.sa, strings.Join(set, " "))
	}).Return(nil).Maybe()
	return h
}

func (h *harness) ml() *activitiestest.Provider { return h.providers[0] }

func (h *harness) run(in workflows.ProcessFileInput) (*workflows.ProcessFileResult, error) {
	h.env.ExecuteWorkflow(workflows.ProcessFileName, in)
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("workflow did not complete")
	}
	if err := h.env.GetWorkflowError(); err != nil {
		return nil, err
	}
	var res workflows.ProcessFileResult
	if err := h.env.GetWorkflowResult(&res); err != nil {
		h.t.Fatal(err)
	}
	return &res, nil
}

func input() workflows.ProcessFileInput {
	return workflows.ProcessFileInput{FileID: fileID, FileVersionID: versionID, Source: "webhook", Trigger: "FILE.UPLOADED"}
}

func (h *harness) startedCount(name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, s := range h.started {
		if s == name {
			n++
		}
	}
	return n
}

func (h *harness) progress() workflows.Progress {
	h.t.Helper()
	v, err := h.env.QueryWorkflow(workflows.QueryProgress)
	if err != nil {
		h.t.Fatalf("query: %v", err)
	}
	var p workflows.Progress
	if err := v.Get(&p); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// assertTokensClean is every test's closing check: every token issued was
// revoked (Box side and workflow side), and no token value is visible in
// the progress query.
func (h *harness) assertTokensClean(res *workflows.ProcessFileResult) {
	h.t.Helper()
	if h.box.Issued() == 0 {
		h.t.Fatal("no token was issued at all")
	}
	if left := h.box.Unrevoked(); len(left) > 0 {
		h.t.Errorf("%d of %d issued tokens were not revoked: %v", len(left), h.box.Issued(), left)
	}
	p := h.progress()
	if len(p.Tokens) != h.box.Issued() {
		h.t.Errorf("progress shows %d tokens, Box issued %d", len(p.Tokens), h.box.Issued())
	}
	for _, tp := range p.Tokens {
		if tp.State != activities.TokenRevoked {
			h.t.Errorf("token %s (%s) is %s, want revoked", tp.ID, tp.Purpose, tp.State)
		}
	}
	if res != nil && (res.TokensIssued != h.box.Issued() || res.TokensRevoked != res.TokensIssued) {
		h.t.Errorf("result counts %d issued / %d revoked, Box issued %d", res.TokensIssued, res.TokensRevoked, h.box.Issued())
	}
	b, _ := json.Marshal(p)
	for _, v := range h.box.TokenValues() {
		if strings.Contains(string(b), v) {
			h.t.Errorf("progress query leaks a token value: %s", b)
		}
	}
}

// cardTypes names each card by its type and, where it has one, its title
// code ("timeline:scenes"); the integration test uses it too.
func cardTypes(cards []box.Card) []string {
	var out []string
	for _, c := range cards {
		k := c.SkillCardType
		if c.SkillCardTitle != nil && c.SkillCardTitle.Code != "" {
			k += ":" + c.SkillCardTitle.Code
		}
		out = append(out, k)
	}
	return out
}

func statusCard(t *testing.T, cards []box.Card) box.CardStatus {
	t.Helper()
	for _, c := range cards {
		if c.SkillCardType == box.CardTypeStatus {
			return *c.Status
		}
	}
	t.Fatalf("no status card in %v", cardTypes(cards))
	return box.CardStatus{}
}

// commandCounter counts the commands workflow code issues (each becomes
// history events): activities, timers, search attribute upserts, markers.
type commandCounter struct {
	interceptor.WorkerInterceptorBase
	mu sync.Mutex
	n  map[string]int
}

func (c *commandCounter) add(kind string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[kind]++
}

func (c *commandCounter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := 0
	for k, v := range c.n {
		if !strings.HasPrefix(k, "version:") { // per change, counted under "version" already
			t += v
		}
	}
	return t
}

func (c *commandCounter) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &countingInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, c: c}
}

type countingInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	c *commandCounter
}

func (i *countingInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&countingOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}, c: i.c})
}

type countingOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	c *commandCounter
}

func (o *countingOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	o.c.add("activity")
	return o.Next.ExecuteActivity(ctx, activityType, args...)
}

func (o *countingOutbound) ExecuteLocalActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	o.c.add("local_activity")
	return o.Next.ExecuteLocalActivity(ctx, activityType, args...)
}

func (o *countingOutbound) NewTimer(ctx workflow.Context, d time.Duration) workflow.Future {
	o.c.add("timer")
	return o.Next.NewTimer(ctx, d)
}

func (o *countingOutbound) UpsertTypedSearchAttributes(ctx workflow.Context, attrs ...temporal.SearchAttributeUpdate) error {
	o.c.add("upsert")
	return o.Next.UpsertTypedSearchAttributes(ctx, attrs...)
}

func (o *countingOutbound) GetVersion(ctx workflow.Context, changeID string, minSupported, maxSupported workflow.Version) workflow.Version {
	o.c.add("version")
	o.c.add("version:" + changeID)
	return o.Next.GetVersion(ctx, changeID, minSupported, maxSupported)
}

func (o *countingOutbound) SideEffect(ctx workflow.Context, f func(ctx workflow.Context) any) converter.EncodedValue {
	o.c.add("side_effect")
	return o.Next.SideEffect(ctx, f)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type nopLogger struct{}

func (nopLogger) Debug(string, ...any) {}
func (nopLogger) Info(string, ...any)  {}
func (nopLogger) Warn(string, ...any)  {}
func (nopLogger) Error(string, ...any) {}

// versionMarkers counts the workflow.GetVersion calls the workflow made
// for one change.
func (h *harness) versionMarkers(changeID string) int {
	h.commands.mu.Lock()
	defer h.commands.mu.Unlock()
	return h.commands.n["version:"+changeID]
}

// readTokens returns the progress query's read tokens.
func readTokens(p workflows.Progress) []workflows.TokenProgress {
	var out []workflows.TokenProgress
	for _, t := range p.Tokens {
		if t.Purpose == activities.PurposeRead {
			out = append(out, t)
		}
	}
	return out
}

// assertOwnReadTokens: every job was submitted with a read token of its
// own (file-scoped, preview + download), each revoked by the end.
func (h *harness) assertOwnReadTokens(jobs []activitiestest.Job) {
	h.t.Helper()
	var seen []string
	for i, j := range jobs {
		fp := j.Request.MediaToken.Fingerprint()
		if slices.Contains(seen, fp) {
			h.t.Errorf("job %d reuses the read token %s of an earlier attempt", i+1, fp)
		}
		seen = append(seen, fp)
		if _, ok := h.box.RevokedAt(fp); !ok {
			h.t.Errorf("job %d's read token %s was never revoked", i+1, fp)
		}
	}
	p := h.progress()
	reads := readTokens(p)
	if len(reads) != len(jobs) {
		h.t.Errorf("%d read tokens for %d jobs", len(reads), len(jobs))
	}
	for _, t := range reads {
		if !slices.Equal(t.Scopes, []string{box.ScopeItemPreview, box.ScopeItemDownload}) || !slices.Contains(seen, t.ID) {
			h.t.Errorf("read token %+v: want scopes item_preview item_download and one job's media token", t)
		}
	}
}

// testDeadlockTimeout is how long a workflow task may run in the test
// environment before the SDK reports a deadlock (see newHarness).
const testDeadlockTimeout = 30 * time.Second

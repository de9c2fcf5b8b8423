//go:build integration

package workflows_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"filesight/activities"
	"filesight/activities/activitiestest"
	"filesight/internal/box"
	"filesight/internal/codec"
	"filesight/internal/codec/codectest"
	"filesight/internal/localbox"
	"filesight/internal/localbox/localboxtest"
	"filesight/internal/mediatest"
	"filesight/internal/mlengine/mlenginetest"
	"filesight/internal/provider"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/replay"
	"filesight/internal/samplemedia"
	"filesight/internal/secret"
	"filesight/internal/signature"
	"filesight/internal/starter"
	"filesight/internal/testenv"
	"filesight/internal/tokenseal"
	"filesight/internal/tokenseal/tokensealtest"
	"filesight/internal/vault"
	"filesight/workflows"
	"filesight/workflows/semaphore"
)

// recordEnv, when set to 1, makes the integration test write the histories
// it produces into workflows/testdata (the replay test's corpus):
//
//	FILESIGHT_RECORD_HISTORIES=1 go test -tags integration -run TestIntegration ./workflows/
const recordEnv = "FILESIGHT_RECORD_HISTORIES"

// stack is every real component: the Temporal dev server, localbox,
// mlengine with its real analyzers, the starter's service and callback
// handler, and a worker with the production activities.
type stack struct {
	t      *testing.T
	tm     *testenv.Temporal
	c      client.Client
	lb     *localboxtest.Server
	ml     *mlenginetest.Server
	bc     *box.Client
	mlc    *mlengineapi.Client
	sim    *simProvider
	flaky  *activitiestest.Provider
	capped *activitiestest.Provider
	svc    *starter.Service
	hooks  string // the starter's handler: Box webhooks and provider callbacks
	talk   []byte
	folder string
}

// testKeyring holds only the committed, test-only codec key (testKeys), so
// that the histories recorded here replay in the unit tests whatever
// FILESIGHT_REPLAY_CODEC_KEYS says.
func testKeyring(t testing.TB) *codec.Keyring { return codectest.NewKeyring(t, testKeys(t)...) }

func startStack(t *testing.T) *stack {
	t.Helper()
	mediatest.Require(t)
	s := &stack{t: t}
	s.tm = testenv.StartTemporal(t)
	// The production converter, with the committed test key, so that the
	// histories recorded here replay in the unit tests.
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dc := codec.NewDataConverter(testKeyring(t), codec.Options{Compress: true})
	var err error
	s.c, err = client.Dial(client.Options{HostPort: s.tm.HostPort, Namespace: s.tm.Namespace, DataConverter: dc, Logger: tlog.NewStructuredLogger(log)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.c.Close)
	s.lb = localboxtest.Start(t)
	s.ml = mlenginetest.Start(t)

	s.bc, err = box.NewClient(box.Config{APIURL: s.lb.URL, UploadURL: s.lb.UploadURL, ClientID: s.lb.ClientID,
		ClientSecret: s.lb.ClientSecret, SubjectType: "enterprise", SubjectID: s.lb.EnterpriseID, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	s.mlc = mlengineapi.New(mlengineapi.Config{BaseURL: s.ml.URL, APIKey: secret.String(s.ml.APIKey)})
	// A second "provider" that refuses us: the same mlengine with a wrong key.
	refusing := mlengineapi.New(mlengineapi.Config{BaseURL: s.ml.URL, APIKey: "not-the-engine-key", Name: "vision"})
	s.sim = newSimProvider()
	// A provider whose first job fails retryably (as mlengine's do after
	// repeated restarts) and whose next one succeeds.
	s.flaky = activitiestest.NewProvider("flaky", time.Now, activitiestest.Plan{Duration: 200 * time.Millisecond, Final: provider.StateFailed,
		JobError: &provider.JobError{Code: "interrupted", Message: "the service restarted 3 times while the job ran", Retryable: true},
		Next:     []activitiestest.Plan{{Duration: 200 * time.Millisecond, Result: activitiestest.AudioResult()}}})
	// A provider capped at one job in flight (FILESIGHT_PROVIDER_MAX_OPEN_JOBS).
	s.capped = activitiestest.NewProvider("capped", time.Now, activitiestest.Plan{Duration: 300 * time.Millisecond, Result: activitiestest.AudioResult()})

	// The starter, as in production: it starts workflows and turns signed
	// provider callbacks into signals.
	s.svc = starter.NewService(s.c, starter.Options{SetSearchAttributes: true, Logger: log})
	cbVerifier := signature.NewVerifier([]byte(s.ml.CallbackKey), nil)
	h, err := starter.NewHandler(starter.HandlerConfig{
		Service: s.svc, BoxVerifier: box.NewWebhookVerifier(s.lb.WebhookPrimaryKey, s.lb.WebhookSecondaryKey),
		ParseBoxEvent: starter.ParseBoxEvent, Logger: log,
		Callbacks: map[string]starter.CallbackProvider{"mlengine": {Verifier: starter.VerifierFunc(func(h http.Header, body []byte) error {
			return mlengineapi.VerifyCallback(cbVerifier, h, body)
		})}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cb := httptest.NewServer(h)
	t.Cleanup(cb.Close)
	s.hooks = cb.URL

	tok, err := vault.New("integration-test-vault-key-01")
	if err != nil {
		t.Fatal(err)
	}
	// As the worker program: every provider on a task queue of its own.
	provs := []provider.Provider{s.mlc, refusing, s.sim, s.flaky, s.capped}
	policies := map[string]activities.ProviderPolicy{}
	for _, p := range provs {
		policies[p.Name()] = activities.ProviderPolicy{TaskQueue: workflows.ProviderTaskQueue(p.Name())}
	}
	capped := policies["capped"]
	capped.MaxOpenJobs = 1
	policies["capped"] = capped
	acts, err := activities.New(s.bc, provs, tok, tokensealtest.New(t), activities.Options{CallbackBaseURL: cb.URL, Logger: log, Policies: policies})
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(s.c, workflows.TaskQueue, worker.Options{
		MaxConcurrentActivityExecutionSize: 16, MaxConcurrentWorkflowTaskExecutionSize: 4,
		MaxConcurrentActivityTaskPollers: 2, MaxConcurrentWorkflowTaskPollers: 2, WorkerStopTimeout: 10 * time.Second,
	})
	workflows.Register(w, acts, &semaphore.Activities{Client: s.c, TaskQueue: workflows.TaskQueue})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	for _, p := range provs {
		pw := worker.New(s.c, workflows.ProviderTaskQueue(p.Name()), worker.Options{DisableWorkflowWorker: true, WorkerStopTimeout: 10 * time.Second})
		workflows.RegisterProviderActivities(pw, acts)
		if err := pw.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pw.Stop)
	}

	s.folder = s.lb.CreateFolder(t, "0", "inbox")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	path, err := samplemedia.GenerateTalk(ctx, t.TempDir(), samplemedia.DefaultTalk())
	if err != nil {
		t.Fatal(err)
	}
	if s.talk, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	return s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// upload stores content as a new file and returns the workflow input.
func (s *stack) upload(name string, content []byte, opts *workflows.Options) workflows.ProcessFileInput {
	f := s.lb.UploadFile(s.t, s.folder, name, content)
	return workflows.ProcessFileInput{FileID: f.ID, FileVersionID: f.VersionID, FileName: name, Size: int64(len(content)),
		ParentFolderID: s.folder, Source: starter.SourceManual, Options: opts}
}

func (s *stack) start(ctx context.Context, in workflows.ProcessFileInput) string {
	s.t.Helper()
	d, err := s.svc.Start(ctx, in)
	if err != nil || d.Outcome != starter.OutcomeStarted {
		s.t.Fatalf("start: %+v %v", d, err)
	}
	return d.WorkflowID
}

func (s *stack) result(ctx context.Context, id string) (*workflows.ProcessFileResult, error) {
	var res workflows.ProcessFileResult
	err := s.c.GetWorkflow(ctx, id, "").Get(ctx, &res)
	if err != nil {
		return nil, err
	}
	return &res, nil
}

func (s *stack) progress(ctx context.Context, id string) workflows.Progress {
	s.t.Helper()
	v, err := s.c.QueryWorkflow(ctx, id, "", workflows.QueryProgress)
	if err != nil {
		s.t.Fatalf("query: %v", err)
	}
	var p workflows.Progress
	if err := v.Get(&p); err != nil {
		s.t.Fatal(err)
	}
	return p
}

func (s *stack) cards(ctx context.Context, fileID string) []box.Card {
	s.t.Helper()
	doc, err := s.bc.GetSkillsCards(ctx, "", fileID)
	if err != nil {
		s.t.Fatalf("reading cards of %s: %v", fileID, err)
	}
	return doc.Cards
}

// tokens lists localbox's downscoped tokens in a state ("live" or "all").
func (s *stack) tokens(ctx context.Context, state string) []localbox.AdminToken {
	s.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.lb.URL+"/_localbox/tokens?state="+state, nil)
	req.Header.Set("Authorization", "Bearer "+s.lb.AdminKey.Reveal())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		TotalCount int                   `json:"total_count"`
		Entries    []localbox.AdminToken `json:"entries"`
	}
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("admin tokens: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		s.t.Fatal(err)
	}
	if out.TotalCount != len(out.Entries) {
		s.t.Fatalf("admin tokens: total_count %d, %d entries", out.TotalCount, len(out.Entries))
	}
	return out.Entries
}

// assertNoLiveTokens: every token issued for fileID is revoked.
func (s *stack) assertNoLiveTokens(ctx context.Context, fileID string) {
	s.t.Helper()
	issued := 0
	for _, tk := range s.tokens(ctx, "all") {
		if tk.ResourceID == fileID {
			issued++
		}
	}
	if issued == 0 {
		s.t.Fatalf("localbox issued no token for file %s", fileID)
	}
	for _, tk := range s.tokens(ctx, "live") {
		if tk.ResourceID == fileID {
			s.t.Errorf("token %s (%v) for file %s is still live", tk.ID, tk.Scopes, fileID)
		}
	}
}

// record writes the run's history (to testdata when recording), replays
// it with the production converter and returns it.
func (s *stack) record(ctx context.Context, id, name string) *historypb.History {
	s.t.Helper()
	dir := s.t.TempDir()
	if os.Getenv(recordEnv) == "1" {
		dir = "testdata"
	}
	path := filepath.Join(dir, name+".json")
	h, err := replay.WriteHistory(ctx, s.c, id, "", path)
	if err != nil {
		s.t.Fatal(err)
	}
	r, err := replay.NewReplayer(codec.NewDataConverter(testKeyring(s.t), codec.Options{Compress: true}))
	if err != nil {
		s.t.Fatal(err)
	}
	if err := replay.Failed(replay.ReplayFiles(r, nil, path)); err != nil {
		s.t.Fatalf("the fresh history does not replay: %v", err)
	}
	s.t.Logf("%s: %d history events (%s)", name, len(h.Events), path)
	s.assertNoTokenReadable(ctx, id, h)
	return h
}

// sealedValue matches a sealed token in decoded JSON.
var sealedValue = regexp.MustCompile(`"sealed":"(` + regexp.QuoteMeta(tokenseal.Prefix) + `[^"]+)"`)

// assertNoTokenReadable decodes every payload of the history h of
// workflow id with the codec keys alone — what the Temporal UI, the CLI
// and the codec server can do — and looks for every token localbox ever
// issued (by the SHA-256 prefixes its admin API lists). The run's tokens
// must be there, sealed.
func (s *stack) assertNoTokenReadable(ctx context.Context, id string, h *historypb.History) {
	s.t.Helper()
	payloads, err := tokensealtest.HistoryPayloads(ctx, h)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, c := range codec.Codecs(testKeyring(s.t), codec.Options{Compress: true, Plain: codec.ReturnPlain}) {
		if payloads, err = c.Decode(payloads); err != nil {
			s.t.Fatalf("decoding the history with the codec keys: %v", err)
		}
	}
	var decoded bytes.Buffer
	for _, p := range payloads {
		decoded.Write(p.GetData())
		decoded.WriteByte('\n')
	}
	hashes := localboxtest.IssuedTokenHashes(s.t, s.lb.URL, s.lb.AdminKey)
	if found := tokensealtest.FindTokens(decoded.Bytes(), hashes); len(found) > 0 {
		s.t.Fatalf("%d token(s) issued by localbox are readable in the decoded history (SHA-256 prefixes %v)", len(found), found)
	}
	sealed := map[string]bool{}
	for _, m := range sealedValue.FindAllSubmatch(decoded.Bytes(), -1) {
		sealed[string(m[1])] = true
	}
	// The workflow ID is file-{fileID}-v{versionID}.
	fileID, _, _ := strings.Cut(strings.TrimPrefix(id, "file-"), "-v")
	issued := 0
	for _, tk := range s.tokens(ctx, "all") {
		if tk.ResourceID == fileID {
			issued++
		}
	}
	if issued == 0 || len(sealed) < issued {
		s.t.Fatalf("file %s: %d token(s) issued, %d sealed value(s) in the decoded history", fileID, issued, len(sealed))
	}
	s.t.Logf("%d payloads decoded with the codec keys alone: %d sealed token values, none of the %d tokens localbox issued readable",
		len(payloads), len(sealed), len(hashes))
}

func findCard(t *testing.T, cards []box.Card, kind string) box.Card {
	t.Helper()
	for i, k := range cardTypes(cards) {
		if k == kind {
			return cards[i]
		}
	}
	t.Fatalf("no %s card in %v", kind, cardTypes(cards))
	return box.Card{}
}

// simProvider is a provider whose clock is simulated: every status read
// advances it by the Retry-After it answers (step), as if the worker had
// waited that long. It lets the real server run a "2-hour" job in
// seconds, with every poll a real activity retry.
type simProvider struct {
	*activitiestest.Provider
	mu   sync.Mutex
	now  time.Time
	step time.Duration
	n    int
}

func newSimProvider() *simProvider {
	sp := &simProvider{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), step: time.Minute}
	sp.Provider = activitiestest.NewProvider("simclock", sp.clock, activitiestest.Plan{Duration: time.Minute, RetryAfter: time.Minute,
		Result: activitiestest.AudioResult()})
	return sp
}

func (sp *simProvider) clock() time.Time {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.now
}

// set makes the next jobs last d and ask to be polled every step.
func (sp *simProvider) set(d, step time.Duration) {
	sp.mu.Lock()
	sp.step = step
	sp.mu.Unlock()
	sp.Provider.SetPlan(activitiestest.Plan{Duration: d, RetryAfter: step, Result: activitiestest.AudioResult()})
}

func (sp *simProvider) polls() int {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.n
}

func (sp *simProvider) Status(ctx context.Context, ref provider.JobRef) (provider.JobStatus, error) {
	st, err := sp.Provider.Status(ctx, ref)
	sp.mu.Lock()
	sp.now = sp.now.Add(sp.step)
	sp.n++
	sp.mu.Unlock()
	return st, err
}

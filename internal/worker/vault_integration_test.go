//go:build integration

package worker_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"filesight/internal/box"
	"filesight/internal/codec"
	"filesight/internal/codec/codectest"
	"filesight/internal/localbox"
	"filesight/internal/localbox/localboxtest"
	"filesight/internal/mediatest"
	"filesight/internal/mlengine"
	"filesight/internal/mlengine/mlenginetest"
	"filesight/internal/provider"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/samplemedia"
	"filesight/internal/secret"
	"filesight/internal/starter"
	"filesight/internal/starter/startertest"
	"filesight/internal/testenv"
	"filesight/internal/testutil"
	"filesight/internal/vault"
	"filesight/internal/vault/vaultclient"
	"filesight/internal/vault/vaulttest"
	"filesight/internal/worker"
	"filesight/internal/worker/workertest"
	"filesight/workflows"
)

var (
	vaultToken = regexp.MustCompile(`\[(card|ssn|iban|email|phone):[0-9a-f]{20}(:[0-9]{4})?\]`)
	// digitWord matches a digit read out as a word.
	digitWord = regexp.MustCompile(`^(zero|oh|one|two|three|four|for|five|six|seven|eight|nine)$`)
)

// TestVaultEndToEnd is the vault's acceptance test on the real stack: the
// dev server, localbox, the starter's handlers (Box webhook → workflow,
// mlengine callbacks → signals), mlengine with its real analyzers, the
// vault service and the worker program (worker.Run, configured as in
// production with the vault's URL and a tokenize credential). A slide video
// shows a card number and an e-mail address and reads another card number
// aloud; the cards end up holding vault tokens only, the vault maps them
// back for its detokenize credential (and only for it), the audit lists
// the call, and mlengine no longer has the raw result.
func TestVaultEndToEnd(t *testing.T) {
	mediatest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	tm := testenv.StartTemporal(t)
	keys := codectest.KeysString(codectest.NewKey(t, "vault-e2e"))
	kr, err := codec.Config{Keys: keys}.Keyring()
	if err != nil {
		t.Fatal(err)
	}
	tc, err := client.Dial(client.Options{HostPort: tm.HostPort, Namespace: tm.Namespace,
		DataConverter: codec.NewDataConverter(kr, codec.Options{Compress: true})})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	st := startertest.Start(t, tc, starter.Options{SetSearchAttributes: true})
	lb := localboxtest.Start(t, localboxtest.WithConfig(func(c *localbox.Config) {
		c.WebhookPrimaryKey, c.WebhookSecondaryKey = st.WebhookPrimaryKey, st.WebhookSecondaryKey
	}))
	ml := mlenginetest.Start(t, mlengine.WithConfig(func(c *mlengine.Config) { c.CallbackKey = st.CallbackKey }))
	vs := vaulttest.NewServer(t, vaulttest.Options{})

	cfg := workertest.Config(tm, lb, keys, ml.URL, secret.String(ml.APIKey))
	cfg.Vault = workertest.VaultConfig(vs)
	cfg.CallbackBaseURL = st.URL
	var logs testutil.SyncBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker log:\n%s", logs.String())
		}
	})

	t.Run("a worker refuses a credential that is not a tokenize credential", func(t *testing.T) {
		for name, cred := range map[string]secret.String{"detokenize": vs.Detokenizer, "unknown": vaulttest.Secret(t, 32)} {
			bad := cfg
			bad.Vault.Credential = cred
			err := worker.Run(ctx, bad, slog.New(slog.NewJSONHandler(&logs, nil)), func(string) { t.Errorf("%s credential: the worker started", name) })
			if err == nil || !strings.Contains(err.Error(), "FILESIGHT_VAULT_CREDENTIAL") || strings.Contains(err.Error(), cred.Reveal()) {
				t.Errorf("%s credential: %v", name, err)
			}
		}
	})

	wctx, stopWorker := context.WithCancel(ctx)
	done := make(chan error, 1)
	ready := make(chan string, 1)
	go func() {
		done <- worker.Run(wctx, cfg, slog.New(slog.NewJSONHandler(&logs, nil)), func(a string) { ready <- a })
	}()
	t.Cleanup(func() {
		stopWorker()
		<-done
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("the worker stopped: %v", err)
	case <-ctx.Done():
		t.Fatal("the worker did not start")
	}

	// The sample, uploaded into a folder whose FILE.UPLOADED webhook goes
	// to the starter.
	talk, err := samplemedia.GenerateTalkInfo(ctx, t.TempDir(), samplemedia.SensitiveTalk())
	if err != nil {
		t.Fatal(err)
	}
	media, err := os.ReadFile(talk.Path)
	if err != nil {
		t.Fatal(err)
	}
	folder := lb.CreateFolder(t, "0", "inbox")
	lb.CreateWebhook(t, folder, st.URL+"/webhooks/box")
	f := lb.UploadFile(t, folder, "payment.mp4", media)
	id := workflows.WorkflowID(f.ID, f.VersionID)
	testutil.WaitFor(t, time.Minute, "the webhook to start the workflow", func() bool {
		_, err := tc.DescribeWorkflowExecution(ctx, id, "")
		return err == nil
	})
	var res workflows.ProcessFileResult
	if err := tc.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	if res.Outcome != workflows.OutcomeSuccess {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Message)
	}

	bc, err := box.NewClient(box.Config{APIURL: lb.URL, UploadURL: lb.UploadURL, ClientID: lb.ClientID,
		ClientSecret: lb.ClientSecret, SubjectType: "enterprise", SubjectID: lb.EnterpriseID})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := bc.GetSkillsCards(ctx, "", f.ID)
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string][]string{} // card title code → entry texts
	for _, c := range doc.Cards {
		code := c.SkillCardType
		if c.SkillCardTitle != nil && c.SkillCardTitle.Code != "" {
			code = c.SkillCardTitle.Code
		}
		for _, e := range c.Entries {
			texts[code] = append(texts[code], e.Text)
		}
		if c.Status != nil {
			texts["status"] = append(texts["status"], c.Status.Message)
		}
	}
	raw, _ := json.MarshalIndent(texts, "", "  ")
	t.Logf("cards:\n%s", raw)

	// Tokens only: the values are on the cards as tokens, in the places
	// they were shown and spoken.
	tokensIn := func(code string) []string {
		return vaultToken.FindAllString(strings.Join(texts[code], "\n"), -1)
	}
	has := func(tokens []string, kind string) bool {
		return slices.ContainsFunc(tokens, func(s string) bool { return strings.HasPrefix(s, "["+kind+":") })
	}
	if ocr := tokensIn("ocr"); !has(ocr, "card") || !has(ocr, "email") {
		t.Errorf("on-screen text tokens %q: want the shown card number and the e-mail address", ocr)
	}
	if tr := tokensIn("transcript"); !has(tr, "card") {
		t.Errorf("transcript tokens %q: want the spoken card number", tr)
	}
	// No digit of a card number, no address, no fragment of one anywhere.
	for code, list := range texts {
		for _, text := range list {
			plain := vaultToken.ReplaceAllString(text, " ")
			if m := regexp.MustCompile(`[0-9][0-9 .-]{2,}[0-9]`).FindString(plain); m != "" {
				t.Errorf("%s card: a digit run %q in %q", code, m, text)
			}
			if strings.Contains(plain, "@") {
				t.Errorf("%s card: an address in %q", code, text)
			}
			run := 0
			for _, w := range strings.Fields(strings.ToLower(plain)) {
				if digitWord.MatchString(strings.Trim(w, ".,")) {
					if run++; run >= 4 {
						t.Errorf("%s card: spoken digits left in %q", code, text)
						break
					}
				} else {
					run = 0
				}
			}
		}
	}
	for _, kw := range texts["keywords"] {
		for _, w := range strings.Fields(strings.ToLower(kw)) {
			if slices.Contains([]string{"jane", "doe", "example", "com", "five", "four"}, w) {
				t.Errorf("keyword %q is a fragment of a redacted value", kw)
			}
		}
	}

	// The vault maps the tokens back, for its detokenize credential only.
	tokens := slices.Compact(slices.Sorted(slices.Values(vaultToken.FindAllString(string(raw), -1))))
	got, err := vs.AdminClient(t).Detokenize(ctx, tokens, "acceptance test")
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]bool{}
	for _, r := range got {
		if r.Result != vault.ResultOK {
			t.Errorf("detokenize %s: %s", r.Token, r.Result)
		}
		values[r.Value.Reveal()] = true
	}
	for _, want := range []string{digits(samplemedia.SensitiveShownCard), samplemedia.SensitiveShownEmail, digits(samplemedia.SensitiveSpokenCard)} {
		if !values[want] {
			t.Errorf("no token on the cards detokenizes to the sample's %s (got %d values)", redactedHint(want), len(values))
		}
	}
	body, _ := json.Marshal(vault.DetokenizeRequest{Tokens: tokens})
	for name, cred := range map[string]string{"no credential": "", "the worker's": vs.Tokenizer.Reveal()} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, vs.URL+vault.PathDetokenize, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		if cred != "" {
			req.Header.Set("Authorization", "Bearer "+cred)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := map[string]int{"no credential": http.StatusUnauthorized, "the worker's": http.StatusForbidden}[name]
		if resp.StatusCode != want {
			t.Errorf("detokenize with %s credential: HTTP %d, want %d", name, resp.StatusCode, want)
		}
	}
	page, err := vs.AdminClient(t).Audit(ctx, vaultclient.AuditQuery{Action: "detokenize"})
	if err != nil {
		t.Fatal(err)
	}
	audited, refused := map[string]bool{}, map[string]int{}
	for _, e := range page.Events {
		if e.Actor == "auditor" && e.Result == vault.ResultOK && e.Reason == "acceptance test" {
			audited[e.Token] = true
		}
		if e.Result != vault.ResultOK {
			refused[e.Result]++
		}
	}
	for _, tok := range tokens {
		if !audited[tok] {
			t.Errorf("the audit does not list the detokenization of %s", tok)
		}
	}
	if refused[vault.CodeUnauthorized] != 1 || refused[vault.CodeForbidden] != 1 {
		t.Errorf("refused detokenize attempts in the audit: %v", refused)
	}

	// mlengine no longer holds the raw result.
	mlc := mlengineapi.New(mlengineapi.Config{BaseURL: ml.URL, APIKey: secret.String(ml.APIKey)})
	jobs, err := mlc.ListJobs(ctx, mlengineapi.ListOptions{})
	if err != nil || len(jobs.Jobs) != 1 {
		t.Fatalf("mlengine jobs: %+v %v", jobs, err)
	}
	ref := provider.JobRef{Provider: mlc.Name(), ID: jobs.Jobs[0].ID}
	if _, err := mlc.Result(ctx, ref); err == nil || jobs.Jobs[0].ResultDeletedAt == nil {
		t.Errorf("the result is still at mlengine (deleted at %v, read error %v)", jobs.Jobs[0].ResultDeletedAt, err)
	}

	// The worker counted what it replaced and logged no value.
	log := logs.String()
	if !regexp.MustCompile(`"msg":"skills cards written"[^\n]*"redactions":([3-9]|[1-9][0-9])`).MatchString(log) {
		t.Errorf("no card write with at least 3 redactions in the worker log")
	}
	for _, v := range []string{digits(samplemedia.SensitiveShownCard), samplemedia.SensitiveShownCard, samplemedia.SensitiveShownEmail,
		digits(samplemedia.SensitiveSpokenCard), samplemedia.SensitiveSpokenCard, vs.Tokenizer.Reveal()} {
		if strings.Contains(log, v) {
			t.Errorf("the worker log holds %s", redactedHint(v))
		}
	}
}

func digits(s string) string { return strings.ReplaceAll(s, " ", "") }

// redactedHint names a value in a failure message without writing it out.
func redactedHint(v string) string {
	if len(v) < 6 {
		return "a value"
	}
	return "value " + v[:2] + "…" + v[len(v)-2:]
}

//go:build integration

package vaultserver_test

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"filesight/internal/secret"
	"filesight/internal/testenv"
	"filesight/internal/testutil"
	"filesight/internal/vault"
	"filesight/internal/vault/vaultclient"
	"filesight/internal/vault/vaulttest"
)

// program is the vault program run as a child process.
type program struct {
	cmd    *exec.Cmd
	out    *testutil.SyncBuffer
	exited chan error
	done   chan struct{} // closed when the process has exited
	url    string
}

// TestVaultProgram builds vault/ and runs it as a user would: secrets in
// *_FILE variables, tokenize with the workers' credential, detokenize with
// the auditors', key rotation with `vault reencrypt`, SIGTERM to stop.
func TestVaultProgram(t *testing.T) {
	root := testenv.ModuleRoot(t)
	bin := filepath.Join(t.TempDir(), "vault")
	build := exec.Command("go", "build", "-o", bin, "./vault")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./vault: %v\n%s", err, out)
	}

	dir, secrets := t.TempDir(), t.TempDir()
	tokenizer, detokenizer, tokenKey := vaulttest.Secret(t, 32), vaulttest.Secret(t, 32), vaulttest.Secret(t, 32)
	k1, k2 := vaulttest.Key(t, "k1"), vaulttest.Key(t, "k2")
	write := func(name string, v secret.String) string {
		p := filepath.Join(secrets, name)
		if err := os.WriteFile(p, []byte(v.Reveal()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	addr := testenv.FreeAddr(t)
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"VAULT_ADDR=" + addr,
		"VAULT_DATA_DIR=" + filepath.Join(dir, "data"),
		"VAULT_ENCRYPTION_KEYS_FILE=" + write("keys", k1),
		"VAULT_TOKEN_KEY_FILE=" + write("token_key", tokenKey),
		"VAULT_TOKENIZE_CREDENTIALS_FILE=" + write("tokenize", "worker:"+tokenizer),
		"VAULT_DETOKENIZE_CREDENTIALS_FILE=" + write("detokenize", "auditor:"+detokenizer),
		"VAULT_LOG_LEVEL=debug",
	}
	allSecrets := []string{tokenizer.Reveal(), detokenizer.Reveal(), tokenKey.Reveal(), strings.SplitN(k1.Reveal(), ":", 2)[1], strings.SplitN(k2.Reveal(), ":", 2)[1]}

	p := startProgram(t, bin, env, addr)
	// No secret on the command line or in the environment of the process.
	for _, f := range []string{"cmdline", "environ"} {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/" + f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range allSecrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("/proc/%d/%s holds a secret", p.cmd.Process.Pid, f)
			}
		}
	}
	worker, _ := vaultclient.New(vaultclient.Config{URL: p.url, Credential: tokenizer})
	admin, _ := vaultclient.New(vaultclient.Config{URL: p.url, Credential: detokenizer})
	toks, err := worker.Tokenize(ctx, values)
	if err != nil {
		t.Fatal(err)
	}
	res, err := admin.Detokenize(ctx, toks, "integration test")
	if err != nil || res[0].Value.Reveal() != "4242424242424242" || res[4].Value.Reveal() != "jane.doe@example.com" {
		t.Fatalf("detokenize: %+v %v", res, err)
	}
	if _, err := worker.Detokenize(ctx, toks, ""); !isStatus(err, 403) {
		t.Errorf("worker detokenize: %v", err)
	}
	req, _ := http.NewRequest(http.MethodPost, p.url+vault.PathDetokenize, strings.NewReader(`{"tokens":["`+toks[0]+`"]}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("detokenize without a credential: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	page, err := admin.Audit(ctx, vaultclient.AuditQuery{Token: toks[0]})
	if err != nil || len(page.Events) != 1 || page.Events[0].Actor != "auditor" || page.Events[0].Result != "ok" || page.Events[0].Reason != "integration test" {
		t.Errorf("audit of %s: %+v %v", toks[0], page, err)
	}
	p.stop(t)

	// Rotation: append k2, restart, tokenize something new, re-encrypt with
	// the program's subcommand while the service runs.
	write("keys", k1+","+k2)
	p = startProgram(t, bin, env, addr)
	if res, err := admin.Detokenize(ctx, toks[:1], ""); err != nil || res[0].Result != vault.ResultOK {
		t.Fatalf("old value after adding k2: %+v %v", res, err)
	}
	if _, err := worker.Tokenize(ctx, []vault.Item{{Kind: vault.KindPhone, Value: "+1 415 555 2671"}}); err != nil {
		t.Fatal(err)
	}
	re := exec.Command(bin, "reencrypt")
	re.Env = env
	out, err := re.CombinedOutput()
	if err != nil || !strings.Contains(string(out), `re-encrypted 5 values with key "k2"`) {
		t.Fatalf("vault reencrypt: %v\n%s", err, out)
	}
	if ks, err := admin.Keys(ctx); err != nil || ks.Values["k1"] != 0 || ks.Values["k2"] != 6 {
		t.Errorf("keys after reencrypt: %+v %v", ks, err)
	}
	p.stop(t)
	logs := p.out.String() + string(out)

	// k1 can go; dropping k2 as well is refused with a message naming the variable.
	write("keys", k2)
	p = startProgram(t, bin, env, addr)
	if res, err := admin.Detokenize(ctx, toks[2:3], ""); err != nil || res[0].Value.Reveal() != "536904399" {
		t.Fatalf("after dropping k1: %+v %v", res, err)
	}
	p.stop(t)
	logs += p.out.String()
	write("keys", vaulttest.Key(t, "k3"))
	refused := exec.Command(bin)
	refused.Env = env
	out, err = refused.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), `VAULT_ENCRYPTION_KEYS: 6 stored values are encrypted with key "k2"`) {
		t.Errorf("start without k2: %v\n%s", err, out)
	}

	if l := leaks(logs); l != "" {
		t.Errorf("the vault's output contains %q:\n%s", l, logs)
	}
	for _, s := range allSecrets {
		if strings.Contains(logs, s) {
			t.Error("the vault's output contains a secret")
		}
	}
	if !strings.Contains(logs, `"msg":"detokenize"`) {
		t.Errorf("no detokenize log line:\n%s", logs)
	}
}

func startProgram(t *testing.T, bin string, env []string, addr string) *program {
	t.Helper()
	p := &program{cmd: exec.Command(bin, "serve"), out: &testutil.SyncBuffer{}, exited: make(chan error, 1), done: make(chan struct{}), url: "http://" + addr}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		close(p.done)
		p.exited <- err
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	testutil.WaitFor(t, time.Minute, "the vault's /healthz", func() bool {
		select {
		case err := <-p.exited:
			t.Fatalf("vault exited: %v\n%s", err, p.out.String())
		default:
		}
		resp, err := http.Get(p.url + vault.PathHealth)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *program) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("vault exited with %v\n%s", err, p.out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("vault did not stop within 30s of SIGTERM\n%s", p.out.String())
	}
}

func isStatus(err error, status int) bool {
	var ve *vaultclient.Error
	return errors.As(err, &ve) && ve.StatusCode == status
}

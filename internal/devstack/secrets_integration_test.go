//go:build integration

package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"filesight/internal/codec"
	"filesight/internal/codec/codectest"
	"filesight/internal/localbox"
	"filesight/internal/localbox/localboxtest"
	"filesight/internal/mediatest"
	"filesight/internal/secret"
	"filesight/internal/testutil"
	"filesight/internal/tokenseal"
	"filesight/internal/tokenseal/tokensealtest"
)

// TestStackLeaksNoSecret is the acceptance test of sealed tokens and of
// secrets kept off command lines, on the real stack (`make up` on free
// ports) processing the sample:
//
//   - every payload of every workflow's history, decoded through the real
//     codec server (as the Temporal UI and CLI decode it), holds none of
//     the tokens localbox ever issued (looked for by the SHA-256 prefixes
//     its admin API lists) and no secret of dev.env, and holds the run's
//     tokens sealed;
//   - the command line (/proc/PID/cmdline) of every process the stack
//     started, and of their children, sampled while the sample was
//     processed, holds no secret of dev.env and no issued token;
//   - the environment (/proc/PID/environ) of each program holds only the
//     secrets that program reads (the dev server none);
//   - the dev server's UI got its codec endpoint all the same (from the
//     CLI's environment settings file).
func TestStackLeaksNoSecret(t *testing.T) {
	mediatest.Require(t)
	binDir := buildPrograms(t)
	dataDir := seedDataDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var out testutil.SyncBuffer
	s, err := Start(ctx, Options{DataDir: dataDir, BinDir: binDir, SampleTimeout: 5 * time.Minute, Out: &out})
	if err != nil {
		t.Fatalf("Start: %v\noutput:\n%s", err, tailString(out.String(), 6000))
	}
	defer func() {
		if err := s.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	}()
	env := s.Env()
	get := func(k string) string { v, _ := env.Get(k); return v }

	// Sample the processes while the sample is processed: the analyzers
	// mlengine starts live only that long.
	sampler := &procSampler{root: os.Getpid(), seen: map[string]procInfo{}}
	stopSampling := sampler.run(ctx, 20*time.Millisecond)
	err = s.processSample(ctx)
	stopSampling()
	if err != nil {
		t.Fatalf("processing the sample: %v\noutput:\n%s", err, tailString(out.String(), 6000))
	}
	sampler.sample()

	secrets := secretValues(env)
	hashes := localboxtest.IssuedTokenHashes(t, get("LOCALBOX_PUBLIC_URL"), secret.String(get("LOCALBOX_ADMIN_KEY")))
	downscoped := adminTokens(t, get("LOCALBOX_PUBLIC_URL"), get("LOCALBOX_ADMIN_KEY"))
	if len(downscoped) == 0 || len(hashes) <= len(downscoped) {
		t.Fatalf("localbox lists %d tokens, %d of them downscoped: the sample's run issued none?", len(hashes), len(downscoped))
	}

	t.Run("history decoded through the codec server", func(t *testing.T) {
		decoded, runs := decodedHistories(ctx, t, s, "http://"+get("STARTER_CODEC_ADDR"), get("CODEC_AUTH_TOKEN"), get("TEMPORAL_NAMESPACE"))
		found := tokensealtest.FindTokens(decoded, hashes)
		if len(found) > 0 {
			t.Errorf("%d token(s) issued by localbox are readable in the decoded histories (SHA-256 prefixes %v)", len(found), found)
		}
		for name, v := range secrets {
			if bytes.Contains(decoded, []byte(v)) {
				t.Errorf("dev.env's %s is readable in the decoded histories", name)
			}
		}
		sealed := map[string]bool{}
		for _, m := range regexp.MustCompile(`"sealed":"(`+regexp.QuoteMeta(tokenseal.Prefix)+`[^"]+)"`).FindAllSubmatch(decoded, -1) {
			sealed[string(m[1])] = true
		}
		if len(sealed) < len(downscoped) {
			t.Errorf("%d sealed token values in the decoded histories, %d tokens issued", len(sealed), len(downscoped))
		}
		t.Logf("%d run(s), %d bytes of decoded payloads: %d sealed token values; %d of the %d tokens localbox issued readable",
			runs, len(decoded), len(sealed), len(found), len(hashes))
	})

	t.Run("command lines and environments", func(t *testing.T) {
		children := map[int]string{} // the stack's programs, by pid
		for _, p := range s.procs {
			children[p.Pid()] = p.Name
		}
		allowed := map[string]map[string]bool{} // program → secret values it may hold
		for name, v := range programVars() {
			allowed[name] = map[string]bool{}
			for k, val := range secrets {
				if v.has(strings.SplitN(k, "#", 2)[0]) {
					allowed[name][val] = true
				}
			}
		}
		grandchildren, envChecked := 0, map[string]bool{}
		for _, p := range sampler.all() {
			name, direct := children[p.pid]
			if !direct {
				name = filepath.Base(p.exe)
				if _, under := children[p.ppid]; under || p.ppid != sampler.root {
					grandchildren++
				}
			}
			for k, v := range secrets {
				if bytes.Contains(p.cmdline, []byte(v)) {
					t.Errorf("%s (pid %d): dev.env's %s is on its command line", name, p.pid, k)
				}
			}
			if found := tokensealtest.FindTokens(p.cmdline, hashes); len(found) > 0 {
				t.Errorf("%s (pid %d): a token localbox issued is on its command line (%v)", name, p.pid, found)
			}
			if !direct {
				continue // the analyzers' environments are mlengine's to set
			}
			envChecked[name] = true
			for k, v := range secrets {
				if bytes.Contains(p.environ, []byte(v)) && !allowed[name][v] {
					t.Errorf("%s (pid %d): dev.env's %s is in its environment, which it does not read", name, p.pid, k)
				}
			}
			// The check reads what it should: each program holds its own.
			for prog, own := range map[string]string{"starter": "CODEC_AUTH_TOKEN", "worker": "FILESIGHT_TOKEN_SEAL_KEYS", "localbox": "LOCALBOX_ADMIN_KEY"} {
				if name == prog && !bytes.Contains(p.environ, []byte(own+"=")) {
					t.Errorf("%s's environment lacks %s: the environment was not read", prog, own)
				}
			}
		}
		for _, name := range append(Programs(), "temporal") {
			if !envChecked[name] {
				t.Errorf("the environment of %s was never sampled", name)
			}
		}
		if grandchildren == 0 {
			t.Error("no child of a program was sampled (mlengine runs ffmpeg, tesseract and pocketsphinx)")
		}
		t.Logf("%d process images sampled, %d of them children of the programs", len(sampler.all()), grandchildren)
	})

	t.Run("the dev server's UI has its codec endpoint", func(t *testing.T) {
		resp, err := http.Get(get("TEMPORAL_UI_URL") + "/api/v1/settings")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var settings struct {
			Codec struct{ Endpoint string }
		}
		if err := json.NewDecoder(resp.Body).Decode(&settings); err != nil {
			t.Fatal(err)
		}
		if settings.Codec.Endpoint != get("TEMPORAL_CODEC_ENDPOINT") {
			t.Errorf("the UI's codec endpoint is %d characters long, want TEMPORAL_CODEC_ENDPOINT", len(settings.Codec.Endpoint))
		}
	})
}

// secretValues are dev.env's secrets by name, and each key of a key list
// ("id:base64,…") and each credential of a credential list ("name:value")
// as NAME#id.
func secretValues(env *EnvFile) map[string]string {
	out := map[string]string{}
	for _, k := range env.Keys() {
		v, _ := env.Get(k)
		if !isSecretVar(k) || v == "" {
			continue
		}
		out[k] = v
		for _, entry := range strings.Split(v, ",") {
			if id, part, ok := strings.Cut(entry, ":"); ok && len(part) >= 16 && !strings.HasPrefix(part, "//") {
				out[k+"#"+id] = part
			}
		}
	}
	return out
}

// adminTokens lists localbox's downscoped tokens (state=all).
func adminTokens(t *testing.T, base, adminKey string) []localbox.AdminToken {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/_localbox/tokens?state=all", nil)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Entries []localbox.AdminToken `json:"entries"`
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("admin tokens: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Entries
}

// decodedHistories fetches the history of every workflow run of the
// namespace as stored (payloads encrypted), decodes every payload through
// the codec server at codecURL with the codec token, as the Temporal UI
// and CLI do, and returns the decoded payloads' data and the number of
// runs.
func decodedHistories(ctx context.Context, t *testing.T, s *Stack, codecURL, token, namespace string) ([]byte, int) {
	t.Helper()
	tc := s.Temporal()
	var runs []*commonpb.WorkflowExecution
	var next []byte
	for {
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, NextPageToken: next})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range resp.GetExecutions() {
			runs = append(runs, e.GetExecution())
		}
		if next = resp.GetNextPageToken(); len(next) == 0 {
			break
		}
	}
	if len(runs) == 0 {
		t.Fatal("no workflow in the namespace")
	}
	var decoded bytes.Buffer
	for _, run := range runs {
		h := &historypb.History{}
		it := tc.GetWorkflowHistory(ctx, run.GetWorkflowId(), run.GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			h.Events = append(h.Events, ev)
		}
		payloads, err := tokensealtest.HistoryPayloads(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		encrypted := 0
		for _, p := range payloads {
			if string(p.GetMetadata()[converter.MetadataEncoding]) == codec.EncodingEncrypted {
				encrypted++
			}
		}
		if encrypted == 0 {
			t.Fatalf("run %s: no encrypted payload in the stored history", run.GetWorkflowId())
		}
		for i := 0; i < len(payloads); i += 50 {
			for _, p := range decodeThroughCodecServer(ctx, t, codecURL, token, namespace, payloads[i:min(i+50, len(payloads))]) {
				if string(p.GetMetadata()[converter.MetadataEncoding]) == codec.EncodingEncrypted {
					t.Fatalf("the codec server left a payload encrypted")
				}
				decoded.Write(p.GetData())
				decoded.WriteByte('\n')
			}
		}
	}
	return decoded.Bytes(), len(runs)
}

func decodeThroughCodecServer(ctx context.Context, t *testing.T, codecURL, token, namespace string, payloads []*commonpb.Payload) []*commonpb.Payload {
	t.Helper()
	status, body := codectest.Post(ctx, t, codecURL+"/decode", "Bearer "+token, namespace, payloads)
	if status != http.StatusOK {
		t.Fatalf("codec server: HTTP %d: %s", status, tailString(string(body), 300))
	}
	var out commonpb.Payloads
	if err := protojson.Unmarshal(body, &out); err != nil {
		t.Fatalf("codec server answer: %v", err)
	}
	if len(out.Payloads) != len(payloads) {
		t.Fatalf("codec server: %d payloads decoded of %d", len(out.Payloads), len(payloads))
	}
	return out.Payloads
}

// procInfo is one process image seen by the sampler.
type procInfo struct {
	pid, ppid        int
	exe              string
	cmdline, environ []byte
}

// procSampler records the command line and environment of every
// descendant of root, each distinct process image once.
type procSampler struct {
	root int
	mu   sync.Mutex
	seen map[string]procInfo // by pid and command line
}

// run samples every interval until the returned stop is called.
func (p *procSampler) run(ctx context.Context, interval time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			p.sample()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// sample reads /proc once.
func (p *procSampler) sample() {
	entries, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		rest := stat[bytes.LastIndexByte(stat, ')')+1:]
		f := strings.Fields(string(rest))
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			parent[pid] = ppid
		}
	}
	under := func(pid int) bool {
		for i := 0; i < 64 && pid > 1; i++ {
			pid = parent[pid]
			if pid == p.root {
				return true
			}
		}
		return false
	}
	for pid, ppid := range parent {
		if !under(pid) {
			continue
		}
		dir := filepath.Join("/proc", strconv.Itoa(pid))
		cmdline, err1 := os.ReadFile(filepath.Join(dir, "cmdline"))
		environ, err2 := os.ReadFile(filepath.Join(dir, "environ"))
		exe, _ := os.Readlink(filepath.Join(dir, "exe"))
		if err1 != nil || err2 != nil || len(cmdline) == 0 {
			continue // gone meanwhile, or a zombie
		}
		key := fmt.Sprintf("%d\x00%s", pid, cmdline)
		p.mu.Lock()
		if _, ok := p.seen[key]; !ok {
			p.seen[key] = procInfo{pid: pid, ppid: ppid, exe: exe, cmdline: cmdline, environ: environ}
		}
		p.mu.Unlock()
	}
}

func (p *procSampler) all() []procInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]procInfo, 0, len(p.seen))
	for _, i := range p.seen {
		out = append(out, i)
	}
	slices.SortFunc(out, func(a, b procInfo) int { return a.pid - b.pid })
	return out
}

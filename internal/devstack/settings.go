package devstack

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"filesight/internal/cluster"
	"filesight/internal/codec"
)

// kinds of dev.env variables.
type kind int

const (
	// kindBase: kept when present (the user may edit it), else the default.
	kindBase kind = iota
	// kindSecret: kept when present, else freshly generated.
	kindSecret
	// kindDerived: recomputed from other variables on every run, so an
	// edited address or a moved checkout never leaves a stale copy behind.
	kindDerived
)

type varSpec struct {
	key  string
	kind kind
	// value computes the default, the generated secret or the derived
	// value; get reads variables resolved earlier.
	value func(get func(string) string, dataDir string) (string, error)
}

func lit(v string) func(func(string) string, string) (string, error) {
	return func(func(string) string, string) (string, error) { return v, nil }
}

func randomToken(n int) func(func(string) string, string) (string, error) {
	return func(func(string) string, string) (string, error) {
		b := make([]byte, n)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		return base64.RawURLEncoding.EncodeToString(b), nil
	}
}

func httpURL(addrKey string, suffix string) func(func(string) string, string) (string, error) {
	return func(get func(string) string, _ string) (string, error) {
		return "http://" + get(addrKey) + suffix, nil
	}
}

func under(sub string) func(func(string) string, string) (string, error) {
	return func(_ func(string) string, dataDir string) (string, error) { return filepath.Join(dataDir, sub), nil }
}

func same(key string) func(func(string) string, string) (string, error) {
	return func(get func(string) string, _ string) (string, error) { return get(key), nil }
}

// specs lists every variable of dev.env, in file order. The names are the
// programs' own variable names, so `set -a; . .data/dev.env` configures the
// worker, the starter, localbox, mlengine, the vault and the temporal CLI alike.
var specs = []varSpec{
	// Temporal dev server and UI.
	{"TEMPORAL_ADDRESS", kindBase, lit("127.0.0.1:7233")},
	{"TEMPORAL_NAMESPACE", kindBase, lit("default")},
	{"TEMPORAL_UI_URL", kindBase, lit("http://127.0.0.1:8233")},
	// Payload encryption (every program) and the codec server (starter).
	{"FILESIGHT_CODEC_KEYS", kindSecret, func(func(string) string, string) (string, error) {
		s, err := codec.NewKeyString("dev-1")
		return s.Reveal(), err
	}},
	{"CODEC_AUTH_TOKEN", kindSecret, randomToken(24)},
	{"STARTER_ADDR", kindBase, lit("127.0.0.1:8088")},
	{"STARTER_CODEC_ADDR", kindBase, lit("127.0.0.1:8081")},
	{"CODEC_CORS_ORIGINS", kindDerived, func(get func(string) string, _ string) (string, error) {
		u, err := url.Parse(get("TEMPORAL_UI_URL"))
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("TEMPORAL_UI_URL %q is not a URL", get("TEMPORAL_UI_URL"))
		}
		origins := []string{u.Scheme + "://" + u.Host}
		if host, port, err := net.SplitHostPort(u.Host); err == nil && host == "127.0.0.1" {
			origins = append(origins, u.Scheme+"://localhost:"+port)
		}
		return strings.Join(origins, ","), nil
	}},
	// The temporal CLI decodes payloads through the codec server with this
	// (the token travels as the first path segment, see internal/codec).
	{"TEMPORAL_CODEC_ENDPOINT", kindDerived, func(get func(string) string, _ string) (string, error) {
		return "http://" + get("STARTER_CODEC_ADDR") + "/" + get("CODEC_AUTH_TOKEN"), nil
	}},
	// localbox, the Box-compatible content store.
	{"LOCALBOX_ADDR", kindBase, lit("127.0.0.1:8700")},
	{"LOCALBOX_PUBLIC_URL", kindDerived, httpURL("LOCALBOX_ADDR", "")},
	{"LOCALBOX_DATA_DIR", kindDerived, under("localbox")},
	{"LOCALBOX_CLIENT_ID", kindSecret, func(func(string) string, string) (string, error) {
		b := make([]byte, 6)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		return "filesight-dev-" + hex.EncodeToString(b), nil
	}},
	{"LOCALBOX_CLIENT_SECRET", kindSecret, randomToken(32)},
	{"LOCALBOX_ENTERPRISE_ID", kindBase, lit("1000001")},
	{"LOCALBOX_ADMIN_KEY", kindSecret, randomToken(32)},
	{"LOCALBOX_WEBHOOK_PRIMARY_KEY", kindSecret, randomToken(32)},
	{"LOCALBOX_WEBHOOK_SECONDARY_KEY", kindSecret, randomToken(32)},
	// localbox's web console (/app/): its password, and where it links
	// each file's workflow.
	{"LOCALBOX_CONSOLE_PASSWORD", kindSecret, randomToken(32)},
	{"LOCALBOX_CONSOLE_TEMPORAL_UI_URL", kindDerived, same("TEMPORAL_UI_URL")},
	{"LOCALBOX_CONSOLE_TEMPORAL_NAMESPACE", kindDerived, same("TEMPORAL_NAMESPACE")},
	// mlengine, the local ML job service.
	{"MLENGINE_ADDR", kindBase, lit("127.0.0.1:8710")},
	{"MLENGINE_URL", kindDerived, httpURL("MLENGINE_ADDR", "")},
	{"MLENGINE_DATA_DIR", kindDerived, under("mlengine")},
	{"MLENGINE_API_KEY", kindSecret, randomToken(32)},
	{"MLENGINE_CALLBACK_KEY", kindSecret, randomToken(32)},
	// localbox (media) and the starter (callbacks) listen on loopback.
	{"MLENGINE_ALLOWED_HOSTS", kindBase, lit("127.0.0.1")},
	// vault, the tokenisation service: the worker tokenizes, the dev
	// auditor credential detokenizes (docs/vault.md).
	{"VAULT_ADDR", kindBase, lit("127.0.0.1:8720")},
	{"VAULT_URL", kindDerived, httpURL("VAULT_ADDR", "")},
	{"VAULT_DATA_DIR", kindDerived, under("vault")},
	{"VAULT_ENCRYPTION_KEYS", kindSecret, func(func(string) string, string) (string, error) {
		s, err := codec.NewKeyString("dev-1")
		return s.Reveal(), err
	}},
	{"VAULT_TOKEN_KEY", kindSecret, randomToken(32)},
	{"FILESIGHT_VAULT_CREDENTIAL", kindSecret, randomToken(32)},
	{"VAULT_DEV_AUDITOR_CREDENTIAL", kindSecret, randomToken(32)},
	{"VAULT_TOKENIZE_CREDENTIALS", kindDerived, func(get func(string) string, _ string) (string, error) {
		return "worker:" + get("FILESIGHT_VAULT_CREDENTIAL"), nil
	}},
	{"VAULT_DETOKENIZE_CREDENTIALS", kindDerived, func(get func(string) string, _ string) (string, error) {
		return "dev-auditor:" + get("VAULT_DEV_AUDITOR_CREDENTIAL"), nil
	}},
	{"FILESIGHT_VAULT_URL", kindDerived, same("VAULT_URL")},
	// The worker's and the starter's view of the content store: localbox
	// under Box's variable names (point these at api.box.com for real Box).
	{"BOX_API_URL", kindDerived, same("LOCALBOX_PUBLIC_URL")},
	{"BOX_UPLOAD_URL", kindDerived, func(get func(string) string, _ string) (string, error) {
		return get("LOCALBOX_PUBLIC_URL") + "/api", nil
	}},
	{"BOX_CLIENT_ID", kindDerived, same("LOCALBOX_CLIENT_ID")},
	{"BOX_CLIENT_SECRET", kindDerived, same("LOCALBOX_CLIENT_SECRET")},
	{"BOX_SUBJECT_TYPE", kindDerived, lit("enterprise")},
	{"BOX_SUBJECT_ID", kindDerived, same("LOCALBOX_ENTERPRISE_ID")},
	{"BOX_WEBHOOK_PRIMARY_KEY", kindDerived, same("LOCALBOX_WEBHOOK_PRIMARY_KEY")},
	{"BOX_WEBHOOK_SECONDARY_KEY", kindDerived, same("LOCALBOX_WEBHOOK_SECONDARY_KEY")},
	// Worker.
	{"FILESIGHT_CALLBACK_BASE_URL", kindDerived, httpURL("STARTER_ADDR", "")},
	// The workers' token sealing key (internal/tokenseal): never a codec key.
	{"FILESIGHT_TOKEN_SEAL_KEYS", kindSecret, func(func(string) string, string) (string, error) {
		s, err := codec.NewKeyString("seal-1")
		return s.Reveal(), err
	}},
	{"LOG_FORMAT", kindBase, lit("text")},
	{"WORKER_METRICS_ADDR", kindBase, lit("127.0.0.1:9090")},
}

// AddressKeys lists the dev.env variables holding listen addresses of make
// up (TEMPORAL_UI_URL, a URL, aside): a caller that seeds dev.env with free
// ports before Start (tests, benchmarks) sets these.
func AddressKeys() []string { return slices.Clone(addressKeys) }

// addressKeys are the listen addresses of dev.env.
var addressKeys = []string{"TEMPORAL_ADDRESS", "STARTER_ADDR", "STARTER_CODEC_ADDR", "LOCALBOX_ADDR", "MLENGINE_ADDR", "VAULT_ADDR", "WORKER_METRICS_ADDR"}

// clusterSpecs are the variables of cluster mode (make cluster): its own
// port block, so that it runs beside `make up`, and the database password.
// Every address follows CLUSTER_PORT_BASE (docs/operations.md lists the
// offsets); the other variables are those of make up.
func clusterSpecs() []varSpec {
	fromBase := func(addr func(cluster.Ports) string) func(func(string) string, string) (string, error) {
		return func(get func(string) string, _ string) (string, error) {
			p, err := clusterPorts(get)
			if err != nil {
				return "", err
			}
			return addr(p), nil
		}
	}
	out := []varSpec{
		{"CLUSTER_PORT_BASE", kindBase, lit(strconv.Itoa(cluster.DefaultPortBase))},
		{"CLUSTER_POSTGRES_ADDR", kindDerived, fromBase(cluster.Ports.Postgres)},
		{"CLUSTER_POSTGRES_USER", kindDerived, lit(cluster.DBUser)},
		{"CLUSTER_POSTGRES_PASSWORD", kindSecret, randomToken(24)},
	}
	addrs := map[string]func(func(string) string, string) (string, error){
		"TEMPORAL_ADDRESS":    fromBase(func(p cluster.Ports) string { return p.GRPC(cluster.Frontend) }),
		"TEMPORAL_UI_URL":     fromBase(func(p cluster.Ports) string { return "http://" + p.UI() }),
		"STARTER_ADDR":        fromBase(cluster.Ports.Starter),
		"STARTER_CODEC_ADDR":  fromBase(cluster.Ports.Codec),
		"LOCALBOX_ADDR":       fromBase(cluster.Ports.Localbox),
		"MLENGINE_ADDR":       fromBase(cluster.Ports.MLEngine),
		"VAULT_ADDR":          fromBase(cluster.Ports.Vault),
		"WORKER_METRICS_ADDR": fromBase(func(p cluster.Ports) string { return p.WorkerMetrics(1) }),
	}
	for _, s := range specs {
		if f, ok := addrs[s.key]; ok {
			s = varSpec{s.key, kindDerived, f}
		}
		out = append(out, s)
	}
	return out
}

// clusterPorts reads the port block from CLUSTER_PORT_BASE.
func clusterPorts(get func(string) string) (cluster.Ports, error) {
	base, err := strconv.Atoi(get("CLUSTER_PORT_BASE"))
	if err != nil {
		return cluster.Ports{}, fmt.Errorf("CLUSTER_PORT_BASE=%q is not a port number", get("CLUSTER_PORT_BASE"))
	}
	p := cluster.Ports{Base: base}
	return p, p.Validate()
}

// retired variables were written by earlier versions and are removed.
// FILESIGHT_VAULT_KEY keyed the worker's local one-way tokenizer before the
// worker used the vault service (FILESIGHT_VAULT_URL, FILESIGHT_VAULT_CREDENTIAL).
var retired = []string{"TEMPORAL_CODEC_AUTH", "FILESIGHT_VAULT_KEY"}

// Resolve fills env with every variable of the mode's stack: keeps
// existing base values and secrets, generates missing secrets, recomputes
// derived values. Variables it does not know (for example the inbox IDs)
// are left alone.
func Resolve(env *EnvFile, dataDir string, mode Mode) error {
	for _, k := range retired {
		env.Delete(k)
	}
	list := specs
	if mode == ModeCluster {
		list = clusterSpecs()
	}
	get := func(k string) string { v, _ := env.Get(k); return v }
	for _, s := range list {
		if cur, ok := env.Get(s.key); ok && cur != "" && s.kind != kindDerived {
			continue
		}
		v, err := s.value(get, dataDir)
		if err != nil {
			return fmt.Errorf("dev.env: %s: %w", s.key, err)
		}
		env.Set(s.key, v)
	}
	for _, k := range addressKeys {
		if _, _, err := net.SplitHostPort(get(k)); err != nil {
			return fmt.Errorf("dev.env: %s=%q is not host:port: %w", k, get(k), err)
		}
	}
	return nil
}

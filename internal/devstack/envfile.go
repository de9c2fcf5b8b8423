package devstack

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// EnvFile is a KEY=VALUE file (.data/dev.env): one variable per line, "#"
// comments, no shell quoting or expansion (surrounding quotes are stripped
// when reading, so hand-edited files still work). Order is preserved.
type EnvFile struct {
	path string
	keys []string
	vals map[string]string
}

var envKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// LoadEnvFile reads path; a missing file is an empty EnvFile.
func LoadEnvFile(path string) (*EnvFile, error) {
	e := &EnvFile{path: path, vals: map[string]string{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return e, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || !envKey.MatchString(k) {
			return nil, fmt.Errorf("%s:%d: not a KEY=VALUE line", path, n)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		e.Set(k, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return e, nil
}

// Path is the file's location.
func (e *EnvFile) Path() string { return e.path }

// Get returns a variable's value and whether it is set.
func (e *EnvFile) Get(k string) (string, bool) {
	v, ok := e.vals[k]
	return v, ok
}

// Set sets a variable, keeping its position if it exists.
func (e *EnvFile) Set(k, v string) {
	if _, ok := e.vals[k]; !ok {
		e.keys = append(e.keys, k)
	}
	e.vals[k] = v
}

// Delete removes a variable.
func (e *EnvFile) Delete(k string) {
	if _, ok := e.vals[k]; !ok {
		return
	}
	delete(e.vals, k)
	for i, x := range e.keys {
		if x == k {
			e.keys = append(e.keys[:i], e.keys[i+1:]...)
			break
		}
	}
}

// Keys returns the variable names in file order.
func (e *EnvFile) Keys() []string { return append([]string(nil), e.keys...) }

// Environ returns KEY=VALUE strings for exec.Cmd.Env.
func (e *EnvFile) Environ() []string {
	out := make([]string, 0, len(e.keys))
	for _, k := range e.keys {
		out = append(out, k+"="+e.vals[k])
	}
	return out
}

// Lookup implements envconfig.Lookuper.
func (e *EnvFile) Lookup(k string) (string, bool) { return e.Get(k) }

const envHeader = `# filesight dev stack: generated development credentials and addresses.
# Written by devstack (make up); reused on every run. Secrets are for this
# machine's dev stack only. Load into a shell with:  set -a; . .data/dev.env; set +a
`

func needsQuoting(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return false
	}
	return !strings.ContainsRune("_-.,:/@+=%", r)
}

// Save writes the file atomically with mode 0600 (it holds credentials).
func (e *EnvFile) Save() error {
	var b strings.Builder
	b.WriteString(envHeader)
	for _, k := range e.keys {
		v := e.vals[k]
		// Values stay plain KEY=VALUE (readable by shells and env-file
		// parsers alike), so they must not need quoting.
		if i := strings.IndexFunc(v, needsQuoting); i >= 0 {
			return fmt.Errorf("dev.env: value of %s has a character (%q) that would need shell quoting", k, v[i])
		}
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	if err := os.MkdirAll(filepath.Dir(e.path), 0o700); err != nil {
		return fmt.Errorf("writing %s: %w", e.path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(e.path), ".dev.env-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", e.path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", e.path, err)
	}
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", e.path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", e.path, err)
	}
	if err := os.Rename(tmp.Name(), e.path); err != nil {
		return fmt.Errorf("writing %s: %w", e.path, err)
	}
	return nil
}

// Package config reads settings from the environment with go-envconfig.
//
// Every program calls Load on its own config struct. Any variable NAME may
// instead be given as NAME_FILE, a path whose contents (trailing newline
// trimmed) are the value, so secrets can come from mounted files rather than
// the process environment. Setting both is an error: it is ambiguous which wins.
package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/sethvargo/go-envconfig"
)

// Load fills target (a pointer to a struct with `env` tags) from the
// process environment, honouring NAME_FILE for every variable.
func Load(ctx context.Context, target any) error {
	return LoadFrom(ctx, target, envconfig.OsLookuper())
}

// LoadFrom is Load with an explicit source of variables (for tests).
func LoadFrom(ctx context.Context, target any, l envconfig.Lookuper) error {
	fl := &fileLookuper{next: l}
	err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: target, Lookuper: fl})
	// A NAME_FILE problem explains a "missing" NAME, so it comes first.
	if err = errors.Join(fl.err, err); err != nil {
		return fmt.Errorf("reading configuration: %w", err)
	}
	if v, ok := target.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("invalid configuration: %w", err)
		}
	}
	return nil
}

// MapLookuper returns a Lookuper over a map, for tests.
func MapLookuper(m map[string]string) envconfig.Lookuper { return envconfig.MapLookuper(m) }

// fileLookuper resolves NAME from NAME_FILE when NAME itself is unset.
type fileLookuper struct {
	next envconfig.Lookuper
	err  error
}

func (f *fileLookuper) Lookup(key string) (string, bool) {
	v, ok := f.next.Lookup(key)
	path, fok := f.next.Lookup(key + "_FILE")
	switch {
	case ok && fok && path != "":
		f.err = errors.Join(f.err, fmt.Errorf("%s and %s_FILE are both set; set only one", key, key))
		return v, ok
	case ok || !fok || path == "":
		return v, ok
	}
	b, err := os.ReadFile(path)
	if err != nil {
		// The path is not secret; the contents are, and are never printed.
		f.err = errors.Join(f.err, fmt.Errorf("%s_FILE: reading %s: %w", key, path, err))
		return "", false
	}
	return strings.TrimRight(string(b), "\r\n"), true
}

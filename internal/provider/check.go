package provider

import (
	"fmt"
	"net/url"
	"time"
)

// CheckRef checks that a job reference names a job of the provider called
// name (an empty Provider is accepted: the caller knows whose it is).
func CheckRef(ref JobRef, name string) error {
	if ref.ID == "" {
		return fmt.Errorf("empty job id")
	}
	if ref.Provider != "" && ref.Provider != name {
		return fmt.Errorf("job %s belongs to provider %q, not %q", ref.ID, ref.Provider, name)
	}
	return nil
}

// IsHTTPURL reports whether s is an absolute http or https URL.
func IsHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// Setting is a configuration value, named by its variable, for the checks
// below.
type Setting[T any] struct {
	Name  string
	Value T
}

// CheckPositive returns one error per setting that is not positive.
func CheckPositive[T int | int64 | time.Duration](settings ...Setting[T]) []error {
	var errs []error
	for _, s := range settings {
		if s.Value <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", s.Name))
		}
	}
	return errs
}

// CheckHTTPURLs returns one error per setting that is not an http(s) URL.
func CheckHTTPURLs(settings ...Setting[string]) []error {
	var errs []error
	for _, s := range settings {
		if !IsHTTPURL(s.Value) {
			errs = append(errs, fmt.Errorf("%s must be an http(s) URL, not %q", s.Name, s.Value))
		}
	}
	return errs
}

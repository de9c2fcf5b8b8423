package provider

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Capabilities is implemented by providers that perform only some
// analyses (every cloud adapter; mlengine performs them all). A provider
// without it is assumed to perform every analysis.
type Capabilities interface {
	Supports(analysis string) bool
}

// Supports reports whether p performs the analysis.
func Supports(p Provider, analysis string) bool {
	if c, ok := p.(Capabilities); ok {
		return c.Supports(analysis)
	}
	return slices.Contains(AllAnalyses, analysis)
}

// Policy is how long a provider's jobs may take and how often they are
// polled. Every adapter's configuration yields one (its documented
// defaults); adapters also put the poll interval in JobStatus.RetryAfter,
// so the workflow's poll already follows it.
type Policy struct {
	// JobTimeout is the job's deadline, counted from its submission.
	JobTimeout time.Duration
	// PollInterval is the pause between two status reads while the job
	// runs (a Retry-After from the service takes precedence when longer).
	PollInterval time.Duration
}

// Selection says which provider performs each analysis: the parsed form of
// a FILESIGHT_ANALYSIS_PROVIDERS-style setting such as
//
//	transcript=whisper,keywords=whisper,*=mlengine
//
// ("*" names the provider of every analysis not listed). It is pure data:
// the worker checks it against the providers it has (Check) and the
// pipeline is built from it (Jobs).
type Selection struct {
	byAnalysis map[string]string
	fallback   string
}

// ParseSelection parses "analysis=provider" pairs separated by commas;
// "*=provider" sets the provider of the analyses not named. Spaces around
// names are ignored; an empty string selects defaultProvider for all.
// Unknown analyses, malformed provider names and an analysis given twice
// are errors that name the offending pair.
func ParseSelection(s, defaultProvider string) (Selection, error) {
	sel := Selection{byAnalysis: map[string]string{}, fallback: defaultProvider}
	fallbackSet := false
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		a, p, ok := strings.Cut(pair, "=")
		a, p = strings.TrimSpace(a), strings.TrimSpace(p)
		if !ok || a == "" || p == "" {
			return Selection{}, fmt.Errorf("%q is not analysis=provider", pair)
		}
		if !validProviderName(p) {
			return Selection{}, fmt.Errorf("%q: provider name %q must be lower-case letters, digits, - or _", pair, p)
		}
		if a == "*" {
			if fallbackSet {
				return Selection{}, fmt.Errorf("%q: the default provider (*) is given twice", pair)
			}
			sel.fallback, fallbackSet = p, true
			continue
		}
		if !slices.Contains(AllAnalyses, a) {
			return Selection{}, fmt.Errorf("%q: unknown analysis %q (known: %s)", pair, a, strings.Join(AllAnalyses, ", "))
		}
		if prev, dup := sel.byAnalysis[a]; dup {
			return Selection{}, fmt.Errorf("%q: analysis %s is already given to %s", pair, a, prev)
		}
		sel.byAnalysis[a] = p
	}
	if sel.fallback == "" {
		for _, a := range AllAnalyses {
			if _, ok := sel.byAnalysis[a]; !ok {
				return Selection{}, fmt.Errorf("analysis %s has no provider: name one, or a default with *=provider", a)
			}
		}
	}
	return sel, nil
}

func validProviderName(p string) bool {
	if p == "" || len(p) > 63 {
		return false
	}
	for i, r := range p {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case (r == '-' || r == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}

// Provider returns the provider that performs the analysis.
func (s Selection) Provider(analysis string) string {
	if p, ok := s.byAnalysis[analysis]; ok {
		return p
	}
	return s.fallback
}

// Providers lists the providers the selection uses, sorted.
func (s Selection) Providers() []string {
	var out []string
	for _, a := range AllAnalyses {
		if p := s.Provider(a); p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// Job is one provider's share of a pipeline.
type Job struct {
	Provider string
	// Analyses keeps the order of the pipeline's analyses.
	Analyses []string
}

// Jobs splits a pipeline's analyses into one job per provider, ordered by
// each provider's first analysis in the pipeline. It is deterministic (no
// map iteration), so workflow code may call it.
func (s Selection) Jobs(analyses []string) []Job {
	var jobs []Job
	for _, a := range analyses {
		p := s.Provider(a)
		i := slices.IndexFunc(jobs, func(j Job) bool { return j.Provider == p })
		if i < 0 {
			jobs = append(jobs, Job{Provider: p})
			i = len(jobs) - 1
		}
		if !slices.Contains(jobs[i].Analyses, a) {
			jobs[i].Analyses = append(jobs[i].Analyses, a)
		}
	}
	return jobs
}

// Check verifies that every provider the selection uses is registered and
// performs the analyses given to it; it returns every problem at once,
// each naming the analysis and the provider. Call it at start-up, so a
// wrong setting stops the worker instead of failing jobs one by one.
func (s Selection) Check(providers map[string]Provider) error {
	var problems []string
	for _, a := range AllAnalyses {
		name := s.Provider(a)
		p, ok := providers[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s: provider %q is not configured", a, name))
		case !Supports(p, a):
			problems = append(problems, fmt.Sprintf("%s: provider %q does not perform it", a, name))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("analysis providers: %s", strings.Join(problems, "; "))
	}
	return nil
}

// String formats the selection so that ParseSelection reads it back.
func (s Selection) String() string {
	var parts []string
	for _, a := range AllAnalyses {
		if p, ok := s.byAnalysis[a]; ok && p != s.fallback {
			parts = append(parts, a+"="+p)
		}
	}
	if s.fallback != "" {
		parts = append(parts, "*="+s.fallback)
	}
	return strings.Join(parts, ",")
}

// Warnings lists choices that are valid but probably not meant: keywords
// performed by another provider than the transcript (every provider here
// derives keywords from its own transcript, so the speech is recognised
// twice and the two cards may disagree).
func (s Selection) Warnings() []string {
	var w []string
	if kp, tp := s.Provider(AnalysisKeywords), s.Provider(AnalysisTranscript); kp != tp {
		w = append(w, fmt.Sprintf("keywords come from %s but the transcript from %s: %s will recognise the speech again for its keywords", kp, tp, kp))
	}
	return w
}

// Package metrics is a small client.MetricsHandler for the Temporal SDK
// that keeps counters, gauges and timers in memory and serves them over
// HTTP in the Prometheus text exposition format (timers as summaries:
// _count and _sum in seconds). It needs nothing beyond the standard library
// and the SDK.
package metrics

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
)

// Handler records the SDK's metrics (client.Options.MetricsHandler) and
// serves them (an http.Handler for GET /metrics). Handlers derived with
// WithTags share one registry.
type Handler struct {
	reg  *registry
	tags []label // sorted by name
	// key is tags rendered once: every recorded value looks its series up
	// by name and key, and the SDK records values on every task.
	key string
}

type label struct{ name, value string }

type registry struct {
	mu       sync.Mutex
	counters map[string]*series
	gauges   map[string]*series
	timers   map[string]*series
}

type series struct {
	name   string
	labels []label
	value  float64 // counter total or gauge value
	count  uint64  // timer observations
	sum    float64 // timer total, seconds
}

// NewHandler returns an empty Handler.
func NewHandler() *Handler {
	return &Handler{reg: &registry{counters: map[string]*series{}, gauges: map[string]*series{}, timers: map[string]*series{}}}
}

var (
	_ client.MetricsHandler = (*Handler)(nil)
	_ http.Handler          = (*Handler)(nil)
)

// WithTags returns a handler whose series carry tags as labels, besides
// those of m.
func (m *Handler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := slices.Clone(m.tags)
	for k, v := range tags {
		i := slices.IndexFunc(merged, func(l label) bool { return l.name == k })
		if i >= 0 {
			merged[i].value = v
		} else {
			merged = append(merged, label{k, v})
		}
	}
	slices.SortFunc(merged, func(a, b label) int { return strings.Compare(a.name, b.name) })
	return &Handler{reg: m.reg, tags: merged, key: renderLabels(merged)}
}

func (m *Handler) get(kind map[string]*series, name string) *series {
	if !validName(name) {
		name = sanitize(name)
	}
	key := name + "{" + m.key + "}"
	s, ok := kind[key]
	if !ok {
		s = &series{name: name, labels: m.tags}
		kind[key] = s
	}
	return s
}

// Counter returns the counter name (labelled with m's tags).
func (m *Handler) Counter(name string) client.MetricsCounter {
	return counterFunc(func(d int64) {
		m.reg.mu.Lock()
		defer m.reg.mu.Unlock()
		m.get(m.reg.counters, name).value += float64(d)
	})
}

// Gauge returns the gauge name (labelled with m's tags).
func (m *Handler) Gauge(name string) client.MetricsGauge {
	return gaugeFunc(func(v float64) {
		m.reg.mu.Lock()
		defer m.reg.mu.Unlock()
		m.get(m.reg.gauges, name).value = v
	})
}

// Timer returns the timer name (labelled with m's tags), served as a
// summary.
func (m *Handler) Timer(name string) client.MetricsTimer {
	return timerFunc(func(d time.Duration) {
		m.reg.mu.Lock()
		defer m.reg.mu.Unlock()
		s := m.get(m.reg.timers, name)
		s.count++
		s.sum += d.Seconds()
	})
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }

// ServeHTTP writes every series in the Prometheus text exposition format.
func (m *Handler) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	m.write(w)
}

func (m *Handler) write(w io.Writer) {
	m.reg.mu.Lock()
	defer m.reg.mu.Unlock()
	emit := func(kind map[string]*series, typ string, line func(s *series) string) {
		keys := make([]string, 0, len(kind))
		for k := range kind {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		last := ""
		for _, k := range keys {
			s := kind[k]
			if s.name != last {
				fmt.Fprintf(w, "# TYPE %s %s\n", s.name, typ)
				last = s.name
			}
			fmt.Fprint(w, line(s))
		}
	}
	emit(m.reg.counters, "counter", func(s *series) string {
		return fmt.Sprintf("%s%s %s\n", s.name, braces(s.labels), num(s.value))
	})
	emit(m.reg.gauges, "gauge", func(s *series) string {
		return fmt.Sprintf("%s%s %s\n", s.name, braces(s.labels), num(s.value))
	})
	emit(m.reg.timers, "summary", func(s *series) string {
		return fmt.Sprintf("%s_count%s %d\n%s_sum%s %s\n", s.name, braces(s.labels), s.count, s.name, braces(s.labels), num(s.sum))
	})
}

func num(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return "NaN"
	}
	return fmt.Sprintf("%g", f)
}

func braces(ls []label) string {
	if len(ls) == 0 {
		return ""
	}
	return "{" + renderLabels(ls) + "}"
}

func renderLabels(ls []label) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = sanitize(l.name) + `="` + escapeLabelValue(l.value) + `"`
	}
	return strings.Join(parts, ",")
}

// escapeLabelValue escapes backslash, double quote and newline, as the
// exposition format wants.
func escapeLabelValue(v string) string {
	if !strings.ContainsAny(v, "\\\"\n") {
		return v
	}
	var b strings.Builder
	for _, r := range v {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func nameByte(i int, c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')
}

// validName reports whether s is a Prometheus name as it is.
func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !nameByte(i, s[i]) {
			return false
		}
	}
	return s != ""
}

// sanitize makes a Prometheus metric or label name.
func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !nameByte(i, c) {
			b[i] = '_'
		}
	}
	return string(b)
}

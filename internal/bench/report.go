package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	tlog "go.temporal.io/sdk/log"
)

// figure is one measured figure: its RESULT line and its row of the table.
type figure struct {
	// Name is the RESULT name ("orchestration", ...).
	Name string
	// Line is what follows "RESULT <name> " (empty for the mlengine
	// figure, whose RESULT lines keep their original form).
	Line string
	// Value, Baseline, Target and Verdict fill the table.
	Value, Baseline, Target, Verdict string
	// Notes are printed below the table.
	Notes []string
}

// machine describes where the figures were measured.
type machine struct {
	CPU     string
	Cores   int
	MemGiB  float64
	Go      string
	Kernel  string
	LoadBeg string
	LoadEnd string
}

func readMachine() machine {
	m := machine{CPU: "unknown", Cores: runtime.NumCPU(), Go: runtime.Version(), LoadBeg: loadavg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				kib, _ := strconv.ParseFloat(f[1], 64)
				m.MemGiB = kib / (1 << 20)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	return m
}

func (m machine) String() string {
	return fmt.Sprintf("%s, %d cores, %.0f GiB memory, %s, %s", m.CPU, m.Cores, m.MemGiB, m.Kernel, m.Go)
}

// printTable prints the figures as a table.
func printTable(w io.Writer, figs []figure) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, markdownTable(figs))
	for _, f := range figs {
		for _, n := range f.Notes {
			fmt.Fprintf(w, "  %s: %s\n", f.Name, n)
		}
	}
}

func markdownTable(figs []figure) string {
	var b strings.Builder
	b.WriteString("| figure | filesight | baseline (same run) | target | verdict |\n|---|---|---|---|---|\n")
	for _, f := range figs {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", f.Name, f.Value, f.Baseline, f.Target, f.Verdict)
	}
	return strings.TrimRight(b.String(), "\n")
}

// The generated part of docs/benchmarks.md lies between these markers;
// the text around them is written by hand and kept.
const (
	generatedBegin = "<!-- BEGIN make bench: generated, do not edit -->"
	generatedEnd   = "<!-- END make bench -->"
)

// writeReport replaces the generated part of the report file (creating
// the file when it does not exist).
func writeReport(path string, m machine, began time.Time, took time.Duration, figs []figure, results []string) error {
	var g strings.Builder
	fmt.Fprintf(&g, "%s\n\n", generatedBegin)
	fmt.Fprintf(&g, "Measured %s by `make bench` in %s.\n\n", began.UTC().Format("2006-01-02 15:04 MST"), took.Round(time.Second))
	fmt.Fprintf(&g, "Machine: %s; load average %s at the start, %s at the end.\n\n", m, m.LoadBeg, m.LoadEnd)
	g.WriteString(markdownTable(figs))
	g.WriteString("\n\n")
	for _, f := range figs {
		for _, n := range f.Notes {
			fmt.Fprintf(&g, "- `%s`: %s\n", f.Name, n)
		}
	}
	g.WriteString("\n```\n")
	for _, r := range results {
		g.WriteString(r + "\n")
	}
	fmt.Fprintf(&g, "```\n\n%s", generatedEnd)

	old, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		old = []byte("# Benchmarks\n\n" + generatedBegin + "\n" + generatedEnd + "\n")
	} else if err != nil {
		return err
	}
	i, j := bytes.Index(old, []byte(generatedBegin)), bytes.Index(old, []byte(generatedEnd))
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %q … %q block to replace", path, generatedBegin, generatedEnd)
	}
	out := append(append(append([]byte{}, old[:i]...), g.String()...), old[j+len(generatedEnd):]...)
	return os.WriteFile(path, out, 0o644)
}

// resultLines collects the RESULT lines written through it.
type resultLines struct {
	w     io.Writer
	buf   []byte
	lines []string
}

func (r *resultLines) Write(p []byte) (int, error) {
	r.buf = append(r.buf, p...)
	for {
		i := bytes.IndexByte(r.buf, '\n')
		if i < 0 {
			break
		}
		if l := string(r.buf[:i]); strings.HasPrefix(l, "RESULT ") {
			r.lines = append(r.lines, l)
		}
		r.buf = r.buf[i+1:]
	}
	return r.w.Write(p)
}

// quietSlog logs warnings and errors only, to stderr.
func quietSlog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// quietLogger is quietSlog for the Temporal SDK.
func quietLogger() tlog.Logger { return tlog.NewStructuredLogger(quietSlog()) }

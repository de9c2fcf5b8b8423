package bench

import (
	"bytes"
	"encoding/json"
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
	// Results are the figure's RESULT lines as printed.
	Results []string
	// Measured is when the figure was measured, on Machine, whose load
	// average was Load.
	Measured      time.Time
	Machine, Load string
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
// the text around them is written by hand and kept. Each figure is also
// kept in it as a JSON comment (figureTag), so that a run that measures
// some figures replaces those and keeps the others.
const (
	generatedBegin = "<!-- BEGIN make bench: generated, do not edit -->"
	generatedEnd   = "<!-- END make bench -->"
	figureTag      = "<!-- figure "
)

// writeReport replaces the generated part of the report file (creating
// the file when it does not exist) with figs and the figures of the
// part it replaces that figs does not measure again.
func writeReport(path string, figs []figure) error {
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
	all, err := mergeFigures(keptFigures(old[i:j]), figs)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	out := append(append(append([]byte{}, old[:i]...), renderReport(all)...), old[j+len(generatedEnd):]...)
	return os.WriteFile(path, out, 0o644)
}

// keptFigures reads the figures kept in a generated part; lines that do
// not parse are dropped (the next run measures those figures again).
func keptFigures(block []byte) []figure {
	var figs []figure
	for _, l := range strings.Split(string(block), "\n") {
		rest, ok := strings.CutPrefix(l, figureTag)
		if !ok {
			continue
		}
		var f figure
		if json.Unmarshal([]byte(strings.TrimSuffix(rest, " -->")), &f) == nil && f.Name != "" {
			figs = append(figs, f)
		}
	}
	return figs
}

// mergeFigures is the figures of kept that fresh does not replace, and
// fresh, in the order of allFigures.
func mergeFigures(kept, fresh []figure) ([]figure, error) {
	by := map[string]figure{}
	for _, f := range kept {
		by[f.Name] = f
	}
	for _, f := range fresh {
		by[f.Name] = f
	}
	var out []figure
	for _, name := range allFigures {
		if f, ok := by[name]; ok {
			out = append(out, f)
			delete(by, name)
		}
	}
	for name := range by {
		return nil, fmt.Errorf("unknown figure %q", name)
	}
	return out, nil
}

// renderReport is the generated part for figs, markers included.
func renderReport(figs []figure) string {
	var g strings.Builder
	fmt.Fprintf(&g, "%s\n\n", generatedBegin)
	machines := map[string]bool{}
	for _, f := range figs {
		machines[f.Machine] = true
	}
	if len(machines) == 1 {
		fmt.Fprintf(&g, "Measured by `make bench` on %s. The machine is shared: the load average (1, 5, 15 minutes) when a figure was measured is beside it; compare each figure with its baseline of the same run.\n\n", figs[0].Machine)
	} else {
		g.WriteString("Measured by `make bench`; each figure's machine is in its notes. The load average (1, 5, 15 minutes) when a figure was measured is beside it; compare each figure with its baseline of the same run.\n\n")
	}
	g.WriteString("| figure | filesight | baseline (same run) | target | verdict | measured (UTC), load |\n|---|---|---|---|---|---|\n")
	for _, f := range figs {
		fmt.Fprintf(&g, "| `%s` | %s | %s | %s | %s | %s, %s |\n", f.Name, f.Value, f.Baseline, f.Target, f.Verdict,
			f.Measured.UTC().Format("2006-01-02 15:04"), f.Load)
	}
	g.WriteString("\n")
	for _, f := range figs {
		if len(machines) > 1 {
			fmt.Fprintf(&g, "- `%s`: machine: %s\n", f.Name, f.Machine)
		}
		for _, n := range f.Notes {
			fmt.Fprintf(&g, "- `%s`: %s\n", f.Name, n)
		}
	}
	g.WriteString("\n```\n")
	for _, f := range figs {
		for _, r := range f.Results {
			g.WriteString(r + "\n")
		}
	}
	g.WriteString("```\n\n")
	for _, f := range figs {
		b, _ := json.Marshal(f)
		// "--" may not appear inside an HTML comment.
		fmt.Fprintf(&g, "%s%s -->\n", figureTag, strings.ReplaceAll(string(b), "--", `-\u002d`))
	}
	fmt.Fprintf(&g, "\n%s", generatedEnd)
	return g.String()
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

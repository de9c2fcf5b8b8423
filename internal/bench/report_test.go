package bench

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestWriteReportKeepsTheFiguresNotMeasuredAgain: a run that measures one
// figure replaces that figure's row, notes and RESULT lines, keeps the
// other figures and the hand-written text around the generated part.
func TestWriteReportKeepsTheFiguresNotMeasuredAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	head, tail := "# Benchmarks\n\nWritten by hand.\n\n", "\n\n## After\n\nAlso by hand.\n"
	if err := os.WriteFile(path, []byte(head+generatedBegin+"\n"+generatedEnd+tail), 0o644); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	fig := func(name, value string, at time.Time) figure {
		return figure{Name: name, Line: "ratio=1.00", Value: value, Baseline: "b", Target: "t", Verdict: "met (x)",
			Notes: []string{"a note -- with dashes"}, Results: []string{"RESULT " + name + " ratio=1.00"},
			Measured: at, Machine: "AMD EPYC, 2 cores", Load: "1.00 2.00 3.00"}
	}
	starter1, orch := fig("starter", "first", at), fig("orchestration", "kept", at)
	if err := writeReport(path, []figure{starter1, orch}); err != nil {
		t.Fatal(err)
	}
	starter2 := fig("starter", "second", at.Add(time.Hour))
	if err := writeReport(path, []figure{starter2}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	if !strings.HasPrefix(doc, head+generatedBegin) || !strings.HasSuffix(doc, generatedEnd+tail) {
		t.Errorf("hand-written text not kept:\n%s", doc)
	}
	for _, l := range strings.Split(doc, "\n") {
		if body, ok := strings.CutPrefix(l, figureTag); ok && strings.Contains(strings.TrimSuffix(body, " -->"), "--") {
			t.Errorf("\"--\" inside an HTML comment: %s", l)
		}
	}
	kept := keptFigures([]byte(doc))
	if want := []figure{orch, starter2}; !reflect.DeepEqual(kept, want) {
		t.Errorf("kept figures:\n%+v\nwant\n%+v", kept, want)
	}
	for _, want := range []string{"| `orchestration` | kept |", "| `starter` | second |", "2026-12-02 08:00, 1.00 2.00 3.00 |",
		"on AMD EPYC, 2 cores.", "RESULT orchestration ratio=1.00\nRESULT starter ratio=1.00\n"} {
		if !strings.Contains(doc, want) {
			t.Errorf("report lacks %q:\n%s", want, doc)
		}
	}
	if strings.Contains(doc, "| first |") {
		t.Errorf("the replaced figure is still there:\n%s", doc)
	}
}

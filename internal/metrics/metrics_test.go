package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestMetricsExposition(t *testing.T) {
	m := NewHandler()
	tagged := m.WithTags(map[string]string{"task_queue": "filesight", "activity_type": `Say "hi"`})
	tagged.Counter("temporal_activity_execution_failed").Inc(2)
	tagged.Counter("temporal_activity_execution_failed").Inc(1)
	m.Gauge("temporal_num_pollers").Update(4)
	tagged.Timer("temporal_activity_execution_latency").Record(1500 * time.Millisecond)
	tagged.Timer("temporal_activity_execution_latency").Record(500 * time.Millisecond)
	m.WithTags(map[string]string{"bad-name": "x"}).Counter("weird.metric-name").Inc(1)

	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	out := rec.Body.String()
	for _, want := range []string{
		"# TYPE temporal_activity_execution_failed counter\n",
		`temporal_activity_execution_failed{activity_type="Say \"hi\"",task_queue="filesight"} 3` + "\n",
		"# TYPE temporal_num_pollers gauge\ntemporal_num_pollers 4\n",
		`temporal_activity_execution_latency_count{activity_type="Say \"hi\"",task_queue="filesight"} 2` + "\n",
		`temporal_activity_execution_latency_sum{activity_type="Say \"hi\"",task_queue="filesight"} 2` + "\n",
		`weird_metric_name{bad_name="x"} 1` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}

// The SDK records a value on every task: recording must not rebuild the
// label string or an escaper each time (it once cost ~100 µs and 38
// allocations per value, a seventh of the worker's CPU; docs/benchmarks.md).
func TestRecordingAllocatesLittle(t *testing.T) {
	h := NewHandler().WithTags(map[string]string{"namespace": "default", "task_queue": "filesight", "activity_type": "IssueToken", "note": `a "quoted"` + "\nvalue"})
	allocs := testing.AllocsPerRun(200, func() { h.Counter("temporal_activity_execution_latency").Inc(1) })
	if allocs > 3 {
		t.Fatalf("%.0f allocations per recorded value, want at most 3", allocs)
	}
	rec := httptest.NewRecorder()
	h.(*Handler).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if want := `temporal_activity_execution_latency{activity_type="IssueToken",namespace="default",note="a \"quoted\"\nvalue",task_queue="filesight"} 201`; !strings.Contains(rec.Body.String(), want) {
		t.Fatalf("missing %q in\n%s", want, rec.Body.String())
	}
}

func BenchmarkCounterInc(b *testing.B) {
	h := NewHandler().WithTags(map[string]string{"namespace": "default", "task_queue": "filesight", "activity_type": "IssueToken", "worker_type": "ActivityWorker"})
	b.ReportAllocs()
	for b.Loop() {
		h.Counter("temporal_activity_execution_latency").Inc(1)
	}
}

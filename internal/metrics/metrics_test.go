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

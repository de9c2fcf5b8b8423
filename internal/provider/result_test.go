package provider

import (
	"encoding/json"
	"testing"
)

// An analysis that found nothing must stay distinguishable from one that
// did not run after a JSON round trip (mlengine → client → card writer).
func TestResultKeepsEmptyAnalyses(t *testing.T) {
	in := Result{Keywords: []Keyword{}, Silences: []Span{}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Result
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Keywords == nil || out.Silences == nil {
		t.Fatalf("empty analyses lost in %s", b)
	}
	if out.Scenes != nil || out.OCR != nil || out.Media != nil || out.Transcript != nil {
		t.Fatalf("analyses that did not run appeared in %s", b)
	}
}

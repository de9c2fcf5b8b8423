package provider

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestParseSelection(t *testing.T) {
	for _, tc := range []struct {
		in, def string
		want    map[string]string // analysis → provider, for every analysis
		err     string
	}{
		{in: "", def: "mlengine", want: all("mlengine")},
		{in: "transcript=whisper, keywords = whisper ,*=mlengine", def: "", want: with(all("mlengine"), "transcript", "whisper", "keywords", "whisper")},
		{in: "scenes=videoindexer,ocr=videoindexer", def: "mlengine", want: with(all("mlengine"), "scenes", "videoindexer", "ocr", "videoindexer")},
		{in: "transcript=whisper", def: "", err: "has no provider"},
		{in: "transcript", def: "mlengine", err: "not analysis=provider"},
		{in: "transcript=", def: "mlengine", err: "not analysis=provider"},
		{in: "faces=videoindexer", def: "mlengine", err: "unknown analysis"},
		{in: "transcript=Whisper", def: "mlengine", err: "lower-case"},
		{in: "transcript=whisper,transcript=assemblyai", def: "mlengine", err: "already given"},
		{in: "*=a,*=b", def: "", err: "given twice"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			s, err := ParseSelection(tc.in, tc.def)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, a := range AllAnalyses {
				got[a] = s.Provider(a)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			// String reads back to the same selection.
			back, err := ParseSelection(s.String(), "")
			if err != nil || !reflect.DeepEqual(back, s) {
				t.Fatalf("round trip of %q: %v %v", s.String(), back, err)
			}
		})
	}
}

func all(p string) map[string]string {
	m := map[string]string{}
	for _, a := range AllAnalyses {
		m[a] = p
	}
	return m
}

func with(m map[string]string, kv ...string) map[string]string {
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestSelectionJobs(t *testing.T) {
	s, err := ParseSelection("transcript=whisper,keywords=whisper,*=mlengine", "")
	if err != nil {
		t.Fatal(err)
	}
	got := s.Jobs([]string{AnalysisMedia, AnalysisScenes, AnalysisTranscript, AnalysisKeywords, AnalysisOCR, AnalysisTranscript})
	want := []Job{
		{Provider: "mlengine", Analyses: []string{AnalysisMedia, AnalysisScenes, AnalysisOCR}},
		{Provider: "whisper", Analyses: []string{AnalysisTranscript, AnalysisKeywords}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if p := s.Providers(); !reflect.DeepEqual(p, []string{"mlengine", "whisper"}) {
		t.Fatalf("providers %v", p)
	}
	if s.Jobs(nil) != nil {
		t.Fatal("no analyses, no jobs")
	}
}

// fakeProvider performs the analyses it lists.
type fakeProvider struct {
	Provider
	name     string
	analyses []string
}

func (f fakeProvider) Name() string { return f.name }
func (f fakeProvider) Supports(a string) bool {
	for _, x := range f.analyses {
		if x == a {
			return true
		}
	}
	return false
}

// allProvider has no Capabilities: it performs everything.
type allProvider struct{ Provider }

func (allProvider) Cancel(context.Context, JobRef) error { return nil }

func TestSelectionCheck(t *testing.T) {
	s, _ := ParseSelection("transcript=whisper,scenes=videoindexer,*=mlengine", "")
	ok := map[string]Provider{
		"mlengine":     allProvider{},
		"whisper":      fakeProvider{name: "whisper", analyses: []string{AnalysisTranscript, AnalysisMedia}},
		"videoindexer": fakeProvider{name: "videoindexer", analyses: []string{AnalysisScenes, AnalysisOCR}},
	}
	if err := s.Check(ok); err != nil {
		t.Fatal(err)
	}
	bad, _ := ParseSelection("transcript=whisper,scenes=whisper,ocr=aws,*=mlengine", "")
	err := bad.Check(ok)
	if err == nil || !strings.Contains(err.Error(), `scenes: provider "whisper" does not perform it`) ||
		!strings.Contains(err.Error(), `ocr: provider "aws" is not configured`) {
		t.Fatalf("got %v", err)
	}
}

func TestSelectionWarnings(t *testing.T) {
	s, _ := ParseSelection("transcript=whisper,*=mlengine", "")
	if w := s.Warnings(); len(w) != 1 || !strings.Contains(w[0], "keywords come from mlengine but the transcript from whisper") {
		t.Fatalf("warnings %v", w)
	}
	s, _ = ParseSelection("transcript=whisper,keywords=whisper,*=mlengine", "")
	if w := s.Warnings(); w != nil {
		t.Fatalf("warnings %v", w)
	}
	_ = fmt.Sprint(s)
}

package replay

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
)

func TestFileName(t *testing.T) {
	got := FileName(Execution{WorkflowID: "file-12-v34", RunID: "01a21414-5af8-7ea8", Status: enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED})
	if got != "file-12-v34_canceled_01a21414.json" {
		t.Fatalf("got %q", got)
	}
	if got := FileName(Execution{WorkflowID: "a/b c", RunID: "r"}); got != "a_b_c_unspecified_r.json" {
		t.Fatalf("unsafe characters kept: %q", got)
	}
}

func TestHistoriesAndFailures(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b.json", "a.json", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(`{"events":[]}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	paths, err := Histories(dir)
	if err != nil || len(paths) != 2 || filepath.Base(paths[0]) != "a.json" {
		t.Fatalf("%v %v", paths, err)
	}
	r, err := NewReplayer(nil)
	if err != nil {
		t.Fatal(err)
	}
	results := ReplayFiles(r, nil, append(paths, filepath.Join(dir, "missing.json"))...)
	if len(results) != 3 || Failed(results) == nil {
		t.Fatalf("empty or missing histories must fail: %+v", results)
	}
	if Failed([]Result{{Name: "x"}}) != nil || !errors.Is(Failed([]Result{{Name: "x", Err: os.ErrNotExist}}), os.ErrNotExist) {
		t.Fatal("Failed wrong")
	}
}

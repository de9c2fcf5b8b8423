package analyze

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSpeechVocabulary(t *testing.T) {
	v, err := loadSpeechVocab(speechModelDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.lmWords) < 50000 || !v.inLM("file") || !v.inLM("durable") || v.inLM("workflow") {
		t.Fatalf("LM words: %d, file %v durable %v workflow %v; want the en-us LM's ~72 500 words without workflow",
			len(v.lmWords), v.inLM("file"), v.inLM("durable"), v.inLM("workflow"))
	}
	cands := v.candidates([]string{"WORKFLOW", "Durable Steps", "Uploads & Zyxqv's"})
	for _, want := range []string{"workflow", "workflows", "uploads", "zyxqv"} {
		if !slices.Contains(cands, want) {
			t.Errorf("candidates %v lack %q", cands, want)
		}
	}
	for _, known := range []string{"durable", "steps", "upload"} {
		if slices.Contains(cands, known) {
			t.Errorf("candidates %v contain %q, which the LM knows", cands, known)
		}
	}
	words, err := v.pronounceable(cands)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(words, "workflow") || !slices.Contains(words, "uploads") || slices.Contains(words, "zyxqv") {
		t.Errorf("pronounceable %v, want workflow and uploads, not zyxqv", words)
	}
}

func TestASRVocabArgs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "with space")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	a := newASRVocab(speechModelDir, dir, slog.Default())
	if args := a.args([]string{"Durable Steps"}); args != nil {
		t.Errorf("args %v for words the LM knows, want none", args)
	}
	args := a.args([]string{"WORKFLOW", "Durable Steps"})
	if len(args) != 4 || args[0] != "-lmctl" || args[2] != "-lmname" || args[3] != "en-us" {
		t.Fatalf("args %v", args)
	}
	ctl, err := os.ReadFile(args[1])
	if err != nil {
		t.Fatal(err)
	}
	if want := "{ vocab-0001.classdef }\n" + speechModelDir + "/en-us.lm.bin en-us { [onscreen] }\n"; string(ctl) != want {
		t.Errorf("control file %q, want %q", ctl, want)
	}
	def, err := os.ReadFile(filepath.Join(dir, "vocab-0001.classdef"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "LMCLASS [onscreen]\nworkflow\nworkflows\nEND [onscreen]\n"; string(def) != want {
		t.Errorf("class file %q, want %q", def, want)
	}
	if again := a.args([]string{"Workflow"}); !slices.Equal(again, args) {
		t.Errorf("the same words got %v, want the same file %v", again, args)
	}
	if other := a.args([]string{"Workflow", "Uploads"}); len(other) != 4 || other[1] == args[1] || !strings.HasSuffix(other[1], "vocab-0002.lmctl") {
		t.Errorf("other words got %v, want a second file", other)
	}
	if none := newASRVocab(t.TempDir(), dir, slog.Default()).args([]string{"workflow"}); none != nil {
		t.Errorf("args %v without a model, want none", none)
	}
}

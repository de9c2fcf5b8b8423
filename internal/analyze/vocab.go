package analyze

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unicode"
)

// On-screen words in the speech recogniser's vocabulary.
//
// pocketsphinx only hypothesises words its language model knows. The
// en-us model's trigram LM has about 72 500 words; its pronunciation
// dictionary (cmudict) about 134 000. A word shown on a slide that the
// dictionary can pronounce but the LM lacks ("workflow", "uploads") can
// never be recognised: "work flow" comes out instead. pocketsphinx 0.8 cannot
// add a word to the LM from its command line, but its LM control file
// (-lmctl) can attach a word class to the LM: the class is a new unigram
// with the probability of an average word (1/number of words), shared
// evenly by its members. So for each speech chunk the on-screen words
// shown up to its end that the dictionary has and the LM lacks (and their
// plural, -ed and -ing forms when the dictionary has those) become the
// class [onscreen]. A word already in the LM cannot be a class member
// (sphinxbase refuses duplicates), so known words are not biased.

// speechModel is where pocketsphinx's default en-us model lives (Debian's
// pocketsphinx-en-us).
const speechModelDir = "/usr/share/pocketsphinx/model/en-us"

// speechVocab answers which words the dictionary has and the LM lacks.
type speechVocab struct {
	lmPath  string
	lmWords []string // the LM's words, sorted
	dict    string   // path of the pronunciation dictionary
}

// loadSpeechVocab reads the LM's word list (the tail of its binary file).
func loadSpeechVocab(dir string) (*speechVocab, error) {
	lmPath := filepath.Join(dir, "en-us.lm.bin")
	words, err := lmWords(lmPath)
	if err != nil {
		return nil, err
	}
	slices.Sort(words)
	return &speechVocab{lmPath: lmPath, lmWords: words, dict: filepath.Join(dir, "cmudict-en-us.dict")}, nil
}

// inLM reports whether the language model knows w.
func (v *speechVocab) inLM(w string) bool {
	_, ok := slices.BinarySearch(v.lmWords, w)
	return ok
}

const trieHeader = "Trie Language Model"

// lmWords returns the words of a sphinxbase binary trie LM. The file is
// the header, the order (one byte), one uint32 count per order, the trie,
// and at the end the words: a little-endian int32 byte count followed by
// the words, each ending in a NUL byte.
func lmWords(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, len(trieHeader)+1+4)
	if _, err := io.ReadFull(f, head); err != nil || string(head[:len(trieHeader)]) != trieHeader {
		return nil, fmt.Errorf("%s is not a binary trie language model", path)
	}
	n := int(binary.LittleEndian.Uint32(head[len(trieHeader)+1:]))
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	// The word list is at most ~32 bytes a word; read that much of the end.
	size := st.Size()
	tailLen := min(size, int64(n)*32+4)
	tail := make([]byte, tailLen)
	if _, err := f.ReadAt(tail, size-tailLen); err != nil {
		return nil, err
	}
	// Find the count that says the rest of the file is the word list.
	for p := len(tail) - 5; p >= 0; p-- {
		if int(binary.LittleEndian.Uint32(tail[p:])) != len(tail)-p-4 {
			continue
		}
		list := tail[p+4:]
		if len(list) == 0 || list[len(list)-1] != 0 || bytes.Count(list, []byte{0}) != n {
			continue
		}
		return strings.Split(string(list[:len(list)-1]), "\x00"), nil
	}
	return nil, fmt.Errorf("%s: word list not found", path)
}

// candidates returns the forms of the words in text worth adding: lower
// case, letters and apostrophes, at least three letters, not in the LM,
// with their inflections.
func (v *speechVocab) candidates(texts []string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(w string) {
		if !seen[w] && !v.inLM(w) {
			seen[w] = true
			out = append(out, w)
		}
	}
	for _, t := range texts {
		for _, w := range strings.FieldsFunc(strings.ToLower(t), func(r rune) bool { return !unicode.IsLetter(r) && r != '\'' }) {
			w = strings.Trim(strings.TrimSuffix(w, "'s"), "'")
			if letters(w) < 3 {
				continue
			}
			add(w)
			stem := strings.TrimSuffix(w, "s")
			for _, f := range []string{stem, stem + "s", stem + "es", stem + "ed", stem + "ing", strings.TrimSuffix(stem, "e") + "ing", strings.TrimSuffix(stem, "e") + "ed"} {
				if letters(f) >= 3 {
					add(f)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// pronounceable keeps the words the dictionary has (alternative
// pronunciations are listed as word(2)).
func (v *speechVocab) pronounceable(words []string) ([]string, error) {
	if len(words) == 0 {
		return nil, nil
	}
	want := map[string]bool{}
	for _, w := range words {
		want[w] = true
	}
	f, err := os.Open(v.dict)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	found := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		i := bytes.IndexAny(line, " \t(")
		if i <= 0 {
			continue
		}
		if w := string(line[:i]); want[w] {
			found[w] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var out []string
	for _, w := range words {
		if found[w] {
			out = append(out, w)
		}
	}
	return out, nil
}

// writeLMControl writes an LM control file attaching the class [onscreen]
// of words to the LM, and returns its path.
func (v *speechVocab) writeLMControl(dir, name string, words []string) (string, error) {
	if len(words) == 0 {
		return "", errors.New("no words")
	}
	var def strings.Builder
	def.WriteString("LMCLASS [onscreen]\n")
	for _, w := range words {
		def.WriteString(w + "\n")
	}
	def.WriteString("END [onscreen]\n")
	// The control file names the class file relative to its own directory
	// (sphinxbase splits the control file at white space).
	if err := os.WriteFile(filepath.Join(dir, name+".classdef"), []byte(def.String()), 0o644); err != nil {
		return "", err
	}
	ctl := filepath.Join(dir, name+".lmctl")
	if strings.ContainsAny(v.lmPath, " \t\n") {
		return "", fmt.Errorf("language model path %q has white space", v.lmPath)
	}
	body := fmt.Sprintf("{ %s.classdef }\n%s en-us { [onscreen] }\n", name, v.lmPath)
	if err := os.WriteFile(ctl, []byte(body), 0o644); err != nil {
		return "", err
	}
	return ctl, nil
}

// asrVocab gives each speech chunk its on-screen words for one job. The
// model's word lists are read once, when the first chunk needs them; if
// they cannot be read, speech is recognised without on-screen words.
type asrVocab struct {
	modelDir string
	dir      string // where control files go
	log      *slog.Logger

	once  sync.Once
	vocab *speechVocab

	mu     sync.Mutex
	inDict map[string]bool   // dictionary look-ups so far
	files  map[string]string // word list → control file
}

func newASRVocab(modelDir, dir string, log *slog.Logger) *asrVocab {
	return &asrVocab{modelDir: modelDir, dir: dir, log: log, inDict: map[string]bool{}, files: map[string]string{}}
}

// args returns pocketsphinx arguments that add the words of texts to the
// vocabulary (none when there is nothing to add).
func (a *asrVocab) args(texts []string) []string {
	a.once.Do(func() {
		v, err := loadSpeechVocab(a.modelDir)
		if err != nil {
			a.log.Warn("on-screen words will not be added to the speech vocabulary", "error", err)
			return
		}
		a.vocab = v
	})
	if a.vocab == nil || len(texts) == 0 {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	cands := a.vocab.candidates(texts)
	var unknown []string
	for _, w := range cands {
		if _, ok := a.inDict[w]; !ok {
			unknown = append(unknown, w)
		}
	}
	if len(unknown) > 0 {
		found, err := a.vocab.pronounceable(unknown)
		if err != nil {
			a.log.Warn("reading the pronunciation dictionary failed", "error", err)
			return nil
		}
		for _, w := range unknown {
			a.inDict[w] = false
		}
		for _, w := range found {
			a.inDict[w] = true
		}
	}
	var words []string
	for _, w := range cands {
		if a.inDict[w] {
			words = append(words, w)
		}
	}
	if len(words) == 0 {
		return nil
	}
	key := strings.Join(words, " ")
	ctl, ok := a.files[key]
	if !ok {
		var err error
		ctl, err = a.vocab.writeLMControl(a.dir, fmt.Sprintf("vocab-%04d", len(a.files)+1), words)
		if err != nil {
			a.log.Warn("writing the speech vocabulary failed", "error", err)
			return nil
		}
		a.files[key] = ctl
	}
	return []string{"-lmctl", ctl, "-lmname", "en-us"}
}

package localbox_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filesight/internal/box"
	"filesight/internal/localbox/localboxtest"
)

// BenchmarkSearch measures GET /2.0/search for a word spoken in one file of
// a store of 300 files with 100-entry transcripts (30,000 card entries),
// and prints it next to a baseline measured on the same database in the
// same run: what finding the word costs without the index, a LIKE scan of
// every boxSkillsCards document. It also prints what the index adds to a
// card write, against a metadata write of the same size that nothing indexes.
func BenchmarkSearch(b *testing.B) {
	const files, entries = 300, 100
	lb := localboxtest.Start(b)
	tok := lb.ParentToken(b)
	rng := rand.New(rand.NewPCG(1, 2))
	vocab := make([]string, 2000)
	for i := range vocab {
		vocab[i] = fmt.Sprintf("w%dx", i)
	}
	var (
		target             string
		cardWrites, plains []time.Duration
	)
	for i := range files {
		f := lb.UploadFile(b, "0", fmt.Sprintf("talk-%03d.mp4", i), []byte("v"))
		var tr []box.CardEntry
		for j := range entries {
			words := make([]string, 10)
			for k := range words {
				words[k] = vocab[rng.IntN(len(vocab))]
			}
			if i == files/2 && j == entries/2 {
				words[3], target = "pangolin", f.ID
			}
			tr = append(tr, box.CardEntry{Text: strings.Join(words, " "), Appears: []box.Appearance{box.At(j * 3)}})
		}
		cards := []box.Card{
			box.NewTranscriptCard(titled("Transcript", "transcript"), entries*3, tr),
			box.NewKeywordCard(titled("Keywords", "keywords"), vocab[i], vocab[i+1]),
		}
		t0 := time.Now()
		putCards(b, lb, tok, f.ID, cards)
		cardWrites = append(cardWrites, time.Since(t0))
		// The baseline write: a metadata instance of the same size that
		// nothing indexes.
		doc, _ := json.Marshal(box.SkillsDocument{Cards: cards})
		t0 = time.Now()
		sendJSON(b, http.MethodPost, lb.URL+"/2.0/files/"+f.ID+"/metadata/global/properties", tok, map[string]string{"doc": string(doc)}).
			wantStatus(b, http.StatusCreated)
		plains = append(plains, time.Since(t0))
	}

	db, err := sql.Open("sqlite", "file:"+filepath.Join(lb.Config.DataDir, "localbox.db")+"?_pragma=query_only(1)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	likeScan := func() []int64 {
		rows, err := db.Query(`SELECT file_id FROM metadata WHERE scope = 'global' AND template = 'boxSkillsCards' AND doc LIKE '%pangolin%'`)
		if err != nil {
			b.Fatal(err)
		}
		defer rows.Close()
		var ids []int64
		for rows.Next() {
			var id int64
			_ = rows.Scan(&id)
			ids = append(ids, id)
		}
		return ids
	}
	find := func() {
		a := search(b, lb, tok, q("query", "pangolin"))
		if !slices.Equal(a.ids(), []string{target}) || len(a.Entries[0].Matches) != 1 || *a.Entries[0].Matches[0].Start != float64(entries/2*3) {
			b.Fatalf("search: %+v", a)
		}
	}
	timed := func(f func()) time.Duration {
		var ds []time.Duration
		for range 31 {
			t0 := time.Now()
			f()
			ds = append(ds, time.Since(t0))
		}
		return median(ds)
	}
	if got := likeScan(); len(got) != 1 {
		b.Fatalf("baseline scan found %v", got)
	}
	scan := timed(func() { likeScan() })
	api := timed(find)
	fmt.Printf("RESULT search %d files, %d card entries: GET /2.0/search %.2f ms (HTTP, FTS5, matches located) | baseline: LIKE scan of every card document %.2f ms (SQL alone)\n",
		files, files*entries, ms(api), ms(scan))
	fmt.Printf("RESULT card write (%d entries, indexed by the triggers) %.2f ms | baseline: a metadata instance of the same size, not indexed, %.2f ms (medians over %d files, HTTP)\n",
		entries, ms(median(cardWrites)), ms(median(plains)), files)

	b.ResetTimer()
	for b.Loop() {
		find()
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

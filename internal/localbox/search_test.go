package localbox_test

import (
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filesight/internal/box"
	"filesight/internal/localbox/localboxtest"
)

// searchAnswer is GET /2.0/search's answer as the tests read it.
type searchAnswer struct {
	Type       string        `json:"type"`
	TotalCount int           `json:"total_count"`
	Limit      int           `json:"limit"`
	Offset     int           `json:"offset"`
	Entries    []searchEntry `json:"entries"`
}

type searchEntry struct {
	Type    string         `json:"type"`
	ID      string         `json:"id"`
	Name    string         `json:"name"`
	Etag    string         `json:"etag"`
	Size    *int64         `json:"size"`
	Matches []searchMatch  `json:"localbox_matches"`
	Item    *searchEntry   `json:"item"`
	Raw     map[string]any `json:"-"`
}

type searchMatch struct {
	Field     string   `json:"field"`
	CardType  string   `json:"card_type"`
	CardCode  string   `json:"card_code"`
	CardTitle string   `json:"card_title"`
	Text      string   `json:"text"`
	Start     *float64 `json:"start"`
	End       *float64 `json:"end"`
}

func searchAPI(t testing.TB, lb *localboxtest.Server, token string, params url.Values) *resp {
	t.Helper()
	return getJSON(t, lb.URL+"/2.0/search?"+params.Encode(), token)
}

func search(t testing.TB, lb *localboxtest.Server, token string, params url.Values) searchAnswer {
	t.Helper()
	r := searchAPI(t, lb, token, params).wantStatus(t, http.StatusOK)
	var out searchAnswer
	if err := json.Unmarshal(r.Body, &out); err != nil {
		t.Fatalf("decoding %s: %v", r.Body, err)
	}
	if out.Type != "search_results_items" && out.Type != "search_results_with_shared_links" {
		t.Fatalf("type %q in %s", out.Type, r.Body)
	}
	return out
}

// ids lists the IDs of the entries.
func (a searchAnswer) ids() []string {
	var out []string
	for _, e := range a.Entries {
		out = append(out, e.ID)
	}
	return out
}

func q(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

var testCardMeta = box.CardMeta{SkillID: "filesight", InvocationID: "file-1-v1"}

func titled(title, code string) box.CardMeta {
	m := testCardMeta
	m.Title, m.TitleCode = title, code
	return m
}

// talkCards are the cards of a processed talk: transcript, keywords,
// on-screen text, status.
func talkCards(transcript ...string) []box.Card {
	var entries []box.CardEntry
	for i, text := range transcript {
		entries = append(entries, box.CardEntry{Text: text, Appears: []box.Appearance{box.At(3 + 9*i)}})
	}
	return []box.Card{
		box.NewTranscriptCard(titled("Transcript", "transcript"), 60, entries),
		box.NewKeywordCard(titled("Keywords", "keywords"), "pangolin", "pricing"),
		box.NewTimelineCard(titled("On-screen text", "ocr"), 60, []box.CardEntry{
			{Text: "QUARTERLY NUMBERS", Appears: []box.Appearance{box.Span(20, 25)}},
		}),
		box.NewStatusCard(titled("Status", "status"), box.StatusSuccess, "Analysed: everything."),
	}
}

// putCards creates or replaces the file's boxSkillsCards instance.
func putCards(t testing.TB, lb *localboxtest.Server, token, fileID string, cards []box.Card) {
	t.Helper()
	u := lb.URL + "/2.0/files/" + fileID + "/metadata/global/boxSkillsCards"
	r := sendJSON(t, http.MethodPost, u, token, box.SkillsDocument{Cards: cards})
	if r.Status == http.StatusConflict {
		b, _ := json.Marshal([]map[string]any{{"op": "replace", "path": "/cards", "value": cards}})
		r = call(t, http.MethodPut, u, token, "application/json-patch+json", strings.NewReader(string(b)))
		r.wantStatus(t, http.StatusOK)
		return
	}
	r.wantStatus(t, http.StatusCreated)
}

func TestSearchNamesAndCards(t *testing.T) {
	lb := localboxtest.Start(t)
	tok := lb.ParentToken(t)
	talks := lb.CreateFolder(t, "0", "Talks")
	other := lb.CreateFolder(t, "0", "Elsewhere")
	talk := lb.UploadFile(t, talks, "quarterly-review.mp4", []byte("video"))
	notes := lb.UploadFile(t, other, "notes.txt", []byte("text"))
	putCards(t, lb, tok, talk.ID, talkCards("welcome to the pangolin conference", "we discuss pricing", "a résumé of the year"))

	a := search(t, lb, tok, q("query", "pangolin"))
	if a.TotalCount != 1 || len(a.Entries) != 1 || a.Entries[0].ID != talk.ID || a.Entries[0].Type != "file" ||
		a.Entries[0].Name != "quarterly-review.mp4" || a.Entries[0].Etag == "" || a.Entries[0].Size == nil || a.Limit != 30 || a.Offset != 0 {
		t.Fatalf("pangolin: %+v", a)
	}
	ms := a.Entries[0].Matches
	if len(ms) != 2 || ms[0].Field != "skills_card" || ms[0].CardType != "transcript" || ms[0].CardTitle != "Transcript" ||
		ms[0].Text != "welcome to the pangolin conference" || ms[0].Start == nil || *ms[0].Start != 3 ||
		ms[1].CardType != "keyword" || ms[1].Text != "pangolin" || ms[1].Start != nil {
		t.Fatalf("pangolin matches: %+v", ms)
	}

	// On-screen text carries its span; a word of the name and of a card
	// gives both matches.
	a = search(t, lb, tok, q("query", "Quarterly"))
	if !slices.Equal(a.ids(), []string{talk.ID}) {
		t.Fatalf("quarterly: %v", a.ids())
	}
	ms = a.Entries[0].Matches
	if len(ms) != 2 || ms[0].Field != "name" || ms[1].CardCode != "ocr" || ms[1].Text != "QUARTERLY NUMBERS" ||
		*ms[1].Start != 20 || ms[1].End == nil || *ms[1].End != 25 {
		t.Fatalf("quarterly matches: %+v", ms)
	}

	for _, c := range []struct {
		name   string
		params url.Values
		want   []string
	}{
		{"case and diacritics folded", q("query", "RESUME"), []string{talk.ID}},
		{"folder by name", q("query", "talks"), []string{talks}},
		{"file by extension word", q("query", "txt"), []string{notes.ID}},
		{"words are or-ed", q("query", "nothing-like-it pangolin"), []string{talk.ID}},
		{"AND across entries", q("query", "pangolin AND pricing"), []string{talk.ID}},
		{"AND with a missing word", q("query", "pangolin AND walrus"), nil},
		{"NOT", q("query", "pangolin NOT pricing"), nil},
		{"AND NOT", q("query", "pangolin AND NOT walrus"), []string{talk.ID}},
		{"lower-case and is a word", q("query", "walrus and"), nil},
		{"phrase", q("query", `"discuss pricing"`), []string{talk.ID}},
		{"phrase in the wrong order", q("query", `"pricing discuss"`), nil},
		{"FTS5 syntax is literal", q("query", `pangolin*`), []string{talk.ID}},
		{"content_types=name", q("query", "pangolin", "content_types", "name"), nil},
		{"content_types=file_content", q("query", "pangolin", "content_types", "file_content"), []string{talk.ID}},
		{"content_types=comments", q("query", "pangolin", "content_types", "comments"), nil},
		{"type=folder", q("query", "pangolin", "type", "folder"), nil},
		{"type=file", q("query", "talks quarterly", "type", "file"), []string{talk.ID}},
		{"type=web_link", q("query", "pangolin", "type", "web_link"), nil},
		{"file_extensions", q("query", "pangolin", "file_extensions", "mp4,mov"), []string{talk.ID}},
		{"other file_extensions", q("query", "pangolin", "file_extensions", "txt"), nil},
		{"ancestor", q("query", "pangolin", "ancestor_folder_ids", talks), []string{talk.ID}},
		{"ancestor root", q("query", "pangolin", "ancestor_folder_ids", "0"), []string{talk.ID}},
		{"other ancestor", q("query", "pangolin", "ancestor_folder_ids", other), nil},
		{"size_range", q("query", "pangolin", "size_range", "1,10"), []string{talk.ID}},
		{"size_range too large", q("query", "pangolin", "size_range", "100,"), nil},
		{"created_at_range", q("query", "pangolin", "created_at_range", "2000-01-01T00:00:00Z,"), []string{talk.ID}},
		{"updated_at_range past", q("query", "pangolin", "updated_at_range", ",2000-01-01T00:00:00Z"), nil},
		{"trashed_only", q("query", "pangolin", "trash_content", "trashed_only"), nil},
		{"another owner", q("query", "pangolin", "owner_user_ids", "123"), nil},
	} {
		a := search(t, lb, tok, c.params)
		if !slices.Equal(a.ids(), c.want) || a.TotalCount != len(c.want) {
			t.Errorf("%s: %v (total %d), want %v", c.name, a.ids(), a.TotalCount, c.want)
		}
	}

	me := getJSON(t, lb.URL+"/2.0/users/me", tok).wantStatus(t, http.StatusOK).json(t)["id"].(string)
	if a := search(t, lb, tok, q("query", "pangolin", "owner_user_ids", "123,"+me)); !slices.Equal(a.ids(), []string{talk.ID}) {
		t.Errorf("owner: %v", a.ids())
	}

	// fields: the mini representation plus what was asked.
	r := searchAPI(t, lb, tok, q("query", "pangolin", "fields", "name,size")).wantStatus(t, http.StatusOK).json(t)
	e := r["entries"].([]any)[0].(map[string]any)
	if e["name"] != "quarterly-review.mp4" || e["size"] != float64(5) || e["created_at"] != nil || e["localbox_matches"] == nil {
		t.Errorf("fields: %v", e)
	}

	// With include_recent_shared_links, entries are search_result wrappers.
	a = search(t, lb, tok, q("query", "pangolin", "include_recent_shared_links", "true"))
	if a.Type != "search_results_with_shared_links" || len(a.Entries) != 1 || a.Entries[0].Type != "search_result" ||
		a.Entries[0].Item == nil || a.Entries[0].Item.ID != talk.ID || len(a.Entries[0].Item.Matches) == 0 {
		t.Errorf("shared links shape: %+v", a)
	}
}

func TestSearchBadRequests(t *testing.T) {
	lb := localboxtest.Start(t)
	tok := lb.ParentToken(t)
	for _, c := range []struct {
		params url.Values
		status int
		code   string
		reason string
	}{
		{q(), 400, "bad_request", "missing_parameter"},
		{q("query", "   "), 400, "bad_request", "missing_parameter"},
		{q("query", "- &"), 400, "bad_request", "invalid_parameter"},
		{q("query", "NOT pangolin"), 400, "bad_request", "invalid_parameter"},
		{q("query", "x", "mdfilters", `[{"scope":"global"}]`), 400, "bad_request", "invalid_parameter"},
		{q("query", "x", "offset", "10001"), 400, "bad_request", "invalid_parameter"},
		{q("query", "x", "limit", "-1"), 400, "bad_request", "invalid_parameter"},
		{q("query", "x", "type", "user"), 400, "bad_request", "invalid_parameter"},
		{q("query", "x", "content_types", "name,bytes"), 400, "bad_request", "invalid_parameter"},
		{q("query", "x", "created_at_range", "yesterday,"), 400, "bad_request", "invalid_parameter"},
		{q("query", "x", "size_range", "10"), 400, "bad_request", "invalid_parameter"},
		{q("query", "x", "sort", "name"), 400, "bad_request", "invalid_parameter"},
		{q("query", "x", "ancestor_folder_ids", "999"), 404, "not_found", ""},
	} {
		r := searchAPI(t, lb, tok, c.params)
		m := r.wantError(t, c.status, c.code)
		if c.reason != "" {
			errs, _ := m["context_info"].(map[string]any)["errors"].([]any)
			if len(errs) != 1 || errs[0].(map[string]any)["reason"] != c.reason {
				t.Errorf("%v: context_info %v, want reason %s", c.params, m["context_info"], c.reason)
			}
		}
	}
	searchAPI(t, lb, "", q("query", "x")).wantError(t, http.StatusUnauthorized, "unauthorized")
	// limit is capped at Box's maximum.
	if a := search(t, lb, tok, q("query", "x", "limit", "5000")); a.Limit != 200 {
		t.Errorf("limit %d", a.Limit)
	}
}

func TestSearchPagingAndOrder(t *testing.T) {
	lb := localboxtest.Start(t)
	tok := lb.ParentToken(t)
	var want []string
	for _, n := range []string{"alpha one.txt", "alpha two.txt", "alpha three.txt"} {
		want = append(want, lb.UploadFile(t, "0", n, []byte(n)).ID)
	}
	a := search(t, lb, tok, q("query", "alpha", "sort", "modified_at", "direction", "ASC", "limit", "2"))
	if a.TotalCount != 3 || !slices.Equal(a.ids(), want[:2]) {
		t.Fatalf("page 1: %v (total %d), want %v", a.ids(), a.TotalCount, want[:2])
	}
	a = search(t, lb, tok, q("query", "alpha", "sort", "modified_at", "direction", "ASC", "limit", "2", "offset", "2"))
	if a.TotalCount != 3 || !slices.Equal(a.ids(), want[2:]) || a.Offset != 2 {
		t.Fatalf("page 2: %v", a.ids())
	}
	a = search(t, lb, tok, q("query", "alpha", "sort", "modified_at"))
	if !slices.Equal(a.ids(), []string{want[2], want[1], want[0]}) {
		t.Fatalf("newest first: %v", a.ids())
	}
	// Relevance: a name match outranks the same word in a card.
	card := lb.UploadFile(t, "0", "other.txt", []byte("x"))
	putCards(t, lb, tok, card.ID, talkCards("alpha and omega"))
	if a := search(t, lb, tok, q("query", "alpha")); a.TotalCount != 4 || a.Entries[3].ID != card.ID {
		t.Fatalf("relevance: %v", a.ids())
	}
}

// TestSearchRespectsTokens: a downscoped token finds its own item only,
// and only with a read scope.
func TestSearchRespectsTokens(t *testing.T) {
	lb := localboxtest.Start(t)
	tok := lb.ParentToken(t)
	a := lb.UploadFile(t, "0", "pangolin a.txt", []byte("a"))
	lb.UploadFile(t, "0", "pangolin b.txt", []byte("b"))
	if got := search(t, lb, lb.DownscopedToken(t, a.ID, "item_preview"), q("query", "pangolin")); !slices.Equal(got.ids(), []string{a.ID}) {
		t.Errorf("restricted token: %v", got.ids())
	}
	if got := search(t, lb, lb.DownscopedToken(t, a.ID, "item_upload"), q("query", "pangolin")); got.TotalCount != 0 {
		t.Errorf("token without a read scope: %v", got.ids())
	}
	if got := search(t, lb, tok, q("query", "pangolin")); got.TotalCount != 2 {
		t.Errorf("parent token: %v", got.ids())
	}
}

// TestSearchIndexFollowsChanges: renames, card patches, card and file
// deletions change what is found at once; the index survives restarts and
// is rebuilt for a data directory indexed by another layout, or not at all.
func TestSearchIndexFollowsChanges(t *testing.T) {
	lb := localboxtest.Start(t)
	tok := lb.ParentToken(t)
	f := lb.UploadFile(t, "0", "talk.mp4", []byte("v"))
	found := func(query string) bool {
		t.Helper()
		return slices.Contains(search(t, lb, tok, q("query", query)).ids(), f.ID)
	}
	putCards(t, lb, tok, f.ID, talkCards("the pangolin speaks"))
	if !found("pangolin") || !found("talk") {
		t.Fatal("not found after the cards were created")
	}
	putCards(t, lb, tok, f.ID, talkCards("the walrus speaks"))
	if found(`"pangolin speaks"`) || !found("walrus") {
		t.Fatal("a patch did not re-index the cards")
	}
	sendJSON(t, http.MethodPut, lb.URL+"/2.0/files/"+f.ID, tok, map[string]string{"name": "keynote.mp4", "description": "opening keynote"}).
		wantStatus(t, http.StatusOK)
	if found("talk") || !found("keynote") || !found("opening") {
		t.Fatal("the rename is not in the index")
	}
	lb.UploadVersion(t, f.ID, []byte("second")) // a new version changes nothing searchable
	if !found("walrus") {
		t.Fatal("a new version lost the cards' text")
	}

	lb.Restart(t)
	tok = lb.ParentToken(t)
	if !found("walrus") {
		t.Fatal("not found after a restart")
	}

	// A data directory from a localbox without the index (or with another
	// layout) is indexed at start.
	lb.Close()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(lb.Config.DataDir, "localbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	var triggers []string
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'search_%'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		triggers = append(triggers, n)
	}
	rows.Close()
	if len(triggers) == 0 {
		t.Fatal("no search triggers in the database")
	}
	for _, n := range triggers {
		if _, err := db.Exec(`DROP TRIGGER "` + n + `"`); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{`DROP TABLE search_items`, `DROP TABLE search_entries`, `DROP TABLE search_entry_rows`,
		`DELETE FROM meta WHERE key = 'search_index_version'`} {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	db.Close()
	lb.Restart(t)
	tok = lb.ParentToken(t)
	if !found("walrus") || !found("keynote") {
		t.Fatal("the index was not rebuilt")
	}
	if ms := search(t, lb, tok, q("query", "walrus")).Entries[0].Matches; len(ms) != 1 || ms[0].Start == nil || *ms[0].Start != 3 {
		t.Fatalf("rebuilt matches: %+v", ms)
	}

	call(t, http.MethodDelete, lb.URL+"/2.0/files/"+f.ID+"/metadata/global/boxSkillsCards", tok, "", nil).wantStatus(t, http.StatusNoContent)
	if found("walrus") || !found("keynote") {
		t.Fatal("deleting the cards did not remove their text")
	}
	putCards(t, lb, tok, f.ID, talkCards("the walrus speaks"))
	call(t, http.MethodDelete, lb.URL+"/2.0/files/"+f.ID, tok, "", nil).wantStatus(t, http.StatusNoContent)
	if a := search(t, lb, tok, q("query", "walrus keynote")); a.TotalCount != 0 {
		t.Fatalf("deleted file still found: %v", a.ids())
	}
}

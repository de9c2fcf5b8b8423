package localbox

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// GET /2.0/search: Box's content search, over item names and descriptions
// and the text of the files' Skills cards (keyword, transcript and timeline
// entries), answered with Box's SearchResults shape. Each entry also
// carries localbox_matches, which Box does not have (SDKs ignore members
// they do not know): where the query was found, with the time of the
// matching card entry.

// Search limits, as documented by Box.
const (
	searchDefaultLimit = 30
	searchMaxLimit     = 200
	searchMaxOffset    = 10000
	// searchMaxMatches bounds the localbox_matches of one entry.
	searchMaxMatches = 20
)

// searchColumns maps Box's content_types to search_items columns. Box's
// "file_content" is what a file says; for localbox that is the text of its
// Skills cards (transcript, keywords, on-screen text). localbox has no
// comments or tags: those content types match nothing.
var searchColumns = map[string]string{"name": "name", "description": "description", "file_content": "cards", "comments": "", "tags": ""}

// searchParams are the parameters of a search.
type searchParams struct {
	query   searchQuery
	typ     string   // "", "file" or "folder" (web_link matches nothing)
	columns []string // search_items columns; nil = all
	// nothing is true when the parameters exclude every item (web links,
	// the trash, comments, another owner).
	nothing    bool
	ancestors  []int64
	extensions []string
	sizeRange  [2]*int64 // bytes, inclusive
	created    [2]*int64 // ms, inclusive
	updated    [2]*int64
	byModified bool
	ascending  bool
	offset     int
	limit      int
	fields     fieldSet
	withLinks  bool // include_recent_shared_links=true
}

// SearchMatch is one place where a search query was found in an item
// (the localbox_matches of a search result entry).
type SearchMatch struct {
	// Field is "name", "description" or "skills_card".
	Field string `json:"field"`
	// CardType is the card's skill_card_type (keyword, transcript, timeline);
	// CardCode and CardTitle its skill_card_title code and message.
	CardType  string `json:"card_type,omitempty"`
	CardCode  string `json:"card_code,omitempty"`
	CardTitle string `json:"card_title,omitempty"`
	// Text is the matching entry's text.
	Text string `json:"text,omitempty"`
	// Start and End are the entry's first appearance, in seconds from the
	// start of the media (keywords have none).
	Start *float64 `json:"start,omitempty"`
	End   *float64 `json:"end,omitempty"`
}

// searchHit is one matching item.
type searchHit struct {
	typ      string // "file" or "folder"
	id       int64
	rank     float64 // FTS5 bm25: lower is better
	modified int64
	matches  []SearchMatch
}

func searchParamError(name, reason, format string, args ...any) *apiError {
	e := badRequest(format, args...)
	e.ContextInfo = map[string]any{"errors": []any{map[string]string{"reason": reason, "name": name, "message": e.Message}}}
	return e
}

// parseSearchParams reads Box's search parameters (serviceUser is the ID
// of the user owning every item). Parameters localbox cannot honour are
// refused (mdfilters) rather than ignored, so a client never takes an
// unfiltered answer for a filtered one.
func parseSearchParams(q url.Values, serviceUser string) (*searchParams, error) {
	sp := &searchParams{limit: searchDefaultLimit}
	raw := strings.TrimSpace(q.Get("query"))
	if q.Get("mdfilters") != "" {
		return nil, searchParamError("mdfilters", "invalid_parameter", "Searching by metadata filters (mdfilters) is not supported by localbox")
	}
	if raw == "" {
		return nil, searchParamError("query", "missing_parameter", "The query parameter is required")
	}
	var err error
	if sp.query, err = parseSearchQuery(raw); err != nil {
		return nil, searchParamError("query", "invalid_parameter", "Invalid query: %v", err)
	}
	switch t := q.Get("type"); t {
	case "", "file", "folder":
		sp.typ = t
	case "web_link":
		sp.nothing = true
	default:
		return nil, searchParamError("type", "invalid_parameter", "type must be file, folder or web_link")
	}
	switch v := q.Get("scope"); v {
	case "", "user_content", "enterprise_content":
		// localbox has one user: both scopes see the same items.
	default:
		return nil, searchParamError("scope", "invalid_parameter", "scope must be user_content or enterprise_content")
	}
	switch v := q.Get("trash_content"); v {
	case "", "non_trashed_only", "all_items":
	case "trashed_only":
		sp.nothing = true // localbox has no trash
	default:
		return nil, searchParamError("trash_content", "invalid_parameter", "trash_content must be non_trashed_only, trashed_only or all_items")
	}
	if v := q.Get("content_types"); v != "" {
		sp.columns = []string{}
		for ct := range strings.SplitSeq(v, ",") {
			col, ok := searchColumns[strings.TrimSpace(ct)]
			if !ok {
				return nil, searchParamError("content_types", "invalid_parameter", "Unknown content type %q (name, description, file_content, comments, tags)", ct)
			}
			if col != "" && !slices.Contains(sp.columns, col) {
				sp.columns = append(sp.columns, col)
			}
		}
		if len(sp.columns) == 0 {
			sp.nothing = true
		}
	}
	if v := q.Get("ancestor_folder_ids"); v != "" {
		for s := range strings.SplitSeq(v, ",") {
			id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil || id < 0 {
				return nil, searchParamError("ancestor_folder_ids", "invalid_parameter", "ancestor_folder_ids must be folder IDs, not %q", s)
			}
			sp.ancestors = append(sp.ancestors, id)
		}
	}
	if v := q.Get("file_extensions"); v != "" {
		for ext := range strings.SplitSeq(v, ",") {
			if ext = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(ext), ".")); ext != "" {
				sp.extensions = append(sp.extensions, ext)
			}
		}
	}
	if sp.sizeRange, err = searchRange(q, "size_range", "number", parseInt64); err != nil {
		return nil, err
	}
	if sp.created, err = searchRange(q, "created_at_range", "RFC 3339 time", parseRFC3339); err != nil {
		return nil, err
	}
	if sp.updated, err = searchRange(q, "updated_at_range", "RFC 3339 time", parseRFC3339); err != nil {
		return nil, err
	}
	if v := q.Get("owner_user_ids"); v != "" {
		// Every item belongs to the service user; a list without it
		// matches nothing.
		sp.nothing = sp.nothing || !slices.ContainsFunc(strings.Split(v, ","), func(s string) bool { return strings.TrimSpace(s) == serviceUser })
	}
	switch v := q.Get("sort"); v {
	case "", "relevance":
	case "modified_at":
		sp.byModified = true
	default:
		return nil, searchParamError("sort", "invalid_parameter", "sort must be relevance or modified_at")
	}
	switch v := q.Get("direction"); v {
	case "", "DESC":
	case "ASC":
		sp.ascending = true
	default:
		return nil, searchParamError("direction", "invalid_parameter", "direction must be ASC or DESC")
	}
	if v := q.Get("offset"); v != "" {
		if sp.offset, err = strconv.Atoi(v); err != nil || sp.offset < 0 {
			return nil, searchParamError("offset", "invalid_parameter", "offset must be a non-negative integer")
		}
		if sp.offset > searchMaxOffset {
			return nil, searchParamError("offset", "invalid_parameter", "offset must not exceed %d", searchMaxOffset)
		}
	}
	if v := q.Get("limit"); v != "" {
		if sp.limit, err = strconv.Atoi(v); err != nil || sp.limit < 0 {
			return nil, searchParamError("limit", "invalid_parameter", "limit must be a non-negative integer")
		}
		sp.limit = min(sp.limit, searchMaxLimit)
	}
	sp.withLinks = q.Get("include_recent_shared_links") == "true"
	return sp, nil
}

// searchRange reads one of Box's "lo,hi" range parameters (either end may
// be empty); parse reads one end, what names its kind for the message.
func searchRange(q url.Values, name, what string, parse func(string) (int64, bool)) ([2]*int64, error) {
	var out [2]*int64
	v := q.Get(name)
	if v == "" {
		return out, nil
	}
	lo, hi, ok := strings.Cut(v, ",")
	if !ok {
		return out, searchParamError(name, "invalid_parameter", "%s must be two comma-separated %ss (either may be empty)", name, what)
	}
	for i, s := range []string{lo, hi} {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, ok := parse(s)
		if !ok {
			return out, searchParamError(name, "invalid_parameter", "%s: %q is not a %s", name, s, what)
		}
		out[i] = &n
	}
	return out, nil
}

func parseInt64(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func parseRFC3339(s string) (int64, bool) {
	t, err := time.Parse(time.RFC3339, s)
	return millis(t), err == nil
}

func (s *Server) searchAPI(w http.ResponseWriter, r *http.Request) error {
	sp, err := parseSearchParams(r.URL.Query(), s.user.ID)
	if err != nil {
		return err
	}
	sp.fields = parseFields(r)
	total, page, err := s.search(r.Context(), principalFrom(r.Context()), sp)
	if err != nil {
		return err
	}
	entries := make([]any, 0, len(page))
	for _, h := range page {
		var item map[string]any
		switch h.typ {
		case "file":
			f, err := getFile(r.Context(), s.store.r, h.id)
			if isNotFound(err) {
				continue // deleted since the search
			} else if err != nil {
				return err
			}
			if item, err = s.fileJSON(r.Context(), s.store.r, f, sp.fields); err != nil {
				return err
			}
		case "folder":
			f, err := getFolder(r.Context(), s.store.r, h.id)
			if isNotFound(err) {
				continue
			} else if err != nil {
				return err
			}
			if item, err = s.folderJSON(r.Context(), s.store.r, f, sp.fields); err != nil {
				return err
			}
		}
		item["localbox_matches"] = h.matches
		if sp.withLinks {
			entries = append(entries, map[string]any{"type": "search_result", "item": item, "accessible_via_shared_link": nil})
		} else {
			entries = append(entries, item)
		}
	}
	typ := "search_results_items"
	if sp.withLinks {
		typ = "search_results_with_shared_links"
	}
	writeJSON(w, http.StatusOK, map[string]any{"type": typ, "total_count": total, "limit": sp.limit, "offset": sp.offset, "entries": entries})
	return nil
}

// search finds the items p may read that match sp, ordered, and returns
// their number and the page sp asks for, with the matches of each.
func (s *Server) search(ctx context.Context, p *principal, sp *searchParams) (int, []searchHit, error) {
	if sp.nothing {
		return 0, nil, nil
	}
	for _, id := range sp.ancestors {
		if err := p.authorize(actRead, "folder", id); err != nil {
			return 0, nil, err
		}
		if _, err := getFolder(ctx, s.store.r, id); err != nil {
			return 0, nil, err
		}
	}
	var hits []searchHit
	for _, typ := range []string{"file", "folder"} {
		if (sp.typ != "" && sp.typ != typ) || (typ == "folder" && len(sp.extensions) > 0) {
			continue
		}
		h, err := s.searchItems(ctx, typ, p, sp)
		if err != nil {
			return 0, nil, err
		}
		hits = append(hits, h...)
	}
	slices.SortFunc(hits, func(a, b searchHit) int {
		if sp.byModified {
			c := cmp.Compare(a.modified, b.modified)
			if !sp.ascending {
				c = -c
			}
			return cmp.Or(c, cmp.Compare(a.id, b.id))
		}
		return cmp.Or(cmp.Compare(a.rank, b.rank), -cmp.Compare(a.modified, b.modified), cmp.Compare(a.id, b.id))
	})
	total := len(hits)
	page := hits[min(sp.offset, total):min(sp.offset+sp.limit, total)]
	for i := range page {
		m, err := s.searchMatches(ctx, &page[i], sp)
		if err != nil {
			return 0, nil, err
		}
		page[i].matches = m
	}
	return total, page, nil
}

// searchItems finds the files or folders (typ) matching sp that p may read.
func (s *Server) searchItems(ctx context.Context, typ string, p *principal, sp *searchParams) ([]searchHit, error) {
	var (
		b    strings.Builder
		args []any
	)
	if len(sp.ancestors) > 0 {
		ids, _ := json.Marshal(sp.ancestors)
		b.WriteString(`WITH RECURSIVE sub(id) AS (SELECT value FROM json_each(?) UNION SELECT d.id FROM folders d JOIN sub ON d.parent_id = sub.id) `)
		args = append(args, string(ids))
	}
	// bm25 weights per column: name, description, cards, kind.
	const rank = `bm25(search_items, 10.0, 5.0, 1.0, 0.0)`
	size := `v.size`
	if typ == "file" {
		b.WriteString(`SELECT i.id, ` + rank + `, i.modified_at FROM search_items
			JOIN files i ON i.id = search_items.rowid JOIN file_versions v ON v.id = i.version_id`)
	} else {
		size = `(SELECT COALESCE(SUM(v.size), 0) FROM files f JOIN file_versions v ON v.id = f.version_id WHERE f.parent_id = i.id)`
		b.WriteString(`SELECT i.id, ` + rank + `, i.modified_at FROM search_items JOIN folders i ON i.id = search_items.rowid`)
	}
	b.WriteString(` WHERE search_items MATCH ?`)
	args = append(args, sp.query.inColumns(sp.columns))
	if len(sp.ancestors) > 0 {
		b.WriteString(` AND i.parent_id IN (SELECT id FROM sub)`)
	}
	if p.resType != "" {
		if p.resType != typ {
			return nil, nil
		}
		id, err := strconv.ParseInt(p.resID, 10, 64)
		if err != nil {
			return nil, nil
		}
		b.WriteString(` AND i.id = ?`)
		args = append(args, id)
	}
	if len(sp.extensions) > 0 {
		var ors []string
		for _, ext := range sp.extensions {
			ors = append(ors, `lower(i.name) LIKE ? ESCAPE '\'`)
			args = append(args, "%."+likeEscaper.Replace(ext))
		}
		b.WriteString(` AND (` + strings.Join(ors, " OR ") + `)`)
	}
	for _, c := range []struct {
		col string
		r   [2]*int64
	}{{size, sp.sizeRange}, {"i.created_at", sp.created}, {"i.modified_at", sp.updated}} {
		if c.r[0] != nil {
			b.WriteString(` AND ` + c.col + ` >= ?`)
			args = append(args, *c.r[0])
		}
		if c.r[1] != nil {
			b.WriteString(` AND ` + c.col + ` <= ?`)
			args = append(args, *c.r[1])
		}
	}
	rows, err := s.store.r.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("searching %ss: %w", typ, err)
	}
	defer rows.Close()
	var hits []searchHit
	for rows.Next() {
		h := searchHit{typ: typ}
		if err := rows.Scan(&h.id, &h.rank, &h.modified); err != nil {
			return nil, err
		}
		if p.authorize(actRead, typ, h.id) == nil {
			hits = append(hits, h)
		}
	}
	return hits, rows.Err()
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// searchMatches says where the query's positive terms are in a hit: its
// name, its description, the entries of its cards (in card order).
func (s *Server) searchMatches(ctx context.Context, h *searchHit, sp *searchParams) ([]SearchMatch, error) {
	out := []SearchMatch{}
	if len(sp.query.positive) == 0 {
		return out, nil
	}
	terms := sp.query.anyPositive()
	for _, col := range []string{"name", "description"} {
		if sp.columns != nil && !slices.Contains(sp.columns, col) {
			continue
		}
		var one int
		err := s.store.r.QueryRowContext(ctx, `SELECT 1 FROM search_items WHERE search_items MATCH ? AND rowid = ?`,
			"{"+col+"} : ("+terms+")", h.id).Scan(&one)
		if err == nil {
			out = append(out, SearchMatch{Field: col})
		} else if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("locating search matches: %w", err)
		}
	}
	if h.typ != "file" || sp.columns != nil && !slices.Contains(sp.columns, "cards") {
		return out, nil
	}
	rows, err := s.store.r.QueryContext(ctx, `SELECT r.card_type, r.card_code, r.card_title, r.text, r.start, r.stop
		FROM search_entries JOIN search_entry_rows r ON r.id = search_entries.rowid
		WHERE search_entries MATCH ? AND r.file_id = ? ORDER BY r.card, r.entry LIMIT ?`, terms, h.id, searchMaxMatches)
	if err != nil {
		return nil, fmt.Errorf("locating search matches: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			m           = SearchMatch{Field: "skills_card"}
			code, title sql.NullString
			start, end  sql.NullFloat64
		)
		if err := rows.Scan(&m.CardType, &code, &title, &m.Text, &start, &end); err != nil {
			return nil, err
		}
		m.CardCode, m.CardTitle = code.String, title.String
		if start.Valid {
			m.Start = &start.Float64
		}
		if end.Valid {
			m.End = &end.Float64
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

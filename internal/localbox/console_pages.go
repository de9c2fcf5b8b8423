package localbox

import (
	"database/sql"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// The console's pages: folder, file, search, and the fragments the pages
// refresh themselves with.

// folderPageSize is the number of items a folder page lists.
const folderPageSize = 500

// parseConsoleTemplates parses one template set per page: the layout, the
// partials and the page. Fragments execute a partial of their page's set.
func parseConsoleTemplates() map[string]*template.Template {
	sets := map[string]*template.Template{}
	for _, page := range []string{"login", "folder", "file", "search", "error"} {
		t := template.Must(template.New(page).ParseFS(consoleFiles,
			"console/templates/layout.html", "console/templates/partials.html", "console/templates/"+page+".html"))
		sets[page] = t
	}
	sets["rows-fragment"], sets["cards"] = sets["folder"], sets["file"]
	return sets
}

// layoutView is what the layout needs.
type layoutView struct {
	Title string
	// SessionCSRF is the session's form token; empty when logged out.
	SessionCSRF string
	Query       string
}

type errorView struct {
	layoutView
	Message string
}

type crumb struct {
	ID   string
	Name string
}

type itemView struct {
	ID       string
	Name     string
	Size     string
	Modified string
	Status   statusView
}

// rowsView is the refreshable part of a folder page.
type rowsView struct {
	RefreshURL string
	Folders    []itemView
	Files      []itemView
	Pending    bool
}

type folderView struct {
	layoutView
	Folder crumb
	Path   []crumb
	Rows   rowsView
	Upload struct {
		URL, Token string
	}
	PrevURL, NextURL string
}

type mediaView struct {
	Kind string // video | audio | ""
	URL  string
	At   int // seconds to start at, -1 for the beginning
}

type fileView struct {
	layoutView
	File        itemView
	VersionID   string
	Path        []crumb
	Media       mediaView
	DownloadURL string
	WorkflowURL string
	Cards       cardsFragment
}

// cardsFragment is the refreshable part of a file page.
type cardsFragment struct {
	RefreshURL string
	*fileCardsView
}

func (c *console) layout(sess *session, title string) layoutView {
	v := layoutView{Title: title}
	if sess != nil {
		v.SessionCSRF = sess.csrf
	}
	return v
}

func pathIDFrom(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 0 {
		return 0, errConsoleNotFound
	}
	return id, nil
}

// pathFile is the file the path names.
func (c *console) pathFile(r *http.Request) (*fileRow, error) {
	id, err := pathIDFrom(r)
	if err != nil {
		return nil, err
	}
	return getFile(r.Context(), c.s.store.r, id)
}

// cardsFragmentOf lays out a file's cards as the refreshable fragment; at
// marks the transcript line the page was opened at (-1: none).
func (c *console) cardsFragmentOf(r *http.Request, f *fileRow, at int) (cardsFragment, error) {
	cards, err := c.readCards(r.Context(), c.s.store.r, f, at)
	if err != nil {
		return cardsFragment{}, err
	}
	return cardsFragment{RefreshURL: fmt.Sprintf("/app/file/%d/cards", f.ID), fileCardsView: cards}, nil
}

func formatTime(ms int64) string {
	if ms == 0 {
		return ""
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04 UTC")
}

func formatSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), -1
	for f >= unit && i < 4 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGTP"[i])
}

func crumbs(chain []folderRow) []crumb {
	out := make([]crumb, 0, len(chain))
	for _, f := range chain {
		out = append(out, crumb{ID: idString(f.ID), Name: f.Name})
	}
	return out
}

func offsetParam(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("offset"))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// folderRowsView lists a folder's items with their status.
func (c *console) folderRowsView(r *http.Request, id int64, offset int) (rowsView, int, error) {
	ctx := r.Context()
	folders, files, total, err := folderItems(ctx, c.s.store.r, id, offset, folderPageSize)
	if err != nil {
		return rowsView{}, 0, err
	}
	v := rowsView{RefreshURL: fmt.Sprintf("/app/folder/%d/rows?offset=%d", id, offset)}
	for _, f := range folders {
		v.Folders = append(v.Folders, itemView{ID: idString(f.ID), Name: f.Name, Modified: formatTime(f.ModifiedAt)})
	}
	for i := range files {
		f := &files[i]
		cards, err := c.readCards(ctx, c.s.store.r, f, -1)
		if err != nil {
			return rowsView{}, 0, err
		}
		v.Files = append(v.Files, itemView{ID: idString(f.ID), Name: f.Name, Size: formatSize(f.Size), Modified: formatTime(f.ModifiedAt), Status: cards.Status})
		v.Pending = v.Pending || cards.Status.Pending
	}
	return v, total, nil
}

func (c *console) folderPage(w http.ResponseWriter, r *http.Request, sess *session) error {
	id, err := pathIDFrom(r)
	if err != nil {
		return err
	}
	chain, err := ancestors(r.Context(), c.s.store.r, id)
	if err != nil {
		return err
	}
	offset := offsetParam(r)
	rows, total, err := c.folderRowsView(r, id, offset)
	if err != nil {
		return err
	}
	cur := chain[len(chain)-1]
	v := &folderView{layoutView: c.layout(sess, cur.Name), Folder: crumb{ID: idString(id), Name: cur.Name}, Path: crumbs(chain[:len(chain)-1]), Rows: rows}
	if offset > 0 {
		v.PrevURL = fmt.Sprintf("/app/folder/%d?offset=%d", id, max(0, offset-folderPageSize))
	}
	if offset+folderPageSize < total {
		v.NextURL = fmt.Sprintf("/app/folder/%d?offset=%d", id, offset+folderPageSize)
	}
	v.Upload.URL = "/api/2.0/files/content"
	if v.Upload.Token, err = c.apiToken(r.Context(), sess, "item_upload", "folder", id); err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "folder", v)
	return nil
}

func (c *console) folderRows(w http.ResponseWriter, r *http.Request, _ *session) error {
	id, err := pathIDFrom(r)
	if err != nil {
		return err
	}
	if _, err := getFolder(r.Context(), c.s.store.r, id); err != nil {
		return err
	}
	rows, _, err := c.folderRowsView(r, id, offsetParam(r))
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "rows-fragment", rows)
	return nil
}

func (c *console) createFolder(w http.ResponseWriter, r *http.Request, _ *session) error {
	parent, err := pathIDFrom(r)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if err := validateName(name); err != nil {
		return err
	}
	err = c.s.store.tx(r.Context(), func(tx *sql.Tx) error {
		if _, err := getFolder(r.Context(), tx, parent); err != nil {
			return err
		}
		if err := nameConflict(r.Context(), tx, parent, name, 0); err != nil {
			return err
		}
		_, err := insertFolder(r.Context(), tx, parent, name, millis(c.s.now()))
		return err
	})
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/app/folder/%d", parent), http.StatusSeeOther)
	return nil
}

// mediaKinds are the extensions the console plays, by player.
var mediaKinds = map[string]string{
	"mp4": "video", "m4v": "video", "mov": "video", "webm": "video", "ogv": "video", "mkv": "video",
	"mp3": "audio", "m4a": "audio", "aac": "audio", "wav": "audio", "oga": "audio", "ogg": "audio", "opus": "audio", "flac": "audio", "weba": "audio",
}

// workflowID is filesight's workflow ID for a file version (the
// workflows package's WorkflowID, which localbox does not import: a test
// keeps them equal).
func workflowID(fileID, versionID int64) string {
	return fmt.Sprintf("file-%d-v%d", fileID, versionID)
}

// workflowURL is the Temporal UI page of a file version's workflow (the UI
// opens its latest run); "" without a configured UI.
func (c *console) workflowURL(f *fileRow) string {
	base := c.s.cfg.Console.TemporalUIURL
	if base == "" {
		return ""
	}
	return base + "/namespaces/" + url.PathEscape(c.s.cfg.Console.TemporalNamespace) + "/workflows/" + url.PathEscape(workflowID(f.ID, f.VersionID))
}

func (c *console) filePage(w http.ResponseWriter, r *http.Request, sess *session) error {
	f, err := c.pathFile(r)
	if err != nil {
		return err
	}
	chain, err := ancestors(r.Context(), c.s.store.r, f.ParentID)
	if err != nil {
		return err
	}
	at := -1
	if t, err := strconv.Atoi(r.URL.Query().Get("t")); err == nil && t >= 0 {
		at = t
	}
	cards, err := c.cardsFragmentOf(r, f, at)
	if err != nil {
		return err
	}
	tok, err := c.apiToken(r.Context(), sess, "item_download", "file", f.ID)
	if err != nil {
		return err
	}
	content := fmt.Sprintf("/2.0/files/%d/content?%s", f.ID, url.Values{"access_token": {tok}}.Encode())
	v := &fileView{
		layoutView: c.layout(sess, f.Name),
		File:       itemView{ID: idString(f.ID), Name: f.Name, Size: formatSize(f.Size), Modified: formatTime(f.ModifiedAt)},
		VersionID:  idString(f.VersionID),
		Path:       crumbs(chain),
		Media: mediaView{
			Kind: mediaKinds[strings.ToLower(strings.TrimPrefix(path.Ext(f.Name), "."))],
			URL:  content, At: at,
		},
		DownloadURL: content,
		WorkflowURL: c.workflowURL(f),
		Cards:       cards,
	}
	c.render(w, r, http.StatusOK, "file", v)
	return nil
}

func (c *console) fileCards(w http.ResponseWriter, r *http.Request, _ *session) error {
	f, err := c.pathFile(r)
	if err != nil {
		return err
	}
	cards, err := c.cardsFragmentOf(r, f, -1)
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "cards", cards)
	return nil
}

type matchView struct {
	Label string
	Text  string
	Stamp string
	URL   string // the file at the match's moment; "" when it has none
}

type resultView struct {
	Type    string
	ID      string
	Name    string
	Path    string
	URL     string
	Matches []matchView
}

type searchView struct {
	layoutView
	Error            string
	Total            int
	Results          []resultView
	PrevURL, NextURL string
}

// consoleSearchPage is the number of results a search page shows.
const consoleSearchPage = 50

func (c *console) searchPage(w http.ResponseWriter, r *http.Request, sess *session) error {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	v := &searchView{layoutView: c.layout(sess, "Search")}
	v.Query = q
	if q == "" {
		c.render(w, r, http.StatusOK, "search", v)
		return nil
	}
	offset := min(offsetParam(r), searchMaxOffset)
	sp, err := parseSearchParams(url.Values{"query": {q}, "offset": {strconv.Itoa(offset)}, "limit": {strconv.Itoa(consoleSearchPage)}}, c.s.user.ID)
	if err != nil {
		v.Error = "This query cannot be searched. Use words, \"quoted phrases\", and AND, OR, NOT between terms."
		c.render(w, r, http.StatusBadRequest, "search", v)
		return nil
	}
	root := &principal{scopes: map[string]bool{"root_readwrite": true}}
	total, hits, err := c.s.search(r.Context(), root, sp)
	if err != nil {
		return err
	}
	v.Total = total
	for _, h := range hits {
		res, ok, err := c.resultView(r, h)
		if err != nil {
			return err
		}
		if ok {
			v.Results = append(v.Results, res)
		}
	}
	page := func(off int) string {
		return "/app/search?" + url.Values{"q": {q}, "offset": {strconv.Itoa(off)}}.Encode()
	}
	if offset > 0 {
		v.PrevURL = page(max(0, offset-consoleSearchPage))
	}
	if offset+consoleSearchPage < total && offset+consoleSearchPage <= searchMaxOffset {
		v.NextURL = page(offset + consoleSearchPage)
	}
	c.render(w, r, http.StatusOK, "search", v)
	return nil
}

// resultView lays out one search hit; ok is false when the item went away.
func (c *console) resultView(r *http.Request, h searchHit) (resultView, bool, error) {
	ctx := r.Context()
	res := resultView{Type: h.typ, ID: idString(h.id)}
	var parent int64
	switch h.typ {
	case "file":
		f, err := getFile(ctx, c.s.store.r, h.id)
		if isNotFound(err) {
			return res, false, nil
		} else if err != nil {
			return res, false, err
		}
		res.Name, res.URL, parent = f.Name, "/app/file/"+res.ID, f.ParentID
	default:
		f, err := getFolder(ctx, c.s.store.r, h.id)
		if isNotFound(err) {
			return res, false, nil
		} else if err != nil {
			return res, false, err
		}
		res.Name, res.URL, parent = f.Name, "/app/folder/"+res.ID, f.ParentID.Int64
	}
	chain, err := ancestors(ctx, c.s.store.r, parent)
	if err != nil {
		return res, false, err
	}
	var names []string
	for _, f := range chain {
		names = append(names, f.Name)
	}
	res.Path = strings.Join(names, " / ")
	for _, m := range h.matches {
		mv := matchView{Text: m.Text}
		switch m.Field {
		case "name":
			mv.Label = "Name"
		case "description":
			mv.Label = "Description"
		default:
			mv.Label = orDefault(m.CardTitle, m.CardType)
		}
		if m.Start != nil {
			s := seconds(*m.Start)
			mv.Stamp = clock(s)
			mv.URL = fmt.Sprintf("%s?t=%d", res.URL, s)
		}
		res.Matches = append(res.Matches, mv)
	}
	return res, true, nil
}

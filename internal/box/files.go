package box

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"

	"filesight/internal/secret"
)

// User is Box's User--Mini.
type User struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Login string `json:"login,omitempty"`
}

// FileVersion is Box's FileVersion--Mini.
type FileVersion struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	SHA1 string `json:"sha1,omitempty"`
}

// PathCollection lists an item's ancestors, starting at the root.
type PathCollection struct {
	TotalCount int64    `json:"total_count"`
	Entries    []Folder `json:"entries"`
}

// File is a Box file (the union of File--Mini, File and File--Full fields
// filesight uses). Which fields are filled depends on the fields= asked for;
// timestamps are Box's RFC 3339 strings.
type File struct {
	Type              string          `json:"type"`
	ID                string          `json:"id"`
	Etag              string          `json:"etag,omitempty"`
	SequenceID        string          `json:"sequence_id,omitempty"`
	Name              string          `json:"name,omitempty"`
	SHA1              string          `json:"sha1,omitempty"`
	FileVersion       *FileVersion    `json:"file_version,omitempty"`
	Description       string          `json:"description,omitempty"`
	Size              int64           `json:"size,omitempty"`
	Extension         string          `json:"extension,omitempty"`
	PathCollection    *PathCollection `json:"path_collection,omitempty"`
	CreatedAt         string          `json:"created_at,omitempty"`
	ModifiedAt        string          `json:"modified_at,omitempty"`
	TrashedAt         string          `json:"trashed_at,omitempty"`
	PurgedAt          string          `json:"purged_at,omitempty"`
	ContentCreatedAt  string          `json:"content_created_at,omitempty"`
	ContentModifiedAt string          `json:"content_modified_at,omitempty"`
	CreatedBy         *User           `json:"created_by,omitempty"`
	ModifiedBy        *User           `json:"modified_by,omitempty"`
	OwnedBy           *User           `json:"owned_by,omitempty"`
	Parent            *Folder         `json:"parent,omitempty"`
	ItemStatus        string          `json:"item_status,omitempty"`
}

// VersionID returns file_version.id, or "" when absent.
func (f *File) VersionID() string {
	if f == nil || f.FileVersion == nil {
		return ""
	}
	return f.FileVersion.ID
}

// Folder is a Box folder (Folder--Mini plus the common Folder fields).
type Folder struct {
	Type           string          `json:"type"`
	ID             string          `json:"id"`
	Etag           string          `json:"etag,omitempty"`
	SequenceID     string          `json:"sequence_id,omitempty"`
	Name           string          `json:"name,omitempty"`
	CreatedAt      string          `json:"created_at,omitempty"`
	ModifiedAt     string          `json:"modified_at,omitempty"`
	Description    string          `json:"description,omitempty"`
	Size           int64           `json:"size,omitempty"`
	PathCollection *PathCollection `json:"path_collection,omitempty"`
	CreatedBy      *User           `json:"created_by,omitempty"`
	ModifiedBy     *User           `json:"modified_by,omitempty"`
	OwnedBy        *User           `json:"owned_by,omitempty"`
	Parent         *Folder         `json:"parent,omitempty"`
	ItemStatus     string          `json:"item_status,omitempty"`
}

// Item is one entry of a folder listing: a file, folder or web_link in its
// mini representation (Type tells which).
type Item struct {
	Type        string       `json:"type"`
	ID          string       `json:"id"`
	Etag        string       `json:"etag,omitempty"`
	SequenceID  string       `json:"sequence_id,omitempty"`
	Name        string       `json:"name,omitempty"`
	SHA1        string       `json:"sha1,omitempty"`
	FileVersion *FileVersion `json:"file_version,omitempty"`
	Size        int64        `json:"size,omitempty"`
	URL         string       `json:"url,omitempty"` // web links
}

// GetFile returns a file's information (GET /2.0/files/{id}); fields limits
// or extends the answer as Box's fields= does. A downscoped token needs
// item_preview. token "" uses the parent token (as every call below does).
func (c *Client) GetFile(ctx context.Context, token secret.String, fileID string, fields ...string) (*File, error) {
	const op = "GET /2.0/files/{id}"
	if err := requireID(op, "file ID", fileID); err != nil {
		return nil, err
	}
	u := c.api("/2.0/files/{}", fileID)
	if len(fields) > 0 {
		u += "?" + url.Values{"fields": {strings.Join(fields, ",")}}.Encode()
	}
	var f File
	if err := c.doJSON(ctx, request{op: op, method: http.MethodGet, url: u, token: token, accept: []int{http.StatusOK}}, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// Download streams a file's content into w (GET /2.0/files/{id}/content,
// following Box's redirect to its download host) and returns the number of
// bytes written. A downscoped token needs item_download. While the content
// is not ready Box answers 202 with Retry-After: that is a retryable *Error
// with Code CodeNotReady and RetryAfter set. A failure to write to w is
// returned as is (not a *Error).
func (c *Client) Download(ctx context.Context, token secret.String, fileID string, w io.Writer) (int64, error) {
	const op = "GET /2.0/files/{id}/content"
	if err := requireID(op, "file ID", fileID); err != nil {
		return 0, err
	}
	resp, err := c.do(ctx, request{op: op, method: http.MethodGet, url: c.FileContentURL(fileID), token: token,
		accept: []int{http.StatusOK, http.StatusAccepted}})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusAccepted {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		e := responseError(op, resp, b)
		e.Code = CodeNotReady
		if e.Message == http.StatusText(http.StatusAccepted) {
			e.Message = "content not ready yet"
		}
		return 0, e
	}
	n, err := io.Copy(w, &readErrMarker{r: resp.Body})
	if err != nil {
		var rm readErr
		if errors.As(err, &rm) {
			return n, networkError(op, fmt.Errorf("reading content after %d bytes: %w", n, rm.err))
		}
		return n, fmt.Errorf("box: %s: writing content after %d bytes: %w", op, n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, networkError(op, fmt.Errorf("content truncated: got %d of %d bytes", n, resp.ContentLength))
	}
	return n, nil
}

// readErrMarker tags errors from the response body so Download can tell
// them from errors of the destination writer.
type readErrMarker struct{ r io.Reader }
type readErr struct{ err error }

func (e readErr) Error() string { return e.err.Error() }
func (e readErr) Unwrap() error { return e.err }

func (m *readErrMarker) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	if err != nil && err != io.EOF {
		err = readErr{err}
	}
	return n, err
}

// uploadAttributes is the "attributes" part of an upload.
type uploadAttributes struct {
	Name   string    `json:"name,omitempty"`
	Parent *parentID `json:"parent,omitempty"`
}

type parentID struct {
	ID string `json:"id"`
}

// UploadFile uploads a new file into a folder (POST UploadURL/2.0/files/content).
// The multipart body (attributes first, then the file, as Box requires) is
// streamed from r through a pipe, never buffered whole. As the body cannot be
// replayed, a 401 to the parent token is not retried here; the cached token
// is dropped and the *Error is marked retryable.
func (c *Client) UploadFile(ctx context.Context, token secret.String, folderID, name string, r io.Reader) (*File, error) {
	const op = "POST /2.0/files/content"
	if err := requireID(op, "folder ID", folderID); err != nil {
		return nil, err
	}
	if err := requireID(op, "file name", name); err != nil {
		return nil, err
	}
	return c.uploadMultipart(ctx, op, token, c.upload("/2.0/files/content"), uploadAttributes{Name: name, Parent: &parentID{ID: folderID}}, name, r,
		[]int{http.StatusCreated, http.StatusOK})
}

// UploadVersion uploads new content for an existing file
// (POST UploadURL/2.0/files/{id}/content); name may rename it ("" keeps it).
// Streams like UploadFile.
func (c *Client) UploadVersion(ctx context.Context, token secret.String, fileID, name string, r io.Reader) (*File, error) {
	const op = "POST /2.0/files/{id}/content"
	if err := requireID(op, "file ID", fileID); err != nil {
		return nil, err
	}
	filename := name
	if filename == "" {
		filename = "content"
	}
	return c.uploadMultipart(ctx, op, token, c.upload("/2.0/files/{}/content", fileID), uploadAttributes{Name: name}, filename, r,
		[]int{http.StatusOK, http.StatusCreated})
}

func (c *Client) uploadMultipart(ctx context.Context, op string, token secret.String, u string, attrs uploadAttributes, filename string, r io.Reader, accept []int) (*File, error) {
	if r == nil {
		return nil, fmt.Errorf("box: %s: nil content reader", op)
	}
	boundary := multipart.NewWriter(io.Discard).Boundary()
	attrJSON := jsonBody(attrs)
	stream := func() (io.Reader, func()) {
		pr, pw := io.Pipe()
		go func() {
			mw := multipart.NewWriter(pw)
			_ = mw.SetBoundary(boundary)
			pw.CloseWithError(writeUploadParts(mw, attrJSON, filename, r))
		}()
		// Closing the reader after the call unblocks the writer goroutine if
		// the server answered without reading the whole body.
		return pr, func() { _ = pr.CloseWithError(errors.New("upload request finished")) }
	}
	var files struct {
		TotalCount int64  `json:"total_count"`
		Entries    []File `json:"entries"`
	}
	req := request{op: op, method: http.MethodPost, url: u, token: token, stream: stream,
		ctype: "multipart/form-data; boundary=" + boundary, accept: accept}
	if err := c.doJSON(ctx, req, &files); err != nil {
		return nil, err
	}
	if len(files.Entries) == 0 {
		return nil, &Error{StatusCode: http.StatusCreated, Op: op, Code: "invalid_response", Message: "upload answer has no entries"}
	}
	return &files.Entries[0], nil
}

func writeUploadParts(mw *multipart.Writer, attrs []byte, filename string, r io.Reader) error {
	if err := mw.WriteField("attributes", string(attrs)); err != nil {
		return err
	}
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%s`, strconv.Quote(filename)))
	h.Set("Content-Type", "application/octet-stream")
	part, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := io.Copy(part, r); err != nil {
		return fmt.Errorf("reading upload content: %w", err)
	}
	return mw.Close()
}

// CreateFolder creates a folder (POST /2.0/folders). An existing name gives
// a 409 *Error (code "item_name_in_use").
func (c *Client) CreateFolder(ctx context.Context, token secret.String, parentFolderID, name string) (*Folder, error) {
	const op = "POST /2.0/folders"
	if err := requireID(op, "parent folder ID", parentFolderID); err != nil {
		return nil, err
	}
	if err := requireID(op, "folder name", name); err != nil {
		return nil, err
	}
	body := jsonBody(struct {
		Name   string   `json:"name"`
		Parent parentID `json:"parent"`
	}{name, parentID{parentFolderID}})
	var f Folder
	if err := c.doJSON(ctx, request{op: op, method: http.MethodPost, url: c.api("/2.0/folders"), token: token,
		body: body, ctype: "application/json", accept: []int{http.StatusCreated, http.StatusOK}}, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// folderPageSize is the page size asked of GET /2.0/folders/{id}/items (Box's maximum).
const folderPageSize = 1000

// maxPages bounds pagination against a server that never stops paging.
const maxPages = 10000

// ListFolderItems lists every item of a folder (GET /2.0/folders/{id}/items),
// following marker pagination (or offset pagination if the server ignores
// usemarker).
func (c *Client) ListFolderItems(ctx context.Context, token secret.String, folderID string) ([]Item, error) {
	const op = "GET /2.0/folders/{id}/items"
	if err := requireID(op, "folder ID", folderID); err != nil {
		return nil, err
	}
	var all []Item
	q := url.Values{"usemarker": {"true"}, "limit": {strconv.Itoa(folderPageSize)}}
	for page := 0; page < maxPages; page++ {
		var ans struct {
			Entries    []Item `json:"entries"`
			NextMarker string `json:"next_marker"`
			TotalCount *int64 `json:"total_count"`
			Offset     int64  `json:"offset"`
		}
		u := c.api("/2.0/folders/{}/items", folderID) + "?" + q.Encode()
		if err := c.doJSON(ctx, request{op: op, method: http.MethodGet, url: u, token: token, accept: []int{http.StatusOK}}, &ans); err != nil {
			return nil, err
		}
		all = append(all, ans.Entries...)
		switch {
		case ans.NextMarker != "":
			q.Set("marker", ans.NextMarker)
		case ans.TotalCount != nil && len(ans.Entries) > 0 && ans.Offset+int64(len(ans.Entries)) < *ans.TotalCount:
			q.Del("usemarker")
			q.Set("offset", strconv.FormatInt(ans.Offset+int64(len(ans.Entries)), 10))
		default:
			return all, nil
		}
	}
	return nil, &Error{StatusCode: http.StatusOK, Op: op, Code: "invalid_response", Message: "pagination did not end"}
}

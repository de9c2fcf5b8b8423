package localbox_test

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"filesight/internal/localbox"
	"filesight/internal/localbox/localboxtest"
)

func sha1hex(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

func TestFoldersAndItems(t *testing.T) {
	ts := localboxtest.Start(t)
	tok := ts.ParentToken(t)
	r := sendJSON(t, http.MethodPost, ts.URL+"/2.0/folders", tok, map[string]any{"name": "Media", "parent": map[string]string{"id": "0"}}).
		wantStatus(t, http.StatusCreated)
	f := r.json(t)
	media := str(f, "id")
	if f["type"] != "folder" || str(f, "name") != "Media" || str(f, "parent", "id") != "0" || media == "" || media == "0" {
		t.Fatalf("created folder = %s", r.Body)
	}
	// Names are unique case-insensitively, across files and folders.
	r = sendJSON(t, http.MethodPost, ts.URL+"/2.0/folders", tok, map[string]any{"name": "media", "parent": map[string]string{"id": "0"}})
	e := r.wantError(t, http.StatusConflict, "item_name_in_use")
	if str(e["context_info"].(map[string]any)["conflicts"].([]any)[0].(map[string]any), "id") != media {
		t.Fatalf("conflict context_info = %s", r.Body)
	}
	sub := ts.CreateFolder(t, media, "sub")
	for i, name := range []string{"b.wav", "A.mp4", "c.txt"} {
		ts.UploadFile(t, media, name, []byte{byte(i)})
	}
	ct, body := multipartBody(t, "attributes", attrsJSON("SUB", media), "file", "x")
	call(t, http.MethodPost, ts.UploadURL+"/2.0/files/content", tok, ct, body).wantError(t, http.StatusConflict, "item_name_in_use")

	items := getJSON(t, ts.URL+"/2.0/folders/"+media+"/items", tok).wantStatus(t, http.StatusOK).json(t)
	if items["total_count"] != float64(4) || items["offset"] != float64(0) || items["limit"] != float64(100) {
		t.Fatalf("items = %v", items)
	}
	var got []string
	for _, e := range items["entries"].([]any) {
		em := e.(map[string]any)
		got = append(got, str(em, "type")+":"+str(em, "name"))
		if str(em, "id") == "" {
			t.Fatalf("entry without id: %v", em)
		}
		if em["type"] == "file" && (str(em, "sha1") == "" || str(em, "file_version", "id") == "") {
			t.Fatalf("file entry without sha1/file_version: %v", em)
		}
	}
	if want := "folder:sub file:A.mp4 file:b.wav file:c.txt"; strings.Join(got, " ") != want {
		t.Fatalf("order = %v, want %s", got, want)
	}
	// Paging and fields.
	page := getJSON(t, ts.URL+"/2.0/folders/"+media+"/items?offset=1&limit=2&fields=name,size&unknown=1", tok).wantStatus(t, http.StatusOK).json(t)
	entries := page["entries"].([]any)
	if len(entries) != 2 || str(entries[0].(map[string]any), "name") != "A.mp4" || entries[0].(map[string]any)["size"] != float64(1) {
		t.Fatalf("page = %v", page)
	}
	if _, ok := entries[0].(map[string]any)["sha1"]; ok {
		t.Fatalf("fields=name,size still returned sha1: %v", entries[0])
	}
	getJSON(t, ts.URL+"/2.0/folders/"+media+"/items?limit=-1", tok).wantError(t, http.StatusBadRequest, "bad_request")

	info := getJSON(t, ts.URL+"/2.0/folders/"+sub, tok).wantStatus(t, http.StatusOK).json(t)
	pc := info["path_collection"].(map[string]any)
	if pc["total_count"] != float64(2) || str(info, "parent", "id") != media {
		t.Fatalf("sub folder info = %v", info)
	}
	root := getJSON(t, ts.URL+"/2.0/folders/0", tok).wantStatus(t, http.StatusOK).json(t)
	if str(root, "id") != "0" || str(root, "name") != "All Files" || root["parent"] != nil {
		t.Fatalf("root = %v", root)
	}

	getJSON(t, ts.URL+"/2.0/folders/110000999999/items", tok).wantError(t, http.StatusNotFound, "not_found")
	getJSON(t, ts.URL+"/2.0/folders/abc", tok).wantError(t, http.StatusNotFound, "not_found")
	for name, body := range map[string]any{
		"bad name":      map[string]any{"name": "a/b", "parent": map[string]string{"id": "0"}},
		"empty name":    map[string]any{"name": "", "parent": map[string]string{"id": "0"}},
		"no parent":     map[string]any{"name": "x"},
		"unknown field": map[string]any{"name": "x", "parent": map[string]string{"id": "0"}, "colour": "red"},
	} {
		t.Run(name, func(t *testing.T) {
			r := sendJSON(t, http.MethodPost, ts.URL+"/2.0/folders", tok, body).wantStatus(t, http.StatusBadRequest)
			if c := r.json(t)["code"]; c != "bad_request" && c != "item_name_invalid" {
				t.Fatalf("code = %v", c)
			}
		})
	}
	call(t, http.MethodPost, ts.URL+"/2.0/folders", tok, "text/plain", strings.NewReader(`{"name":"x","parent":{"id":"0"}}`)).
		wantError(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
	call(t, http.MethodPost, ts.URL+"/2.0/folders", tok, "application/json", strings.NewReader(`{"name":`)).
		wantError(t, http.StatusBadRequest, "bad_request")
}

func TestUploadInfoVersionsDownload(t *testing.T) {
	ts := localboxtest.Start(t)
	tok := ts.ParentToken(t)
	folder := ts.CreateFolder(t, "0", "in")
	v1 := []byte("first version of the file")
	ct, body := multipartBody(t, "attributes", `{"name":"talk.mp4","parent":{"id":"`+folder+`"},"content_created_at":"2020-01-02T03:04:05Z"}`, "file", string(v1))
	r := call(t, http.MethodPost, ts.UploadURL+"/2.0/files/content", tok, ct, body, header("as-user", "12345")).wantStatus(t, http.StatusCreated)
	up := r.json(t)
	if up["total_count"] != float64(1) {
		t.Fatalf("upload answer = %s", r.Body)
	}
	file := up["entries"].([]any)[0].(map[string]any)
	id, ver1 := str(file, "id"), str(file, "file_version", "id")
	if file["type"] != "file" || str(file, "sha1") != sha1hex(v1) || str(file, "file_version", "sha1") != sha1hex(v1) ||
		file["size"] != float64(len(v1)) || str(file, "parent", "id") != folder || str(file, "content_created_at") != "2020-01-02T03:04:05Z" {
		t.Fatalf("uploaded file = %s", r.Body)
	}

	info := getJSON(t, ts.URL+"/2.0/files/"+id, tok).wantStatus(t, http.StatusOK).json(t)
	for _, k := range localbox.StandardFileFields {
		if _, ok := info[k]; !ok {
			t.Errorf("standard file info lacks %q", k)
		}
	}
	if pc := info["path_collection"].(map[string]any); pc["total_count"] != float64(2) {
		t.Fatalf("path_collection = %v", pc)
	}
	few := getJSON(t, ts.URL+"/2.0/files/"+id+"?fields=name,extension,version_number,bogus", tok).wantStatus(t, http.StatusOK).json(t)
	if len(few) != 6 || few["extension"] != "mp4" || few["version_number"] != "1" || str(few, "etag") != "0" {
		t.Fatalf("fields answer = %v (want type, id, etag, name, extension, version_number)", few)
	}
	getJSON(t, ts.URL+"/2.0/files/"+id, tok).wantStatus(t, http.StatusOK)
	call(t, http.MethodGet, ts.URL+"/2.0/files/"+id, tok, "", nil, header("If-None-Match", `"0"`)).wantStatus(t, http.StatusNotModified)

	// New version (If-Match checked) with a rename.
	v2 := []byte("second version")
	ct, body = multipartBody(t, "attributes", `{"name":"talk2.mp4"}`, "file", string(v2))
	call(t, http.MethodPost, ts.UploadURL+"/2.0/files/"+id+"/content", tok, ct, body, header("If-Match", "7")).
		wantError(t, http.StatusPreconditionFailed, "precondition_failed")
	ct, body = multipartBody(t, "attributes", `{"name":"talk2.mp4"}`, "file", string(v2))
	r = call(t, http.MethodPost, ts.UploadURL+"/2.0/files/"+id+"/content", tok, ct, body, header("If-Match", "0")).wantStatus(t, http.StatusOK)
	nv := r.json(t)["entries"].([]any)[0].(map[string]any)
	ver2 := str(nv, "file_version", "id")
	if str(nv, "id") != id || ver2 == ver1 || str(nv, "sha1") != sha1hex(v2) || str(nv, "name") != "talk2.mp4" || str(nv, "etag") != "1" {
		t.Fatalf("new version = %s", r.Body)
	}
	// A version without attributes part is fine.
	ct, body = multipartBody(t, "file", "third")
	call(t, http.MethodPost, ts.UploadURL+"/2.0/files/"+id+"/content", tok, ct, body).wantStatus(t, http.StatusOK)

	vs := getJSON(t, ts.URL+"/2.0/files/"+id+"/versions", tok).wantStatus(t, http.StatusOK).json(t)
	entries := vs["entries"].([]any)
	if vs["total_count"] != float64(2) || str(entries[0].(map[string]any), "id") != ver2 || str(entries[1].(map[string]any), "id") != ver1 ||
		str(entries[1].(map[string]any), "sha1") != sha1hex(v1) || str(entries[1].(map[string]any), "type") != "file_version" {
		t.Fatalf("versions = %v (want the two previous, newest first)", vs)
	}

	// Download: current, older version, ranges, access_token parameter.
	d := call(t, http.MethodGet, ts.URL+"/2.0/files/"+id+"/content", tok, "", nil).wantStatus(t, http.StatusOK)
	if string(d.Body) != "third" || d.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("download = %q %v", d.Body, d.Header)
	}
	d = call(t, http.MethodGet, ts.URL+"/2.0/files/"+id+"/content?version="+ver1, tok, "", nil).wantStatus(t, http.StatusOK)
	if !bytes.Equal(d.Body, v1) {
		t.Fatalf("version download = %q", d.Body)
	}
	call(t, http.MethodGet, ts.URL+"/2.0/files/"+id+"/content?version=330000999999", tok, "", nil).wantError(t, http.StatusNotFound, "not_found")
	d = call(t, http.MethodGet, ts.URL+"/2.0/files/"+id+"/content?version="+ver1, tok, "", nil, header("Range", "bytes=6-12")).
		wantStatus(t, http.StatusPartialContent)
	if string(d.Body) != "version" || d.Header.Get("Content-Range") != "bytes 6-12/25" {
		t.Fatalf("range download = %q %q", d.Body, d.Header.Get("Content-Range"))
	}
	dl := ts.DownscopedToken(t, id, "item_download")
	d = call(t, http.MethodGet, ts.URL+"/2.0/files/"+id+"/content?access_token="+dl, "", "", nil).wantStatus(t, http.StatusOK)
	if string(d.Body) != "third" {
		t.Fatalf("access_token download = %q", d.Body)
	}

	// Update and delete.
	u := sendJSON(t, http.MethodPut, ts.URL+"/2.0/files/"+id, tok, map[string]any{"description": "a talk"}).wantStatus(t, http.StatusOK).json(t)
	if str(u, "description") != "a talk" {
		t.Fatalf("update = %v", u)
	}
	sendJSON(t, http.MethodPut, ts.URL+"/2.0/files/"+id, tok, map[string]any{"lock": map[string]string{"type": "lock"}}).wantError(t, http.StatusBadRequest, "bad_request")
	call(t, http.MethodDelete, ts.URL+"/2.0/files/"+id, tok, "", nil, header("If-Match", "0")).wantError(t, http.StatusPreconditionFailed, "precondition_failed")
	call(t, http.MethodDelete, ts.URL+"/2.0/files/"+id, tok, "", nil).wantStatus(t, http.StatusNoContent)
	getJSON(t, ts.URL+"/2.0/files/"+id, tok).wantError(t, http.StatusNotFound, "not_found")
	blobs, _ := filepath.Glob(filepath.Join(ts.Config.DataDir, "blobs", "*", "*"))
	if len(blobs) != 0 {
		t.Fatalf("blobs left after delete: %v", blobs)
	}
}

// TestBadUploads: every malformed upload is a 4xx, and nothing of it is
// left behind (no file row, no blob, no temporary file).
func TestBadUploads(t *testing.T) {
	ts := localboxtest.Start(t, localboxtest.WithConfig(func(c *localbox.Config) { c.MaxUploadBytes = 1000 }))
	tok := ts.ParentToken(t)
	folder := ts.CreateFolder(t, "0", "in")
	big := strings.Repeat("x", 1001)
	cases := map[string]struct {
		ct, body string
		status   int
		code     string
	}{}
	add := func(name string, status int, code string, parts ...string) {
		ct, b := multipartBody(t, parts...)
		cases[name] = struct {
			ct, body string
			status   int
			code     string
		}{ct, b.String(), status, code}
	}
	add("file before attributes", 400, "metadata_after_file_contents", "file", "x", "attributes", attrsJSON("a", folder))
	add("no attributes", 400, "metadata_after_file_contents", "file", "x")
	add("no file", 400, "bad_request", "attributes", attrsJSON("a", folder))
	add("attributes not JSON", 400, "bad_request", "attributes", "{", "file", "x")
	add("unknown attribute", 400, "bad_request", "attributes", `{"name":"a","parent":{"id":"`+folder+`"},"colour":"red"}`, "file", "x")
	add("missing name", 400, "bad_request", "attributes", `{"parent":{"id":"`+folder+`"}}`, "file", "x")
	add("bad name", 400, "item_name_invalid", "attributes", attrsJSON("a/b", folder), "file", "x")
	add("unknown parent", 404, "not_found", "attributes", attrsJSON("a", "110000999999"), "file", "x")
	add("bad date", 400, "bad_request", "attributes", `{"name":"a","parent":{"id":"`+folder+`"},"content_created_at":"yesterday"}`, "file", "x")
	add("two files", 400, "bad_request", "attributes", attrsJSON("a", folder), "file", "x", "file", "y")
	add("unexpected part", 400, "bad_request", "attributes", attrsJSON("a", folder), "colour", "red", "file", "x")
	add("too large", 413, "file_size_limit_exceeded", "attributes", attrsJSON("a", folder), "file", big)
	ct, _ := multipartBody(t, "file", "x")
	cases["truncated"] = struct {
		ct, body string
		status   int
		code     string
	}{ct, "--" + strings.TrimPrefix(ct, "multipart/form-data; boundary=") + "\r\nContent-Disposition: form-data; name=\"attributes\"\r\n\r\n" + attrsJSON("a", folder) + "\r\n--" +
		strings.TrimPrefix(ct, "multipart/form-data; boundary=") + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\nxyz", 400, "bad_request"}
	cases["not multipart"] = struct {
		ct, body string
		status   int
		code     string
	}{"application/json", `{}`, 415, "unsupported_media_type"}
	cases["no boundary"] = struct {
		ct, body string
		status   int
		code     string
	}{"multipart/form-data", `{}`, 415, "unsupported_media_type"}

	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			call(t, http.MethodPost, ts.UploadURL+"/2.0/files/content", tok, tc.ct, strings.NewReader(tc.body)).wantError(t, tc.status, tc.code)
		})
	}
	// Content-MD5 (Box puts a SHA-1 there) must match.
	ct, b := multipartBody(t, "attributes", attrsJSON("a", folder), "file", "abc")
	call(t, http.MethodPost, ts.UploadURL+"/2.0/files/content", tok, ct, b, header("Content-MD5", sha1hex([]byte("abd")))).
		wantError(t, http.StatusPreconditionFailed, "precondition_failed")

	items := getJSON(t, ts.URL+"/2.0/folders/"+folder+"/items", tok).json(t)
	if items["total_count"] != float64(0) {
		t.Fatalf("a failed upload left an item: %v", items)
	}
	for _, dir := range []string{"tmp", "blobs"} {
		var files []string
		_ = filepath.WalkDir(filepath.Join(ts.Config.DataDir, dir), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files = append(files, p)
			}
			return nil
		})
		if len(files) != 0 {
			t.Fatalf("a failed upload left files in %s: %v", dir, files)
		}
	}
	// A good upload with the right Content-MD5 still works.
	ct, b = multipartBody(t, "attributes", attrsJSON("a", folder), "file", "abc")
	call(t, http.MethodPost, ts.UploadURL+"/2.0/files/content", tok, ct, b, header("Content-MD5", sha1hex([]byte("abc")))).wantStatus(t, http.StatusCreated)
}

// TestUploadIsStreamed uploads 256 MiB and checks that the server's heap
// never holds more than a small part of it.
func TestUploadIsStreamed(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 256 MiB")
	}
	ts := localboxtest.Start(t)
	tok := ts.ParentToken(t)
	const size = 256 << 20
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		_ = mw.WriteField("attributes", attrsJSON("big.bin", "0"))
		fw, _ := mw.CreateFormFile("file", "big.bin")
		chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
		for n := 0; n < size; n += len(chunk) {
			if _, err := fw.Write(chunk); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(mw.Close())
	}()

	var base runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)
	var peak uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
		}
	}()
	r := call(t, http.MethodPost, ts.UploadURL+"/2.0/files/content", tok, mw.FormDataContentType(), pr)
	close(stop)
	<-sampled
	r.wantStatus(t, http.StatusCreated)
	if got := r.json(t)["entries"].([]any)[0].(map[string]any)["size"]; got != float64(size) {
		t.Fatalf("size = %v", got)
	}
	if grew := int64(peak) - int64(base.HeapAlloc); grew > 64<<20 {
		t.Fatalf("heap grew by %d MiB during a %d MiB upload", grew>>20, size>>20)
	}
}

func TestUnknownPathsAndMethods(t *testing.T) {
	ts := localboxtest.Start(t)
	tok := ts.ParentToken(t)
	getJSON(t, ts.URL+"/2.0/nothing", tok).wantError(t, http.StatusNotFound, "not_found")
	r := call(t, http.MethodPatch, ts.URL+"/2.0/files/1", tok, "", nil)
	r.wantError(t, http.StatusMethodNotAllowed, "method_not_allowed")
	if !strings.Contains(r.Header.Get("Allow"), "GET") {
		t.Fatalf("Allow = %q", r.Header.Get("Allow"))
	}
	h := getJSON(t, ts.URL+"/healthz", "").wantStatus(t, http.StatusOK).json(t)
	if h["status"] != "ok" {
		t.Fatalf("healthz = %v", h)
	}
}

func TestPreflightUpload(t *testing.T) {
	ts := localboxtest.Start(t, localboxtest.WithConfig(func(c *localbox.Config) { c.MaxUploadBytes = 100 }))
	tok := ts.ParentToken(t)
	folder := ts.CreateFolder(t, "0", "in")
	ts.UploadFile(t, folder, "taken.wav", []byte("x"))
	pre := func(name string, size int) *resp {
		return sendJSON(t, http.MethodOptions, ts.UploadURL+"/2.0/files/content", tok,
			map[string]any{"name": name, "size": size, "parent": map[string]string{"id": folder}})
	}
	ok := pre("new.wav", 10).wantStatus(t, http.StatusOK).json(t)
	if str(ok, "upload_url") != ts.URL+"/api/2.0/files/content" {
		t.Fatalf("preflight = %v", ok)
	}
	pre("TAKEN.wav", 10).wantError(t, http.StatusConflict, "item_name_in_use")
	pre("big.wav", 101).wantError(t, http.StatusConflict, "file_size_limit_exceeded")
}

package localbox_test

import (
	"net/http"
	"strings"
	"testing"

	"filesight/internal/localbox"
	"filesight/internal/localbox/localboxtest"
)

// TestScopeAndResourceEnforcement runs every file endpoint with tokens
// downscoped to file A and each scope, on file A and on file B.
//
// Rules: a token restricted to A gets 404 not_found for anything else
// (B, folders), whether it exists or not; on A, an action its scopes do not
// cover gets 403 insufficient_scope. item_preview reads info and metadata,
// item_download reads content, item_upload writes (new versions, metadata,
// updates), item_delete deletes.
func TestScopeAndResourceEnforcement(t *testing.T) {
	ts := localboxtest.Start(t)
	folder := ts.CreateFolder(t, "0", "in")
	a := ts.UploadFile(t, folder, "a.wav", []byte("content of a"))
	b := ts.UploadFile(t, folder, "b.wav", []byte("content of b"))
	parent := ts.ParentToken(t)
	for _, id := range []string{a.ID, b.ID} {
		sendJSON(t, http.MethodPost, ts.URL+"/2.0/files/"+id+"/metadata/global/properties", parent, map[string]any{"k": "v"}).wantStatus(t, http.StatusCreated)
	}

	type endpoint struct {
		name string
		act  localbox.Action
		do   func(tok, fileID string) *resp
	}
	endpoints := []endpoint{
		{"file info", localbox.ActRead, func(tok, id string) *resp { return getJSON(t, ts.URL+"/2.0/files/"+id, tok) }},
		{"versions", localbox.ActRead, func(tok, id string) *resp { return getJSON(t, ts.URL+"/2.0/files/"+id+"/versions", tok) }},
		{"metadata list", localbox.ActRead, func(tok, id string) *resp { return getJSON(t, ts.URL+"/2.0/files/"+id+"/metadata", tok) }},
		{"metadata get", localbox.ActRead, func(tok, id string) *resp {
			return getJSON(t, ts.URL+"/2.0/files/"+id+"/metadata/global/properties", tok)
		}},
		{"download", localbox.ActDownload, func(tok, id string) *resp { return getJSON(t, ts.URL+"/2.0/files/"+id+"/content", tok) }},
		{"download via query", localbox.ActDownload, func(tok, id string) *resp {
			return getJSON(t, ts.URL+"/2.0/files/"+id+"/content?access_token="+tok, "")
		}},
		{"metadata patch", localbox.ActWrite, func(tok, id string) *resp {
			return call(t, http.MethodPut, ts.URL+"/2.0/files/"+id+"/metadata/global/properties", tok, "application/json-patch+json",
				strings.NewReader(`[{"op":"add","path":"/k","value":"w"}]`))
		}},
		{"metadata create", localbox.ActWrite, func(tok, id string) *resp {
			// Allowed calls meet 409 after the first: still not an authz error.
			return sendJSON(t, http.MethodPost, ts.URL+"/2.0/files/"+id+"/metadata/enterprise/scratch", tok, map[string]any{"x": "y"})
		}},
		{"metadata delete", localbox.ActWrite, func(tok, id string) *resp {
			// Allowed: 404 instance_not_found (there is none), not an authz error.
			return call(t, http.MethodDelete, ts.URL+"/2.0/files/"+id+"/metadata/enterprise/none", tok, "", nil)
		}},
		{"update", localbox.ActWrite, func(tok, id string) *resp {
			return sendJSON(t, http.MethodPut, ts.URL+"/2.0/files/"+id, tok, map[string]any{"description": "d"})
		}},
		{"new version", localbox.ActWrite, func(tok, id string) *resp {
			ct, body := multipartBody(t, "attributes", `{}`, "file", "v2")
			return call(t, http.MethodPost, ts.UploadURL+"/2.0/files/"+id+"/content", tok, ct, body)
		}},
	}
	scopes := []string{"item_preview", "item_download", "item_upload", "item_delete"}
	for _, scope := range scopes {
		tok := accessToken(t, exchange(t, ts, parent, scope, ts.URL+"/2.0/files/"+a.ID))
		for _, ep := range endpoints {
			t.Run(scope+"/"+ep.name, func(t *testing.T) {
				// File B: hidden, whatever the scope.
				ep.do(tok, b.ID).wantError(t, http.StatusNotFound, "not_found")
				r := ep.do(tok, a.ID)
				allowed := false
				for _, s := range localbox.ActionScopes[ep.act] {
					allowed = allowed || s == scope
				}
				if !allowed {
					r.wantError(t, http.StatusForbidden, "insufficient_scope")
					return
				}
				if r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden ||
					(r.Status == http.StatusNotFound && r.json(t)["code"] == "not_found") {
					t.Fatalf("%s with %s on its own file: %d %s", ep.name, scope, r.Status, r.Body)
				}
			})
		}
		t.Run(scope+"/folders and webhooks", func(t *testing.T) {
			getJSON(t, ts.URL+"/2.0/folders/"+folder, tok).wantError(t, http.StatusNotFound, "not_found")
			getJSON(t, ts.URL+"/2.0/folders/"+folder+"/items", tok).wantError(t, http.StatusNotFound, "not_found")
			sendJSON(t, http.MethodPost, ts.URL+"/2.0/folders", tok, map[string]any{"name": "x", "parent": map[string]string{"id": folder}}).
				wantError(t, http.StatusNotFound, "not_found")
			ct, body := multipartBody(t, "attributes", attrsJSON("new", folder), "file", "x")
			call(t, http.MethodPost, ts.UploadURL+"/2.0/files/content", tok, ct, body).wantError(t, http.StatusNotFound, "not_found")
			getJSON(t, ts.URL+"/2.0/webhooks", tok).wantError(t, http.StatusForbidden, "insufficient_scope")
			// A file that does not exist looks the same as B.
			getJSON(t, ts.URL+"/2.0/files/220000999999", tok).wantError(t, http.StatusNotFound, "not_found")
		})
	}

	// Delete needs item_delete (last: it removes A).
	up := accessToken(t, exchange(t, ts, parent, "item_upload item_preview item_download", ts.URL+"/2.0/files/"+a.ID))
	call(t, http.MethodDelete, ts.URL+"/2.0/files/"+a.ID, up, "", nil).wantError(t, http.StatusForbidden, "insufficient_scope")
	del := accessToken(t, exchange(t, ts, parent, "item_delete", ts.URL+"/2.0/files/"+a.ID))
	call(t, http.MethodDelete, ts.URL+"/2.0/files/"+b.ID, del, "", nil).wantError(t, http.StatusNotFound, "not_found")
	call(t, http.MethodDelete, ts.URL+"/2.0/files/"+a.ID, del, "", nil).wantStatus(t, http.StatusNoContent)
	getJSON(t, ts.URL+"/2.0/files/"+a.ID, parent).wantError(t, http.StatusNotFound, "not_found")

	// A folder-scoped upload token can upload into that folder only.
	fup := accessToken(t, exchange(t, ts, parent, "item_upload", ts.URL+"/2.0/folders/"+folder))
	ct, body := multipartBody(t, "attributes", attrsJSON("c.wav", folder), "file", "c")
	call(t, http.MethodPost, ts.UploadURL+"/2.0/files/content", fup, ct, body).wantStatus(t, http.StatusCreated)
	ct, body = multipartBody(t, "attributes", attrsJSON("d.wav", "0"), "file", "d")
	call(t, http.MethodPost, ts.UploadURL+"/2.0/files/content", fup, ct, body).wantError(t, http.StatusNotFound, "not_found")
}

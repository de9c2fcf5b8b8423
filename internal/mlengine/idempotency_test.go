package mlengine_test

import (
	"maps"
	"testing"

	"filesight/internal/mlengine"
	"filesight/internal/mlengine/mlenginetest"
	"filesight/internal/provider"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/secret"
)

// An Idempotency-Key names one request. Reused for a request that differs in
// anything that matters (what to analyse, where the media is, whom to call
// back, which workflow asked: its labels), it is refused with 409 rather than
// handing one workflow the job of another. Only the token may change: a
// retry carries a freshly issued one.
func TestIdempotencyConflicts(t *testing.T) {
	media := []byte("media")
	ms := newMediaServer(t, media, "tok")
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(newFake(t, media)))
	cr := newCallbackReceiver(t, ts.CallbackKey)
	base := mlengineapi.SubmitRequest{
		MediaURL: ms.URL + "/m?v=1", MediaToken: "tok", Analyses: []string{"media", "transcript"},
		CallbackURL: cr.URL + "/callbacks/mlengine",
		Labels:      map[string]string{"workflow_id": "file-1-v1", "file_id": "1"},
	}
	id := submit(t, ts, "idem-conflicts", base)

	with := func(change func(r *mlengineapi.SubmitRequest)) mlengineapi.SubmitRequest {
		r := base
		r.Labels = maps.Clone(base.Labels)
		r.Analyses = append([]string(nil), base.Analyses...)
		change(&r)
		return r
	}
	for _, tc := range []struct {
		name string
		req  mlengineapi.SubmitRequest
	}{
		{"another workflow ID", with(func(r *mlengineapi.SubmitRequest) { r.Labels["workflow_id"] = "file-2-v1" })},
		{"another label value", with(func(r *mlengineapi.SubmitRequest) { r.Labels["file_id"] = "2" })},
		{"a label more", with(func(r *mlengineapi.SubmitRequest) { r.Labels["extra"] = "x" })},
		{"a label less", with(func(r *mlengineapi.SubmitRequest) { delete(r.Labels, "file_id") })},
		{"no labels", with(func(r *mlengineapi.SubmitRequest) { r.Labels = nil })},
		{"label key and value swapped", with(func(r *mlengineapi.SubmitRequest) {
			r.Labels = map[string]string{"file-1-v1": "workflow_id", "file_id": "1"}
		})},
		{"another media path", with(func(r *mlengineapi.SubmitRequest) { r.MediaURL = ms.URL + "/other?v=1" })},
		{"another media query", with(func(r *mlengineapi.SubmitRequest) { r.MediaURL = ms.URL + "/m?v=2" })},
		{"another callback URL", with(func(r *mlengineapi.SubmitRequest) { r.CallbackURL = cr.URL + "/callbacks/other" })},
		{"no callback", with(func(r *mlengineapi.SubmitRequest) { r.CallbackURL = "" })},
		{"fewer analyses", with(func(r *mlengineapi.SubmitRequest) { r.Analyses = []string{"media"} })},
		{"other analyses", with(func(r *mlengineapi.SubmitRequest) { r.Analyses = []string{"media", "scenes"} })},
	} {
		code, _, body := call(t, ts, "POST", "/v1/jobs", tc.req, map[string]string{"Idempotency-Key": "idem-conflicts"})
		if code != 409 || decodeJSON[mlengineapi.ErrorBody](t, body).Error.Code != mlengine.CodeIdempotencyConflict {
			t.Errorf("%s: HTTP %d %s, want 409 %s", tc.name, code, body, mlengine.CodeIdempotencyConflict)
		}
	}
	// What does not change the request: a new token, the analyses in another
	// order or repeated.
	for _, tc := range []struct {
		name string
		req  mlengineapi.SubmitRequest
	}{
		{"a fresh token", with(func(r *mlengineapi.SubmitRequest) { r.MediaToken = "tok-2" })},
		{"analyses reordered and repeated", with(func(r *mlengineapi.SubmitRequest) {
			r.Analyses = []string{"transcript", "media", "transcript"}
		})},
	} {
		code, _, body := call(t, ts, "POST", "/v1/jobs", tc.req, map[string]string{"Idempotency-Key": "idem-conflicts"})
		if code != 200 || decodeJSON[mlengineapi.SubmitResponse](t, body).ID != id {
			t.Errorf("%s: HTTP %d %s, want 200 with job %s", tc.name, code, body, id)
		}
	}
	// The refused requests created nothing.
	client := mlengineapi.New(mlengineapi.Config{BaseURL: ts.URL, APIKey: secret.String(ts.APIKey)})
	page, err := client.ListJobs(t.Context(), mlengineapi.ListOptions{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Jobs) != 1 || page.Jobs[0].ID != id || page.Jobs[0].Submissions != 3 {
		t.Fatalf("jobs after the conflicts: %+v, want only %s with 3 submissions", page.Jobs, id)
	}
	waitStatus(t, ts, id, provider.StateSucceeded)
}

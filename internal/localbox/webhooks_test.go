package localbox_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filesight/internal/localbox"
	"filesight/internal/localbox/localboxtest"

	"filesight/internal/signature"
	"filesight/internal/testutil"
)

// receiver is an httptest webhook endpoint that records deliveries and
// answers with whatever status respond returns.
type receiver struct {
	*httptest.Server
	mu         sync.Mutex
	deliveries []delivered
	respond    func(n int, ev map[string]any, r *http.Request) int // n: 1-based request count
}

type delivered struct {
	Header http.Header
	Body   []byte
	Event  map[string]any
	Status int // what the receiver answered
}

func newReceiver(t *testing.T, respond func(n int, ev map[string]any, r *http.Request) int) *receiver {
	rc := &receiver{respond: respond}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev map[string]any
		_ = json.Unmarshal(body, &ev)
		rc.mu.Lock()
		rc.deliveries = append(rc.deliveries, delivered{Header: r.Header.Clone(), Body: body, Event: ev})
		n := len(rc.deliveries)
		rc.mu.Unlock()
		status := http.StatusOK
		if rc.respond != nil {
			status = rc.respond(n, ev, r)
		}
		rc.mu.Lock()
		rc.deliveries[n-1].Status = status
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) got() []delivered {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivered(nil), rc.deliveries...)
}

func (rc *receiver) wait(t *testing.T, n int) []delivered {
	t.Helper()
	testutil.WaitFor(t, 10*time.Second, "webhook deliveries", func() bool { return len(rc.got()) >= n })
	return rc.got()
}

func events(t *testing.T, ts *localboxtest.Server, state string) []localbox.WebhookEvent {
	t.Helper()
	var out struct {
		Entries []localbox.WebhookEvent `json:"entries"`
	}
	u := ts.URL + "/_localbox/webhook-events"
	if state != "" {
		u += "?state=" + state
	}
	r := getJSON(t, u, ts.AdminKey.Reveal()).wantStatus(t, http.StatusOK)
	if err := json.Unmarshal(r.Body, &out); err != nil {
		t.Fatal(err)
	}
	return out.Entries
}

func TestWebhookCRUD(t *testing.T) {
	ts := localboxtest.Start(t)
	tok := ts.ParentToken(t)
	folder := ts.CreateFolder(t, "0", "in")
	other := ts.CreateFolder(t, "0", "other")
	file := ts.UploadFile(t, other, "f", []byte("f"))
	hook := func(target, typ, addr string, triggers ...string) map[string]any {
		return map[string]any{"target": map[string]string{"id": target, "type": typ}, "address": addr, "triggers": triggers}
	}
	r := sendJSON(t, http.MethodPost, ts.URL+"/2.0/webhooks", tok, hook(folder, "folder", "http://127.0.0.1:1/hook", "FILE.UPLOADED")).
		wantStatus(t, http.StatusCreated)
	w := r.json(t)
	id := str(w, "id")
	if w["type"] != "webhook" || id == "" || str(w, "target", "id") != folder || str(w, "target", "type") != "folder" ||
		str(w, "address") != "http://127.0.0.1:1/hook" || str(w, "created_by", "type") != "user" || str(w, "created_at") == "" {
		t.Fatalf("created webhook = %s", r.Body)
	}
	sendJSON(t, http.MethodPost, ts.URL+"/2.0/webhooks", tok, hook(folder, "folder", "http://127.0.0.1:2/x", "FILE.UPLOADED")).
		wantError(t, http.StatusConflict, "conflict")
	sendJSON(t, http.MethodPost, ts.URL+"/2.0/webhooks", tok, hook(file.ID, "file", "http://127.0.0.1:1/f", "FILE.UPLOADED", "FILE.DOWNLOADED")).
		wantStatus(t, http.StatusCreated)
	for name, tc := range map[string]struct {
		body   any
		status int
		code   string
	}{
		"root folder":     {hook("0", "folder", "http://127.0.0.1:1/h", "FILE.UPLOADED"), 400, "bad_request"},
		"unknown folder":  {hook("110000999999", "folder", "http://127.0.0.1:1/h", "FILE.UPLOADED"), 404, "not_found"},
		"bad type":        {hook(other, "web_link", "http://127.0.0.1:1/h", "FILE.UPLOADED"), 400, "bad_request"},
		"bad address":     {hook(other, "folder", "ftp://x/h", "FILE.UPLOADED"), 400, "bad_request"},
		"unknown trigger": {hook(other, "folder", "http://127.0.0.1:1/h", "FILE.EXPLODED"), 400, "bad_request"},
		"no triggers":     {hook(other, "folder", "http://127.0.0.1:1/h"), 400, "bad_request"},
		"missing target":  {map[string]any{"address": "http://x/", "triggers": []string{"FILE.UPLOADED"}}, 400, "bad_request"},
		"unknown field":   {map[string]any{"target": map[string]string{"id": other, "type": "folder"}, "address": "http://x/", "triggers": []string{"FILE.UPLOADED"}, "secret": "x"}, 400, "bad_request"},
	} {
		t.Run(name, func(t *testing.T) {
			sendJSON(t, http.MethodPost, ts.URL+"/2.0/webhooks", tok, tc.body).wantError(t, tc.status, tc.code)
		})
	}

	list := getJSON(t, ts.URL+"/2.0/webhooks?limit=1", tok).wantStatus(t, http.StatusOK).json(t)
	if list["total_count"] != float64(2) || len(list["entries"].([]any)) != 1 || str(list, "next_marker") == "" {
		t.Fatalf("page 1 = %v", list)
	}
	page2 := getJSON(t, ts.URL+"/2.0/webhooks?limit=1&marker="+str(list, "next_marker"), tok).wantStatus(t, http.StatusOK).json(t)
	if len(page2["entries"].([]any)) != 1 || page2["next_marker"] != nil {
		t.Fatalf("page 2 = %v", page2)
	}

	u := sendJSON(t, http.MethodPut, ts.URL+"/2.0/webhooks/"+id, tok, map[string]any{"address": "http://127.0.0.1:3/new"}).wantStatus(t, http.StatusOK).json(t)
	if str(u, "address") != "http://127.0.0.1:3/new" || u["triggers"].([]any)[0] != "FILE.UPLOADED" {
		t.Fatalf("updated = %v", u)
	}
	g := getJSON(t, ts.URL+"/2.0/webhooks/"+id, tok).wantStatus(t, http.StatusOK).json(t)
	if str(g, "address") != "http://127.0.0.1:3/new" {
		t.Fatalf("get = %v", g)
	}
	// Downscoped tokens cannot manage webhooks.
	child := ts.DownscopedToken(t, file.ID, "item_preview", "item_upload")
	getJSON(t, ts.URL+"/2.0/webhooks/"+id, child).wantError(t, http.StatusForbidden, "insufficient_scope")
	call(t, http.MethodDelete, ts.URL+"/2.0/webhooks/"+id, child, "", nil).wantError(t, http.StatusForbidden, "insufficient_scope")

	call(t, http.MethodDelete, ts.URL+"/2.0/webhooks/"+id, tok, "", nil).wantStatus(t, http.StatusNoContent)
	getJSON(t, ts.URL+"/2.0/webhooks/"+id, tok).wantError(t, http.StatusNotFound, "not_found")
	call(t, http.MethodDelete, ts.URL+"/2.0/webhooks/"+id, tok, "", nil).wantError(t, http.StatusNotFound, "not_found")
}

func TestWebhookDeliverySignedAndShaped(t *testing.T) {
	ts := localboxtest.Start(t)
	rc := newReceiver(t, nil)
	watched := ts.CreateFolder(t, "0", "watched")
	deep := ts.CreateFolder(t, ts.CreateFolder(t, watched, "a"), "b")
	unwatched := ts.CreateFolder(t, "0", "unwatched")
	hookID := ts.CreateWebhook(t, watched, rc.URL+"/box")

	ts.UploadFile(t, unwatched, "x.wav", []byte("x"))
	ts.UploadFile(t, "0", "root.wav", []byte("r"))
	f := ts.UploadFile(t, watched, "talk.mp4", []byte("talk"))
	ds := rc.wait(t, 1)
	d := ds[0]

	verifier := signature.NewVerifier([]byte(ts.WebhookPrimaryKey.Reveal()), []byte(ts.WebhookSecondaryKey.Reveal()))
	h := d.Header
	if err := verifier.Verify(d.Body, h.Get("BOX-DELIVERY-TIMESTAMP"), h.Get("BOX-SIGNATURE-PRIMARY"), h.Get("BOX-SIGNATURE-SECONDARY")); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	// Either key alone verifies (key rotation).
	if err := signature.NewVerifier(nil, []byte(ts.WebhookSecondaryKey.Reveal())).Verify(d.Body, h.Get("BOX-DELIVERY-TIMESTAMP"), "", h.Get("BOX-SIGNATURE-SECONDARY")); err != nil {
		t.Fatalf("secondary signature does not verify: %v", err)
	}
	if err := verifier.Verify(append(d.Body, ' '), h.Get("BOX-DELIVERY-TIMESTAMP"), h.Get("BOX-SIGNATURE-PRIMARY"), h.Get("BOX-SIGNATURE-SECONDARY")); err == nil {
		t.Fatal("a changed body still verifies")
	}
	if h.Get("BOX-SIGNATURE-VERSION") != "1" || h.Get("BOX-SIGNATURE-ALGORITHM") != "HmacSHA256" || h.Get("BOX-DELIVERY-ID") == "" {
		t.Fatalf("headers = %v", h)
	}
	if _, err := time.Parse(time.RFC3339, h.Get("BOX-DELIVERY-TIMESTAMP")); err != nil {
		t.Fatalf("BOX-DELIVERY-TIMESTAMP: %v", err)
	}
	ev := d.Event
	if ev["type"] != "webhook_event" || str(ev, "id") == "" || ev["trigger"] != "FILE.UPLOADED" || str(ev, "webhook", "id") != hookID ||
		str(ev, "webhook", "type") != "webhook" || str(ev, "created_by", "type") != "user" || str(ev, "created_at") == "" {
		t.Fatalf("event = %s", d.Body)
	}
	src := ev["source"].(map[string]any)
	if src["type"] != "file" || str(src, "id") != f.ID || str(src, "file_version", "id") != f.VersionID || str(src, "file_version", "type") != "file_version" ||
		str(src, "file_version", "sha1") != f.SHA1 || str(src, "name") != "talk.mp4" || src["size"] != float64(4) || str(src, "parent", "id") != watched {
		t.Fatalf("source = %v", src)
	}

	// Deep subfolders fire too, and a new version fires FILE.UPLOADED again.
	g := ts.UploadFile(t, deep, "deep.wav", []byte("deep"))
	v2 := ts.UploadVersion(t, f.ID, []byte("talk v2"))
	ds = rc.wait(t, 3)
	seen := map[string]bool{}
	for _, d := range ds[1:] {
		seen[str(d.Event, "source", "id")+"/"+str(d.Event, "source", "file_version", "id")] = true
		if d.Event["trigger"] != "FILE.UPLOADED" {
			t.Fatalf("trigger = %v", d.Event["trigger"])
		}
	}
	if !seen[g.ID+"/"+g.VersionID] || !seen[f.ID+"/"+v2.VersionID] {
		t.Fatalf("deliveries = %v, want deep upload %s and new version %s", seen, g.ID, v2.VersionID)
	}
	// Exactly three events were queued: the unwatched and root uploads made none.
	if evs := events(t, ts, ""); len(evs) != 3 {
		t.Fatalf("events = %+v, want 3", evs)
	}
	testutil.WaitFor(t, 5*time.Second, "all events delivered", func() bool { return len(events(t, ts, "delivered")) == 3 })
	log := ts.Deliveries(t)
	if len(log) != 3 || !log[0].Delivered || log[0].StatusCode != 200 || log[0].Attempt != 1 || log[0].Address != rc.URL+"/box" {
		t.Fatalf("delivery log = %+v", log)
	}
}

func TestWebhookRetriesFailingReceiver(t *testing.T) {
	ts := localboxtest.Start(t, localboxtest.WithRetryDelays(20*time.Millisecond, 40*time.Millisecond, 80*time.Millisecond))
	rc := newReceiver(t, func(n int, _ map[string]any, _ *http.Request) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	folder := ts.CreateFolder(t, "0", "in")
	ts.CreateWebhook(t, folder, rc.URL)
	ts.UploadFile(t, folder, "a", []byte("a"))
	ds := rc.wait(t, 3)
	ids := map[string]bool{}
	for _, d := range ds {
		if str(d.Event, "id") != str(ds[0].Event, "id") || string(d.Body) != string(ds[0].Body) {
			t.Fatalf("the event changed between attempts: %s vs %s", ds[0].Body, d.Body)
		}
		ids[d.Header.Get("BOX-DELIVERY-ID")] = true
	}
	if len(ids) != 3 {
		t.Fatalf("delivery IDs %v, want a new one per attempt", ids)
	}
	testutil.WaitFor(t, 5*time.Second, "the event to be delivered", func() bool { return len(events(t, ts, "delivered")) == 1 })
	log := ts.Deliveries(t)
	if len(log) != 3 {
		t.Fatalf("log = %+v", log)
	}
	for i, want := range []int{500, 500, 204} {
		if log[i].Attempt != i+1 || log[i].StatusCode != want || log[i].Delivered != (want == 204) || log[i].EventID != str(ds[0].Event, "id") {
			t.Fatalf("log[%d] = %+v", i, log[i])
		}
	}
	if log[0].Error == "" {
		t.Fatalf("a failed attempt has no error text: %+v", log[0])
	}
}

func TestWebhookGivesUpAfterLastAttempt(t *testing.T) {
	ts := localboxtest.Start(t, localboxtest.WithRetryDelays(10*time.Millisecond, 10*time.Millisecond))
	rc := newReceiver(t, func(int, map[string]any, *http.Request) int { return http.StatusServiceUnavailable })
	folder := ts.CreateFolder(t, "0", "in")
	ts.CreateWebhook(t, folder, rc.URL)
	ts.UploadFile(t, folder, "a", []byte("a"))
	testutil.WaitFor(t, 5*time.Second, "the event to fail", func() bool { return len(events(t, ts, "failed")) == 1 })
	if n := len(rc.got()); n != 3 {
		t.Fatalf("%d attempts, want 3", n)
	}
	ev := events(t, ts, "failed")[0]
	if ev.Attempts != 3 || ev.LastStatusCode != 503 {
		t.Fatalf("failed event = %+v", ev)
	}
}

func TestDeletingWebhookCancelsPendingEvents(t *testing.T) {
	ts := localboxtest.Start(t, localboxtest.WithRetryDelays(time.Hour))
	rc := newReceiver(t, func(int, map[string]any, *http.Request) int { return http.StatusInternalServerError })
	folder := ts.CreateFolder(t, "0", "in")
	id := ts.CreateWebhook(t, folder, rc.URL)
	ts.UploadFile(t, folder, "a", []byte("a"))
	rc.wait(t, 1)
	testutil.WaitFor(t, 5*time.Second, "the first attempt to be recorded", func() bool { return len(ts.Deliveries(t)) == 1 })
	call(t, http.MethodDelete, ts.URL+"/2.0/webhooks/"+id, ts.ParentToken(t), "", nil).wantStatus(t, http.StatusNoContent)
	if evs := events(t, ts, "canceled"); len(evs) != 1 {
		t.Fatalf("canceled events = %+v", evs)
	}
	if evs := events(t, ts, "pending"); len(evs) != 0 {
		t.Fatalf("pending events = %+v", evs)
	}
}

// TestOutboxSurvivesRestart stops localbox while a delivery is in flight
// (the receiver hangs) and while another waits for its retry, starts it
// again on the same data directory, and checks both events arrive, with
// their original event IDs.
func TestOutboxSurvivesRestart(t *testing.T) {
	// A retry delay long enough that the failed event is not retried before
	// the restart, even on a slow machine.
	ts := localboxtest.Start(t, localboxtest.WithRetryDelays(time.Second, time.Second, time.Second))
	var (
		mu      sync.Mutex
		healthy bool
	)
	rc := newReceiver(t, func(_ int, ev map[string]any, r *http.Request) int {
		mu.Lock()
		ok := healthy
		mu.Unlock()
		if ok {
			return http.StatusOK
		}
		if str(ev, "source", "name") == "hang.wav" {
			<-r.Context().Done() // hold the delivery until the sender gives up (shutdown)
		}
		return http.StatusBadGateway
	})
	folder := ts.CreateFolder(t, "0", "in")
	ts.CreateWebhook(t, folder, rc.URL)
	retry := ts.UploadFile(t, folder, "retry.wav", []byte("r"))
	testutil.WaitFor(t, 5*time.Second, "a failed first attempt", func() bool { return len(ts.Deliveries(t)) == 1 })
	inflight := ts.UploadFile(t, folder, "hang.wav", []byte("h"))
	eventOf := map[string]string{} // file ID -> event ID seen before the restart
	testutil.WaitFor(t, 5*time.Second, "the hanging delivery to start", func() bool {
		for _, d := range rc.got() {
			eventOf[str(d.Event, "source", "id")] = str(d.Event, "id")
		}
		return eventOf[inflight.ID] != ""
	})
	if n := len(events(t, ts, "pending")); n != 2 {
		t.Fatalf("pending before restart = %d, want 2", n)
	}

	ts.Close()
	mu.Lock()
	healthy = true
	mu.Unlock()
	ts.Restart(t)

	testutil.WaitFor(t, 10*time.Second, "both events delivered after the restart", func() bool { return len(events(t, ts, "delivered")) == 2 })
	for _, fid := range []string{retry.ID, inflight.ID} {
		found := false
		for _, d := range rc.got() {
			if d.Status == http.StatusOK && str(d.Event, "source", "id") == fid {
				found = true
				if str(d.Event, "id") != eventOf[fid] {
					t.Fatalf("file %s: event ID %s after the restart, %s before", fid, str(d.Event, "id"), eventOf[fid])
				}
			}
		}
		if !found {
			t.Fatalf("file %s: no successful delivery after the restart", fid)
		}
	}
	// The interrupted attempt does not count as one; the failed one does.
	for _, e := range events(t, ts, "delivered") {
		if (e.EventID == eventOf[inflight.ID] && e.Attempts != 1) || (e.EventID == eventOf[retry.ID] && e.Attempts < 2) {
			t.Fatalf("event %+v: wrong attempt count (interrupted: 1; failed then delivered: ≥ 2)", e)
		}
	}
}

func TestFileTargetWebhookFiresOnNewVersion(t *testing.T) {
	ts := localboxtest.Start(t)
	rc := newReceiver(t, nil)
	f := ts.UploadFile(t, ts.CreateFolder(t, "0", "in"), "a.wav", []byte("a"))
	sendJSON(t, http.MethodPost, ts.URL+"/2.0/webhooks", ts.ParentToken(t), map[string]any{
		"target": map[string]string{"id": f.ID, "type": "file"}, "address": rc.URL, "triggers": []string{"FILE.UPLOADED"},
	}).wantStatus(t, http.StatusCreated)
	ts.UploadFile(t, "0", "unrelated.wav", []byte("u"))
	v2 := ts.UploadVersion(t, f.ID, []byte("a2"))
	d := rc.wait(t, 1)[0]
	if str(d.Event, "source", "id") != f.ID || str(d.Event, "source", "file_version", "id") != v2.VersionID {
		t.Fatalf("event = %s", d.Body)
	}
	if evs := events(t, ts, ""); len(evs) != 1 {
		t.Fatalf("events = %+v, want only the new version's", evs)
	}
}

// TestWebhookNeverFollowsRedirects: a webhook address that redirects gets
// the signed delivery, but the outbox does not send it on to where the
// redirect points; the attempt counts as failed (and says why), and the
// event fails for good after the last one.
func TestWebhookNeverFollowsRedirects(t *testing.T) {
	ts := localboxtest.Start(t, localboxtest.WithRetryDelays(10*time.Millisecond, 10*time.Millisecond))
	elsewhere := newReceiver(t, nil)
	var attempts atomic.Int32
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		http.Redirect(w, r, elsewhere.URL+"/stolen", http.StatusTemporaryRedirect)
	}))
	defer redirecting.Close()
	folder := ts.CreateFolder(t, "0", "in")
	ts.CreateWebhook(t, folder, redirecting.URL)
	ts.UploadFile(t, folder, "a", []byte("a"))
	testutil.WaitFor(t, 5*time.Second, "the event to fail", func() bool { return len(events(t, ts, "failed")) == 1 })
	if n := attempts.Load(); n != 3 {
		t.Fatalf("%d attempts at the redirecting address, want 3", n)
	}
	if n := len(elsewhere.got()); n != 0 {
		t.Fatalf("the redirect target received %d deliveries", n)
	}
	for _, d := range ts.Deliveries(t) {
		if d.Delivered || d.StatusCode != http.StatusTemporaryRedirect || !strings.Contains(d.Error, "never follow redirects") {
			t.Fatalf("delivery = %+v", d)
		}
	}
}

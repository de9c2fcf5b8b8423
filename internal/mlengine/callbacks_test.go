package mlengine_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filesight/internal/mlengine"
	"filesight/internal/mlengine/mlenginetest"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/testutil"
)

// TestCallbackNeverFollowsRedirects: a callback URL that answers with a
// redirect gets the signed callback, but mlengine never sends it on to
// where the redirect points; every attempt counts as failed, says why in
// the log, and the callback is given up after the last one.
func TestCallbackNeverFollowsRedirects(t *testing.T) {
	media := []byte("media")
	ms := newMediaServer(t, media, "tok")
	elsewhere := newCallbackReceiver(t, "")
	var attempts atomic.Int32
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		http.Redirect(w, r, elsewhere.URL+"/stolen", http.StatusTemporaryRedirect)
	}))
	defer redirecting.Close()
	var logs testutil.SyncBuffer
	ts := mlenginetest.Start(t, mlengine.WithAnalyzer(newFake(t, media)),
		mlengine.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))),
		mlengine.WithConfig(func(c *mlengine.Config) { c.CallbackAttempts, c.CallbackBackoff = 2, 10*time.Millisecond }))
	submit(t, ts, "k", mlengineapi.SubmitRequest{MediaURL: ms.URL + "/m", MediaToken: "tok", Analyses: []string{"media"},
		CallbackURL: redirecting.URL + "/callbacks/mlengine"})
	testutil.WaitFor(t, 20*time.Second, "the callback to be given up", func() bool {
		return strings.Contains(logs.String(), "callback failed, giving up")
	})
	if n := attempts.Load(); n != 2 {
		t.Fatalf("%d attempts at the callback URL, want 2", n)
	}
	if n := elsewhere.attempts.Load(); n != 0 {
		t.Fatalf("the redirect target received %d callbacks", n)
	}
	if !strings.Contains(logs.String(), "callbacks never follow redirects") {
		t.Fatalf("the log does not say the redirect was refused:\n%s", logs.String())
	}
}

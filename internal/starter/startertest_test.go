package starter_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"filesight/internal/box"
	"filesight/internal/starter"
	"filesight/internal/starter/startertest"
)

func TestStartertestStart(t *testing.T) {
	fake := newFakeTemporal()
	ts := startertest.Start(t, fake, starter.Options{})
	if !strings.HasPrefix(ts.URL, "http://127.0.0.1:") {
		t.Fatalf("URL %s", ts.URL)
	}
	body := boxEventJSON(t, "ev", "FILE.UPLOADED", "5", "6", "a.mp4", 1)
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/webhooks/box", bytes.NewReader(body))
	for k, v := range box.SignWebhook(ts.WebhookPrimaryKey, "", body, time.Now().UTC().Format(time.RFC3339), "d") {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || fake.startCount() != 1 {
		t.Fatalf("status %d, %d workflows", resp.StatusCode, fake.startCount())
	}
}

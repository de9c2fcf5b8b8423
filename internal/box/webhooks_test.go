package box

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"filesight/internal/secret"
	"filesight/internal/signature"
)

const sampleEvent = `{"type":"webhook_event","id":"ev-1","created_at":"2026-11-25T11:59:00Z","trigger":"FILE.UPLOADED",` +
	`"webhook":{"id":"w1","type":"webhook"},"created_by":{"type":"user","id":"u1","name":"A"},` +
	`"source":{"type":"file","id":"123","name":"talk.mp4","size":42,"file_version":{"type":"file_version","id":"456","sha1":"ab"},"parent":{"type":"folder","id":"0"}},` +
	`"additional_info":[]}`

func TestWebhookVerifier(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	const pk, sk secret.String = "primary-KEY", "secondary-KEY"
	body := []byte(sampleEvent)
	ts := now.Add(-time.Minute).Format(time.RFC3339)
	v := NewWebhookVerifier(pk, sk)
	v.Sig.Now = func() time.Time { return now }

	mod := func(h http.Header, k, val string) http.Header {
		h = h.Clone()
		if val == "" {
			h.Del(k)
		} else {
			h.Set(k, val)
		}
		return h
	}
	both := SignWebhook(pk, sk, body, ts, "d1")
	onlySecondary := SignWebhook("", sk, body, ts, "d1")
	oldTS := now.Add(-11 * time.Minute).Format(time.RFC3339)
	futureTS := now.Add(30 * time.Second).Format(time.RFC3339)
	farTS := now.Add(5 * time.Minute).Format(time.RFC3339)
	tests := []struct {
		name string
		h    http.Header
		body []byte
		want error
	}{
		{"both keys", both, body, nil},
		{"secondary only (primary rotated)", onlySecondary, body, nil},
		{"primary wrong, secondary right", mod(both, HeaderSignaturePrimary, "AAAA"), body, nil},
		{"other timezone offset", SignWebhook(pk, "", body, now.In(time.FixedZone("PST", -8*3600)).Format(time.RFC3339), ""), body, nil},
		{"tampered body", both, []byte(strings.Replace(sampleEvent, "123", "124", 1)), signature.ErrMismatch},
		{"whitespace changed", both, append([]byte(" "), body...), signature.ErrMismatch},
		{"timestamp changed", mod(both, HeaderDeliveryTimestamp, now.Format(time.RFC3339)), body, signature.ErrMismatch},
		{"too old", SignWebhook(pk, sk, body, oldTS, ""), body, signature.ErrTimestamp},
		{"slightly in the future", SignWebhook(pk, sk, body, futureTS, ""), body, nil},
		{"far in the future", SignWebhook(pk, sk, body, farTS, ""), body, signature.ErrTimestamp},
		{"no timestamp", mod(both, HeaderDeliveryTimestamp, ""), body, signature.ErrMissing},
		{"no signatures", mod(mod(both, HeaderSignaturePrimary, ""), HeaderSignatureSecondary, ""), body, signature.ErrMissing},
		{"version 2", mod(both, HeaderSignatureVersion, "2"), body, ErrUnsupportedSignature},
		{"no version", mod(both, HeaderSignatureVersion, ""), body, ErrUnsupportedSignature},
		{"other algorithm", mod(both, HeaderSignatureAlgorithm, "HmacSHA1"), body, ErrUnsupportedSignature},
		{"keys swapped", mod(mod(both, HeaderSignaturePrimary, both.Get(HeaderSignatureSecondary)), HeaderSignatureSecondary, both.Get(HeaderSignaturePrimary)), body, signature.ErrMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.Verify(tt.h, tt.body)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if err != nil && (strings.Contains(err.Error(), string(pk)) || strings.Contains(err.Error(), both.Get(HeaderSignaturePrimary))) {
				t.Fatalf("error shows a key or signature: %v", err)
			}
		})
	}
	// Header names are case-insensitive on the wire.
	raw := http.Header{}
	for k, vs := range both {
		raw[strings.ToLower(k)] = vs
	}
	lower := http.Header{}
	for k, vs := range raw {
		lower.Set(k, vs[0])
	}
	if err := v.Verify(lower, body); err != nil {
		t.Fatalf("canonicalised lower-case headers: %v", err)
	}
	if err := NewWebhookVerifier("", "").Verify(both, body); !errors.Is(err, signature.ErrNoKey) {
		t.Fatalf("no keys: %v", err)
	}
	if err := (*WebhookVerifier)(nil).Verify(both, body); !errors.Is(err, signature.ErrNoKey) {
		t.Fatalf("nil verifier: %v", err)
	}
	if both.Get(HeaderDeliveryID) != "d1" || both.Get(HeaderSignatureVersion) != "1" || both.Get(HeaderSignatureAlgorithm) != "HmacSHA256" {
		t.Fatalf("SignWebhook headers: %v", both)
	}
}

func TestParseWebhookEvent(t *testing.T) {
	ev, err := ParseWebhookEvent([]byte(sampleEvent))
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID != "ev-1" || ev.Trigger != "FILE.UPLOADED" || ev.Webhook.ID != "w1" || ev.CreatedBy.ID != "u1" ||
		ev.Source.ID != "123" || ev.Source.VersionID() != "456" || ev.Source.Name != "talk.mp4" || ev.Source.Size != 42 || ev.CreatedAt != "2026-11-25T11:59:00Z" {
		t.Fatalf("%+v", ev)
	}
	// A folder trigger needs no file version.
	folder := `{"type":"webhook_event","id":"e","trigger":"FOLDER.CREATED","source":{"type":"folder","id":"9"}}`
	if _, err := ParseWebhookEvent([]byte(folder)); err != nil {
		t.Fatalf("folder event: %v", err)
	}
	bad := map[string]string{
		"not json":        `{"type":`,
		"array":           `[]`,
		"trailing":        sampleEvent + `{}`,
		"type":            strings.Replace(sampleEvent, `"webhook_event"`, `"event"`, 1),
		"no id":           strings.Replace(sampleEvent, `"id":"ev-1",`, ``, 1),
		"no trigger":      strings.Replace(sampleEvent, `"trigger":"FILE.UPLOADED",`, ``, 1),
		"source folder":   strings.Replace(sampleEvent, `"source":{"type":"file"`, `"source":{"type":"folder"`, 1),
		"source no id":    strings.Replace(sampleEvent, `"id":"123",`, ``, 1),
		"no version":      strings.Replace(sampleEvent, `"file_version":{"type":"file_version","id":"456","sha1":"ab"},`, ``, 1),
		"version no id":   strings.Replace(sampleEvent, `"id":"456",`, ``, 1),
		"id wrong type":   strings.Replace(sampleEvent, `"id":"ev-1"`, `"id":1`, 1),
		"source is array": strings.Replace(sampleEvent, `"source":{`, `"source":[{`, 1),
	}
	for name, doc := range bad {
		if _, err := ParseWebhookEvent([]byte(doc)); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

// FuzzWebhook runs arbitrary deliveries through the verifier and the parser:
// neither may panic, the verifier may accept only the HMAC of body and
// timestamp with one of the keys, and a parsed event always satisfies the
// invariants ParseWebhookEvent promises.
func FuzzWebhook(f *testing.F) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	const pk, sk secret.String = "k1", "k2"
	ts := now.Format(time.RFC3339)
	good := SignWebhook(pk, sk, []byte(sampleEvent), ts, "")
	f.Add([]byte(sampleEvent), ts, good.Get(HeaderSignaturePrimary), good.Get(HeaderSignatureSecondary), "1", "HmacSHA256")
	f.Add([]byte(`{"type":"webhook_event","id":"x","trigger":"FILE.X","source":{"type":"file","id":"1","file_version":{"id":"2"}}}`), ts, "", "", "1", "HmacSHA256")
	f.Add([]byte{}, "", "", "", "", "")
	f.Add([]byte(`{}`), "2026-11-25T11:55:00+01:00", "=", "====", "1", "hmacsha256")
	f.Fuzz(func(t *testing.T, body []byte, ts, sigP, sigS, version, alg string) {
		v := NewWebhookVerifier(pk, sk)
		v.Sig.Now = func() time.Time { return now }
		h := http.Header{}
		h.Set(HeaderDeliveryTimestamp, ts)
		h.Set(HeaderSignaturePrimary, sigP)
		h.Set(HeaderSignatureSecondary, sigS)
		h.Set(HeaderSignatureVersion, version)
		h.Set(HeaderSignatureAlgorithm, alg)
		err := v.Verify(h, body)
		if err == nil {
			okP := sigP != "" && sigP == signature.Sign([]byte(pk), body, ts)
			okS := sigS != "" && sigS == signature.Sign([]byte(sk), body, ts)
			if !okP && !okS {
				t.Fatalf("accepted a delivery with no valid signature")
			}
			if version != "1" || alg != "HmacSHA256" {
				t.Fatalf("accepted version %q algorithm %q", version, alg)
			}
			parsed, perr := time.Parse(time.RFC3339, ts)
			if perr != nil || now.Sub(parsed) > 10*time.Minute || parsed.Sub(now) > time.Minute {
				t.Fatalf("accepted timestamp %q outside the window", ts)
			}
		}
		ev, perr := ParseWebhookEvent(body)
		if perr != nil {
			if !errors.Is(perr, ErrInvalidEvent) {
				t.Fatalf("parse error not ErrInvalidEvent: %v", perr)
			}
			return
		}
		if ev.Type != "webhook_event" || ev.ID == "" || ev.Trigger == "" {
			t.Fatalf("invariants broken: %+v", ev)
		}
		if strings.HasPrefix(ev.Trigger, "FILE.") && (ev.Source.Type != "file" || ev.Source.ID == "" || ev.Source.VersionID() == "") {
			t.Fatalf("file event without file/version: %+v", ev)
		}
	})
}

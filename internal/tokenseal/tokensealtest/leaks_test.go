package tokensealtest_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"slices"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	historypb "go.temporal.io/api/history/v1"

	"filesight/internal/tokenseal/tokensealtest"
)

func prefix(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])[:16]
}

// The leak check must find a token wherever a careless change could put
// it, and report nothing for the sealed form.
func TestFindTokens(t *testing.T) {
	const tok = "Abc123Def456Ghi789Jkl012Mno345Pq"
	other := "Zyx987Wvu654Tsr321Qpo098Nml765Kj"
	hashes := []string{prefix(tok), prefix(other), "ffffffffffffffff"}
	q := url.Values{"access_token": {tok}}
	inJSON, _ := json.Marshal(map[string]string{"access_token": tok, "url": "https://box.example/2.0/files/1/content?" + q.Encode()})
	for name, data := range map[string]string{
		"alone":                 tok,
		"in JSON":               string(inJSON),
		"in a URL":              "GET https://box.example/2.0/files/1/content?" + q.Encode() + "&x=1",
		"after Bearer":          "Authorization: Bearer " + tok,
		"base64 of a document":  base64.StdEncoding.EncodeToString(inJSON),
		"base64url, no padding": `{"data":"` + base64.RawURLEncoding.EncodeToString([]byte(`{"t":"`+tok+`"}`)) + `"}`,
		"HTML-escaped JSON":     `{"u":"https://x/?a=1\u0026access_token=` + tok + `\u0026b=2"}`,
	} {
		if got := tokensealtest.FindTokens([]byte(data), hashes); !slices.Equal(got, []string{prefix(tok)}) {
			t.Errorf("%s: found %v, want the token's hash prefix", name, got)
		}
	}
	sealer := tokensealtest.New(t)
	sealed, err := sealer.Seal(tok, "box-token/1/read")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"sealed":           `{"id":"` + prefix(tok)[:12] + `","sealed":"` + sealed + `"}`,
		"a part of it":     tok[:20],
		"nothing":          "",
		"not a token char": "Abc123Def456Ghi789Jkl012Mno345P\x00q",
	} {
		if got := tokensealtest.FindTokens([]byte(data), hashes); len(got) != 0 {
			t.Errorf("%s: found %v", name, got)
		}
	}
	if got := tokensealtest.FindTokens([]byte(tok+" "+other), hashes); len(got) != 2 {
		t.Errorf("two tokens: found %v", got)
	}
}

func TestHistoryPayloads(t *testing.T) {
	p := func(s string) *commonpb.Payload { return &commonpb.Payload{Data: []byte(s)} }
	h := &historypb.History{Events: []*historypb.HistoryEvent{
		{EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, Attributes: &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{
			ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{Input: &commonpb.Payloads{Payloads: []*commonpb.Payload{p("input")}}},
		}},
		{EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, Attributes: &historypb.HistoryEvent_ActivityTaskCompletedEventAttributes{
			ActivityTaskCompletedEventAttributes: &historypb.ActivityTaskCompletedEventAttributes{Result: &commonpb.Payloads{Payloads: []*commonpb.Payload{p("result")}}},
		}},
		{EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED, Attributes: &historypb.HistoryEvent_ActivityTaskFailedEventAttributes{
			ActivityTaskFailedEventAttributes: &historypb.ActivityTaskFailedEventAttributes{Failure: &failurepb.Failure{
				EncodedAttributes: p("failure"), Cause: &failurepb.Failure{EncodedAttributes: p("cause")},
			}},
		}},
	}}
	got, err := tokensealtest.HistoryPayloads(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	var data []string
	for _, pl := range got {
		data = append(data, string(pl.Data))
	}
	slices.Sort(data)
	if !slices.Equal(data, []string{"cause", "failure", "input", "result"}) {
		t.Errorf("payloads %v", data)
	}
}

//go:build integration

package workflows_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"filesight/internal/box"
	"filesight/internal/mediatest"
	"filesight/internal/provider"
	"filesight/workflows"
)

// TestHostileMediaEndToEnd uploads hostile files to localbox and runs the
// whole system on them (the workflow on the dev server, the production
// activities, mlengine with its real analyzers): a playlist that names the
// canary outside mlengine's job directory and a header that claims ten
// hours. Each run ends with a permanent-failure status card that says a
// fixed sentence and nothing else, every token is revoked, and no tool
// opened the canary.
func TestHostileMediaEndToEnd(t *testing.T) {
	s := startStack(t)
	canary := mediatest.NewCanary(t)
	for _, tc := range []struct{ what, want string }{
		{"HLS playlist", provider.ReasonUnsupportedMedia.Text()},
		{"header claiming 10 hours", "This file is longer than the 2-hour limit."},
	} {
		t.Run(tc.what, func(t *testing.T) {
			s.t = t
			f := mediatest.Hostile(t, canary, tc.what)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			in := s.upload(f.Name, f.Content, &workflows.Options{PollMinDelay: time.Second, PollMaxDelay: 2 * time.Second})
			id := s.start(ctx, in)
			res, err := s.result(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != workflows.OutcomeFailed || res.Message != tc.want {
				t.Errorf("result %+v, want failed with %q", res, tc.want)
			}
			cards := s.cards(ctx, in.FileID)
			st := findCard(t, cards, "status:status")
			if len(cards) != 1 || st.Status.Code != box.StatusPermanentFailure || st.Status.Message != tc.want {
				t.Errorf("cards %v, status %+v; want only a permanent failure saying %q", cardTypes(cards), st.Status, tc.want)
			}
			if p := s.progress(ctx, id); len(p.Jobs) != 1 || p.Jobs[0].Attempt > 1 || strings.Contains(p.Jobs[0].Error, "/") {
				t.Errorf("progress jobs %+v: want one attempt, no path in its error", p.Jobs)
			}
			s.assertNoLiveTokens(ctx, in.FileID)
		})
	}
	if n := canary.Opened(); n > 0 {
		t.Fatalf("a tool opened the canary pipe %d time(s)", n)
	}
}

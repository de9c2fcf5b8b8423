package bench

import (
	"context"
	"fmt"
	"io"
	"time"

	"filesight/workflows"
)

// The history figure: the events in the history of a run whose job takes 2
// minutes and of one whose job takes 2 hours. The provider's jobs run on
// a simulated clock that every status read advances (30 s per read for the
// 2-minute job, 4 min for the 2-hour one), so the 2-hour job is read 30
// times in about a minute of real time, each read a real activity retry on
// the real worker and server. Temporal's infrequent-polling pattern keeps
// the retries out of the history, so the two must be equal.

type historyJob struct {
	name     string
	duration time.Duration
	step     time.Duration
}

func runHistory(ctx context.Context, out io.Writer, s *system) (figure, error) {
	jobs := []historyJob{{"2m", 2 * time.Minute, 30 * time.Second}, {"2h", 2 * time.Hour, 4 * time.Minute}}
	since := time.Now()
	// Until its plan is set, a job only runs.
	s.sim.setDefault(jobPlan{Kind: planHold, RetryAfter: time.Second})
	defer s.sim.setDefault(jobPlan{Kind: planInstant, RetryAfter: time.Second})
	var ids []string
	for _, j := range jobs {
		files, err := s.upload(ctx, "history-"+j.name, "mp4", 1, 1)
		if err != nil {
			return figure{}, err
		}
		id := workflowIDs(files)[0]
		s.sim.setPlan(id, jobPlan{Kind: planSimulated, Duration: j.duration, Step: j.step, RetryAfter: time.Second})
		ids = append(ids, id)
	}
	progressf(out, "history: a 2-minute and a 2-hour job (simulated clock), running side by side")
	if err := waitClosed(ctx, s.tc, s.alive, workflows.ProcessFileName, since, len(jobs), 10*time.Minute); err != nil {
		return figure{}, err
	}
	if err := allSucceeded(ctx, s.tc, ids); err != nil {
		return figure{}, err
	}
	var events, polls []int
	for _, id := range ids {
		t, err := timing(ctx, s.tc, id, markActivity, 0)
		if err != nil {
			return figure{}, err
		}
		events = append(events, t.Events)
		polls = append(polls, s.sim.jobPolls(id))
	}
	took := time.Since(since)
	ok := events[0] == events[1]
	return figure{
		Name:     "history",
		Line:     fmt.Sprintf("events_2m=%d events_2h=%d polls_2m=%d polls_2h=%d", events[0], events[1], polls[0], polls[1]),
		Value:    fmt.Sprintf("%d events (2-hour job, %d status reads)", events[1], polls[1]),
		Baseline: fmt.Sprintf("%d events (2-minute job, %d status reads)", events[0], polls[0]),
		Target:   "equal",
		Verdict:  verdictf(ok, "%d vs %d", events[1], events[0]),
		Notes:    []string{fmt.Sprintf("both runs took %s of real time", took.Round(time.Second))},
	}, nil
}

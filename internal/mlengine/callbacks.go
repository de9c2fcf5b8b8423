package mlengine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"filesight/internal/egress"
	"filesight/internal/provider/mlengineapi"
)

const callbackBatch = 20

// callbackLoop delivers the callback outbox: every callback queued when a job
// ended is POSTed, signed, until a 2xx answer or CallbackAttempts attempts.
// The outbox is in the database, so pending callbacks survive a restart.
func (e *engine) callbackLoop() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		due, next, err := e.store.dueCallbacks(e.ctx, e.now(), callbackBatch)
		wait := time.Hour
		switch {
		case err != nil:
			if e.ctx.Err() != nil {
				return
			}
			e.log.Error("reading the callback outbox failed", "error", err)
			wait = 5 * time.Second
		case len(due) > 0:
			for _, c := range due {
				e.deliver(c)
				if e.ctx.Err() != nil {
					return
				}
			}
			continue
		case !next.IsZero():
			wait = max(time.Until(next), 10*time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-e.ctx.Done():
			return
		case <-e.callbackWake:
		case <-timer.C:
		}
	}
}

// callbackBackoff is the wait after the given (1-based) failed attempt.
func (e *engine) callbackBackoff(attempt int) time.Duration {
	d := e.cfg.CallbackBackoff
	for i := 1; i < attempt && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

func (e *engine) deliver(c callback) {
	attempt := c.Attempts + 1
	log := e.log.With("job_id", c.JobID, "delivery_id", c.ID, "callback_url", redactURL(c.URL), "attempt", attempt)
	err := e.post(c)
	if e.ctx.Err() != nil {
		return // stopping: this attempt does not count
	}
	now := e.now()
	if err == nil {
		log.Info("callback delivered")
		if err := e.store.callbackDelivered(e.ctx, c.ID, attempt, now); err != nil {
			log.Error("recording callback delivery failed", "error", err)
		}
		return
	}
	// A host the outbound policy refuses stays refused: no retries.
	giveUp := attempt >= e.cfg.CallbackAttempts || errors.Is(err, egress.ErrRefused)
	next := now.Add(e.callbackBackoff(attempt))
	if giveUp {
		log.Error("callback failed, giving up", "error", err)
	} else {
		log.Warn("callback failed, will retry", "error", err, "retry_at", next)
	}
	if err := e.store.callbackFailed(e.ctx, c.ID, attempt, next, giveUp, err.Error(), now); err != nil {
		log.Error("recording callback failure failed", "error", err)
	}
}

// post makes one signed delivery attempt.
func (e *engine) post(c callback) error {
	ctx, cancel := context.WithTimeout(e.ctx, e.cfg.CallbackTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(c.Body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "filesight-mlengine")
	mlengineapi.SignCallback(req.Header, []byte(e.cfg.CallbackKey.Reveal()), c.Body, e.now().Format(time.RFC3339), c.ID)
	resp, err := e.callbackClient.Do(req)
	if err != nil {
		return fmt.Errorf("post callback: %w", unwrapURLError(err))
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode/100 == 3:
		// The signed body goes to the callback URL only, never on to
		// wherever the receiver redirects.
		return fmt.Errorf("callback receiver answered %s, a redirect (callbacks never follow redirects)", resp.Status)
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("callback receiver answered %s", resp.Status)
	}
	return nil
}

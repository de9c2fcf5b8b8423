package localbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"filesight/internal/signature"
)

// outbox delivers queued webhook events. Events are rows of the outbox
// table, written in the same transaction as the upload that caused them, so
// an event exists exactly when its upload does. A delivery claims its row
// with a lease, posts the signed body, and records the attempt; failures are
// retried after Config.WebhookRetryDelays. A process that stops mid-delivery
// leaves the row pending, and the next start delivers it.
type outbox struct {
	s      *Server
	wake   chan struct{}
	sem    chan struct{}
	client *http.Client
}

type outboxItem struct {
	ID        int64
	EventID   string
	WebhookID int64
	Trigger   string
	Body      []byte
	Attempts  int
	Address   string
}

func newOutbox(s *Server) *outbox {
	return &outbox{
		s:    s,
		wake: make(chan struct{}, 1),
		sem:  make(chan struct{}, s.cfg.WebhookConcurrency),
		client: &http.Client{
			Timeout: s.cfg.WebhookTimeout,
			// Box does not follow redirects: a 3xx is a failed delivery.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// notify wakes the dispatcher (after an upload queued events).
func (o *outbox) notify() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

func (o *outbox) start(ctx context.Context, wg *sync.WaitGroup) error {
	// This process owns the data directory (it is locked), so leases taken
	// by a previous process are void.
	if _, err := o.s.store.w.ExecContext(ctx, `UPDATE outbox SET leased_until = 0 WHERE state = 'pending'`); err != nil {
		return fmt.Errorf("releasing outbox leases: %w", err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		o.loop(ctx, wg)
	}()
	return nil
}

func (o *outbox) loop(ctx context.Context, wg *sync.WaitGroup) {
	log := o.s.log
	for {
		wait := time.Minute
		if free := cap(o.sem) - len(o.sem); free > 0 {
			items, err := o.claim(ctx, free)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				log.Error("claiming webhook events failed", "error", err)
				wait = time.Second
			}
			for _, it := range items {
				o.sem <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-o.sem; o.notify() }()
					o.deliver(ctx, it)
				}()
			}
			if err == nil {
				if d, ok, err := o.nextDue(ctx); err != nil {
					if ctx.Err() != nil {
						return
					}
					log.Error("reading the outbox failed", "error", err)
					wait = time.Second
				} else if ok {
					wait = d
				}
			}
		}
		t := time.NewTimer(max(wait, time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-o.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// claim leases up to n due events.
func (o *outbox) claim(ctx context.Context, n int) ([]outboxItem, error) {
	var items []outboxItem
	err := o.s.store.tx(ctx, func(tx *sql.Tx) error {
		now := millis(o.s.now())
		rows, err := tx.QueryContext(ctx, `SELECT o.id, o.event_id, o.webhook_id, o.trigger, o.body, o.attempts, w.address
			FROM outbox o LEFT JOIN webhooks w ON w.id = o.webhook_id
			WHERE o.state = 'pending' AND o.next_attempt_at <= ? AND o.leased_until <= ?
			ORDER BY o.next_attempt_at, o.id LIMIT ?`, now, now, n)
		if err != nil {
			return err
		}
		var canceled []int64
		for rows.Next() {
			var (
				it   outboxItem
				addr sql.NullString
			)
			if err := rows.Scan(&it.ID, &it.EventID, &it.WebhookID, &it.Trigger, &it.Body, &it.Attempts, &addr); err != nil {
				_ = rows.Close()
				return err
			}
			if !addr.Valid {
				canceled = append(canceled, it.ID)
				continue
			}
			it.Address = addr.String
			items = append(items, it)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		lease := now + (o.s.cfg.WebhookTimeout + 30*time.Second).Milliseconds()
		for _, it := range items {
			if _, err := tx.ExecContext(ctx, `UPDATE outbox SET leased_until = ? WHERE id = ?`, lease, it.ID); err != nil {
				return err
			}
		}
		for _, id := range canceled {
			if _, err := tx.ExecContext(ctx, `UPDATE outbox SET state = 'canceled', updated_at = ? WHERE id = ?`, now, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return items, nil
}

// nextDue is the time until the earliest pending event may be attempted.
func (o *outbox) nextDue(ctx context.Context) (time.Duration, bool, error) {
	var next sql.NullInt64
	err := o.s.store.r.QueryRowContext(ctx, `SELECT MIN(MAX(next_attempt_at, leased_until)) FROM outbox WHERE state = 'pending'`).Scan(&next)
	if err != nil || !next.Valid {
		return 0, false, err
	}
	return time.Until(time.UnixMilli(next.Int64)), true, nil
}

// deliver makes one attempt and records it.
func (o *outbox) deliver(ctx context.Context, it outboxItem) {
	s := o.s
	deliveryID := uuid.NewString()
	attempt := it.Attempts + 1
	start := s.now()
	status, derr := o.post(ctx, it, deliveryID, start)
	if ctx.Err() != nil {
		// Shutting down: this attempt does not count; the event stays
		// pending and is delivered after the next start.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := s.store.w.ExecContext(rctx, `UPDATE outbox SET leased_until = 0 WHERE id = ?`, it.ID); err != nil {
			s.log.Warn("releasing webhook event failed", "event_id", it.EventID, "error", err)
		}
		return
	}
	elapsed := s.now().Sub(start)
	ok := derr == nil && status >= 200 && status < 300
	errText := ""
	var uerr *url.Error
	switch {
	case errors.As(derr, &uerr):
		// Without the URL: a webhook address may carry credentials.
		errText = uerr.Op + ": " + uerr.Err.Error()
	case derr != nil:
		errText = derr.Error()
	case status >= 300 && status < 400:
		errText = fmt.Sprintf("receiver answered %d (a redirect: deliveries never follow redirects)", status)
	case !ok:
		errText = fmt.Sprintf("receiver answered %d", status)
	}
	state, next := "delivered", int64(0)
	if !ok {
		if attempt >= s.cfg.maxAttempts() {
			state = "failed"
		} else {
			state = "pending"
			next = millis(s.now().Add(s.cfg.WebhookRetryDelays[attempt-1]))
		}
	}
	// Record the attempt even if shutdown begins now: it happened.
	rctx := context.WithoutCancel(ctx)
	err := s.store.tx(rctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(rctx, `INSERT INTO deliveries(delivery_id, event_id, webhook_id, address, trigger, attempt, status_code, error, attempted_at, duration_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, deliveryID, it.EventID, it.WebhookID, it.Address, it.Trigger, attempt, status, errText,
			millis(start), elapsed.Milliseconds()); err != nil {
			return err
		}
		q := `UPDATE outbox SET attempts = ?, last_status = ?, last_error = ?, leased_until = 0, state = ?, updated_at = ?`
		args := []any{attempt, status, errText, state, millis(s.now())}
		if state == "pending" {
			q += `, next_attempt_at = ?`
			args = append(args, next)
		}
		_, err := tx.ExecContext(rctx, q+` WHERE id = ? AND state = 'pending'`, append(args, it.ID)...)
		return err
	})
	if err != nil {
		s.log.Error("recording webhook delivery failed", "event_id", it.EventID, "error", err)
		return
	}
	attrs := []any{"event_id", it.EventID, "delivery_id", deliveryID, "webhook_id", it.WebhookID, "trigger", it.Trigger,
		"attempt", attempt, "status_code", status, "duration_ms", elapsed.Milliseconds()}
	switch state {
	case "delivered":
		s.log.Info("webhook delivered", attrs...)
	case "pending":
		s.log.Warn("webhook delivery failed; will retry", append(attrs, "error", errText, "retry_in", s.cfg.WebhookRetryDelays[attempt-1].String())...)
	default:
		s.log.Error("webhook delivery failed for good", append(attrs, "error", errText)...)
	}
}

// post sends one signed delivery and returns the receiver's status.
func (o *outbox) post(ctx context.Context, it outboxItem, deliveryID string, at time.Time) (int, error) {
	cfg := &o.s.cfg
	ts := at.UTC().Format(time.RFC3339)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, it.Address, strings.NewReader(string(it.Body)))
	if err != nil {
		return 0, fmt.Errorf("building request: %w", err)
	}
	h := req.Header
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("User-Agent", "Box-WH-Client/0.1 (localbox)")
	h.Set("BOX-DELIVERY-ID", deliveryID)
	h.Set("BOX-DELIVERY-TIMESTAMP", ts)
	h.Set("BOX-SIGNATURE-VERSION", "1")
	h.Set("BOX-SIGNATURE-ALGORITHM", "HmacSHA256")
	h.Set("BOX-SIGNATURE-PRIMARY", signature.Sign([]byte(cfg.WebhookPrimaryKey.Reveal()), it.Body, ts))
	if !cfg.WebhookSecondaryKey.IsZero() {
		h.Set("BOX-SIGNATURE-SECONDARY", signature.Sign([]byte(cfg.WebhookSecondaryKey.Reveal()), it.Body, ts))
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

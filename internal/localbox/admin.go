package localbox

import (
	"crypto/subtle"
	"database/sql"
	"fmt"
	"net/http"
	"strings"
)

// adminOnly guards /_localbox/ with the admin key (Authorization: Bearer).
func (s *Server) adminOnly(fn handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		key := s.cfg.AdminKey.Reveal()
		got := bearer(r, false)
		if key == "" || subtle.ConstantTimeCompare([]byte(got), []byte(key)) != 1 {
			e := errf(http.StatusUnauthorized, "unauthorized", "The admin API needs Authorization: Bearer <LOCALBOX_ADMIN_KEY>")
			if key == "" {
				e.Message = "The admin API is disabled (LOCALBOX_ADMIN_KEY is not set)"
			}
			return e
		}
		return fn(w, r)
	}
}

// AdminToken is a token as the admin API lists it. The token itself is
// never stored or shown, only a prefix of its SHA-256 (hex).
type AdminToken struct {
	Type         string `json:"type"` // "token"
	ID           string `json:"id"`   // = SHA256Prefix
	SHA256Prefix string `json:"sha256_prefix"`
	// ParentSHA256Prefix is empty for an app (client credentials) token.
	ParentSHA256Prefix string   `json:"parent_sha256_prefix"`
	Scopes             []string `json:"scopes"`
	Resource           string   `json:"resource"`
	ResourceType       string   `json:"resource_type"`
	ResourceID         string   `json:"resource_id"`
	IssuedAt           string   `json:"issued_at"`
	ExpiresAt          string   `json:"expires_at"`
	RevokedAt          *string  `json:"revoked_at"`
	State              string   `json:"state"` // live | expired | revoked
}

// tokenHashPrefix is how much of a token's SHA-256 the admin API shows.
const tokenHashPrefix = 16

func (s *Server) adminTokens(w http.ResponseWriter, r *http.Request) error {
	state := r.URL.Query().Get("state")
	if state == "" {
		state = "live"
	}
	if state != "live" && state != "all" {
		return badRequest(`state must be "live" or "all"`)
	}
	// kind=all adds the app's own (client credentials) tokens to the
	// downscoped ones: what a leak check needs, every token ever issued.
	kind := r.URL.Query().Get("kind")
	if kind == "" {
		kind = "downscoped"
	}
	if kind != "downscoped" && kind != "all" {
		return badRequest(`kind must be "downscoped" or "all"`)
	}
	now := millis(s.now())
	q := `SELECT hash, parent_hash, scopes, resource_type, resource_id, resource_url,
		issued_at, expires_at, revoked_at FROM tokens WHERE (parent_hash IS NOT NULL OR ?)`
	args := []any{kind == "all"}
	if state == "live" {
		q += ` AND revoked_at IS NULL AND expires_at > ?`
		args = append(args, now)
	}
	rows, err := s.store.r.QueryContext(r.Context(), q+` ORDER BY issued_at, hash`, args...)
	if err != nil {
		return fmt.Errorf("listing tokens: %w", err)
	}
	defer rows.Close()
	entries := []AdminToken{}
	for rows.Next() {
		var (
			t            AdminToken
			hash, scopes string
			parent       sql.NullString
			issued, exp  int64
			revoked      sql.NullInt64
		)
		if err := rows.Scan(&hash, &parent, &scopes, &t.ResourceType, &t.ResourceID, &t.Resource, &issued, &exp, &revoked); err != nil {
			return err
		}
		t.Type, t.SHA256Prefix, t.ID = "token", hash[:tokenHashPrefix], hash[:tokenHashPrefix]
		if parent.Valid {
			t.ParentSHA256Prefix = parent.String[:tokenHashPrefix]
		}
		t.Scopes = strings.Fields(scopes)
		t.IssuedAt, t.ExpiresAt = boxTime(issued), boxTime(exp)
		switch {
		case revoked.Valid:
			v := boxTime(revoked.Int64)
			t.RevokedAt, t.State = &v, "revoked"
		case exp <= now:
			t.State = "expired"
		default:
			t.State = "live"
		}
		entries = append(entries, t)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(entries), "entries": entries})
	return nil
}

// Delivery is one webhook delivery attempt as the admin API lists it.
type Delivery struct {
	DeliveryID  string `json:"delivery_id"`
	EventID     string `json:"event_id"`
	WebhookID   string `json:"webhook_id"`
	Address     string `json:"address"`
	Trigger     string `json:"trigger"`
	Attempt     int    `json:"attempt"`
	StatusCode  int    `json:"status_code"` // 0 when no answer came
	Error       string `json:"error"`
	Delivered   bool   `json:"delivered"`
	AttemptedAt string `json:"attempted_at"`
	DurationMS  int64  `json:"duration_ms"`
}

func (s *Server) adminDeliveries(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	where, args := []string{"1=1"}, []any{}
	if v := q.Get("event_id"); v != "" {
		where, args = append(where, "event_id = ?"), append(args, v)
	}
	if v := q.Get("webhook_id"); v != "" {
		where, args = append(where, "webhook_id = ?"), append(args, v)
	}
	offset, limit, err := pageParams(r, 1000, 10000)
	if err != nil {
		return err
	}
	cond := strings.Join(where, " AND ")
	var total int
	if err := s.store.r.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM deliveries WHERE `+cond, args...).Scan(&total); err != nil {
		return fmt.Errorf("counting deliveries: %w", err)
	}
	rows, err := s.store.r.QueryContext(r.Context(), `SELECT delivery_id, event_id, webhook_id, address, trigger, attempt, status_code, error, attempted_at, duration_ms
		FROM deliveries WHERE `+cond+` ORDER BY seq LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return fmt.Errorf("listing deliveries: %w", err)
	}
	defer rows.Close()
	entries := []Delivery{}
	for rows.Next() {
		var (
			d   Delivery
			wid int64
			at  int64
		)
		if err := rows.Scan(&d.DeliveryID, &d.EventID, &wid, &d.Address, &d.Trigger, &d.Attempt, &d.StatusCode, &d.Error, &at, &d.DurationMS); err != nil {
			return err
		}
		d.WebhookID, d.AttemptedAt = idString(wid), boxTime(at)
		d.Delivered = d.Error == "" && d.StatusCode >= 200 && d.StatusCode < 300
		entries = append(entries, d)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": total, "entries": entries, "offset": offset, "limit": limit})
	return nil
}

// WebhookEvent is a queued webhook event (one per webhook and trigger).
type WebhookEvent struct {
	EventID        string `json:"event_id"`
	WebhookID      string `json:"webhook_id"`
	Trigger        string `json:"trigger"`
	State          string `json:"state"` // pending | delivered | failed | canceled
	Attempts       int    `json:"attempts"`
	NextAttemptAt  string `json:"next_attempt_at"`
	LastStatusCode int    `json:"last_status_code"`
	LastError      string `json:"last_error"`
	CreatedAt      string `json:"created_at"`
}

func (s *Server) adminEvents(w http.ResponseWriter, r *http.Request) error {
	q := `SELECT event_id, webhook_id, trigger, state, attempts, next_attempt_at, last_status, last_error, created_at FROM outbox`
	args := []any{}
	if st := r.URL.Query().Get("state"); st != "" {
		switch st {
		case "pending", "delivered", "failed", "canceled":
		default:
			return badRequest("state must be pending, delivered, failed or canceled")
		}
		q += ` WHERE state = ?`
		args = append(args, st)
	}
	offset, limit, err := pageParams(r, 1000, 10000)
	if err != nil {
		return err
	}
	rows, err := s.store.r.QueryContext(r.Context(), q+` ORDER BY id LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return fmt.Errorf("listing events: %w", err)
	}
	defer rows.Close()
	entries := []WebhookEvent{}
	for rows.Next() {
		var (
			e             WebhookEvent
			wid, next, at int64
		)
		if err := rows.Scan(&e.EventID, &wid, &e.Trigger, &e.State, &e.Attempts, &next, &e.LastStatusCode, &e.LastError, &at); err != nil {
			return err
		}
		e.WebhookID, e.NextAttemptAt, e.CreatedAt = idString(wid), boxTime(next), boxTime(at)
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(entries), "entries": entries, "offset": offset, "limit": limit})
	return nil
}

// Faults is the body of GET and PUT /_localbox/faults.
type Faults struct {
	Rules []FaultRule `json:"rules"`
}

func (s *Server) adminGetFaults(w http.ResponseWriter, r *http.Request) error {
	rules, _ := s.faults.Rules()
	writeJSON(w, http.StatusOK, Faults{Rules: rules})
	return nil
}

func (s *Server) adminPutFaults(w http.ResponseWriter, r *http.Request) error {
	var f Faults
	if err := s.decodeJSON(w, r, &f); err != nil {
		return err
	}
	if err := s.faults.Replace(f.Rules, 0); err != nil {
		return badRequest("%v", err)
	}
	s.log.Warn("fault injection rules set", "rules", len(f.Rules))
	rules, _ := s.faults.Rules()
	writeJSON(w, http.StatusOK, Faults{Rules: rules})
	return nil
}

func (s *Server) adminDeleteFaults(w http.ResponseWriter, r *http.Request) error {
	_ = s.faults.Replace(nil, 0) // no rule to refuse
	w.WriteHeader(http.StatusNoContent)
	return nil
}

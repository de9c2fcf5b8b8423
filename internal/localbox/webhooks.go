package localbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// webhookTriggers is Box's list of v2 webhook triggers. localbox accepts
// them all and fires FILE.UPLOADED (new files and new versions).
var webhookTriggers = map[string]bool{}

func init() {
	for _, t := range strings.Fields(`FILE.UPLOADED FILE.PREVIEWED FILE.DOWNLOADED FILE.TRASHED FILE.DELETED
		FILE.RESTORED FILE.COPIED FILE.MOVED FILE.LOCKED FILE.UNLOCKED FILE.RENAMED COMMENT.CREATED
		COMMENT.UPDATED COMMENT.DELETED TASK_ASSIGNMENT.CREATED TASK_ASSIGNMENT.UPDATED
		METADATA_INSTANCE.CREATED METADATA_INSTANCE.UPDATED METADATA_INSTANCE.DELETED FOLDER.CREATED
		FOLDER.RENAMED FOLDER.DOWNLOADED FOLDER.RESTORED FOLDER.DELETED FOLDER.COPIED FOLDER.MOVED
		FOLDER.TRASHED WEBHOOK.DELETED COLLABORATION.CREATED COLLABORATION.ACCEPTED COLLABORATION.REJECTED
		COLLABORATION.REMOVED COLLABORATION.UPDATED SHARED_LINK.DELETED SHARED_LINK.CREATED
		SHARED_LINK.UPDATED SIGN_REQUEST.COMPLETED SIGN_REQUEST.DECLINED SIGN_REQUEST.EXPIRED
		SIGN_REQUEST.SIGNER_EMAIL_BOUNCED SIGN_REQUEST.SIGN_SIGNER_SIGNED SIGN_REQUEST.SIGN_DOCUMENT_CREATED
		SIGN_REQUEST.SIGN_ERROR_FINALIZING`) {
		webhookTriggers[t] = true
	}
}

type webhookRow struct {
	ID         int64
	TargetType string
	TargetID   int64
	Address    string
	Triggers   []string
	CreatedBy  string
	CreatedAt  int64
}

const webhookCols = `id, target_type, target_id, address, triggers, created_by, created_at`

func scanWebhook(row interface{ Scan(...any) error }) (*webhookRow, error) {
	h := &webhookRow{}
	var triggers string
	if err := row.Scan(&h.ID, &h.TargetType, &h.TargetID, &h.Address, &triggers, &h.CreatedBy, &h.CreatedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(triggers), &h.Triggers); err != nil {
		return nil, fmt.Errorf("decoding triggers of webhook %d: %w", h.ID, err)
	}
	return h, nil
}

func getWebhookRow(ctx context.Context, q querier, id int64) (*webhookRow, error) {
	h, err := scanWebhook(q.QueryRowContext(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("webhook " + idString(id))
	}
	if err != nil {
		return nil, fmt.Errorf("reading webhook %d: %w", id, err)
	}
	return h, nil
}

func webhookMini(h *webhookRow) map[string]any {
	return map[string]any{"type": "webhook", "id": idString(h.ID), "target": map[string]any{"type": h.TargetType, "id": idString(h.TargetID)}}
}

func (s *Server) webhookJSON(h *webhookRow) map[string]any {
	out := webhookMini(h)
	out["address"] = h.Address
	out["triggers"] = h.Triggers
	out["created_at"] = boxTime(h.CreatedAt)
	out["created_by"] = s.user.mini()
	return out
}

type webhookRequest struct {
	Target   *itemRef `json:"target"`
	Address  *string  `json:"address"`
	Triggers []string `json:"triggers"`
}

// validateWebhook checks the parts of a create/update request that are set.
func (s *Server) validateWebhook(ctx context.Context, q querier, req *webhookRequest) (targetType string, targetID int64, err error) {
	if req.Target != nil {
		targetType = req.Target.Type
		if targetType != "file" && targetType != "folder" {
			return "", 0, badRequest(`target.type must be "file" or "folder"`)
		}
		if targetID, err = strconv.ParseInt(req.Target.ID, 10, 64); err != nil || targetID < 0 {
			return "", 0, notFound(targetType + " " + req.Target.ID)
		}
		if targetType == "folder" && targetID == 0 {
			return "", 0, badRequest("Webhooks cannot be created on the root folder (ID 0)")
		}
		if targetType == "folder" {
			_, err = getFolder(ctx, q, targetID)
		} else {
			_, err = getFile(ctx, q, targetID)
		}
		if err != nil {
			return "", 0, err
		}
	}
	if req.Address != nil {
		u, err := url.Parse(*req.Address)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", 0, badRequest("address must be an absolute http or https URL")
		}
	}
	if req.Triggers != nil {
		if len(req.Triggers) == 0 {
			return "", 0, badRequest("triggers must not be empty")
		}
		seen := map[string]bool{}
		for _, t := range req.Triggers {
			if !webhookTriggers[t] {
				return "", 0, badRequest("Unknown webhook trigger %q", t)
			}
			if seen[t] {
				return "", 0, badRequest("Duplicate webhook trigger %q", t)
			}
			seen[t] = true
		}
	}
	return targetType, targetID, nil
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := principalFrom(r.Context()).requireParent(); err != nil {
		return err
	}
	var req webhookRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Target == nil || req.Address == nil || req.Triggers == nil {
		return badRequest("target, address and triggers are required")
	}
	return s.respondTx(w, r, http.StatusCreated, func(tx *sql.Tx) (map[string]any, error) {
		tt, tid, err := s.validateWebhook(r.Context(), tx, &req)
		if err != nil {
			return nil, err
		}
		if existing, err := scanWebhook(tx.QueryRowContext(r.Context(), `SELECT `+webhookCols+` FROM webhooks WHERE target_type = ? AND target_id = ?`, tt, tid)); err == nil {
			return nil, errf(http.StatusConflict, "conflict", "Webhook:%d already exists on the specified target", existing.ID)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("checking webhooks: %w", err)
		}
		trig, _ := json.Marshal(req.Triggers)
		now := millis(s.now())
		res, err := tx.ExecContext(r.Context(), `INSERT INTO webhooks(target_type, target_id, address, triggers, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			tt, tid, *req.Address, string(trig), s.user.ID, now)
		if err != nil {
			return nil, fmt.Errorf("inserting webhook: %w", err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return nil, err
		}
		h, err := getWebhookRow(r.Context(), tx, id)
		if err != nil {
			return nil, err
		}
		return s.webhookJSON(h), nil
	})
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	if err := principalFrom(r.Context()).requireParent(); err != nil {
		return err
	}
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return badRequest("limit must be a positive integer")
		}
		limit = min(n, 200)
	}
	var after int64
	if v := q.Get("marker"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return badRequest("Invalid marker %q", v)
		}
		after = n
	}
	var total int
	if err := s.store.r.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM webhooks`).Scan(&total); err != nil {
		return fmt.Errorf("counting webhooks: %w", err)
	}
	rows, err := s.store.r.QueryContext(r.Context(), `SELECT `+webhookCols+` FROM webhooks WHERE id > ? ORDER BY id LIMIT ?`, after, limit+1)
	if err != nil {
		return fmt.Errorf("listing webhooks: %w", err)
	}
	defer rows.Close()
	entries := []any{}
	var last int64
	more := false
	for rows.Next() {
		h, err := scanWebhook(rows)
		if err != nil {
			return err
		}
		if len(entries) == limit {
			more = true
			break
		}
		entries = append(entries, webhookMini(h))
		last = h.ID
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var next any
	if more {
		next = idString(last)
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries, "limit": limit, "next_marker": next, "prev_marker": nil, "total_count": total})
	return nil
}

func (s *Server) webhookFromPath(r *http.Request) (*webhookRow, error) {
	if err := principalFrom(r.Context()).requireParent(); err != nil {
		return nil, err
	}
	id, err := parseID(r.PathValue("id"), "webhook "+r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return getWebhookRow(r.Context(), s.store.r, id)
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) error {
	h, err := s.webhookFromPath(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.webhookJSON(h))
	return nil
}

func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request) error {
	h, err := s.webhookFromPath(r)
	if err != nil {
		return err
	}
	var req webhookRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	return s.respondTx(w, r, http.StatusOK, func(tx *sql.Tx) (map[string]any, error) {
		tt, tid, err := s.validateWebhook(r.Context(), tx, &req)
		if err != nil {
			return nil, err
		}
		cur, err := getWebhookRow(r.Context(), tx, h.ID)
		if err != nil {
			return nil, err
		}
		if req.Target != nil && (tt != cur.TargetType || tid != cur.TargetID) {
			var other int64
			err := tx.QueryRowContext(r.Context(), `SELECT id FROM webhooks WHERE target_type = ? AND target_id = ?`, tt, tid).Scan(&other)
			if err == nil {
				return nil, errf(http.StatusConflict, "conflict", "Webhook:%d already exists on the specified target", other)
			} else if !errors.Is(err, sql.ErrNoRows) {
				return nil, fmt.Errorf("checking webhooks: %w", err)
			}
			cur.TargetType, cur.TargetID = tt, tid
		}
		if req.Address != nil {
			cur.Address = *req.Address
		}
		if req.Triggers != nil {
			cur.Triggers = slices.Clone(req.Triggers)
		}
		trig, _ := json.Marshal(cur.Triggers)
		if _, err := tx.ExecContext(r.Context(), `UPDATE webhooks SET target_type = ?, target_id = ?, address = ?, triggers = ? WHERE id = ?`,
			cur.TargetType, cur.TargetID, cur.Address, string(trig), cur.ID); err != nil {
			return nil, fmt.Errorf("updating webhook: %w", err)
		}
		return s.webhookJSON(cur), nil
	})
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	h, err := s.webhookFromPath(r)
	if err != nil {
		return err
	}
	err = s.store.tx(r.Context(), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(r.Context(), `DELETE FROM webhooks WHERE id = ?`, h.ID)
		if err != nil {
			return fmt.Errorf("deleting webhook: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("webhook " + idString(h.ID))
		}
		// Pending deliveries of a deleted webhook are dropped.
		_, err = tx.ExecContext(r.Context(), `UPDATE outbox SET state = 'canceled', updated_at = ? WHERE webhook_id = ? AND state = 'pending'`,
			millis(s.now()), h.ID)
		return err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// enqueueFileEvent queues, inside tx, one event per webhook that watches f
// (its own file target, or any folder above it) for trigger. source is the
// file's full representation. Webhooks never watch folder 0.
func (s *Server) enqueueFileEvent(ctx context.Context, tx *sql.Tx, f *fileRow, trigger string, source map[string]any) error {
	chain, err := ancestors(ctx, tx, f.ParentID)
	if err != nil {
		return err
	}
	var hooks []*webhookRow
	rows, err := tx.QueryContext(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE (target_type = 'file' AND target_id = ?) OR target_type = 'folder'`, f.ID)
	if err != nil {
		return fmt.Errorf("finding webhooks: %w", err)
	}
	inChain := map[int64]bool{}
	for _, c := range chain {
		if c.ID != 0 {
			inChain[c.ID] = true
		}
	}
	for rows.Next() {
		h, err := scanWebhook(rows)
		if err != nil {
			_ = rows.Close()
			return err
		}
		if (h.TargetType == "file" || inChain[h.TargetID]) && slices.Contains(h.Triggers, trigger) {
			hooks = append(hooks, h)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	now := s.now()
	for _, h := range hooks {
		eventID := uuid.NewString()
		body, err := json.Marshal(map[string]any{
			"type":            "webhook_event",
			"id":              eventID,
			"created_at":      now.UTC().Format("2006-01-02T15:04:05Z07:00"),
			"trigger":         trigger,
			"webhook":         map[string]any{"id": idString(h.ID), "type": "webhook"},
			"created_by":      s.user.mini(),
			"source":          source,
			"additional_info": []any{},
		})
		if err != nil {
			return fmt.Errorf("encoding event: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox(event_id, webhook_id, trigger, body, state, next_attempt_at, created_at, updated_at)
			VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)`, eventID, h.ID, trigger, body, millis(now), millis(now), millis(now)); err != nil {
			return fmt.Errorf("queueing event: %w", err)
		}
	}
	return nil
}

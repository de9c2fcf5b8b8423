package vaultserver

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"filesight/internal/detect"
	"filesight/internal/secret"
	"filesight/internal/vault"
)

// Handler returns the HTTP API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(vault.PathHealth, method(http.MethodGet, s.health))
	mux.HandleFunc(vault.PathTokenize, method(http.MethodPost, s.authorize(roleTokenize, "tokenize", s.tokenize)))
	mux.HandleFunc(vault.PathDetokenize, method(http.MethodPost, s.authorize(roleDetokenize, "detokenize", s.detokenize)))
	mux.HandleFunc(vault.PathAudit, method(http.MethodGet, s.authorize(roleDetokenize, "audit.list", s.listAudit)))
	mux.HandleFunc(vault.PathKeys, method(http.MethodGet, s.authorize(roleDetokenize, "keys", s.keys)))
	mux.HandleFunc(vault.PathReencrypt, method(http.MethodPost, s.authorize(roleDetokenize, "reencrypt", s.reencrypt)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, vault.CodeNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path, false)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		mux.ServeHTTP(w, r)
	})
}

func method(m string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != m {
			w.Header().Set("Allow", m)
			writeError(w, http.StatusMethodNotAllowed, vault.CodeInvalidRequest, r.URL.Path+" accepts "+m+" only", false)
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string, retryable bool) {
	if retryable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, vault.ErrorBody{Error: vault.APIError{Code: code, Message: msg, Retryable: retryable}})
}

// caller is who made a request.
type caller struct {
	name   string
	remote string
	via    string
}

func (c caller) event(action string) vault.AuditEvent {
	return vault.AuditEvent{Time: time.Now(), Actor: c.name, Action: action, Remote: c.remote, Via: c.via}
}

// identify finds the credential of a request; role is roleNone when the
// Authorization header holds no known credential.
func (s *Server) identify(r *http.Request) (string, role) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", roleNone
	}
	got := []byte(strings.TrimSpace(token))
	name, found := "", roleNone
	for _, ro := range []role{roleTokenize, roleDetokenize} {
		for _, c := range s.cfg.creds[ro] {
			if subtle.ConstantTimeCompare(got, c.secret) == 1 {
				name, found = c.name, ro
			}
		}
	}
	return name, found
}

// authorize admits requests with a credential of the role; others get 401
// (no valid credential) or 403 (a credential of the other role). Refusals
// on detokenize and admin endpoints are audited.
func (s *Server) authorize(want role, action string, next func(http.ResponseWriter, *http.Request, caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name, got := s.identify(r)
		c := caller{name: name, remote: r.RemoteAddr, via: truncate(r.Header.Get("X-Forwarded-For"), 200)}
		if got == want {
			next(w, r, c)
			return
		}
		status, code, msg := http.StatusUnauthorized, vault.CodeUnauthorized, "missing or unknown credential (Authorization: Bearer <secret>)"
		if got != roleNone {
			status, code = http.StatusForbidden, vault.CodeForbidden
			msg = fmt.Sprintf("the credential %q may not %s", name, action)
			if want == roleDetokenize {
				msg = fmt.Sprintf("the credential %q may only tokenize; %s needs a VAULT_DETOKENIZE_CREDENTIALS credential", name, action)
			}
		}
		s.log.Warn("vault request refused", "action", action, "actor", name, "remote", c.remote, "forwarded_for", c.via, "status", status)
		if want == roleDetokenize {
			ok, dropped := s.denied.admit(time.Now())
			if dropped > 0 {
				s.log.Warn("refused requests not written to the audit log (limit per minute)", "count", dropped)
			}
			if ok {
				e := c.event(action)
				e.Result = code
				if err := s.st.audit(r.Context(), e); err != nil {
					s.log.Error("writing the audit log", "error", err)
				}
			}
		}
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vault"`)
		}
		writeError(w, status, code, msg, false)
	}
}

// decode reads a JSON body into v with the size limit; it writes the error
// response and returns false when the body is not acceptable.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, vault.CodeUnsupported, "the body must be JSON (Content-Type: application/json)", false)
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, vault.CodeTooLarge, fmt.Sprintf("the body is larger than %d bytes", s.cfg.MaxBodyBytes), false)
			return false
		}
		writeError(w, http.StatusBadRequest, vault.CodeInvalidRequest, "the body is not a valid request: "+jsonProblem(err), false)
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, vault.CodeInvalidRequest, "the body holds more than one JSON value", false)
		return false
	}
	return true
}

// jsonProblem describes a decoding error without quoting the input.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q must be a %s", typ.Field, typ.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "malformed JSON"
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if err := s.st.db.PingContext(r.Context()); err != nil {
		s.log.Error("vault database unavailable", "error", err)
		writeError(w, http.StatusServiceUnavailable, vault.CodeUnavailable, "the vault database is unavailable", true)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) tokenize(w http.ResponseWriter, r *http.Request, c caller) {
	var req vault.TokenizeRequest
	if !s.decode(w, r, &req) {
		return
	}
	if len(req.Items) == 0 {
		writeError(w, http.StatusBadRequest, vault.CodeInvalidRequest, "items is empty", false)
		return
	}
	if len(req.Items) > vault.MaxTokenizeItems {
		writeError(w, http.StatusBadRequest, vault.CodeInvalidRequest, fmt.Sprintf("%d items; at most %d per request", len(req.Items), vault.MaxTokenizeItems), false)
		return
	}
	tokens := make([]string, len(req.Items))
	var entries []entry
	seen := map[string]bool{}
	kinds := map[vault.Kind]int{}
	for i, it := range req.Items {
		if !it.Kind.Valid() {
			writeError(w, http.StatusBadRequest, vault.CodeInvalidRequest, fmt.Sprintf("items[%d].kind: unknown kind (known: card, ssn, iban, email, phone)", i), false)
			return
		}
		if it.Format != vault.FormatOpaque && it.Format != vault.FormatLast4 {
			writeError(w, http.StatusBadRequest, vault.CodeInvalidRequest, fmt.Sprintf("items[%d].format: unknown format (known: \"\", \"last4\")", i), false)
			return
		}
		if it.Format == vault.FormatLast4 && it.Kind != vault.KindCard {
			writeError(w, http.StatusBadRequest, vault.CodeInvalidRequest, fmt.Sprintf("items[%d].format: last4 applies to cards only", i), false)
			return
		}
		v, err := detect.Normalize(it.Kind, it.Value.Reveal())
		if err != nil {
			writeError(w, http.StatusBadRequest, vault.CodeInvalidRequest, fmt.Sprintf("items[%d].value: %v", i, err), false)
			return
		}
		mac := vault.MAC(s.cfg.tokenKey, it.Kind, v)
		t := vault.NewToken(it.Kind, mac, it.Format, v)
		tokens[i] = t.String()
		kinds[it.Kind]++
		if !seen[t.ID] {
			seen[t.ID] = true
			entries = append(entries, entry{id: t.ID, kind: it.Kind, mac: mac, value: v})
		}
	}
	created, err := s.st.put(r.Context(), s.cfg.keys, entries)
	if err != nil {
		s.log.Error("tokenize failed", "error", err, "actor", c.name, "remote", c.remote, "items", len(req.Items))
		if errors.Is(err, errCollision) {
			writeError(w, http.StatusInternalServerError, vault.CodeInternal, "a token collision was detected; the vault's operators have been told in its log", false)
			return
		}
		writeError(w, http.StatusServiceUnavailable, vault.CodeUnavailable, "the vault could not store the values; try again", true)
		return
	}
	s.log.Info("tokenize", "actor", c.name, "remote", c.remote, "items", len(req.Items), "distinct", len(entries), "new", created, "kinds", kindCounts(kinds))
	writeJSON(w, http.StatusOK, vault.TokenizeResponse{Tokens: tokens})
}

func kindCounts(m map[vault.Kind]int) string {
	var parts []string
	for _, k := range detect.Kinds() {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
		}
	}
	return strings.Join(parts, ",")
}

func (s *Server) detokenize(w http.ResponseWriter, r *http.Request, c caller) {
	ev := c.event("detokenize")
	reject := func(msg string) {
		e := ev
		e.Result = vault.CodeInvalidRequest
		if err := s.st.audit(r.Context(), e); err != nil {
			s.log.Error("writing the audit log", "error", err)
		}
		s.log.Warn("detokenize refused", "actor", c.name, "remote", c.remote, "problem", msg)
		writeError(w, http.StatusBadRequest, vault.CodeInvalidRequest, msg, false)
	}
	var req vault.DetokenizeRequest
	if !s.decode(w, r, &req) {
		return
	}
	switch {
	case len(req.Tokens) == 0:
		reject("tokens is empty")
		return
	case len(req.Tokens) > vault.MaxDetokenizeTokens:
		reject(fmt.Sprintf("%d tokens; at most %d per request", len(req.Tokens), vault.MaxDetokenizeTokens))
		return
	case len(req.Reason) > vault.MaxReason:
		reject(fmt.Sprintf("reason is longer than %d bytes", vault.MaxReason))
		return
	case len(detect.Text(req.Reason)) > 0:
		reject("reason holds a sensitive value; give a ticket number or a short description instead")
		return
	}
	tokens := make([]vault.Token, len(req.Tokens))
	for i, raw := range req.Tokens {
		t, err := vault.ParseToken(raw)
		if err != nil {
			// The invalid string is not echoed or stored: it may be a value.
			reject(fmt.Sprintf("tokens[%d]: %v", i, err))
			return
		}
		tokens[i] = t
	}
	ev.Reason = req.Reason
	found, err := s.st.detokenize(r.Context(), s.cfg.keys, tokens, ev)
	if err != nil {
		s.log.Error("detokenize failed", "error", err, "actor", c.name, "remote", c.remote, "tokens", len(tokens))
		writeError(w, http.StatusServiceUnavailable, vault.CodeUnavailable, "the vault could not look the tokens up or write its audit log; try again", true)
		return
	}
	resp := vault.DetokenizeResponse{Results: make([]vault.DetokenizeResult, len(tokens))}
	ok := 0
	for i, t := range tokens {
		res := vault.DetokenizeResult{Token: t.String(), Result: vault.ResultNotFound}
		if v := found[i]; v != nil {
			res.Result, res.Kind, res.Value = vault.ResultOK, v.kind, secret.String(v.value)
			ok++
		}
		resp.Results[i] = res
	}
	s.log.Info("detokenize", "actor", c.name, "remote", c.remote, "forwarded_for", c.via, "tokens", len(tokens), "found", ok,
		"not_found", len(tokens)-ok, "reason", req.Reason)
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, c caller) {
	q := auditQuery{limit: 100}
	p := r.URL.Query()
	for k := range p {
		switch k {
		case "limit", "before", "token", "actor", "action":
		default:
			writeError(w, http.StatusBadRequest, vault.CodeInvalidRequest, fmt.Sprintf("unknown query parameter %q (known: limit, before, token, actor, action)", truncate(k, 40)), false)
			return
		}
	}
	if v := p.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, vault.CodeInvalidRequest, "limit must be a number from 1 to 1000", false)
			return
		}
		q.limit = n
	}
	if v := p.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, vault.CodeInvalidRequest, "before must be a positive event ID", false)
			return
		}
		q.before = n
	}
	if v := p.Get("token"); v != "" {
		t, err := vault.ParseToken(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, vault.CodeInvalidRequest, "token: "+err.Error(), false)
			return
		}
		q.token = t.String()
	}
	q.actor, q.action = truncate(p.Get("actor"), 64), truncate(p.Get("action"), 32)
	page, err := s.st.listAudit(r.Context(), q)
	if err == nil {
		e := c.event("audit.list")
		e.Result = vault.ResultOK
		err = s.st.audit(r.Context(), e)
	}
	if err != nil {
		s.log.Error("listing the audit log failed", "error", err, "actor", c.name)
		writeError(w, http.StatusServiceUnavailable, vault.CodeUnavailable, "the audit log is unavailable; try again", true)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) keys(w http.ResponseWriter, r *http.Request, _ caller) {
	ks, err := s.Keys(r.Context())
	if err != nil {
		s.log.Error("counting values per key failed", "error", err)
		writeError(w, http.StatusServiceUnavailable, vault.CodeUnavailable, "the vault database is unavailable; try again", true)
		return
	}
	writeJSON(w, http.StatusOK, ks)
}

func (s *Server) reencrypt(w http.ResponseWriter, r *http.Request, c caller) {
	res, err := s.Reencrypt(r.Context())
	e := c.event("reencrypt")
	e.Result = vault.ResultOK
	if err != nil {
		e.Result = "failed"
	}
	if aerr := s.st.audit(r.Context(), e); aerr != nil && err == nil {
		err = aerr
	}
	if err != nil {
		s.log.Error("re-encryption failed", "error", err, "actor", c.name, "reencrypted", res.Reencrypted)
		writeError(w, http.StatusServiceUnavailable, vault.CodeUnavailable, fmt.Sprintf("re-encryption stopped after %d values; try again", res.Reencrypted), true)
		return
	}
	s.log.Info("reencrypt", "actor", c.name, "remote", c.remote, "reencrypted", res.Reencrypted, "active_key", res.Keys.Active)
	writeJSON(w, http.StatusOK, res)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

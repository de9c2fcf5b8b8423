package localbox

import "net/http"

// The service account: GET /2.0/users/me.

func (s *Server) getMe(w http.ResponseWriter, r *http.Request) error {
	u := s.user.mini()
	u["status"] = "active"
	u["language"] = "en"
	u["timezone"] = "UTC"
	u["space_amount"] = 999999999999999
	u["max_upload_size"] = s.cfg.MaxUploadBytes
	u["enterprise"] = map[string]any{"type": "enterprise", "id": s.cfg.EnterpriseID, "name": "localbox"}
	writeJSON(w, http.StatusOK, u)
	return nil
}

// Package videoindexertest is a fake of the three services the Video
// Indexer adapter talks to, on one address: Microsoft Entra ID's token
// endpoint (client credentials), Azure Resource Manager's generateAccessToken
// for a Video Indexer account, and Video Indexer's data-plane API (Upload
// Video by URL, Search Videos by externalId, Get Video Index, Delete
// Video) with the documented states, error bodies, 429 + Retry-After and
// callbacks (a POST to the callback URL with id and state added to its
// query). It is never linked into a program.
package videoindexertest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"filesight/internal/provider/videoindexer"
)

// Account identifies the fake's one account and its service principal.
type Account struct {
	TenantID, ClientID, ClientSecret    string
	SubscriptionID, ResourceGroup, Name string
	ID, Location                        string
}

// DefaultAccount is a valid account description.
var DefaultAccount = Account{
	TenantID: "11111111-2222-3333-4444-555555555555", ClientID: "66666666-7777-8888-9999-000000000000",
	ClientSecret: "client-secret-for-tests", SubscriptionID: "b04775c3-63fa-40f3-9430-139d2e5522d3",
	ResourceGroup: "filesight-rg", Name: "filesight-vi", ID: "2cbbed36-1972-4506-9bc7-55367912df2d", Location: "westeurope",
}

// Server is a running fake.
type Server struct {
	URL     string
	Account Account

	t     testing.TB
	mu    sync.Mutex
	arm   map[string]bool      // valid ARM tokens
	vi    map[string]time.Time // valid account tokens and their expiry
	video map[string]*video
	order []string
	// counters
	entraCalls, armCalls int
	requests             map[string]int
	uploads              []url.Values
	faults               []fault
	callbacks            []Callback
}

type video struct {
	v        videoindexer.Video
	query    url.Values
	index    videoindexer.Index
	deleted  bool
	callback string
}

type fault struct {
	method, pathPart string
	status           int
	retryAfter       string
	body             string
}

// Callback is one callback the fake made.
type Callback struct {
	URL        string
	StatusCode int
	Err        error
}

// Start starts the fake for DefaultAccount.
func Start(t testing.TB) *Server {
	s := &Server{Account: DefaultAccount, t: t, arm: map[string]bool{}, vi: map[string]time.Time{}, video: map[string]*video{}, requests: map[string]int{}}
	a := s.Account
	mux := http.NewServeMux()
	mux.HandleFunc("POST /"+a.TenantID+"/oauth2/v2.0/token", s.entra)
	mux.HandleFunc("POST /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.VideoIndexer/accounts/{name}/generateAccessToken", s.generate)
	base := "/" + a.Location + "/Accounts/" + a.ID
	mux.HandleFunc("POST "+base+"/Videos", s.dataPlane(s.upload))
	mux.HandleFunc("GET "+base+"/Videos/Search", s.dataPlane(s.search))
	mux.HandleFunc("GET "+base+"/Videos/{id}/Index", s.dataPlane(s.getIndex))
	mux.HandleFunc("DELETE "+base+"/Videos/{id}", s.dataPlane(s.deleteVideo))
	srv := httptest.NewServer(s.faultsFirst(mux))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// viError is Video Indexer's documented error body.
func viError(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, videoindexer.APIError{ErrorType: typ, Message: msg})
}

func armError(w http.ResponseWriter, status int, code, msg string) {
	var e videoindexer.ARMError
	e.Error.Code, e.Error.Message = code, msg
	writeJSON(w, status, e)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) faultsFirst(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		for i, f := range s.faults {
			if f.method == r.Method && strings.Contains(r.URL.Path, f.pathPart) {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
				s.mu.Unlock()
				if f.retryAfter != "" {
					w.Header().Set("Retry-After", f.retryAfter)
				}
				body := f.body
				if body == "" {
					body = fmt.Sprintf(`{"ErrorType":"GENERAL","Message":%q}`, http.StatusText(f.status))
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(f.status)
				_, _ = io.WriteString(w, body)
				return
			}
		}
		s.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// Fail makes the next request with this method whose path contains
// pathPart answer status (with Retry-After unless empty) and body (a
// GENERAL error body when empty).
func (s *Server) Fail(method, pathPart string, status int, retryAfter, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{method, pathPart, status, retryAfter, body})
}

// entra is the client-credentials grant of Entra ID's v2.0 token endpoint.
func (s *Server) entra(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, videoindexer.EntraError{Error: "unsupported_grant_type", Description: "The grant type is not supported."})
		return
	}
	if r.PostForm.Get("client_id") != s.Account.ClientID || r.PostForm.Get("client_secret") != s.Account.ClientSecret {
		writeJSON(w, http.StatusUnauthorized, videoindexer.EntraError{Error: "invalid_client", Description: "Invalid client secret provided."})
		return
	}
	if !strings.HasSuffix(r.PostForm.Get("scope"), "/.default") {
		writeJSON(w, http.StatusBadRequest, videoindexer.EntraError{Error: "invalid_scope", Description: "The scope must end with /.default."})
		return
	}
	tok := "arm-" + randomHex(16)
	s.mu.Lock()
	s.arm[tok] = true
	s.entraCalls++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 3599, "access_token": tok})
}

// generate is ARM's generateAccessToken.
func (s *Server) generate(w http.ResponseWriter, r *http.Request) {
	a := s.Account
	if r.URL.Query().Get("api-version") == "" {
		armError(w, http.StatusBadRequest, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
		return
	}
	s.mu.Lock()
	ok := s.arm[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	s.mu.Unlock()
	if !ok {
		armError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "The access token is invalid.")
		return
	}
	if r.PathValue("sub") != a.SubscriptionID || r.PathValue("rg") != a.ResourceGroup || r.PathValue("name") != a.Name {
		armError(w, http.StatusNotFound, "ResourceNotFound", "The Resource 'Microsoft.VideoIndexer/accounts' was not found.")
		return
	}
	var req videoindexer.GenerateAccessTokenRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || (req.PermissionType != "Contributor" && req.PermissionType != "Reader") || req.Scope == "" {
		armError(w, http.StatusBadRequest, "InvalidRequestContent", "permissionType and scope are required.")
		return
	}
	exp := time.Now().Add(time.Hour)
	claims, _ := json.Marshal(map[string]any{"AccountId": a.ID, "Permission": req.PermissionType, "exp": exp.Unix()})
	tok := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + base64.RawURLEncoding.EncodeToString(claims) + "." + randomHex(8)
	s.mu.Lock()
	s.vi[tok] = exp
	s.armCalls++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, videoindexer.GenerateAccessTokenResponse{AccessToken: tok})
}

// dataPlane checks the account token, sent as a bearer token.
func (s *Server) dataPlane(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		key := r.Method + " " + r.Pattern[strings.Index(r.Pattern, "/Videos"):]
		s.requests[key]++
		exp, ok := s.vi[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
		s.mu.Unlock()
		if !ok || time.Now().After(exp) {
			viError(w, http.StatusUnauthorized, "USER_NOT_ALLOWED", "User not allowed access account '"+s.Account.ID+"'.")
			return
		}
		h(w, r)
	}
}

func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name, src := q.Get("name"), q.Get("videoUrl")
	if name == "" || len(name) > 80 {
		viError(w, http.StatusBadRequest, "INVALID_INPUT", "name is required and must be at most 80 characters")
		return
	}
	if u, err := url.Parse(src); err != nil || u.Host == "" {
		viError(w, http.StatusBadRequest, "INVALID_INPUT", "videoUrl must be an absolute URL")
		return
	}
	if p := q.Get("privacy"); p != "" && p != "Private" && p != "Public" {
		viError(w, http.StatusBadRequest, "INVALID_INPUT", "privacy must be Private or Public")
		return
	}
	v := &video{query: q, callback: q.Get("callbackUrl")}
	v.v = videoindexer.Video{ID: randomHex(5), Name: name, State: videoindexer.StateUploaded, ExternalID: q.Get("externalId"), ProcessingProgress: "0%"}
	v.index = videoindexer.Index{ID: v.v.ID, State: videoindexer.StateUploaded, Videos: []videoindexer.IndexVideo{{ID: v.v.ID, State: videoindexer.StateUploaded, ExternalID: v.v.ExternalID, ProcessingProgress: "0%"}}}
	s.mu.Lock()
	s.video[v.v.ID] = v
	s.order = append(s.order, v.v.ID)
	s.uploads = append(s.uploads, q)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, v.v)
}

func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	ext := r.URL.Query()["externalId"]
	s.mu.Lock()
	res := videoindexer.SearchResult{Results: []videoindexer.Video{}}
	for i := len(s.order) - 1; i >= 0; i-- {
		v := s.video[s.order[i]]
		if v.deleted {
			continue
		}
		for _, e := range ext {
			if v.v.ExternalID == e {
				cp := v.v
				cp.State = v.index.State
				res.Results = append(res.Results, cp)
			}
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"results": res.Results, "nextPage": map[string]any{"pageSize": 25, "skip": 0, "done": true}})
}

func (s *Server) lookup(w http.ResponseWriter, id string) *video {
	v := s.video[id]
	if v == nil || v.deleted {
		viError(w, http.StatusNotFound, "VIDEO_NOT_FOUND", "Video "+id+" was not found.")
		return nil
	}
	return v
}

func (s *Server) getIndex(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	v := s.lookup(w, r.PathValue("id"))
	var ix videoindexer.Index
	if v != nil {
		ix = v.index
	}
	s.mu.Unlock()
	if v != nil {
		writeJSON(w, http.StatusOK, ix)
	}
}

func (s *Server) deleteVideo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.lookup(w, r.PathValue("id")); v != nil {
		v.deleted = true
		w.WriteHeader(http.StatusNoContent)
	}
}

// Uploads returns the query of every upload, in order.
func (s *Server) Uploads() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.uploads...)
}

// Requests counts data-plane requests by "METHOD /Videos..." pattern, e.g.
// "GET /Videos/{id}/Index".
func (s *Server) Requests(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[key]
}

// TokenCalls returns how many Entra and ARM tokens were issued.
func (s *Server) TokenCalls() (entra, arm int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.entraCalls, s.armCalls
}

// ExpireAccountTokens makes every account token invalid (as after an hour).
func (s *Server) ExpireAccountTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vi = map[string]time.Time{}
}

// Deleted reports whether a video was deleted.
func (s *Server) Deleted(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.video[id] != nil && s.video[id].deleted
}

// Callbacks returns the callbacks made so far.
func (s *Server) Callbacks() []Callback {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Callback(nil), s.callbacks...)
}

// SetState moves a video to a state with a progress ("40%").
func (s *Server) SetState(id, state, progress string) {
	s.mu.Lock()
	v := s.video[id]
	if v != nil {
		v.index.State, v.index.Videos[0].State, v.index.Videos[0].ProcessingProgress = state, state, progress
	}
	cb := ""
	if v != nil {
		cb = v.callback
	}
	s.mu.Unlock()
	if cb != "" {
		s.notify(cb, id, state)
	}
}

// Process indexes a video as the service does: it copies videoUrl with a
// plain GET (the URL must carry its own credentials); if that fails the
// video fails (failure code and message as given by failCode/failMsg
// when the download works, or General and a message quoting the URL when
// it does not); otherwise it is Processed with these insights. Each state
// change is notified to the callback URL.
func (s *Server) Process(id string, duration float64, insights *videoindexer.Insights) {
	s.t.Helper()
	s.mu.Lock()
	v := s.video[id]
	s.mu.Unlock()
	if v == nil {
		s.t.Fatalf("videoindexertest: no video %s", id)
	}
	src := v.query.Get("videoUrl")
	resp, err := http.Get(src)
	ok := err == nil && resp.StatusCode/100 == 2
	if resp != nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if !ok {
		s.mu.Lock()
		v.index.State, v.index.Videos[0].State = videoindexer.StateFailed, videoindexer.StateFailed
		v.index.Videos[0].FailureCode = "General"
		v.index.Videos[0].FailureMessage = "Failed to download the media from " + src
		cb := v.callback
		s.mu.Unlock()
		if cb != "" {
			s.notify(cb, id, videoindexer.StateFailed)
		}
		return
	}
	s.SetState(id, videoindexer.StateProcessing, "50%")
	s.mu.Lock()
	v.index.DurationInSeconds = duration
	v.index.Videos[0].Insights = insights
	s.mu.Unlock()
	s.SetState(id, videoindexer.StateProcessed, "100%")
}

// FailIndexing ends a video as Failed with the given code and message.
func (s *Server) FailIndexing(id, code, msg string) {
	s.mu.Lock()
	if v := s.video[id]; v != nil {
		v.index.Videos[0].FailureCode, v.index.Videos[0].FailureMessage = code, msg
	}
	s.mu.Unlock()
	s.SetState(id, videoindexer.StateFailed, "0%")
}

// notify POSTs to the callback URL with id and state added to its query
// and no body, as the documentation describes.
func (s *Server) notify(cb, id, state string) {
	u, err := url.Parse(cb)
	c := Callback{}
	if err == nil {
		q := u.Query()
		q.Set("id", id)
		q.Set("state", state)
		u.RawQuery = q.Encode()
		c.URL = u.String()
		var resp *http.Response
		if resp, err = http.Post(c.URL, "", nil); err == nil {
			c.StatusCode = resp.StatusCode
			resp.Body.Close()
		}
	}
	c.Err = err
	s.mu.Lock()
	s.callbacks = append(s.callbacks, c)
	s.mu.Unlock()
}

package providertest

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"filesight/internal/provider"
)

// Callbacks is a callback receiver that answers POST /callbacks/{name} the
// way the starter's endpoint does with a provider.CallbackReader: 401 for
// an unauthenticated delivery, 400 for a malformed one, 200 otherwise. It
// records what it accepted and how many it refused.
type Callbacks struct {
	// URL is the base URL; the provider's callback URL is URL+"/callbacks/"+name.
	URL string

	mu       sync.Mutex
	accepted []provider.Callback
	refused  []int
}

// StartCallbacks serves name's callbacks through reader.
func StartCallbacks(t testing.TB, name string, reader provider.CallbackReader) *Callbacks {
	c := &Callbacks{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /callbacks/"+name, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 256<<10))
		cb, err := reader.ReadCallback(r.Header, r.URL.Query(), body)
		status := http.StatusOK
		switch {
		case errors.Is(err, provider.ErrCallbackAuth):
			status = http.StatusUnauthorized
		case err != nil:
			status = http.StatusBadRequest
		}
		c.mu.Lock()
		if err == nil {
			c.accepted = append(c.accepted, cb)
		} else {
			c.refused = append(c.refused, status)
		}
		c.mu.Unlock()
		w.WriteHeader(status)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

// Accepted returns the callbacks accepted so far.
func (c *Callbacks) Accepted() []provider.Callback {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]provider.Callback(nil), c.accepted...)
}

// Refused returns the status codes of the deliveries refused so far.
func (c *Callbacks) Refused() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.refused...)
}

package tsphttp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tapwallet/tapwallet/reqid"
	"github.com/tapwallet/tapwallet/tsp/tsphttp"
)

// TestClientPassesRequestID: a call made while serving a request carries
// that request's id to the token service's process (X-Request-Id); a call
// without one sends none.
func TestClientPassesRequestID(t *testing.T) {
	got := make(chan string, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get(reqid.Header)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	c := &tsphttp.Client{URL: srv.URL, Secret: "0123456789abcdef0123"}
	c.Cards(reqid.With(context.Background(), "req-from-wallet"), "dev_1")
	if id := <-got; id != "req-from-wallet" {
		t.Errorf("X-Request-Id sent %q, want req-from-wallet", id)
	}
	c.Cards(context.Background(), "dev_1")
	if id := <-got; id != "" {
		t.Errorf("X-Request-Id sent %q without a request, want none", id)
	}
}

package reqid_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/reqid"
)

func TestValid(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"3f2b9c1e-7a44-4d0e-9b1a-2c5d6e7f8a9b", true},
		{"abc.DEF_12:3", true},
		{"", false},
		{"6222020000000007", false}, // digits alone: maybe a card number
		{"a\nb", false},
		{`a"b`, false},
		{strings.Repeat("a", 65), false},
		{strings.Repeat("a", 64), true},
	} {
		if got := reqid.Valid(tc.id); got != tc.want {
			t.Errorf("Valid(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

// serve runs one request through the middleware around h and returns the
// answer, the id the handler saw in its context and what done was told.
func serve(t *testing.T, h http.HandlerFunc, header string) (*httptest.ResponseRecorder, string, string) {
	t.Helper()
	var seen, route string
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/phones/{phone}/cards", func(w http.ResponseWriter, r *http.Request) {
		seen = reqid.From(r.Context())
		h(w, r)
	})
	req := httptest.NewRequest("POST", "/v1/phones/ph_123/cards", nil)
	if header != "" {
		req.Header.Set(reqid.Header, header)
	}
	rec := httptest.NewRecorder()
	reqid.Middleware(mux, func(r *http.Request, rt string, status int, took time.Duration) {
		route = rt
		if reqid.From(r.Context()) != seen {
			t.Errorf("done's context carries %q, the handler's %q", reqid.From(r.Context()), seen)
		}
	}).ServeHTTP(rec, req)
	return rec, seen, route
}

func TestMiddlewareIDs(t *testing.T) {
	ok := func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }
	rec, seen, route := serve(t, ok, "")
	if got := rec.Header().Get(reqid.Header); len(got) != 32 || got != seen {
		t.Errorf("new id: header %q, handler saw %q; want one 32-hex id", got, seen)
	}
	if route != "POST /v1/phones/{phone}/cards" {
		t.Errorf("route = %q, want the pattern (never the raw path)", route)
	}
	rec, seen, _ = serve(t, ok, "trace-42")
	if rec.Header().Get(reqid.Header) != "trace-42" || seen != "trace-42" {
		t.Errorf("a well-formed incoming id is kept: header %q, handler %q", rec.Header().Get(reqid.Header), seen)
	}
	rec, seen, _ = serve(t, ok, "bad id\r\nX: y")
	if got := rec.Header().Get(reqid.Header); got == "" || strings.Contains(got, " ") || got != seen {
		t.Errorf("a malformed incoming id is replaced: header %q, handler %q", got, seen)
	}
	if rec.Body.String() != "ok" || rec.Code != 200 {
		t.Errorf("answer %d %q, want 200 ok", rec.Code, rec.Body.String())
	}
}

func TestMiddlewareErrorJSONCarriesID(t *testing.T) {
	fail := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		w.Write([]byte(`{"error":{"kind":"conflict","code":"card_exists","message":"the card is on the phone"}}` + "\n"))
	}
	rec, _, _ := serve(t, fail, "req-7")
	var b struct {
		Error map[string]string `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	if rec.Code != http.StatusConflict || b.Error["request_id"] != "req-7" || b.Error["code"] != "card_exists" || b.Error["message"] != "the card is on the phone" {
		t.Errorf("got %d %v, want 409 with the error as it was plus request_id req-7", rec.Code, b.Error)
	}
	// Not JSON, or JSON without an error object: passed through as it was.
	plain := func(w http.ResponseWriter, r *http.Request) { http.Error(w, "nope", http.StatusBadRequest) }
	rec, _, _ = serve(t, plain, "")
	if rec.Code != 400 || rec.Body.String() != "nope\n" {
		t.Errorf("plain error: %d %q", rec.Code, rec.Body.String())
	}
	other := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"status":"not_ready"}`))
	}
	rec, _, _ = serve(t, other, "")
	if rec.Code != 503 || rec.Body.String() != `{"status":"not_ready"}` {
		t.Errorf("JSON without error object: %d %q", rec.Code, rec.Body.String())
	}
}

func TestHandlerAddsID(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(reqid.Handler(slog.NewJSONHandler(&buf, nil))).With("party", "wallet")
	log.InfoContext(reqid.With(t.Context(), "req-9"), "one")
	log.Info("two")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"request_id":"req-9"`) || !strings.Contains(lines[0], `"party":"wallet"`) || strings.Contains(lines[1], "request_id") {
		t.Errorf("log lines:\n%s\nwant request_id on the first only", buf.String())
	}
}

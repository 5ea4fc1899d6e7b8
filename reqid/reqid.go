// Package reqid ties together what one HTTP request to `tapwallet serve`
// causes: each request gets an id (the caller's X-Request-Id when it is
// well-formed, else a new one), carried in its context, echoed in the
// X-Request-Id answer header, added to every log line logged with that
// context (Handler) and to the JSON of error answers
// ({"error":{…,"request_id":"…"}}).
package reqid

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Header is the HTTP header that carries the id both ways.
const Header = "X-Request-Id"

type ctxKey struct{}

// With returns ctx carrying the request id id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// From returns the request id ctx carries, or "".
func From(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// New returns a fresh id: 16 random bytes in hex.
func New() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Valid reports whether a caller's id is taken as it is: 1 to 64 of the
// characters A–Z a–z 0–9 - _ . : (a UUID, a W3C trace id, a hex string),
// not digits alone (which could be a card number pasted by mistake). So
// no newline, quote or secret reaches a log line through it.
func Valid(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	digits := true
	for _, c := range []byte(id) {
		switch {
		case c >= '0' && c <= '9':
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-', c == '_', c == '.', c == ':':
			digits = false
		default:
			return false
		}
	}
	return !digits
}

// Handler wraps h so that each record logged with a context carrying a
// request id gets the attribute request_id.
func Handler(h slog.Handler) slog.Handler { return handler{h} }

type handler struct{ slog.Handler }

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	if id := From(ctx); id != "" {
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h handler) WithAttrs(as []slog.Attr) slog.Handler { return handler{h.Handler.WithAttrs(as)} }
func (h handler) WithGroup(name string) slog.Handler    { return handler{h.Handler.WithGroup(name)} }

// Done is what Middleware tells of each request once answered: the route
// pattern of the ServeMux that served it ("" when none matched), the
// status and the time taken. r's context carries the id.
type Done func(r *http.Request, route string, status int, took time.Duration)

// Middleware gives each request its id (the caller's X-Request-Id if
// Valid, else New), echoes it in the answer's X-Request-Id header, puts it
// in the context, adds it as "request_id" to the "error" object of a JSON
// error answer (status 400 and above), and calls done, if not nil.
func Middleware(next http.Handler, done Done) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(Header)
		if !Valid(id) {
			id = New()
		}
		w.Header().Set(Header, id)
		r = r.WithContext(With(r.Context(), id))
		rw := &writer{ResponseWriter: w, id: id, status: http.StatusOK}
		next.ServeHTTP(rw, r)
		rw.finish()
		if done != nil {
			done(r, r.Pattern, rw.status, time.Since(start))
		}
	})
}

// writer records the status and holds back a JSON error answer's body to
// add the request id to it.
type writer struct {
	http.ResponseWriter
	id      string
	status  int
	wrote   bool
	holding bool
	body    bytes.Buffer
}

func (w *writer) WriteHeader(status int) {
	if w.wrote {
		return
	}
	w.wrote, w.status = true, status
	if status >= 400 && strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		w.holding = true // written in finish, with the id
		w.Header().Del("Content-Length")
		return
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *writer) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.holding {
		return w.body.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

// Flush passes on to the writer beneath (server-sent events, streaming).
func (w *writer) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.holding {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the writer beneath.
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish writes a held error answer with the request id in its "error"
// object (the body as it was when it has no such object).
func (w *writer) finish() {
	if !w.holding {
		return
	}
	out := w.body.Bytes()
	var doc map[string]json.RawMessage
	if json.Unmarshal(out, &doc) == nil {
		var e map[string]any
		if json.Unmarshal(doc["error"], &e) == nil && e != nil {
			e["request_id"] = w.id
			if eb, err := json.Marshal(e); err == nil {
				doc["error"] = eb
				if b, err := json.Marshal(doc); err == nil {
					out = append(b, '\n')
				}
			}
		}
	}
	w.ResponseWriter.WriteHeader(w.status)
	w.ResponseWriter.Write(out)
}

// Package adminapi is the card network's administration over HTTP/JSON
// (docs/openapi-operators.yaml): the end-of-day clearing, run by the
// network's operator (operator token). It is the network's own door,
// apart from the wallet API; platform mounts it where the network runs.
package adminapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/tapwallet/tapwallet/clearing"
	"github.com/tapwallet/tapwallet/fault"
)

// HeaderOperatorToken carries the operator token.
const HeaderOperatorToken = "X-Operator-Token"

// Clear runs the end-of-day clearing of a business date (YYYYMMDD).
type Clear func(ctx context.Context, date string) (clearing.Report, error)

// New returns the network's admin routes, each needing operatorToken
// (header X-Operator-Token; an empty token refuses every request):
//
//	POST /v1/admin/clearing?date=YYYY-MM-DD  the end-of-day clearing
func New(clear Clear, operatorToken string, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/admin/clearing", func(w http.ResponseWriter, r *http.Request) {
		if operatorToken == "" || subtle.ConstantTimeCompare([]byte(r.Header.Get(HeaderOperatorToken)), []byte(operatorToken)) != 1 {
			answer(w, r, log, nil, fault.E(fault.Unauthorized, "operator_only", "this route needs the operator token (header %s)", HeaderOperatorToken))
			return
		}
		date, err := clearing.ParseDate(r.URL.Query().Get("date"))
		if err != nil {
			answer(w, r, log, nil, err)
			return
		}
		rep, err := clear(r.Context(), date)
		answer(w, r, log, rep, err)
	})
	mux.HandleFunc("/v1/admin/", func(w http.ResponseWriter, r *http.Request) {
		answer(w, r, log, nil, fault.E(fault.NotFound, "no_route", "no such route"))
	})
	return mux
}

// answer writes v (200) or err as the house's JSON error answer
// ({"error":{"kind","code","message"}}); a failure (5xx) is logged with
// r's context, so the line carries the request id.
func answer(w http.ResponseWriter, r *http.Request, log *slog.Logger, v any, err error) {
	code := http.StatusOK
	if err != nil {
		switch fault.KindOf(err) {
		case fault.Invalid:
			code = http.StatusBadRequest
		case fault.Unauthorized:
			code = http.StatusUnauthorized
		case fault.NotFound:
			code = http.StatusNotFound
		case fault.Unavailable:
			code = http.StatusServiceUnavailable
		default:
			code = http.StatusInternalServerError
		}
		if code >= 500 {
			log.ErrorContext(r.Context(), "network admin: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		v = map[string]any{"error": map[string]string{"kind": string(fault.KindOf(err)), "code": fault.CodeOf(err), "message": fault.MessageOf(err)}}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

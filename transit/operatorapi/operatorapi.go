// Package operatorapi is the transit operators' back office over HTTP/JSON
// (docs/openapi-operators.yaml): the routes their gates use — clearing
// files up, hot lists and fare tables down — and the operators' own
// settlement and exception reports (operator token). It is the
// operators' door, apart from the wallet API; platform mounts it.
package operatorapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/transit"
)

// HeaderOperatorToken carries the operator token of the settlement and
// exception routes.
const HeaderOperatorToken = "X-Operator-Token"

// Operators is what the back office needs of the operators' host
// (transit.Service).
type Operators interface {
	Clear(ctx context.Context, file []byte) (transit.Receipt, error)
	HotList(ctx context.Context, city string) (transit.HotList, error)
	FareTable(city string) (transit.FareTable, error)
	Settle(ctx context.Context, city, day string) (transit.Settlement, error)
	Exceptions(ctx context.Context, city string, limit int) ([]transit.Exception, error)
}

// API is the operators' back office; it is an http.Handler.
type API struct {
	ops   Operators
	token string
	mux   *http.ServeMux
	Log   *slog.Logger
}

// New returns the back office of ops; the settlement and exception routes
// need operatorToken (header X-Operator-Token) when it is not empty.
//
//	POST /v1/transit/{city}/clearing                   a gate's clearing file (text)
//	GET  /v1/transit/{city}/hotlist                    the versioned hot list
//	GET  /v1/transit/{city}/fares                      the versioned fare table
//	GET  /v1/transit/{city}/settlement?day=YYYY-MM-DD  the day's settlement (operator token)
//	GET  /v1/transit/{city}/exceptions                 what clearing flagged (operator token)
//
// The gate routes carry no session: a gate is a machine on the operator's
// network, and clearing trusts nothing in a file but what its TACs prove.
func New(ops Operators, operatorToken string) *API {
	a := &API{ops: ops, token: operatorToken, mux: http.NewServeMux(), Log: slog.New(slog.DiscardHandler)}
	a.mux.HandleFunc("POST /v1/transit/{city}/clearing", a.clearing)
	a.mux.HandleFunc("GET /v1/transit/{city}/hotlist", a.hotList)
	a.mux.HandleFunc("GET /v1/transit/{city}/fares", a.fares)
	a.mux.HandleFunc("GET /v1/transit/{city}/settlement", a.operator(a.settlement))
	a.mux.HandleFunc("GET /v1/transit/{city}/exceptions", a.operator(a.exceptions))
	a.mux.HandleFunc("/v1/transit/", func(w http.ResponseWriter, r *http.Request) {
		a.fail(w, r, fault.E(fault.NotFound, "no_route", "no such route"))
	})
	return a
}

// ServeHTTP routes a request of the back office.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// status maps an error kind to an HTTP status, as the wallet API does.
var status = map[fault.Kind]int{fault.Invalid: http.StatusBadRequest, fault.NotFound: http.StatusNotFound,
	fault.Conflict: http.StatusConflict, fault.Unauthorized: http.StatusUnauthorized, fault.Forbidden: http.StatusForbidden,
	fault.Limit: http.StatusTooManyRequests, fault.Declined: http.StatusUnprocessableEntity, fault.Unavailable: http.StatusServiceUnavailable}

// WriteError writes err as the house's JSON error answer
// ({"error":{"kind","code","message"}}); the message is safe to show.
func WriteError(w http.ResponseWriter, err error) {
	code, ok := status[fault.KindOf(err)]
	if !ok {
		code = http.StatusInternalServerError
	}
	writeJSON(w, code, map[string]any{"error": map[string]string{"kind": string(fault.KindOf(err)), "code": fault.CodeOf(err), "message": fault.MessageOf(err)}})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	if k := fault.KindOf(err); k == fault.Internal || k == fault.Unavailable {
		a.Log.ErrorContext(r.Context(), "transit back office: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	WriteError(w, err)
}

func (a *API) clearing(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(io.LimitReader(r.Body, transit.MaxFileBytes+1))
	if err != nil {
		a.fail(w, r, fault.E(fault.Invalid, "bad_body", "could not read the clearing file"))
		return
	}
	f, err := transit.ParseFile(b)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if f.City != r.PathValue("city") {
		a.fail(w, r, fault.E(fault.Invalid, "wrong_city", "the clearing file is for another city"))
		return
	}
	rc, err := a.ops.Clear(r.Context(), b)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rc)
}

func (a *API) hotList(w http.ResponseWriter, r *http.Request) {
	hl, err := a.ops.HotList(r.Context(), r.PathValue("city"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, hl)
}

func (a *API) fares(w http.ResponseWriter, r *http.Request) {
	ft, err := a.ops.FareTable(r.PathValue("city"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ft)
}

func (a *API) operator(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get(HeaderOperatorToken)), []byte(a.token)) != 1 {
			a.fail(w, r, fault.E(fault.Unauthorized, "operator_token", "this route needs the operator token"))
			return
		}
		next(w, r)
	}
}

func (a *API) settlement(w http.ResponseWriter, r *http.Request) {
	day := r.URL.Query().Get("day")
	if day == "" {
		day = time.Now().In(epurse.China).Format("2006-01-02")
	}
	st, err := a.ops.Settle(r.Context(), r.PathValue("city"), day)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (a *API) exceptions(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	ex, err := a.ops.Exceptions(r.Context(), r.PathValue("city"), limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	type exJSON struct {
		Kind   string    `json:"kind"`
		Card   string    `json:"card"`
		ATC    int       `json:"atc"`
		Detail string    `json:"detail"`
		File   string    `json:"file_id"`
		At     time.Time `json:"at"`
	}
	out := []exJSON{}
	for _, e := range ex {
		out = append(out, exJSON{e.Kind, e.Card, e.ATC, e.Detail, e.FileID, e.At})
	}
	writeJSON(w, http.StatusOK, map[string]any{"exceptions": out})
}

var _ Operators = (*transit.Service)(nil)

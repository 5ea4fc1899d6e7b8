// Package adminapi is the card network's administration over HTTP/JSON
// (docs/openapi-operators.yaml): the end-of-day clearing and the
// promotions' campaigns (promo.go), run by the network's operator
// (operator token) — and the campaigns of a bank by the bank's operator
// (WithBankOperators). It is the network's own door, apart from the wallet
// API; platform mounts it where the network runs.
package adminapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/tapwallet/tapwallet/clearing"
	"github.com/tapwallet/tapwallet/fault"
)

// HeaderOperatorToken carries the operator token.
const HeaderOperatorToken = "X-Operator-Token"

// Clear runs the end-of-day clearing of a business date (YYYYMMDD).
type Clear func(ctx context.Context, date string) (clearing.Report, error)

// Option adds routes to New's.
type Option func(*server)

// server is the admin routes: one mux, one operator token, and the banks'
// operators' tokens where a route takes them (WithBankOperators).
type server struct {
	mux    *http.ServeMux
	token  string
	log    *slog.Logger
	bankOf func(token string) (bankID string, ok bool)
}

// New returns the network's admin routes, each needing operatorToken
// (header X-Operator-Token; an empty token refuses every request):
//
//	POST /v1/admin/clearing?date=YYYY-MM-DD  the end-of-day clearing
//
// and those of opts (WithPromotions).
func New(clear Clear, operatorToken string, log *slog.Logger, opts ...Option) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &server{mux: http.NewServeMux(), token: operatorToken, log: log}
	s.operatorHandleFunc("POST /v1/admin/clearing", func(r *http.Request) (any, error) {
		date, err := clearing.ParseDate(r.URL.Query().Get("date"))
		if err != nil {
			return nil, err
		}
		return clear(r.Context(), date)
	})
	for _, o := range opts {
		o(s)
	}
	s.mux.HandleFunc("/v1/admin/", func(w http.ResponseWriter, r *http.Request) {
		answer(w, r, log, nil, fault.E(fault.NotFound, "no_route", "no such route"))
	})
	return s.mux
}

// operatorHandleFunc serves pattern with h to the holder of the operator
// token only (401 operator_only otherwise), answering what h returns. (Its
// name ends in HandleFunc: the documents' tests find the routes by it.)
func (s *server) operatorHandleFunc(pattern string, h func(r *http.Request) (any, error)) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if s.token == "" || subtle.ConstantTimeCompare([]byte(r.Header.Get(HeaderOperatorToken)), []byte(s.token)) != 1 {
			answer(w, r, s.log, nil, fault.E(fault.Unauthorized, "operator_only", "this route needs the operator token (header %s)", HeaderOperatorToken))
			return
		}
		v, err := h(r)
		answer(w, r, s.log, v, err)
	})
}

// WithBankOperators lets each issuing bank's operator use the promotion
// routes for its own campaigns (promo.go): bankOf names the bank whose
// operator token a request carries (false: none). The other routes stay
// the network operator's. It must come before WithPromotions.
func WithBankOperators(bankOf func(token string) (bankID string, ok bool)) Option {
	return func(s *server) { s.bankOf = bankOf }
}

// bankHandleFunc serves pattern with h to the network's operator (bank
// "") or to a bank's operator (its bank id), 401 operator_only to anyone
// else. (Its name ends in HandleFunc: the documents' tests find the
// routes by it.)
func (s *server) bankHandleFunc(pattern string, h func(r *http.Request, bank string) (any, error)) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get(HeaderOperatorToken)
		bank := ""
		if s.token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
			id, ok := "", false
			if s.bankOf != nil && got != "" {
				id, ok = s.bankOf(got)
			}
			if !ok {
				answer(w, r, s.log, nil, fault.E(fault.Unauthorized, "operator_only", "this route needs the network's or a bank's operator token (header %s)", HeaderOperatorToken))
				return
			}
			bank = id
		}
		v, err := h(r, bank)
		answer(w, r, s.log, v, err)
	})
}

// answer writes v (200) or err as the house's JSON error answer
// ({"error":{"kind","code","message"}}, the status of fault.HTTPStatus);
// a failure (5xx) is logged with r's context, so the line carries the
// request id.
func answer(w http.ResponseWriter, r *http.Request, log *slog.Logger, v any, err error) {
	code := http.StatusOK
	if err != nil {
		code = fault.HTTPStatus(fault.KindOf(err))
		if code >= 500 {
			log.ErrorContext(r.Context(), "network admin: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		v = map[string]any{"error": map[string]string{"kind": string(fault.KindOf(err)), "code": fault.CodeOf(err), "message": message(err)}}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// message is err's safe message with those of the fault errors it wraps
// ("campaign file: campaigns[1]: campaign "bad": mechanic.amount: …"), so
// an answer names what its cause names; a cause that is not a
// *fault.Error is left out (its text may not be safe to show).
func message(err error) string {
	var parts []string
	var e *fault.Error
	for errors.As(err, &e) {
		if e.Message != "" {
			parts = append(parts, e.Message)
		}
		err = e.Err
	}
	if len(parts) == 0 {
		return "internal error"
	}
	return strings.Join(parts, ": ")
}

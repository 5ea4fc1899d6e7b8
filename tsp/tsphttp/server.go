// Package tsphttp is the token service's remote side over HTTP/JSON: Handler
// serves a token service (the requestor calls of the wallet service, the
// network's token check and ARPC) and Client speaks to it, implementing
// tsp.Requestor and tsp.TokenCheck, so that the wallet and network roles
// can run in other processes than the tsp role. Errors cross the wire as
// their fault kind, code and safe message and come out as the same fault
// errors. Each call is a POST of a JSON body to /tsp/v1/NAME; a shared
// secret, when set, is required as a bearer token. The link carries card
// numbers (to the network, as ISO 8583 to the banks does): it belongs on
// the operator's private network or behind TLS.
package tsphttp

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/tsp"
)

// Service is what Handler serves: the token service's requestor side, its
// token check and the ARPC of a checked authorization (*tsp.Service).
type Service interface {
	tsp.Requestor
	tsp.TokenCheck
	ARPC(ctx context.Context, r tsp.ARPCRequest) ([]byte, error)
}

var _ Service = (*tsp.Service)(nil)

// Prefix is where the calls live: Prefix + NAME.
const Prefix = "/tsp/v1/"

// maxBody bounds a request body (a sync of 32 tokens is a few KiB).
const maxBody = 1 << 20

// Handler serves svc under Prefix. A non-empty secret must come as
// "Authorization: Bearer SECRET" (401 unauthorized otherwise). Bad bodies
// get 400 with a fault error; every answer is JSON.
func Handler(svc Service, secret string) http.Handler {
	mux := http.NewServeMux()
	h := &handler{mux: mux, secret: secret}
	route(h, "add-card", func(ctx context.Context, r addCardJSON) (addCardResultJSON, error) {
		res, err := svc.AddCard(ctx, tsp.AddCardRequest{Device: r.Device, PAN: r.PAN, Expiry: r.Expiry, CVN2: r.CVN2})
		return addCardResultJSON{Card: provisionedOut(res.Card), BindingID: res.BindingID, SentTo: res.SentTo}, err
	})
	route(h, "confirm-otp", func(ctx context.Context, r confirmJSON) (*provisionedJSON, error) {
		p, err := svc.ConfirmOTP(ctx, r.Device, r.BindingID, r.Code)
		return provisionedOut(p), err
	})
	route(h, "cards", func(ctx context.Context, r cardJSON) ([]tokenJSON, error) {
		ts, err := svc.Cards(ctx, r.DeviceID)
		return tokensOut(ts), err
	})
	route(h, "set-default", func(ctx context.Context, r cardJSON) (none, error) {
		return none{}, svc.SetDefault(ctx, r.Device, r.Token)
	})
	route(h, "remove-card", func(ctx context.Context, r cardJSON) (none, error) {
		return none{}, svc.RemoveCard(ctx, r.Device, r.Token, r.Actor)
	})
	route(h, "suspend", func(ctx context.Context, r cardJSON) (none, error) {
		return none{}, svc.Suspend(ctx, r.Token, r.Actor, r.Reason)
	})
	route(h, "resume", func(ctx context.Context, r cardJSON) (none, error) {
		return none{}, svc.Resume(ctx, r.Token, r.Actor, r.Reason)
	})
	route(h, "replenish", func(ctx context.Context, r replenishJSON) ([]tsp.SyncResult, error) {
		return svc.Replenish(ctx, r.Device, r.Logs)
	})
	route(h, "outbox", func(ctx context.Context, r accountJSON) ([]messageJSON, error) {
		ms, err := svc.Outbox(ctx, r.AccountID)
		out := make([]messageJSON, 0, len(ms))
		for _, m := range ms {
			out = append(out, messageJSON(m))
		}
		return out, err
	})
	route(h, "notify", func(ctx context.Context, r accountJSON) (none, error) {
		return none{}, svc.Notify(ctx, r.AccountID, r.Message)
	})
	route(h, "device-off", func(ctx context.Context, r tsp.DeviceSwitch) ([]string, error) {
		return svc.DeviceOff(ctx, r)
	})
	route(h, "device-on", func(ctx context.Context, r tsp.DeviceSwitch) ([]string, error) {
		return svc.DeviceOn(ctx, r)
	})
	route(h, "authorize", func(ctx context.Context, r tsp.AuthRequest) (authResultJSON, error) {
		res, err := svc.Authorize(ctx, r)
		// The key stays here: the network asks for the ARPC (arpc).
		res.Forget()
		return authResultJSON{Token: tokenOut(res.Token), PAN: res.PAN.Digits(), KeyIndex: res.KeyIndex, ATC: res.ATC}, err
	})
	route(h, "credit", func(ctx context.Context, r cardJSON) (creditResultJSON, error) {
		res, err := svc.Credit(ctx, r.Token)
		return creditResultJSON{Token: tokenOut(res.Token), PAN: res.PAN.Digits()}, err
	})
	route(h, "arpc", func(ctx context.Context, r tsp.ARPCRequest) ([]byte, error) {
		return svc.ARPC(ctx, r)
	})
	return h
}

type handler struct {
	mux    *http.ServeMux
	secret string
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.secret != "" {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(h.secret)) != 1 {
			writeError(w, fault.E(fault.Unauthorized, "tsp_secret", "the token service link needs its shared secret"))
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

// route serves one call: a POST of In as JSON, answered with Out as JSON or
// the fault error.
func route[In, Out any](h *handler, name string, call func(context.Context, In) (Out, error)) {
	h.mux.HandleFunc("POST "+Prefix+name, func(w http.ResponseWriter, r *http.Request) {
		var in In
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			writeError(w, fault.E(fault.Invalid, "bad_json", "the request body is not the JSON of %s", name))
			return
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			writeError(w, fault.E(fault.Invalid, "bad_json", "the request body has more than one JSON value"))
			return
		}
		out, err := call(r.Context(), in)
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	})
}

// status is the HTTP status of each kind of fault.
var status = map[fault.Kind]int{
	fault.Invalid: 400, fault.Unauthorized: 401, fault.Declined: 402, fault.Forbidden: 403, fault.NotFound: 404,
	fault.Conflict: 409, fault.Limit: 429, fault.Internal: 500, fault.Unavailable: 503,
}

// writeError answers a fault error as its kind, code and safe message (an
// error that is no fault error as internal, its text withheld).
func writeError(w http.ResponseWriter, err error) {
	e := errorJSON{Kind: fault.KindOf(err), Code: fault.CodeOf(err), Message: fault.MessageOf(err)}
	code, ok := status[e.Kind]
	if !ok {
		code = 500
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]errorJSON{"error": e})
}

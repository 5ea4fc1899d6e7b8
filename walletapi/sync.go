package walletapi

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/wallet"
	"github.com/tapwallet/tapwallet/walletapi/client"
)

// Payments is where the payment history comes from: the card network's
// authorization records.
type Payments interface {
	PhoneAuths(ctx context.Context, phoneID string, limit int) ([]netswitch.Auth, error)
}

// Network is the card network's part of the wallet API. (The network's
// admin routes are its own door, netswitch/adminapi.)
type Network struct {
	Payments Payments
}

// Security event kinds of the phone's sync.
const (
	EventSyncMismatch  = "sync_mismatch"
	EventSyncSuspended = "sync_token_suspended"
)

// MountNetwork adds the card network's routes (docs/openapi.yaml):
//
//	GET  /v1/phones/{phone}/payments  the phone's payments, newest first (session)
//	POST /v1/phones/{phone}/sync      the phone's key log in, fresh limited-use keys out (signed by the phone)
func (a *API) MountNetwork(n Network) {
	a.mux.HandleFunc("GET /v1/phones/{phone}/payments", a.authed(func(w http.ResponseWriter, r *http.Request, acc string) {
		a.payments(w, r, n, acc)
	}))
	a.mux.HandleFunc("POST /v1/phones/{phone}/sync", a.signed(a.sync))
}

// PaymentJSON is one payment in the phone's history.
type PaymentJSON = client.Payment

// PaymentView turns an authorization record into a history entry.
func PaymentView(au netswitch.Auth) PaymentJSON {
	amt := money.New(au.Amount, money.Currency(au.Currency))
	p := PaymentJSON{Merchant: au.MerchantName, Amount: au.Amount, Currency: amt.Currency.Code(), Display: amt.String(),
		CardLast4: au.PANLast4, TokenLast4: au.TokenLast4, Bank: au.BankID, At: au.ReceivedAt, ResponseCode: string(au.ResponseCode),
		AuthCode: au.AuthCode}
	switch {
	case au.PartiallyReversed():
		// What stays charged is what the card holder paid.
		left := money.New(au.ClearAmount, amt.Currency)
		p.Amount, p.Display, p.Status = left.Minor, left.String(), "approved"
		p.Reason = "partially reversed by the terminal from " + amt.String()
	case au.Reversed():
		p.Status, p.Reason = "reversed", "reversed by the terminal"
	case au.Approved():
		p.Status = "approved"
	default:
		p.Status = "declined"
		p.Reason = iso8583.ResponseCode(au.ResponseCode).Text()
		if au.Reason != "" && au.Reason != "issuer_declined" {
			p.Reason += " (" + strings.ReplaceAll(string(au.Reason), "_", " ") + ")"
		}
	}
	return p
}

func (a *API) payments(w http.ResponseWriter, r *http.Request, n Network, acc string) {
	ph, err := a.Wallet.OwnedPhone(r.Context(), acc, r.PathValue("phone"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 && n <= 500 {
			limit = n
		} else {
			a.fail(w, r, fault.E(fault.Invalid, "bad_limit", "limit must be 1 to 500"))
			return
		}
	}
	auths, err := n.Payments.PhoneAuths(r.Context(), ph.ID, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := []PaymentJSON{}
	for _, au := range auths {
		out = append(out, PaymentView(au))
	}
	writeJSON(w, http.StatusOK, client.Payments{Payments: out})
}

// SyncRequest is the phone's sync: its log of each token's keys.
type SyncRequest = client.Sync

// SyncJSON is the answer to one token of a sync.
type SyncJSON = client.SyncToken

func (a *API) sync(w http.ResponseWriter, r *http.Request, ph wallet.Phone, body []byte) {
	var req SyncRequest
	if err := decode(body, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if len(req.Tokens) > tsp.MaxCardsPerPhone*4 {
		a.fail(w, r, fault.E(fault.Invalid, "too_many_tokens", "a sync names at most %d tokens", tsp.MaxCardsPerPhone*4))
		return
	}
	res, err := a.Tokens.Replenish(r.Context(), device(ph), tokenLogs(req.Tokens))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := []SyncJSON{}
	for _, s := range res {
		for _, m := range s.Mismatches {
			a.Wallet.Finding(r.Context(), wallet.Event{AccountID: ph.AccountID, PhoneID: ph.ID, Kind: EventSyncMismatch,
				Detail: "token ending " + last4(s.Token) + ": " + m.Kind + ": " + m.Detail, Source: source(r)})
		}
		if s.Suspended {
			a.Wallet.Finding(r.Context(), wallet.Event{AccountID: ph.AccountID, PhoneID: ph.ID, Kind: EventSyncSuspended,
				Detail: "token ending " + last4(s.Token) + " suspended: the network saw it used where the phone did not", Source: source(r)})
		}
		j := SyncJSON{Token: s.Token, State: string(s.State), Suspended: s.Suspended, Keys: s.Keys}
		for _, m := range s.Mismatches {
			j.Mismatches = append(j.Mismatches, client.Mismatch{Kind: m.Kind, KeyIndex: m.KeyIndex, Detail: m.Detail})
		}
		if s.KeyBatch != nil {
			j.KeyBatch = base64.StdEncoding.EncodeToString(s.KeyBatch)
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, client.SyncAnswer{Tokens: out})
}

// tokenLogs turns the phone's logs into the token service's.
func tokenLogs(in []client.TokenLog) []tsp.TokenLog {
	out := make([]tsp.TokenLog, 0, len(in))
	for _, l := range in {
		t := tsp.TokenLog{Token: l.Token, ATC: l.ATC, Unused: l.Unused}
		for _, u := range l.Used {
			t.Used = append(t.Used, tsp.KeyLog{Index: u.Index, ATC: u.ATC})
		}
		out = append(out, t)
	}
	return out
}

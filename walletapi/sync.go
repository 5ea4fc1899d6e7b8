package walletapi

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/wallet"
	"github.com/tapwallet/tapwallet/walletapi/client"
)

// Payments is where the phone's payment history comes from: the card
// network's records, seen through an adapter the assembly (platform)
// builds — the wallet API knows neither the network's record nor ISO 8583.
type Payments interface {
	// PhonePayments returns a phone's payments, newest first, at most
	// limit.
	PhonePayments(ctx context.Context, phoneID string, limit int) ([]Payment, error)
}

// PaymentStatus is what became of a payment.
type PaymentStatus string

// The statuses of a payment.
const (
	PaymentApproved          PaymentStatus = "approved"
	PaymentPartiallyReversed PaymentStatus = "partially_reversed" // approved, then lowered by the terminal: Charged is what stays
	PaymentReversed          PaymentStatus = "reversed"
	PaymentDeclined          PaymentStatus = "declined"
)

// Payment is one payment of a phone as the wallet shows it.
type Payment struct {
	ID       string // the authorization's identity at the network (POST /v1/points/pay names it)
	PhoneID  string // the phone that paid (not shown: whose payment it is)
	PAR      string // the card's payment account reference (not shown: its points are kept by it)
	Merchant string
	Amount   money.Amount // what the terminal asked: the gross
	// Charged is what the card holder pays, minor units of Amount's
	// currency: Amount less an instant discount, less what the terminal
	// reversed (PaymentPartiallyReversed).
	Charged int64
	// The promotion applied, if one did (Campaign ""  when none):
	// Discount is the benefit in minor units, off the amount charged
	// (FulfilInstant) or given after clearing; Funders are who funded it
	// for display ("ICBC", "network", a merchant's name).
	Discount     int64
	Campaign     string
	CampaignName client.Names
	Fulfilment   string // instant | statement_credit | points
	Funders      []string
	Status       PaymentStatus
	CardLast4    string
	TokenLast4   string
	Bank         string
	At           time.Time
	Code         string // the network's response code, two digits
	AuthCode     string
	// Declined is why, in words, for PaymentDeclined: the response
	// code's meaning and the network's reason.
	Declined string
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

// PaymentView turns a payment into a history entry.
func PaymentView(pm Payment) PaymentJSON {
	p := PaymentJSON{ID: pm.ID, Merchant: pm.Merchant, Amount: pm.Amount.Minor, Currency: pm.Amount.Currency.Code(), Display: pm.Amount.String(),
		CardLast4: pm.CardLast4, TokenLast4: pm.TokenLast4, Bank: pm.Bank, At: pm.At, ResponseCode: pm.Code, AuthCode: pm.AuthCode,
		Status: string(pm.Status), Charged: pm.Charged}
	switch pm.Status {
	case PaymentPartiallyReversed:
		// What stays of the price after the reversal (the card holder
		// pays it less the discount, if one stands).
		left := money.New(pm.Charged+pm.instant(), pm.Amount.Currency)
		p.Amount, p.Display, p.Status = left.Minor, left.String(), string(PaymentApproved)
		p.Reason = "partially reversed by the terminal from " + pm.Amount.String()
	case PaymentReversed:
		p.Reason = "reversed by the terminal"
	case PaymentDeclined:
		p.Reason = pm.Declined
	}
	if pm.Status == PaymentReversed || pm.Status == PaymentDeclined {
		p.Charged = 0
	}
	p.ChargedDisplay = money.New(p.Charged, pm.Amount.Currency).String()
	if pm.Campaign != "" && pm.Discount > 0 && (pm.Status == PaymentApproved || pm.Status == PaymentPartiallyReversed) {
		names := pm.CampaignName
		p.Discount, p.DiscountDisplay = pm.Discount, money.New(pm.Discount, pm.Amount.Currency).String()
		p.Campaign, p.CampaignName, p.Fulfilment, p.Funders = pm.Campaign, &names, pm.Fulfilment, pm.Funders
		p.Promotion = Benefit(money.New(pm.Discount, pm.Amount.Currency), pm.Fulfilment, pm.Funders)
	}
	return p
}

// instant is the discount taken off the amount charged: Discount for an
// instant discount, 0 otherwise.
func (pm Payment) instant() int64 {
	if pm.Campaign != "" && pm.Fulfilment == "instant" {
		return pm.Discount
	}
	return 0
}

// Benefit says a promotion's benefit in words, e.g. "¥50.00 off, funded
// by the network", "¥5.00 back to the card after clearing, funded by CCB".
func Benefit(a money.Amount, fulfilment string, funders []string) string {
	s := Yuan(a) + " off"
	switch fulfilment {
	case "statement_credit":
		s = Yuan(a) + " back to the card after clearing"
	case "points":
		s = "bonus points worth " + Yuan(a) + " after clearing"
	}
	if len(funders) > 0 {
		s += ", funded by " + FundedBy(funders)
	}
	return s
}

// FundedBy joins funders' names for display: "network" is "the network",
// "ICBC and the network".
func FundedBy(funders []string) string {
	words := make([]string, len(funders))
	for i, f := range funders {
		words[i] = f
		if f == "network" {
			words[i] = "the network"
		}
	}
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// Yuan is an amount for the card holder: "¥50.00" in yuan, else as
// money.Amount writes it ("12.00 USD").
func Yuan(a money.Amount) string {
	if a.Currency == money.CNY {
		return "¥" + money.FormatMinor(a.Minor, a.Currency.Exponent())
	}
	return a.String()
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
	pms, err := n.Payments.PhonePayments(r.Context(), ph.ID, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := []PaymentJSON{}
	for _, pm := range pms {
		out = append(out, PaymentView(pm))
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

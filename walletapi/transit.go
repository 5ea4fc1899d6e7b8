package walletapi

import (
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/transit"
	"github.com/tapwallet/tapwallet/wallet"
)

// MountTransit adds the transit operators' routes (docs/transit.md):
//
//	GET  /v1/phones/{phone}/transit/cards                         the phone's transit cards (session)
//	POST /v1/phones/{phone}/transit/cards                         issue a card: {city, token, auth, ref} (signed)
//	GET  /v1/phones/{phone}/transit/cards/{card}                  one card as the operator knows it (session)
//	POST /v1/phones/{phone}/transit/cards/{card}/loads            pay a top-up: {amount_fen, token, auth, ref} (signed)
//	GET  /v1/phones/{phone}/transit/loads/{load}                  a load (session)
//	POST /v1/phones/{phone}/transit/loads/{load}/sign             MAC1 in, MAC2 out: {init} (signed)
//	POST /v1/phones/{phone}/transit/loads/{load}/confirm          the card's TAC: {tac} (signed)
//	POST /v1/phones/{phone}/transit/loads/{load}/refund           a load that did not reach the card: {init?} (signed)
//	POST /v1/phones/{phone}/transit/cards/{card}/challenge        a challenge for closing the card (signed)
//	POST /v1/phones/{phone}/transit/cards/{card}/refund           the card's closure: balance and deposit back (signed)
//	POST /v1/phones/{phone}/transit/cards/{card}/move             the card's closure: personalise another phone (signed)
//	POST /v1/phones/{phone}/transit/cards/{card}/moved            the new phone installed the card (signed)
//
// The operators' back office (gates' clearing files, hot lists, fares,
// settlement) is their own door, transit/operatorapi.
func (a *API) MountTransit(t *transit.Service) {
	h := &transitAPI{a: a, t: t}
	a.transit = t
	a.mux.HandleFunc("GET /v1/phones/{phone}/transit/cards", a.authed(h.list))
	a.mux.HandleFunc("POST /v1/phones/{phone}/transit/cards", a.signed(h.issue))
	a.mux.HandleFunc("GET /v1/phones/{phone}/transit/cards/{card}", a.authed(h.card))
	a.mux.HandleFunc("POST /v1/phones/{phone}/transit/cards/{card}/loads", a.signed(h.startLoad))
	a.mux.HandleFunc("GET /v1/phones/{phone}/transit/loads/{load}", a.authed(h.load))
	a.mux.HandleFunc("POST /v1/phones/{phone}/transit/loads/{load}/sign", a.signed(h.signLoad))
	a.mux.HandleFunc("POST /v1/phones/{phone}/transit/loads/{load}/confirm", a.signed(h.confirmLoad))
	a.mux.HandleFunc("POST /v1/phones/{phone}/transit/loads/{load}/refund", a.signed(h.refundLoad))
	a.mux.HandleFunc("POST /v1/phones/{phone}/transit/cards/{card}/challenge", a.signed(h.challenge))
	a.mux.HandleFunc("POST /v1/phones/{phone}/transit/cards/{card}/refund", a.signed(h.refund))
	a.mux.HandleFunc("POST /v1/phones/{phone}/transit/cards/{card}/move", a.signed(h.move))
	a.mux.HandleFunc("POST /v1/phones/{phone}/transit/cards/{card}/moved", a.signed(h.moved))
}

type transitAPI struct {
	a *API
	t *transit.Service
}

func transitPhone(p wallet.Phone) transit.Phone {
	return transit.Phone{ID: p.ID, AccountID: p.AccountID, PublicKey: p.PublicKey}
}

// TransitCardJSON is a transit card in API answers.
type TransitCardJSON struct {
	Number    string    `json:"number"`
	City      string    `json:"city"`
	State     string    `json:"state"`
	Balance   int64     `json:"cleared_balance_fen"` // what the operator believes the card holds
	Deposit   int64     `json:"deposit_fen"`
	IssueFee  int64     `json:"issue_fee_fen"`
	OnlineATC int       `json:"online_atc"`
	IssuedAt  time.Time `json:"issued_at"`
	AID       string    `json:"aid,omitempty"`
	Sealed    string    `json:"personalisation,omitempty"` // base64, sealed to the phone's device key
}

func transitCardView(c transit.Card) TransitCardJSON {
	return TransitCardJSON{Number: c.Number, City: c.City, State: c.State, Balance: c.Balance, Deposit: c.Deposit, IssueFee: c.IssueFee,
		OnlineATC: c.OnlineATC, IssuedAt: c.IssuedAt}
}

// TransitLoadJSON is a load in API answers.
type TransitLoadJSON struct {
	ID       string `json:"id"`
	Card     string `json:"card"`
	Amount   int64  `json:"amount_fen"`
	State    string `json:"state"`
	ATC      int    `json:"online_atc"`
	DateTime string `json:"datetime,omitempty"` // hex BCD the MAC2 covers
	MAC2     string `json:"mac2,omitempty"`
}

func loadView(l transit.Load) TransitLoadJSON {
	j := TransitLoadJSON{ID: l.ID, Card: l.Card, Amount: l.Amount, State: l.State, ATC: l.OnlineATC}
	if l.DateTime != ([7]byte{}) {
		j.DateTime = hex.EncodeToString(l.DateTime[:])
	}
	return j
}

func (h *transitAPI) list(w http.ResponseWriter, r *http.Request, acc string) {
	ph, err := h.a.Wallet.OwnedPhone(r.Context(), acc, r.PathValue("phone"))
	if err != nil {
		h.a.fail(w, r, err)
		return
	}
	cards, err := h.t.CardsOfPhone(r.Context(), ph.ID)
	if err != nil {
		h.a.fail(w, r, err)
		return
	}
	out := []TransitCardJSON{}
	for _, c := range cards {
		out = append(out, transitCardView(c))
	}
	writeJSON(w, http.StatusOK, map[string]any{"cards": out})
}

func (h *transitAPI) card(w http.ResponseWriter, r *http.Request, acc string) {
	ph, err := h.a.Wallet.OwnedPhone(r.Context(), acc, r.PathValue("phone"))
	if err != nil {
		h.a.fail(w, r, err)
		return
	}
	c, err := h.t.PhoneCard(r.Context(), ph.ID, r.PathValue("card"))
	if err != nil {
		h.a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, transitCardView(c))
}

// paymentReq is the bank-card payment part of an issue or top-up request.
type paymentReq struct {
	Token string `json:"token"`
	Auth  string `json:"auth,omitempty"`
	Ref   string `json:"ref"`
}

// decodePayment decodes body strictly into req (which embeds p) and
// returns the payment p describes; it fails like decode and payOf.
func decodePayment(body []byte, req any, p *paymentReq) (transit.Pay, error) {
	if err := decode(body, req); err != nil {
		return transit.Pay{}, err
	}
	return payOf(p.Token, p.Auth)
}

func (h *transitAPI) issue(w http.ResponseWriter, r *http.Request, ph wallet.Phone, body []byte) {
	var req struct {
		City string `json:"city"`
		paymentReq
	}
	pay, err := decodePayment(body, &req, &req.paymentReq)
	if err != nil {
		h.a.fail(w, r, err)
		return
	}
	is, err := h.t.IssueWith(r.Context(), transitPhone(ph), req.City, pay, req.Ref)
	if err != nil {
		h.a.fail(w, r, err)
		return
	}
	h.a.Wallet.Record(r.Context(), wallet.Event{AccountID: ph.AccountID, PhoneID: ph.ID, Kind: "transit_card_added", Detail: is.Card.City + " card " + is.Card.Number, Source: source(r)})
	j := transitCardView(is.Card)
	j.AID, j.Sealed = hex.EncodeToString(is.AID), base64.StdEncoding.EncodeToString(is.Sealed)
	writeJSON(w, http.StatusCreated, j)
}

func (h *transitAPI) startLoad(w http.ResponseWriter, r *http.Request, ph wallet.Phone, body []byte) {
	var req struct {
		Amount int64 `json:"amount_fen"`
		paymentReq
	}
	pay, err := decodePayment(body, &req, &req.paymentReq)
	if err != nil {
		h.a.fail(w, r, err)
		return
	}
	l, err := h.t.StartLoadWith(r.Context(), transitPhone(ph), r.PathValue("card"), req.Amount, pay, req.Ref)
	if err != nil {
		h.a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, loadView(l))
}

func (h *transitAPI) load(w http.ResponseWriter, r *http.Request, acc string) {
	ph, err := h.a.Wallet.OwnedPhone(r.Context(), acc, r.PathValue("phone"))
	if err != nil {
		h.a.fail(w, r, err)
		return
	}
	l, err := h.t.LoadOf(r.Context(), transit.Phone{ID: ph.ID, AccountID: ph.AccountID}, r.PathValue("load"))
	if err != nil {
		h.a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, loadView(l))
}

// payOf reads how a phone pays: the bank card's token and, hex, the
// authorization its payment applet made (a packed 0100).
func payOf(token, auth string) (transit.Pay, error) {
	p := transit.Pay{Token: token}
	if auth != "" {
		b, err := hex.DecodeString(auth)
		if err != nil || len(b) > 1024 {
			return p, fault.E(fault.Invalid, "bad_auth", "auth must be a packed ISO 8583 message in hex")
		}
		p.Auth = b
	}
	return p, nil
}

func hexField(s, name string, n int) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || (n > 0 && len(b) != n) {
		return nil, fault.E(fault.Invalid, "bad_"+name, "%s must be %d bytes of hex", name, n)
	}
	return b, nil
}

func (h *transitAPI) signLoad(w http.ResponseWriter, r *http.Request, ph wallet.Phone, body []byte) {
	var req struct {
		Init string `json:"init"`
	}
	if err := decode(body, &req); err != nil {
		h.a.fail(w, r, err)
		return
	}
	b, err := hexField(req.Init, "init", 16)
	if err != nil {
		h.a.fail(w, r, err)
		return
	}
	in, _ := transit.ParseInitLoad(b)
	mac2, dt, err := h.t.SignLoad(r.Context(), transitPhone(ph), r.PathValue("load"), in)
	if err != nil {
		h.a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"mac2": hex.EncodeToString(mac2[:]), "datetime": hex.EncodeToString(dt[:])})
}

func (h *transitAPI) confirmLoad(w http.ResponseWriter, r *http.Request, ph wallet.Phone, body []byte) {
	var req struct {
		TAC string `json:"tac"`
	}
	if err := decode(body, &req); err != nil {
		h.a.fail(w, r, err)
		return
	}
	b, err := hexField(req.TAC, "tac", 4)
	if err != nil {
		h.a.fail(w, r, err)
		return
	}
	var tac [4]byte
	copy(tac[:], b)
	l, err := h.t.ConfirmLoad(r.Context(), transitPhone(ph), r.PathValue("load"), tac)
	if err != nil {
		h.a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, loadView(l))
}

func (h *transitAPI) refundLoad(w http.ResponseWriter, r *http.Request, ph wallet.Phone, body []byte) {
	var req struct {
		Init string `json:"init,omitempty"`
	}
	if err := decode(body, &req); err != nil {
		h.a.fail(w, r, err)
		return
	}
	var in *transit.InitLoad
	if req.Init != "" {
		b, err := hexField(req.Init, "init", 16)
		if err != nil {
			h.a.fail(w, r, err)
			return
		}
		x, _ := transit.ParseInitLoad(b)
		in = &x
	}
	l, err := h.t.RefundLoad(r.Context(), transitPhone(ph), r.PathValue("load"), in)
	if err != nil {
		h.a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, loadView(l))
}

func (h *transitAPI) challenge(w http.ResponseWriter, r *http.Request, ph wallet.Phone, body []byte) {
	ch, err := h.t.StartClose(r.Context(), transitPhone(ph), r.PathValue("card"))
	if err != nil {
		h.a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"challenge": hex.EncodeToString(ch[:])})
}

// ClosureJSON is a card's closure as the phone sends it.
type ClosureJSON struct {
	Number     string `json:"number"`
	Balance    int64  `json:"balance_fen"`
	OnlineATC  uint16 `json:"online_atc"`
	OfflineATC uint16 `json:"offline_atc"`
	MAC        string `json:"mac"`
}

func (c ClosureJSON) closure() (epurse.Closure, error) {
	n, err := epurse.ParseCardNumber(c.Number)
	if err != nil {
		return epurse.Closure{}, err
	}
	m, err := hexField(c.MAC, "mac", 4)
	if err != nil {
		return epurse.Closure{}, err
	}
	cl := epurse.Closure{Number: n, Balance: c.Balance, OnlineATC: c.OnlineATC, OfflineATC: c.OfflineATC}
	copy(cl.MAC[:], m)
	return cl, nil
}

func (h *transitAPI) refund(w http.ResponseWriter, r *http.Request, ph wallet.Phone, body []byte) {
	var req struct {
		Closure ClosureJSON `json:"closure"`
	}
	if err := decode(body, &req); err != nil {
		h.a.fail(w, r, err)
		return
	}
	cl, err := req.Closure.closure()
	if err != nil {
		h.a.fail(w, r, err)
		return
	}
	res, err := h.t.Refund(r.Context(), transitPhone(ph), r.PathValue("card"), cl)
	if err != nil {
		h.a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"card": transitCardView(res.Card), "refunded": res.Refunded, "waiting_rides": res.Waiting, "amount_fen": res.Amount})
}

func (h *transitAPI) move(w http.ResponseWriter, r *http.Request, ph wallet.Phone, body []byte) {
	var req struct {
		Closure ClosureJSON `json:"closure"`
		ToPhone string      `json:"to_phone"`
		Trip    string      `json:"trip,omitempty"`
		Log     []string    `json:"log,omitempty"`
	}
	if err := decode(body, &req); err != nil {
		h.a.fail(w, r, err)
		return
	}
	cl, err := req.Closure.closure()
	if err != nil {
		h.a.fail(w, r, err)
		return
	}
	to, err := h.a.Wallet.OwnedPhone(r.Context(), ph.AccountID, req.ToPhone)
	if err != nil {
		h.a.fail(w, r, err)
		return
	}
	var trip []byte
	if req.Trip != "" {
		if trip, err = hexField(req.Trip, "trip", epurse.TripSize); err != nil {
			h.a.fail(w, r, err)
			return
		}
	}
	var log [][]byte
	for _, s := range req.Log {
		b, err := hexField(s, "log", epurse.LogRecordSize)
		if err != nil {
			h.a.fail(w, r, err)
			return
		}
		log = append(log, b)
	}
	m, err := h.t.Move(r.Context(), transitPhone(ph), transitPhone(to), r.PathValue("card"), cl, trip, log)
	if err != nil {
		h.a.fail(w, r, err)
		return
	}
	h.a.Wallet.Record(r.Context(), wallet.Event{AccountID: ph.AccountID, PhoneID: to.ID, Kind: "transit_card_moved", Detail: m.Card.City + " card " + m.Card.Number + " from phone " + ph.ID, Source: source(r)})
	j := transitCardView(m.Card)
	j.Sealed = base64.StdEncoding.EncodeToString(m.Sealed)
	writeJSON(w, http.StatusOK, j)
}

func (h *transitAPI) moved(w http.ResponseWriter, r *http.Request, ph wallet.Phone, body []byte) {
	if err := h.t.ConfirmMove(r.Context(), transitPhone(ph), r.PathValue("card")); err != nil {
		h.a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "installed"})
}

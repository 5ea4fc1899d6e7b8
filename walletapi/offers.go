package walletapi

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/walletapi/client"
)

// OfferCard is a card as the promotions see it: by its payment account
// reference (PAR), bank, card range and product — never its number.
type OfferCard struct {
	PAR     string
	Bank    string
	BIN     string // the card product's BIN ("" when unknown: a BIN-range campaign is then not offered)
	Product string // debit | credit
}

// Offer is a campaign as the card holder sees it.
type Offer = client.Offer

// Offers is the card network's promotions as the wallet shows them to a
// card holder (platform adapts the promo wing).
type Offers interface {
	// Offers returns, for each card, the offers it may use now (aligned
	// with cards): the campaigns eligible without an amount (bank or BIN
	// range, product, window, not paused).
	Offers(ctx context.Context, cards []OfferCard) ([][]Offer, error)
	// Enrol adds the offer of an add-to-card campaign to a card (again:
	// no change) and returns it. It fails with fault.NotFound for an
	// unknown campaign, fault.Invalid "offer_not_for_card" when the card
	// may not use it, "offer_auto" when it needs no adding.
	Enrol(ctx context.Context, campaign string, card OfferCard) (Offer, error)
}

// PaymentFinder finds one payment by its identity.
type PaymentFinder interface {
	// Payment returns a payment by its identity (with its PhoneID and
	// PAR), or fault.NotFound.
	Payment(ctx context.Context, id string) (Payment, error)
}

// Promotions is the card holder's side of promotions and rewards: the
// network's offers, the banks' points, and the payments paid with points.
// A nil part leaves its routes out.
type Promotions struct {
	Offers   Offers
	Rewards  bank.Rewards
	Payments PaymentFinder // with Rewards: the payment a pay-with-points names
	// BankName names a bank for display ("ICBC"); nil: its id.
	BankName func(id string) string
}

// MountPromotions adds the promotions' routes (docs/openapi.yaml), each
// for a session and only over the account's own cards:
//
//	GET  /v1/offers                                the offers of each card of the account's phones (?phone=ID: one phone)
//	POST /v1/offers/{campaign}/cards/{card}/add    add an offer to a card (add-to-card campaigns)
//	GET  /v1/points                                the points of each card at its bank (?phone=ID: one phone)
//	POST /v1/points/pay                            pay a posted purchase of the account with points
//
// Mounted again, the routes use the new parts (the routes are added
// once); a nil part answers its routes 404 no_route.
func (a *API) MountPromotions(p Promotions) {
	if p.BankName == nil {
		p.BankName = func(id string) string { return id }
	}
	a.promo.Store(&p)
	a.promoOnce.Do(func() {
		a.mux.HandleFunc("GET /v1/offers", a.promoRoute(func(p *Promotions) bool { return p.Offers != nil }, a.listOffers))
		a.mux.HandleFunc("POST /v1/offers/{campaign}/cards/{card}/add", a.promoRoute(func(p *Promotions) bool { return p.Offers != nil }, a.addOffer))
		a.mux.HandleFunc("GET /v1/points", a.promoRoute(func(p *Promotions) bool { return p.Rewards != nil }, a.points))
		a.mux.HandleFunc("POST /v1/points/pay", a.promoRoute(func(p *Promotions) bool { return p.Rewards != nil }, a.payWithPoints))
	})
}

// promoRoute runs h for a session with the promotions mounted now, when
// has finds its part in them.
func (a *API) promoRoute(has func(*Promotions) bool, h func(w http.ResponseWriter, r *http.Request, p Promotions, acc string)) http.HandlerFunc {
	return a.authed(func(w http.ResponseWriter, r *http.Request, acc string) {
		p := a.promo.Load()
		if p == nil || !has(p) {
			a.fail(w, r, fault.E(fault.NotFound, "no_route", "no such API route: %s %s (promotions are not served here)", r.Method, r.URL.Path))
			return
		}
		h(w, r, *p, acc)
	})
}

// accountCard is a token of one of the account's phones.
type accountCard struct {
	phone string
	tsp.Token
}

// accountCards returns the tokens of the account's phones, or of the one
// named by ?phone= (which must be the account's).
func (a *API) accountCards(r *http.Request, acc string) ([]accountCard, error) {
	var phones []string
	if id := r.URL.Query().Get("phone"); id != "" {
		ph, err := a.Wallet.OwnedPhone(r.Context(), acc, id)
		if err != nil {
			return nil, err
		}
		phones = []string{ph.ID}
	} else {
		ps, err := a.Wallet.Phones(r.Context(), acc)
		if err != nil {
			return nil, err
		}
		for _, ph := range ps {
			phones = append(phones, ph.ID)
		}
	}
	var out []accountCard
	for _, ph := range phones {
		toks, err := a.Tokens.Cards(r.Context(), ph)
		if err != nil {
			return nil, err
		}
		for _, t := range toks {
			out = append(out, accountCard{ph, t})
		}
	}
	return out, nil
}

// offerCard is the card of a token for the promotions (its BIN is the
// adapter's to find).
func offerCard(t tsp.Token) OfferCard {
	return OfferCard{PAR: t.PAR, Bank: t.BankID, Product: t.Product}
}

func (a *API) listOffers(w http.ResponseWriter, r *http.Request, p Promotions, acc string) {
	cards, err := a.accountCards(r, acc)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	in := make([]OfferCard, len(cards))
	for i, c := range cards {
		in[i] = offerCard(c.Token)
	}
	offers, err := p.Offers.Offers(r.Context(), in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := client.Offers{Cards: []client.CardOffers{}}
	for i, c := range cards {
		co := client.CardOffers{Card: c.Number.Digits(), Phone: c.phone, TokenLast4: c.Number.Last4(), PANLast4: c.PANLast4,
			Bank: c.BankID, BankName: p.BankName(c.BankID), Product: c.Product, Offers: []Offer{}}
		if i < len(offers) && offers[i] != nil {
			co.Offers = offers[i]
		}
		out.Cards = append(out.Cards, co)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) addOffer(w http.ResponseWriter, r *http.Request, p Promotions, acc string) {
	campaign, ref := r.PathValue("campaign"), r.PathValue("card")
	if campaign == "" || len(campaign) > 64 {
		a.fail(w, r, fault.E(fault.Invalid, "bad_campaign", "the campaign id must be 1 to 64 characters"))
		return
	}
	cards, err := a.accountCards(r, acc)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var card *accountCard
	for i := range cards {
		if cards[i].Number.Digits() == ref {
			card = &cards[i]
			break
		}
	}
	if card == nil {
		// Another account's card is answered as no card at all.
		a.fail(w, r, fault.E(fault.NotFound, "card_not_found", "no such card on this account's phones (name it by its id, GET /v1/offers)"))
		return
	}
	o, err := p.Offers.Enrol(r.Context(), campaign, offerCard(card.Token))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, client.OfferAdded{Status: "added", Campaign: o.Campaign, TokenLast4: card.Number.Last4(), Offer: o})
}

func (a *API) points(w http.ResponseWriter, r *http.Request, p Promotions, acc string) {
	cards, err := a.accountCards(r, acc)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := client.Points{Banks: []client.BankPoints{}, Cards: []client.CardPoints{}}
	seen := map[string]bool{}
	banks := map[string]int{}
	for _, c := range cards {
		if c.PAR == "" || seen[c.PAR] {
			continue // the same card on two phones has one balance
		}
		seen[c.PAR] = true
		pts, err := p.Rewards.Points(r.Context(), c.BankID, c.PAR)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		value := money.Fen(pts.Balance * pts.FenPerPoint)
		out.Cards = append(out.Cards, client.CardPoints{Bank: c.BankID, BankName: p.BankName(c.BankID), TokenLast4: c.Number.Last4(),
			PANLast4: c.PANLast4, Product: c.Product, Balance: pts.Balance, FenPerPoint: pts.FenPerPoint, Value: value.Minor,
			ValueDisplay: Yuan(value), Expiring: pts.Expiring, ExpiresAt: pts.ExpiresAt})
		i, ok := banks[c.BankID]
		if !ok {
			i, banks[c.BankID] = len(out.Banks), len(out.Banks)
			out.Banks = append(out.Banks, client.BankPoints{Bank: c.BankID, BankName: p.BankName(c.BankID)})
		}
		b := &out.Banks[i]
		b.Balance += pts.Balance
		b.Value += value.Minor
		b.ValueDisplay = Yuan(money.Fen(b.Value))
	}
	writeJSON(w, http.StatusOK, out)
}

// maxPayPoints bounds the points of one request (a programme's balance
// is far below it).
const maxPayPoints = 1_000_000_000

func (a *API) payWithPoints(w http.ResponseWriter, r *http.Request, p Promotions, acc string) {
	var req client.PayWithPoints
	if err := readJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	switch {
	case strings.TrimSpace(req.Payment) == "" || len(req.Payment) > 128:
		a.fail(w, r, fault.E(fault.Invalid, "bad_payment", "payment must name a payment by its id (GET /v1/phones/{phone}/payments)"))
		return
	case req.Points < 0 || req.Points > maxPayPoints:
		a.fail(w, r, fault.E(fault.Invalid, "bad_points", "points must be 0 (as many as the purchase takes) to %d", maxPayPoints))
		return
	case p.Payments == nil:
		a.fail(w, r, fault.E(fault.Unavailable, "no_payments", "the payments are not reachable from this process"))
		return
	}
	pm, err := p.Payments.Payment(r.Context(), req.Payment)
	if err == nil && pm.PhoneID != "" {
		_, err = a.Wallet.OwnedPhone(r.Context(), acc, pm.PhoneID)
	}
	if err != nil || pm.PhoneID == "" {
		if err == nil || fault.KindOf(err) == fault.NotFound || fault.KindOf(err) == fault.Forbidden {
			// Another account's payment is answered as no payment at all.
			err = fault.E(fault.NotFound, "payment_not_found", "no such payment of this account")
		}
		a.fail(w, r, err)
		return
	}
	if pm.Status != PaymentApproved && pm.Status != PaymentPartiallyReversed {
		a.fail(w, r, fault.E(fault.Invalid, "payment_not_paid", "only an approved purchase can be paid with points (this one is %s)", pm.Status))
		return
	}
	if pm.PAR == "" {
		a.fail(w, r, fault.E(fault.Invalid, "payment_no_card", "the network recorded no card reference for this payment: its bank keeps no points for it"))
		return
	}
	res, err := p.Rewards.PayWithPoints(r.Context(), bank.PayWithPoints{Bank: pm.Bank, PAR: pm.PAR, Purchase: pm.ID, Points: req.Points})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, client.PointsPaid{Payment: pm.ID, Bank: pm.Bank, Points: res.Points, Credit: res.Credit,
		CreditDisplay: Yuan(money.Fen(res.Credit)), Balance: res.Balance, Again: res.Again})
}

// CardOffersOf returns the offers of cs a card may use at now, best known
// first (by window end, then id), in the wallet's view: the campaigns not
// paused, open at now, for the card's bank or BIN range and product,
// with what a purchase must also meet in Conditions. enrolled holds the
// add-to-card campaigns the card was added to; name names a funder's party
// for display (a bank id → "ICBC"). It never fails.
func CardOffersOf(cs []promo.Campaign, card OfferCard, enrolled map[string]bool, now time.Time, name func(party string) string) []Offer {
	out := []Offer{}
	for i := range cs {
		c := &cs[i]
		if !OfferedTo(c, card, now) {
			continue
		}
		out = append(out, OfferView(c, card.Bank, c.Enrolment != promo.EnrolAddToCard || enrolled[c.ID], name))
	}
	return out
}

// OfferedTo reports whether a card may use c at now, whatever it buys:
// not paused, inside its window, for the card's bank or BIN range and
// product. It never fails.
func OfferedTo(c *promo.Campaign, card OfferCard, now time.Time) bool {
	if c.Paused || !c.Window.Contains(now) {
		return false
	}
	e := &c.Eligibility
	if len(e.Banks) > 0 || len(e.BINRanges) > 0 {
		ok := slices.Contains(e.Banks, card.Bank)
		for _, r := range e.BINRanges {
			ok = ok || (card.BIN != "" && r.Contains(card.BIN))
		}
		if !ok {
			return false
		}
	}
	return len(e.Products) == 0 || slices.Contains(e.Products, card.Product)
}

// OfferView is a campaign as a card holder of cardBank sees it (added:
// it applies to the card's purchases).
func OfferView(c *promo.Campaign, cardBank string, added bool, name func(party string) string) Offer {
	if name == nil {
		name = func(p string) string { return p }
	}
	o := Offer{Campaign: c.ID, Name: client.Names{ZH: c.Name.ZH, EN: c.Name.EN}, Owner: c.Owner, Mechanic: c.Mechanic.String(),
		Fulfilment: string(c.Fulfilment), Enrolment: string(c.Enrolment), Added: added, Ends: c.Window.End, Funders: []client.Funder{}}
	var by []string
	for _, f := range c.Funders {
		party := f.Party
		switch {
		case f.Kind == promo.FunderNetwork && party == "":
			party = "network"
		case f.Kind == promo.FunderIssuer && party == "":
			party = cardBank
		}
		n := name(party)
		if party == "network" {
			n = "the network"
		}
		o.Funders = append(o.Funders, client.Funder{Kind: string(f.Kind), Party: party, Name: n, Share: money.FormatMinor(int64(f.ShareBP), 2)})
		if len(c.Funders) > 1 {
			n += " " + percent(f.ShareBP)
		}
		by = append(by, n)
	}
	o.FundedBy = strings.Join(by, ", ")
	switch c.Fulfilment {
	case promo.FulfilStatementCredit:
		o.Benefit = c.Mechanic.String() + ", credited to the card after clearing"
	case promo.FulfilPoints:
		o.Benefit = c.Mechanic.String() + ", as bonus points after clearing"
	default:
		o.Benefit = c.Mechanic.String() + ", off the amount charged"
	}
	o.Conditions = conditions(c)
	o.Channels = []string{}
	for _, ch := range c.Channels {
		o.Channels = append(o.Channels, string(ch))
	}
	return o
}

// conditions are what a purchase must meet besides the card, in words.
func conditions(c *promo.Campaign) []string {
	var out []string
	var ch []string
	for _, x := range c.Channels {
		switch x {
		case promo.ChannelNFC:
			ch = append(ch, "store taps")
		case promo.ChannelInApp:
			ch = append(ch, "in-app payments")
		case promo.ChannelTransitTopUp:
			ch = append(ch, "transit card top-ups")
		}
	}
	if len(ch) > 0 {
		out = append(out, "on "+strings.Join(ch, " and "))
	}
	e := &c.Eligibility
	if e.NewCardHolder {
		out = append(out, "the card's first purchase on the network")
	}
	if len(e.MCCs) > 0 {
		out = append(out, "merchant categories "+strings.Join(e.MCCs, ", "))
	}
	if len(e.Merchants) > 0 {
		out = append(out, "at merchants "+strings.Join(e.Merchants, ", "))
	}
	if len(e.Cities) > 0 {
		out = append(out, "in "+strings.Join(e.Cities, ", "))
	}
	l := &c.Limits
	if l.CardDayCount > 0 {
		out = append(out, plural(l.CardDayCount, "time")+" a day per card")
	}
	if l.CardCount > 0 {
		out = append(out, plural(l.CardCount, "time")+" per card")
	}
	if l.CardAmount > 0 {
		out = append(out, "up to "+Yuan(money.Fen(int64(l.CardAmount)))+" per card")
	}
	return out
}

// percent writes basis points as a percent: "70%", "12.5%".
func percent(bp int) string {
	if bp%100 == 0 {
		return strconv.Itoa(bp/100) + "%"
	}
	return strings.TrimSuffix(money.FormatMinor(int64(bp), 2), "0") + "%"
}

func plural(n int64, what string) string {
	if n == 1 {
		return "once"
	}
	return strconv.FormatInt(n, 10) + " " + what + "s"
}

package promo

import (
	"fmt"
	"math/bits"
	"sort"

	"github.com/tapwallet/tapwallet/fault"
)

// Share is one funder's part of a discount.
type Share struct {
	Kind   FunderKind `json:"kind"`
	Party  string     `json:"party"` // "network", a bank id or a merchant id
	Amount int64      `json:"amount"`
}

// Split divides a discount between the campaign's funders by their basis
// points, rounding each share down; the fen left over go to the funder
// with the largest share (the first of them in the campaign). An issuer
// funder without a party is the card's bank cardBank. The shares add up
// to discount exactly. It never fails.
func (c *Campaign) Split(discount int64, cardBank string) []Share {
	out := make([]Share, len(c.Funders))
	var sum int64
	big := 0
	for i, f := range c.Funders {
		party := f.Party
		switch {
		case f.Kind == FunderNetwork && party == "":
			party = "network"
		case f.Kind == FunderIssuer && party == "":
			party = cardBank
		}
		out[i] = Share{Kind: f.Kind, Party: party, Amount: discount * int64(f.ShareBP) / 10000}
		sum += out[i].Amount
		if f.ShareBP > c.Funders[big].ShareBP {
			big = i
		}
	}
	out[big].Amount += discount - sum
	return out
}

// Redemption is a discounted purchase as the network recorded it: what
// the clearing file carries for it and what a refund is measured against.
type Redemption struct {
	Identity   string     `json:"identity"` // the authorization's message identity (the hold's id)
	Campaign   string     `json:"campaign"`
	Fulfilment Fulfilment `json:"fulfilment"`
	Merchant   string     `json:"merchant"`
	CardBank   string     `json:"card_bank"`
	Gross      int64      `json:"gross"` // the price the merchant is settled
	Net        int64      `json:"net"`   // what the card holder was charged
	Discount   int64      `json:"discount"`
	Shares     []Share    `json:"shares"`
}

// Redeem returns the redemption of an offer for the purchase p. It never
// fails.
func (o Offer) Redeem(p *Purchase) Redemption {
	return Redemption{Identity: p.Identity, Campaign: o.Campaign.ID, Fulfilment: o.Campaign.Fulfilment,
		Merchant: p.Merchant, CardBank: p.Bank, Gross: o.Gross, Net: o.Net(), Discount: o.Discount,
		Shares: append([]Share(nil), o.Shares...)}
}

// Check verifies a redemption's arithmetic: the shares add up to the
// discount, none negative, and for an instant discount gross = net + the
// shares (the merchant is settled the gross), for a credit after
// clearing gross = net. It returns a fault.Invalid error naming the
// redemption, or nil.
func (r Redemption) Check() error {
	var sum int64
	for _, s := range r.Shares {
		if s.Amount < 0 {
			return fault.E(fault.Invalid, "promo_settlement", "redemption %s: %s %s share %d is negative", r.Identity, s.Kind, s.Party, s.Amount)
		}
		sum += s.Amount
	}
	if sum != r.Discount {
		return fault.E(fault.Invalid, "promo_settlement", "redemption %s: shares add up to %d, discount is %d", r.Identity, sum, r.Discount)
	}
	want := r.Net
	if r.Fulfilment == FulfilInstant {
		want += sum
	}
	if r.Gross != want || r.Net <= 0 {
		return fault.E(fault.Invalid, "promo_settlement", "redemption %s: gross %d, net %d, shares %d do not balance", r.Identity, r.Gross, r.Net, sum)
	}
	return nil
}

// Line is one settlement line of a clearing file: what one funder pays
// for one campaign, and to whom — the merchant's side for an instant
// discount (the card holder paid less, the merchant is settled the
// gross), the card's issuer for a credit or points after clearing.
type Line struct {
	Campaign string     `json:"campaign"`
	Kind     FunderKind `json:"funder_kind"`
	Party    string     `json:"funder"`
	To       string     `json:"to"` // "merchant" or "card_holder"
	Count    int        `json:"count"`
	Amount   int64      `json:"amount"`
}

// MerchantLine is what one merchant is settled for its discounted
// purchases: the gross, less what it funded itself.
type MerchantLine struct {
	Merchant string `json:"merchant"`
	Count    int    `json:"count"`
	Gross    int64  `json:"gross"`
	Funded   int64  `json:"funded"`  // its own shares (merchant-funded campaigns)
	Settled  int64  `json:"settled"` // Gross - Funded
}

// Settlement is the promotion part of a clearing: per funder and
// campaign, per merchant, and the totals that must balance.
type Settlement struct {
	Lines     []Line         `json:"lines"`
	Merchants []MerchantLine `json:"merchants"`
	Gross     int64          `json:"gross"`     // every discounted purchase at its price
	CardNet   int64          `json:"card_net"`  // what the card holders were charged
	Funded    int64          `json:"funded"`    // every share of every discount
	Credits   int64          `json:"credits"`   // of which credited to card holders after clearing
	Discounts int64          `json:"discounts"` // of which taken off at the terminal
}

// Settle makes the settlement lines of cleared redemptions, in the order
// campaign, funder kind, funder, beneficiary. It fails with
// fault.Invalid (code promo_settlement) naming the first redemption whose
// arithmetic does not hold (Check); then there are no lines.
func Settle(rs []Redemption) (Settlement, error) {
	var st Settlement
	lines := map[Line]*Line{}
	merchants := map[string]*MerchantLine{}
	for _, r := range rs {
		if err := r.Check(); err != nil {
			return Settlement{}, err
		}
		st.Gross += r.Gross
		st.CardNet += r.Net
		to := "merchant"
		if r.Fulfilment == FulfilInstant {
			st.Discounts += r.Discount
		} else {
			to = "card_holder"
			st.Credits += r.Discount
		}
		m := entry(merchants, r.Merchant, MerchantLine{Merchant: r.Merchant})
		m.Count++
		m.Gross += r.Gross
		for _, s := range r.Shares {
			st.Funded += s.Amount
			k := Line{Campaign: r.Campaign, Kind: s.Kind, Party: s.Party, To: to}
			l := entry(lines, k, k)
			l.Count++
			l.Amount += s.Amount
			if s.Kind == FunderMerchant && to == "merchant" && s.Party == r.Merchant {
				m.Funded += s.Amount
			}
		}
	}
	for _, l := range lines {
		st.Lines = append(st.Lines, *l)
	}
	sort.Slice(st.Lines, func(i, j int) bool {
		a, b := st.Lines[i], st.Lines[j]
		return fmt.Sprint(a.Campaign, "\x00", a.Kind, "\x00", a.Party, "\x00", a.To) < fmt.Sprint(b.Campaign, "\x00", b.Kind, "\x00", b.Party, "\x00", b.To)
	})
	for _, m := range merchants {
		m.Settled = m.Gross - m.Funded
		st.Merchants = append(st.Merchants, *m)
	}
	sort.Slice(st.Merchants, func(i, j int) bool { return st.Merchants[i].Merchant < st.Merchants[j].Merchant })
	return st, nil
}

// entry returns m's value for k, adding zero first when k is missing.
func entry[K comparable, V any](m map[K]*V, k K, zero V) *V {
	v := m[k]
	if v == nil {
		v = &zero
		m[k] = v
	}
	return v
}

// RefundSplit is who gets what of one refund of a discounted purchase.
type RefundSplit struct {
	Gross      int64   `json:"gross"`       // what the merchant gives back
	CardHolder int64   `json:"card_holder"` // of which to the card holder
	Shares     []Share `json:"shares"`      // of which to each funder (nothing for a credit after clearing: see Refund)
	// Restore is what the campaign's budget gets back: the funders' part
	// under RefundRestore, 0 under RefundForfeit.
	Restore int64 `json:"restore"`
	// Full: this refund completes the purchase's refund.
	Full bool `json:"full"`
	// RestoreCount: the card's count and the campaign's count come back
	// (a full refund under RefundRestore).
	RestoreCount bool `json:"restore_count"`
}

// Refund splits a refund of amount fen of the redemption r, of which
// already fen were refunded before, under rule. The parts are cumulative,
// so that however a purchase is refunded in pieces no party ever gets back
// more than it put in and a full refund gives back exactly the net and
// each share: after refunds of t fen in all the funders together have got
// back floor(discount × t / gross) and the card holder the rest —
// ceil(net × t / gross), never more than the net; the funders' part goes
// to them in the order of the campaign's shares, each made whole before the
// next (a funder's part never goes down from one refund to the next, which
// proportional rounding among several funders cannot promise). For an
// instant discount the merchant gives back the gross part: the card
// holder's part to the card, the shares to the funders. For a credit after
// clearing the card holder paid the gross and got the credit later: the
// merchant gives back to the card holder only, less the credit's part (the
// issuer takes it back from the card; the funders get their shares back);
// that is never negative, as the discount is below the gross. It fails
// with fault.Invalid when amount is not positive or the refunds would
// exceed the gross.
func (r Redemption) Refund(already, amount int64, rule RefundRule) (RefundSplit, error) {
	if amount <= 0 || already < 0 || already+amount > r.Gross {
		return RefundSplit{}, fault.E(fault.Invalid, "promo_refund", "refund of %d after %d refunded: the purchase %s was %d", amount, already, r.Identity, r.Gross)
	}
	before := r.fundersBack(already)
	after := r.fundersBack(already + amount)
	out := RefundSplit{Gross: amount, Full: already+amount == r.Gross}
	var funders int64
	for i, s := range r.Shares {
		d := after[i] - before[i]
		out.Shares = append(out.Shares, Share{Kind: s.Kind, Party: s.Party, Amount: d})
		funders += d
	}
	out.CardHolder = amount - funders
	if rule == RefundRestore {
		out.Restore = funders
		out.RestoreCount = out.Full
	}
	return out, nil
}

// fundersBack returns what each funder has got back once t fen of the
// purchase are refunded: floor(discount × t / gross) in all, filling the
// shares in order. Each part is non-decreasing in t and equals the share
// at t = gross.
func (r Redemption) fundersBack(t int64) []int64 {
	parts := make([]int64, len(r.Shares))
	if r.Gross <= 0 {
		return parts
	}
	left := mulDiv(r.Discount, t, r.Gross)
	for i, s := range r.Shares {
		parts[i] = min(left, s.Amount)
		left -= parts[i]
	}
	return parts
}

// mulDiv returns floor(a × b / c) for non-negative a, b and positive c
// without overflowing int64 for amounts of money.
func mulDiv(a, b, c int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	q, _ := bits.Div64(hi, lo, uint64(c))
	return int64(q)
}

package promo

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"sort"
	"time"

	"github.com/tapwallet/tapwallet/money"
)

// Purchase is what the network knows of an authorization when it looks
// for a promotion. It carries no card number: Card is the network's
// reference for the card (a token reference or a keyed hash), BIN only
// the leading digits.
type Purchase struct {
	Identity      string    // the message identity (acquirer, terminal, STAN, RRN, date): the hold's id and the random draw's seed
	Card          string    // the card's reference, never a card number
	Bank          string    // the issuing bank's id
	BIN           string    // the card number's leading 6-11 digits
	Product       string    // "debit" or "credit"
	MCC           string    // DE18
	Merchant      string    // DE42
	City          string    // DE43 positions 26-38, trimmed
	Channel       Channel   // where the purchase is made
	Gross         int64     // the price in fen (DE4 from the acquirer)
	At            time.Time // when the network received it
	NewCardHolder bool      // the card has no earlier approved purchase on the network
	// Enrolled holds the campaigns with add_to_card enrolment whose offer
	// the card holder added to this card.
	Enrolled map[string]bool
}

// MinCharge is the least a card holder is charged after a discount: a
// purchase is never made free (an authorization of 0 is an account check,
// not a payment).
const MinCharge = 1

// Discount returns the benefit c gives a purchase of gross fen with the
// message identity id: 0 when the mechanic gives nothing at that amount.
// It never exceeds gross - MinCharge. A random mechanic draws from
// SHA-256(campaign id, identity), so a retransmission of the same message
// gets the same amount. It never fails.
func (c *Campaign) Discount(gross int64, identity string) int64 {
	m := &c.Mechanic
	var d int64
	switch m.Kind {
	case MechanicFixed:
		if gross >= int64(m.Threshold) {
			d = int64(m.Amount)
		}
	case MechanicPercent:
		if gross >= int64(m.Threshold) {
			d = gross * int64(m.PercentBP) / 10000
			if d > int64(m.Cap) {
				d = int64(m.Cap)
			}
		}
	case MechanicTiers:
		for _, t := range m.Tiers {
			if gross >= int64(t.Spend) {
				d = int64(t.Save)
			}
		}
	case MechanicRandom:
		if gross >= int64(m.Threshold) {
			d = int64(m.Min) + int64(draw(c.ID, identity)%uint64(m.Max-m.Min+1))
		}
	}
	if d > gross-MinCharge {
		d = gross - MinCharge
	}
	if d < 0 {
		d = 0
	}
	return d
}

// draw is the deterministic random number of a campaign and a message.
func draw(campaign, identity string) uint64 {
	h := sha256.New()
	h.Write([]byte(campaign))
	h.Write([]byte{0})
	h.Write([]byte(identity))
	return binary.BigEndian.Uint64(h.Sum(nil)[:8])
}

// Eligible reports whether c may apply to p, before limits and budget
// (the store checks those when it reserves): not paused, inside its
// window, on its channel, for its cards, merchants and places, and
// enrolled where the card holder must add the offer. It never fails.
func (c *Campaign) Eligible(p *Purchase) bool {
	if c.Paused || !c.Window.Contains(p.At) || !slices.Contains(c.Channels, p.Channel) {
		return false
	}
	e := &c.Eligibility
	if len(e.Banks) > 0 || len(e.BINRanges) > 0 {
		ok := slices.Contains(e.Banks, p.Bank)
		for _, r := range e.BINRanges {
			ok = ok || r.Contains(p.BIN)
		}
		if !ok {
			return false
		}
	}
	if !in(e.Products, p.Product) || !in(e.MCCs, p.MCC) || !in(e.Merchants, p.Merchant) || !in(e.Cities, p.City) {
		return false
	}
	if e.NewCardHolder && !p.NewCardHolder {
		return false
	}
	if c.Enrolment == EnrolAddToCard && !p.Enrolled[c.ID] {
		return false
	}
	return true
}

// in reports whether list is empty or holds v.
func in(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }

// Offer is a campaign's benefit for one purchase.
type Offer struct {
	Campaign *Campaign
	Gross    int64   // the price, fen
	Discount int64   // the benefit, fen: funded by Shares
	Shares   []Share // each funder's part; they add up to Discount
}

// Net returns what the card holder is charged at authorization: Gross
// less Discount for an instant discount, Gross otherwise (the benefit
// then comes after clearing). It never fails.
func (o Offer) Net() int64 {
	if o.Campaign.Fulfilment == FulfilInstant {
		return o.Gross - o.Discount
	}
	return o.Gross
}

// Matcher picks the promotion of a purchase among a set of campaigns. It
// is read-only after NewMatcher and safe for concurrent use.
type Matcher struct {
	campaigns []*Campaign
}

// NewMatcher returns a matcher over copies of cs. It never fails.
func NewMatcher(cs []Campaign) *Matcher {
	m := &Matcher{campaigns: make([]*Campaign, len(cs))}
	for i := range cs {
		c := cs[i]
		m.campaigns[i] = &c
	}
	return m
}

// Rank returns the offers of every eligible campaign that gives p a
// benefit, best first. At most one of them applies to a purchase (the
// first the store can reserve). "Best" is the largest discount to the
// card holder; among equal discounts the campaign that ends first (it is
// the one about to be lost); then the smaller campaign id, so that the
// order is total and every network process ranks alike. It never fails.
func (m *Matcher) Rank(p *Purchase) []Offer {
	var out []Offer
	for _, c := range m.campaigns {
		if o, ok := offer(c, p); ok {
			o.Shares = c.Split(o.Discount, p.Bank)
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return better(out[i], out[j]) })
	return out
}

// Best returns the best offer for p and true, or false when no campaign
// applies. It never fails.
func (m *Matcher) Best(p *Purchase) (Offer, bool) { return m.bestBut(p, nil) }

// bestBut is Best among the campaigns not in refused (their budget or the
// card's limits could not take p): the next of Rank's order, found in one
// pass without ranking the rest (Apply; a purchase usually takes the
// first).
func (m *Matcher) bestBut(p *Purchase, refused map[string]bool) (Offer, bool) {
	var best Offer
	found := false
	for _, c := range m.campaigns {
		if refused[c.ID] {
			continue
		}
		o, ok := offer(c, p)
		if ok && (!found || better(o, best)) {
			best, found = o, true
		}
	}
	if found {
		best.Shares = best.Campaign.Split(best.Discount, p.Bank)
	}
	return best, found
}

// offer returns c's offer for p (without shares), false when c is not
// eligible or gives nothing.
func offer(c *Campaign, p *Purchase) (Offer, bool) {
	if !c.Eligible(p) {
		return Offer{}, false
	}
	d := c.Discount(p.Gross, p.Identity)
	return Offer{Campaign: c, Gross: p.Gross, Discount: d}, d > 0
}

// better is the order of Rank.
func better(a, b Offer) bool {
	if a.Discount != b.Discount {
		return a.Discount > b.Discount
	}
	if !a.Campaign.Window.End.Equal(b.Campaign.Window.End) {
		return a.Campaign.Window.End.Before(b.Campaign.Window.End)
	}
	return a.Campaign.ID < b.Campaign.ID
}

// String describes the mechanic in a line, e.g. "spend 100.00 save 50.00".
func (m Mechanic) String() string {
	over := ""
	if m.Threshold > 0 {
		over = " over " + m.Threshold.String()
	}
	switch m.Kind {
	case MechanicFixed:
		if m.Threshold > 0 {
			return "spend " + m.Threshold.String() + " save " + m.Amount.String()
		}
		return m.Amount.String() + " off"
	case MechanicPercent:
		return money.FormatMinor(int64(m.PercentBP), 2) + "% up to " + m.Cap.String() + over
	case MechanicTiers:
		s := "tiers"
		for i, t := range m.Tiers {
			if i > 0 {
				s += ","
			}
			s += " " + t.Spend.String() + "→" + t.Save.String()
		}
		return s
	case MechanicRandom:
		return "random " + m.Min.String() + "-" + m.Max.String() + over
	}
	return string(m.Kind)
}

package clearing

import (
	"context"
	"errors"
	"time"

	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/promo"
)

// Promotions is the network's promotion budgets as clearing settles them
// (docs/promotions.md, "Settlement"): promo.Store satisfies it. Clearing
// releases the holds whose time ran out, then spends the hold of each
// discounted purchase its bank posted, and gives the budget back what a
// refund the switch could not restore yet (the purchase was not cleared)
// restores.
type Promotions interface {
	// Post spends the pending hold id (the authorization's identity): true
	// when this call posted it, false when it was posted before;
	// promo.ErrHoldResolved when it was voided or expired, promo.ErrNoHold
	// when unknown.
	Post(ctx context.Context, id string) (bool, error)
	// Expire releases every pending hold whose time ran out at now.
	Expire(ctx context.Context, now time.Time) (int, error)
	// Refund gives the budget back what the refund refundID of the posted
	// hold id restores, once per refundID (false: applied before);
	// promo.ErrHoldResolved while the hold is not posted.
	Refund(ctx context.Context, id, refundID string, split promo.RefundSplit) (bool, error)
}

// The fates of a promotion hold at clearing (Item.PromoHold).
const (
	HoldPosted        = "posted"         // spent by this run
	HoldAlreadyPosted = "already_posted" // spent by an earlier run
	HoldResolved      = "resolved"       // voided or expired before clearing: the budget was released, the discount stands
	HoldMissing       = "missing"        // the promotion store has no hold of the identity
)

// PromoHolds counts what a run did to the promotion holds.
type PromoHolds struct {
	Expired       int `json:"expired"`        // released before clearing (their time ran out)
	Posted        int `json:"posted"`         // spent now
	AlreadyPosted int `json:"already_posted"` // spent by an earlier run
	NotPosted     int `json:"not_posted"`     // resolved otherwise or missing (see the items)
	Restored      int `json:"restored"`       // refunds whose budget part clearing gave back now
}

// presented returns the redemption a captured authorization is presented
// with, or nil when it has none: the merchant is settled what remains
// (ClearAmount, the gross after any partial reversal) and, for an instant
// discount, the card holder is charged that less the discount (the issuer
// holds the same); for a credit or points after clearing the gross. A
// redemption that does not hold on what remains — a discount that leaves
// less than 1 fen, a credit not below the gross, shares that do not add
// up (the switch voids and clears such a promotion) — is presented
// without it, at what remains.
func presented(a netswitch.Auth) *promo.Redemption {
	if a.Promo == nil {
		return nil
	}
	r := *a.Promo
	r.Shares = append([]promo.Share(nil), a.Promo.Shares...)
	r.Identity, r.Gross, r.Net = a.ID, a.ClearAmount, a.ClearAmount
	if r.Merchant == "" {
		r.Merchant = a.Merchant
	}
	if r.CardBank == "" {
		r.CardBank = a.BankID
	}
	if r.Fulfilment == promo.FulfilInstant {
		r.Net -= r.Discount
	}
	if r.Net < promo.MinCharge || r.Discount < 1 || r.Discount >= r.Gross || r.Check() != nil {
		return nil
	}
	return &r
}

// postHolds spends the promotion hold of each discounted presentment its
// bank posted (now or before). A hold voided or expired, or missing, is
// noted on the item; a store failure fails the run (a run again posts
// nothing twice).
func (r *Report) postHolds(ctx context.Context, p Promotions) error {
	for i := range r.Items {
		it := &r.Items[i]
		if it.Promo == nil || !it.Outcome.Done() {
			continue
		}
		posted, err := p.Post(ctx, it.AuthID)
		switch {
		case err == nil && posted:
			it.PromoHold = HoldPosted
			r.PromoHolds.Posted++
		case err == nil:
			it.PromoHold = HoldAlreadyPosted
			r.PromoHolds.AlreadyPosted++
		case errors.Is(err, promo.ErrHoldResolved):
			it.PromoHold = HoldResolved
			r.PromoHolds.NotPosted++
		case errors.Is(err, promo.ErrNoHold):
			it.PromoHold = HoldMissing
			r.PromoHolds.NotPosted++
		default:
			return err
		}
	}
	return nil
}

// settle is the promotion part of the positions: per posted discounted
// presentment (and credited refund of one, refundPromo), who pays and who
// is paid. payer adds a share to the party that funds it: an issuer
// funder's bank, the network's promotion position, or the purchase's
// acquirer for its merchant's own share.
type settle struct {
	r     *Report
	banks map[string]*BankLine
	acqs  map[string]*AcquirerLine
}

func (s settle) bank(id string) *BankLine {
	return lineOf(s.banks, id, func() BankLine { return BankLine{Bank: id} })
}

func (s settle) acquirer(id string) *AcquirerLine {
	return lineOf(s.acqs, id, func() AcquirerLine { return AcquirerLine{Acquirer: id} })
}

// lineOf returns m's line of id, adding a new one first when missing.
func lineOf[V any](m map[string]*V, id string, mk func() V) *V {
	l := m[id]
	if l == nil {
		v := mk()
		l = &v
		m[id] = l
	}
	return l
}

// shares moves each share of p from its funder (sign -1: the funder pays,
// a presentment; +1: the funder is paid back, a refund), and returns the
// merchant-funded part (the acquirer's, settled against its gross).
func (s settle) shares(p *promo.Redemption, sign int64) (merchant int64) {
	for _, sh := range p.Shares {
		switch sh.Kind {
		case promo.FunderIssuer:
			b := s.bank(sh.Party)
			b.PromoFunded -= sign * sh.Amount
			b.Net += sign * sh.Amount
		case promo.FunderNetwork:
			s.r.Promotion += sign * sh.Amount
		default: // merchant: its acquirer settles it less (or gives back less)
			merchant += sh.Amount
		}
	}
	return merchant
}

// presentment settles one posted presentment it (its card's bank line and
// its acquirer's, given): the bank pays the net (done by the caller) and
// each share it funds; the acquirer is paid the gross less its merchant's
// shares; for a credit or points after clearing the card's bank is paid
// the discount, which it credits to the card holder.
func (s settle) presentment(it *Item, b *BankLine, a *AcquirerLine) {
	p := it.Promo
	if p == nil {
		a.Net += it.Amount
		return
	}
	m := s.shares(p, -1)
	a.Discounted++
	a.MerchantFunded += m
	a.Net += p.Gross - m
	if p.Fulfilment != promo.FulfilInstant {
		b.PromoCredits += p.Discount
		b.Net += p.Discount
	}
}

// settlement returns the promotion lines of the posted discounted
// presentments (promo.Settle), nil when there are none.
func (r *Report) settlement() (*promo.Settlement, error) {
	var rs []promo.Redemption
	for _, it := range r.Items {
		if it.Promo != nil && it.Outcome.Done() {
			rs = append(rs, *it.Promo)
		}
	}
	if len(rs) == 0 {
		return nil, nil
	}
	st, err := promo.Settle(rs)
	if err != nil {
		return nil, err
	}
	return &st, nil
}

package clearing

import (
	"context"
	"errors"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/promo"
)

// RefundItem is one refund of the business date (an approved 0200 with
// processing code 200000) as clearing reports it: a credit to the card
// holder that the issuer already booked when it approved it (a transfer
// from its settlement account to the card), and that settlement turns
// around — the acquirer pays it back to the network, the network to the
// issuer.
type RefundItem struct {
	RefundID   string  `json:"refund_id"`   // the switch's identity: terminal|STAN|DE7
	OriginalID string  `json:"original_id"` // the purchase it gives back
	Bank       string  `json:"bank"`
	Acquirer   string  `json:"acquirer"`
	RRN        string  `json:"rrn"`
	PANLast4   string  `json:"pan_last4"`
	Amount     int64   `json:"amount"` // minor units given back to the card holder
	Outcome    Outcome `json:"outcome"`
	Flag       Flag    `json:"flag,omitempty"`   // why it was flagged (the bank's code)
	Reason     string  `json:"reason,omitempty"` // the same in words
	// Promo is the refund of a discounted purchase as the switch split it:
	// Gross what the merchant gives back, Net the card holder's part
	// (Amount), Shares each funder's part, Identity the purchase's (its
	// promotion hold); nil for none. PromoRestore is what clearing did
	// to the campaign's budget (HoldPosted: restored now,
	// HoldAlreadyPosted: before, HoldResolved: the purchase's hold is not
	// posted), "" when the switch had restored it or there was nothing to.
	Promo        *promo.Redemption `json:"promo,omitempty"`
	PromoRestore string            `json:"promo_restore,omitempty"`
	refund       netswitch.Refund
	mcc, par     string            // the purchase's
	split        promo.RefundSplit // the switch's split (Promo)
	restored     bool              // the switch gave the budget its part
}

// RefundFlags returns the refunds the issuers' ledgers do not show (none:
// nil); it never fails.
func (r Report) RefundFlags() []RefundItem {
	var out []RefundItem
	for _, it := range r.Refunds {
		if it.Outcome == Flagged {
			out = append(out, it)
		}
	}
	return out
}

// refunds returns the approved refunds of a date, Presented: each goes to
// its issuer as a credit record (C) of its clearing file, and the issuer
// answers whether it finds it credited. A store that keeps no refunds has
// none. It fails with the store's error.
func refunds(ctx context.Context, cfg Config, date string) ([]RefundItem, error) {
	rs, ok := cfg.Store.(netswitch.RefundStore)
	if !ok {
		return nil, nil
	}
	day, err := rs.DayRefunds(ctx, date)
	if err != nil {
		return nil, err
	}
	var out []RefundItem
	origs := map[string]*netswitch.Auth{}
	for _, r := range day {
		if !r.Approved() {
			continue
		}
		it := RefundItem{RefundID: r.ID, OriginalID: r.OriginalID, Bank: r.BankID, Acquirer: r.Acquirer, RRN: r.RRN,
			PANLast4: r.PANLast4, Amount: r.Amount.Minor, Outcome: Presented, refund: r}
		o, err := original(ctx, cfg.Store, origs, r.OriginalID)
		if err != nil {
			return nil, err
		}
		if o != nil {
			it.mcc, it.par = o.MCC, o.PAR
		}
		if rp, ok := refundPromo(r); ok {
			f := promo.FulfilInstant
			if o != nil && o.Promo != nil {
				f = o.Promo.Fulfilment
			}
			var parts int64
			for _, sh := range rp.split.Shares {
				parts += sh.Amount
			}
			it.Promo = &promo.Redemption{Identity: rp.hold, Campaign: rp.campaign, Fulfilment: f, Merchant: r.Merchant, CardBank: r.BankID,
				Gross: rp.split.Gross, Net: rp.split.CardHolder, Discount: parts, Shares: append([]promo.Share(nil), rp.split.Shares...)}
			it.Amount, it.split, it.restored = rp.split.CardHolder, rp.split, rp.restored
			if it.Amount < 0 || it.Promo.Gross != it.Amount+parts {
				// Not a refund the issuer can have credited, nor one
				// that settles: kept out of the files and the positions.
				it.Outcome, it.Flag = Flagged, FlagBadSplit
				it.Reason = "the refund's split does not balance: the card holder's part is negative or the parts do not add up to the refunded gross"
			} else if it.Amount == 0 {
				// The funders take all of it back: the issuer was asked
				// nothing and is presented nothing.
				it.Outcome = Credited
			}
		}
		out = append(out, it)
	}
	return out, nil
}

// original returns the purchase a refund gives back (for its MCC, PAR and
// promotion), read once per run; nil when the store has no such record.
// It fails with the store's error.
func original(ctx context.Context, st netswitch.Store, seen map[string]*netswitch.Auth, id string) (*netswitch.Auth, error) {
	if a, ok := seen[id]; ok {
		return a, nil
	}
	a, err := st.Auth(ctx, id)
	switch {
	case err == nil:
		seen[id] = &a
	case fault.KindOf(err) == fault.NotFound:
		seen[id] = nil
	default:
		return nil, err
	}
	return seen[id], nil
}

// restoreRefunds gives each campaign's budget the part of a credited
// refund that the switch could not restore when it approved it (the
// purchase's hold was not posted yet), once per refund.
func (r *Report) restoreRefunds(ctx context.Context, p Promotions) error {
	for i := range r.Refunds {
		it := &r.Refunds[i]
		if it.Promo == nil || it.restored || it.Outcome != Credited || (it.split.Restore == 0 && !it.split.RestoreCount) {
			continue
		}
		done, err := p.Refund(ctx, it.Promo.Identity, it.RefundID, it.split)
		switch {
		case err == nil && done:
			it.PromoRestore = HoldPosted
			r.PromoHolds.Restored++
		case err == nil:
			it.PromoRestore = HoldAlreadyPosted
		case errors.Is(err, promo.ErrHoldResolved), errors.Is(err, promo.ErrNoHold):
			it.PromoRestore = HoldResolved
		default:
			return err
		}
	}
	return nil
}

// markRefunds marks the refunds their issuers found credited cleared. It
// fails with the store's error.
func markRefunds(ctx context.Context, cfg Config, items []RefundItem, date string, now time.Time) error {
	rs, ok := cfg.Store.(netswitch.RefundStore)
	if !ok {
		return nil
	}
	var cleared []string
	for _, it := range items {
		if it.Outcome == Credited {
			cleared = append(cleared, it.RefundID)
		}
	}
	if len(cleared) == 0 {
		return nil
	}
	return rs.MarkRefundsCleared(ctx, cleared, date, now)
}

// refundPositions adds the credited refunds to the banks' and acquirers'
// lines: the network pays each issuer its card holders' refunds
// (positive), and each acquirer pays its merchants' to the network
// (negative). Of a discounted purchase's refund the merchant gives back
// the refunded gross (less its own part), the card holder gets its part
// and each funder its part back.
func (r *Report) refundPositions(s settle) {
	for i := range r.Refunds {
		it := &r.Refunds[i]
		if it.Outcome != Credited {
			continue
		}
		b := s.bank(it.Bank)
		b.Refunds++
		b.RefundAmount += it.Amount
		b.Net += it.Amount
		a := s.acquirer(it.Acquirer)
		a.Refunds++
		gross, m := it.Amount, int64(0)
		if it.Promo != nil {
			gross, m = it.Promo.Gross, s.shares(it.Promo, +1)
			a.MerchantFunded -= m
		}
		a.RefundAmount += gross
		a.Net -= gross - m
	}
}

// refundDetail returns the credit record (C) of a refund, its sequence
// number left to the caller.
func (r Report) refundDetail(it *RefundItem) Detail {
	x := it.refund
	return Detail{Credit: true, LocalDate: localDate(r.Date, x.LocalDate), LocalTime: x.LocalTime, RRN: x.RRN, STAN: x.STAN,
		Terminal: x.Terminal, Merchant: x.Merchant, PANLast4: x.PANLast4, Amount: it.Amount, Currency: int(x.Amount.Currency),
		AuthCode: x.AuthCode, Bank: x.BankID, Acquirer: x.Acquirer, Transmission: x.Transmission, MCC: it.mcc, PAR: it.par, Promo: it.Promo}
}

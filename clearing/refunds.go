package clearing

import (
	"context"

	"time"

	"github.com/tapwallet/tapwallet/netswitch"
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
	Amount     int64   `json:"amount"` // minor units given back
	Outcome    Outcome `json:"outcome"`
	Flag       Flag    `json:"flag,omitempty"`   // why it was flagged (the bank's code)
	Reason     string  `json:"reason,omitempty"` // the same in words
	refund     netswitch.Refund
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
	for _, r := range day {
		if r.Approved() {
			out = append(out, RefundItem{RefundID: r.ID, OriginalID: r.OriginalID, Bank: r.BankID, Acquirer: r.Acquirer, RRN: r.RRN,
				PANLast4: r.PANLast4, Amount: r.Amount.Minor, Outcome: Presented, refund: r})
		}
	}
	return out, nil
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
// (negative).
func (r *Report) refundPositions(banks map[string]*BankLine, acqs map[string]*AcquirerLine) {
	for _, it := range r.Refunds {
		if it.Outcome != Credited {
			continue
		}
		b := banks[it.Bank]
		if b == nil {
			b = &BankLine{Bank: it.Bank}
			banks[it.Bank] = b
		}
		b.Refunds++
		b.RefundAmount += it.Amount
		b.Net += it.Amount
		a := acqs[it.Acquirer]
		if a == nil {
			a = &AcquirerLine{Acquirer: it.Acquirer}
			acqs[it.Acquirer] = a
		}
		a.Refunds++
		a.RefundAmount += it.Amount
		a.Net -= it.Amount
	}
}

// refundDetail returns the credit record (C) of a refund, its sequence
// number left to the caller.
func (r Report) refundDetail(it *RefundItem) Detail {
	x := it.refund
	return Detail{Credit: true, LocalDate: localDate(r.Date, x.LocalDate), LocalTime: x.LocalTime, RRN: x.RRN, STAN: x.STAN,
		Terminal: x.Terminal, Merchant: x.Merchant, PANLast4: x.PANLast4, Amount: it.Amount, Currency: int(x.Amount.Currency),
		AuthCode: x.AuthCode, Bank: x.BankID, Acquirer: x.Acquirer, Transmission: x.Transmission}
}

// Package clearing is the card network's end of day: the captured
// authorizations of a business date (approved, not fully reversed; a
// partially reversed one for the amount that remains) and its approved
// refunds are written, per issuing bank, into that bank's clearing file
// (package clearfile, docs/iso8583.md) and handed to the bank, whose issuer
// host posts its own holds from it (issuer.Host.PostClearing) and answers
// with what it posted; the network then marks what the banks posted
// cleared and computes the net settlement positions between the banks and
// its acquirers, written as a report (a text table and JSON) beside the
// files. The network's clearing touches no bank's ledger: a presentment a
// bank cannot post (more than its hold, or no hold) comes back flagged and
// stays out of the positions. Clearing a date again posts nothing twice:
// every post is identified, at the bank, by its authorization.
//
// A discounted purchase (netswitch.Auth.Promo) is presented at what the
// card holder is charged, with its promotion (clearing file version 4),
// and settled three ways: the card's bank pays the net, each funder its
// share, the merchant's acquirer is paid the gross (docs/promotions.md,
// "Settlement"); the promotion holds of what the banks posted are spent
// (Config.Promotions).
package clearing

import (
	"context"
	"sort"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/promo"
)

// Config is what clearing works on.
type Config struct {
	Store netswitch.Store // the switch's authorization records
	// Issuers takes each bank's clearing file to the bank; nil: the files
	// are only produced (every record stays Presented, nothing is marked
	// cleared).
	Issuers Issuers
	// Promotions is the network's promotion budgets (promo.Store); nil:
	// no promotion hold is expired or spent (the presentments still carry
	// their promotions and the positions settle them).
	Promotions Promotions
	Now        func() time.Time
}

// Issuers is where the network hands each issuing bank its clearing file:
// the bank posts it and answers with an Ack, one Posting per record (a
// record it has not posted yet, such as a file left in a bank's drop
// folder, is Presented). issuer.ClearingHosts is the side for the hosts
// of this process. An error fails the run; running it again finishes.
type Issuers interface {
	PostClearing(ctx context.Context, bankID string, f File) (Ack, error)
}

// Item is one presentment and its outcome.
type Item struct {
	AuthID   string  `json:"auth_id"` // the switch's identity: terminal|STAN|DE7
	Bank     string  `json:"bank"`
	Acquirer string  `json:"acquirer"`
	RRN      string  `json:"rrn"`
	PANLast4 string  `json:"pan_last4"`
	Amount   int64   `json:"amount"` // minor units presented: what the card holder is charged
	Held     int64   `json:"held"`   // the hold the issuer found (0 if none or not answered)
	Outcome  Outcome `json:"outcome"`
	Flag     Flag    `json:"flag,omitempty"`   // why it was flagged (the bank's code)
	Reason   string  `json:"reason,omitempty"` // the same in words
	// Promo is the promotion of a discounted purchase as presented (its
	// gross what remains to clear), nil for none; PromoHold what clearing
	// did to its budget hold (HoldPosted, …), "" when not posted.
	Promo     *promo.Redemption `json:"promo,omitempty"`
	PromoHold string            `json:"promo_hold,omitempty"`
	auth      netswitch.Auth
}

// BankLine is one issuing bank's part of the day.
type BankLine struct {
	Bank          string `json:"bank"`
	Presented     int    `json:"presented"`
	Posted        int    `json:"posted"`             // posted now or before
	PostedAmount  int64  `json:"posted_amount"`      // minor units
	Flagged       int    `json:"flagged"`            // not posted
	FlaggedAmount int64  `json:"flagged_amount"`     // minor units
	Awaiting      int    `json:"awaiting,omitempty"` // presented, the bank has not answered
	Refunds       int    `json:"refunds"`            // refunds credited to its card holders
	RefundAmount  int64  `json:"refund_amount"`      // minor units
	// PromoFunded is what the bank pays as an issuer funder of
	// promotions (its shares of discounts, less the parts refunds gave
	// back); PromoCredits what it is paid to credit its card holders
	// after clearing (statement credits and points), less the parts
	// refunds gave back to the funders.
	PromoFunded  int64 `json:"promo_funded,omitempty"`
	PromoCredits int64 `json:"promo_credits,omitempty"`
	// Net is the bank's settlement position: what it pays the network
	// (negative) for its card holders' cleared purchases (the net of a
	// discounted one) and the promotion shares it funds, less what the
	// network pays it for their refunds and for the credits it gives.
	Net int64 `json:"net"`
}

// AcquirerLine is one acquirer's part of the day.
type AcquirerLine struct {
	Acquirer     string `json:"acquirer"`
	Count        int    `json:"count"`         // purchases
	Refunds      int    `json:"refunds"`       // refunds its merchants gave
	RefundAmount int64  `json:"refund_amount"` // minor units
	// Discounted counts the purchases with a promotion; MerchantFunded is
	// its merchants' own shares of their discounts (settled less), less
	// the parts refunds gave back to them.
	Discounted     int   `json:"discounted,omitempty"`
	MerchantFunded int64 `json:"merchant_funded,omitempty"`
	// Net is what the network pays the acquirer (positive) for its
	// merchants' purchases (the gross of a discounted one, less its
	// merchant's share), less their refunds.
	Net int64 `json:"net"`
}

// Report is a clearing run.
type Report struct {
	Date      string    `json:"date"` // business date, YYYYMMDD
	CreatedAt time.Time `json:"created_at"`
	Currency  string    `json:"currency"`
	Expired   int       `json:"expired_holds_released"`
	// Undecided counts the date's authorizations still waiting for their
	// issuer's answer: none, unless a switch stopped while deciding them
	// and has not started since (its recovery sweep reverses them).
	Undecided int            `json:"undecided,omitempty"`
	Banks     []BankLine     `json:"banks"`
	Acquirers []AcquirerLine `json:"acquirers"`
	// Network is the network's own net position: zero when every
	// cleared purchase is paid on.
	Network int64 `json:"network"`
	// Promotion is the network's promotion account's position: what it
	// pays (negative) as the funder of its campaigns' shares, less the
	// parts refunds gave back. Every position together (banks,
	// acquirers, Network, Promotion) sums to zero.
	Promotion int64 `json:"network_promotion"`
	// Promotions are the promotion lines of the posted discounted
	// purchases (promo.Settle: per campaign and funder, per merchant, the
	// totals); nil when there were none. PromoHolds is what the run did to
	// their budget holds.
	Promotions *promo.Settlement `json:"promotions,omitempty"`
	PromoHolds PromoHolds        `json:"promo_holds"`
	Items      []Item            `json:"items"`
	Refunds    []RefundItem      `json:"refunds,omitempty"` // the day's approved refunds (refunds.go)
	Files      []string          `json:"files,omitempty"`   // written by Write
}

// Flags returns the flagged presentments.
func (r Report) Flags() []Item {
	var out []Item
	for _, it := range r.Items {
		if it.Outcome == Flagged {
			out = append(out, it)
		}
	}
	return out
}

// ParseDate reads a business date given as YYYY-MM-DD or YYYYMMDD and
// returns it as YYYYMMDD; it returns a fault.Invalid "bad_date" error
// otherwise.
func ParseDate(s string) (string, error) {
	for _, layout := range []string{"2006-01-02", "20060102"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Format("20060102"), nil
		}
	}
	return "", fault.E(fault.Invalid, "bad_date", "a business date is YYYY-MM-DD")
}

// Run clears a business date (YYYYMMDD): it presents every captured
// authorization of the date (and the extra presentments given, such as an
// acquirer's late file) and every approved refund to its issuer in the
// bank's clearing file (cfg.Issuers), records what each bank answers
// (posted, already posted, flagged; refunds credited), marks what the
// banks posted cleared and computes the positions. It fails with
// fault.Invalid for a bad date or a bank's answer that does not match its
// file, and with the store's or a bank's error; then a run again finishes
// the work (nothing is posted twice).
func Run(ctx context.Context, cfg Config, date string, extra ...netswitch.Auth) (Report, error) {
	if _, err := ParseDate(date); err != nil {
		return Report{}, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	now := cfg.Now().UTC()
	rep := Report{Date: date, CreatedAt: now, Currency: money.CNY.Code()}
	if cfg.Promotions != nil {
		n, err := cfg.Promotions.Expire(ctx, now)
		if err != nil {
			return Report{}, err
		}
		rep.PromoHolds.Expired = n
	}
	auths, err := cfg.Store.DayAuths(ctx, date)
	if err != nil {
		return Report{}, err
	}
	var items []Item
	for _, a := range append(auths, extra...) {
		if a.Deciding() {
			rep.Undecided++
		}
		if !a.Captured() {
			continue
		}
		it := Item{AuthID: a.ID, Bank: a.BankID, Acquirer: a.Acquirer, RRN: a.RRN, PANLast4: a.PANLast4,
			Amount: a.ClearAmount, Outcome: Presented, Promo: presented(a), auth: a}
		if it.Promo != nil {
			it.Amount = it.Promo.Net
		}
		items = append(items, it)
	}
	rep.Items = items
	if rep.Refunds, err = refunds(ctx, cfg, date); err != nil {
		return Report{}, err
	}
	if cfg.Issuers != nil {
		if err := rep.present(ctx, cfg.Issuers); err != nil {
			return Report{}, err
		}
	}
	if cfg.Promotions != nil {
		if err := rep.postHolds(ctx, cfg.Promotions); err != nil {
			return Report{}, err
		}
		if err := rep.restoreRefunds(ctx, cfg.Promotions); err != nil {
			return Report{}, err
		}
	}
	var cleared []string
	for _, it := range rep.Items {
		if it.Outcome.Done() {
			cleared = append(cleared, it.AuthID)
		}
	}
	if len(cleared) > 0 {
		if err := cfg.Store.MarkCleared(ctx, cleared, date, now); err != nil {
			return Report{}, err
		}
	}
	if err := markRefunds(ctx, cfg, rep.Refunds, date, now); err != nil {
		return Report{}, err
	}
	if rep.Promotions, err = rep.settlement(); err != nil {
		return Report{}, err
	}
	rep.positions()
	return rep, nil
}

// present hands each bank its clearing file and records the bank's answer
// to each record.
func (r *Report) present(ctx context.Context, iss Issuers) error {
	files, recs := r.files()
	for _, bankID := range sortedKeys(files) {
		f := files[bankID]
		ack, err := iss.PostClearing(ctx, bankID, f)
		if err != nil {
			return err
		}
		if ack.Party != bankID || ack.Date != r.Date || len(ack.Postings) != len(f.Details) {
			return fault.E(fault.Invalid, "bad_clearing_ack", "%s answered its clearing file of %s with %d postings for %d records", bankID, r.Date, len(ack.Postings), len(f.Details))
		}
		r.Expired += ack.Expired
		for i, p := range ack.Postings {
			if p.Seq != f.Details[i].Seq {
				return fault.E(fault.Invalid, "bad_clearing_ack", "%s answered record %d of its clearing file out of order", bankID, f.Details[i].Seq)
			}
			rec := recs[bankID][i]
			switch {
			case rec.item != nil:
				rec.item.Outcome, rec.item.Held, rec.item.Flag, rec.item.Reason = p.Outcome, p.Held, p.Flag, p.Reason
			case rec.refund != nil:
				rec.refund.Outcome, rec.refund.Flag, rec.refund.Reason = p.Outcome, p.Flag, p.Reason
			}
		}
	}
	return nil
}

// positions computes the bank and acquirer lines, the network's
// promotion position and the network's net.
func (r *Report) positions() {
	banks := map[string]*BankLine{}
	acqs := map[string]*AcquirerLine{}
	r.Promotion = 0
	s := settle{r: r, banks: banks, acqs: acqs}
	for i := range r.Items {
		it := &r.Items[i]
		b := s.bank(it.Bank)
		b.Presented++
		switch {
		case it.Outcome == Flagged:
			b.Flagged++
			b.FlaggedAmount += it.Amount
			continue
		case !it.Outcome.Done():
			b.Awaiting++
			continue
		}
		b.Posted++
		b.PostedAmount += it.Amount
		b.Net -= it.Amount
		a := s.acquirer(it.Acquirer)
		a.Count++
		s.presentment(it, b, a)
	}
	r.refundPositions(s)
	r.Banks, r.Acquirers, r.Network = nil, nil, -r.Promotion
	for _, id := range sortedKeys(banks) {
		r.Banks = append(r.Banks, *banks[id])
		r.Network -= banks[id].Net
	}
	for _, id := range sortedKeys(acqs) {
		r.Acquirers = append(r.Acquirers, *acqs[id])
		r.Network -= acqs[id].Net
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Package clearing is the card network's end of day: the captured
// authorizations of a business date (approved, not fully reversed; a
// partially reversed one for the amount that remains) are presented
// to their issuers and posted in the issuers' ledgers (each pending hold
// posted for the cleared amount, at most the hold), the net settlement
// positions between the banks and the network's acquirers are computed, and
// the day is written as a report (a text table and JSON) and one clearing
// file per issuing bank (docs/iso8583.md). A presentment that would post
// more than its hold, or names an authorization no issuer holds, is flagged
// in the report, never posted. The day's refunds (credits the issuers
// booked when they approved them) are reported, written to the clearing
// files as credit records and netted into the positions. Clearing a date again posts nothing twice:
// every post is identified by its authorization.
package clearing

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netswitch"
)

// Config is what clearing works on.
type Config struct {
	Store  netswitch.Store // the switch's authorization records
	Ledger ledger.Store    // the issuers' ledger
	Banks  *bank.Config
	Now    func() time.Time
}

// PostID is the id of the ledger transfer that posts an authorization's
// hold at clearing.
func PostID(holdID string) string { return "post|" + holdID }

// Outcome is what became of one presentment.
type Outcome string

// The outcomes of a presentment.
const (
	Posted        Outcome = "posted"         // posted now
	AlreadyPosted Outcome = "already_posted" // posted by an earlier run
	Flagged       Outcome = "flagged"        // not posted: see Reason
)

// Item is one presentment and its outcome.
type Item struct {
	AuthID   string  `json:"auth_id"` // the switch's identity: terminal|STAN|DE7
	Bank     string  `json:"bank"`
	Acquirer string  `json:"acquirer"`
	RRN      string  `json:"rrn"`
	PANLast4 string  `json:"pan_last4"`
	Amount   int64   `json:"amount"` // minor units presented
	Held     int64   `json:"held"`   // the hold found at the issuer (0 if none)
	Outcome  Outcome `json:"outcome"`
	Reason   string  `json:"reason,omitempty"` // why it was flagged
	auth     netswitch.Auth
}

// BankLine is one issuing bank's part of the day.
type BankLine struct {
	Bank          string `json:"bank"`
	Presented     int    `json:"presented"`
	Posted        int    `json:"posted"`         // posted now or before
	PostedAmount  int64  `json:"posted_amount"`  // minor units
	Flagged       int    `json:"flagged"`        // not posted
	FlaggedAmount int64  `json:"flagged_amount"` // minor units
	Refunds       int    `json:"refunds"`        // refunds credited to its card holders
	RefundAmount  int64  `json:"refund_amount"`  // minor units
	// Net is the bank's settlement position: what it pays the network
	// (negative) for its card holders' cleared purchases, less what the
	// network pays it for their refunds.
	Net int64 `json:"net"`
}

// AcquirerLine is one acquirer's part of the day.
type AcquirerLine struct {
	Acquirer     string `json:"acquirer"`
	Count        int    `json:"count"`         // purchases
	Refunds      int    `json:"refunds"`       // refunds its merchants gave
	RefundAmount int64  `json:"refund_amount"` // minor units
	// Net is what the network pays the acquirer (positive) for its
	// merchants' purchases, less their refunds.
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
	Network int64        `json:"network"`
	Items   []Item       `json:"items"`
	Refunds []RefundItem `json:"refunds,omitempty"` // the day's approved refunds (refunds.go)
	Files   []string     `json:"files,omitempty"`   // written by Write
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

// Run clears a business date (YYYYMMDD): it releases the holds whose time
// has run out, presents every captured authorization of the date (and the
// extra presentments given, such as an acquirer's late file) to its issuer
// and posts it, flags what cannot be posted, marks the posted records
// cleared and computes the positions. It fails with fault.Invalid for a bad
// date and with the store's or the ledger's error; then a run again
// finishes the work (nothing is posted twice). The refunds of the date
// are reported with it (refunds.go).
func Run(ctx context.Context, cfg Config, date string, extra ...netswitch.Auth) (Report, error) {
	if _, err := ParseDate(date); err != nil {
		return Report{}, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	now := cfg.Now().UTC()
	rep := Report{Date: date, CreatedAt: now, Currency: money.CNY.Code()}
	expired, err := cfg.Ledger.ExpirePending(ctx, now)
	if err != nil {
		return Report{}, err
	}
	rep.Expired = expired
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
		items = append(items, Item{AuthID: a.ID, Bank: a.BankID, Acquirer: a.Acquirer, RRN: a.RRN, PANLast4: a.PANLast4,
			Amount: a.ClearAmount, auth: a})
	}
	if err := post(ctx, cfg.Ledger, items); err != nil {
		return Report{}, err
	}
	var cleared []string
	for _, it := range items {
		if it.Outcome != Flagged {
			cleared = append(cleared, it.AuthID)
		}
	}
	if len(cleared) > 0 {
		if err := cfg.Store.MarkCleared(ctx, cleared, date, now); err != nil {
			return Report{}, err
		}
	}
	rep.Items = items
	if rep.Refunds, err = refunds(ctx, cfg, date); err != nil {
		return Report{}, err
	}
	rep.positions()
	return rep, nil
}

// post presents items to the ledger in batches and records each outcome.
func post(ctx context.Context, l ledger.Store, items []Item) error {
	const chunk = 1000
	for start := 0; start < len(items); start += chunk {
		part := items[start:min(start+chunk, len(items))]
		ids := make([]string, len(part))
		ts := make([]ledger.Transfer, len(part))
		held := make([]int64, len(part))
		for i, it := range part {
			a := it.auth
			// After a partial reversal the issuer holds the rest under
			// another id (issuer.ReducedID): post the hold that stands.
			ids[i] = issuer.HoldID(a.BankID, a.Transmission, a.STAN, a.Terminal)
			t, err := issuer.CurrentHold(ctx, l, ids[i])
			switch {
			case err == nil:
				ids[i], held[i] = t.ID, t.Amount
			case fault.KindOf(err) != fault.NotFound:
				return err
			}
			ts[i] = ledger.Post(PostID(ids[i]), ids[i], it.Amount, "clearing rrn "+strings.TrimSpace(a.RRN))
		}
		rs, err := l.CreateTransfers(ctx, ts)
		if err != nil {
			return err
		}
		for i := range part {
			it := &part[i]
			it.Held = held[i]
			switch rs[i] {
			case ledger.OK:
				it.Outcome = Posted
			case ledger.Exists:
				it.Outcome = AlreadyPosted
			default:
				it.Outcome, it.Reason = Flagged, reason(rs[i])
			}
		}
	}
	return nil
}

// reason says in words why a presentment could not be posted.
func reason(r ledger.Result) string {
	switch r {
	case ledger.ExceedsPendingTransferAmount:
		return "more than the hold"
	case ledger.PendingTransferNotFound:
		return "unknown authorization: the issuer holds nothing for it"
	case ledger.PendingTransferExpired:
		return "the hold expired before clearing"
	case ledger.PendingTransferAlreadyVoided:
		return "the hold was voided (reversed at the issuer)"
	case ledger.PendingTransferAlreadyPosted, ledger.ExistsWithDifferentFields:
		return "already cleared for another amount"
	}
	return "refused by the ledger: " + string(r)
}

// positions computes the bank and acquirer lines and the network's net.
func (r *Report) positions() {
	banks := map[string]*BankLine{}
	acqs := map[string]*AcquirerLine{}
	for _, it := range r.Items {
		b := banks[it.Bank]
		if b == nil {
			b = &BankLine{Bank: it.Bank}
			banks[it.Bank] = b
		}
		b.Presented++
		if it.Outcome == Flagged {
			b.Flagged++
			b.FlaggedAmount += it.Amount
			continue
		}
		b.Posted++
		b.PostedAmount += it.Amount
		b.Net -= it.Amount
		a := acqs[it.Acquirer]
		if a == nil {
			a = &AcquirerLine{Acquirer: it.Acquirer}
			acqs[it.Acquirer] = a
		}
		a.Count++
		a.Net += it.Amount
	}
	r.refundPositions(banks, acqs)
	r.Banks, r.Acquirers, r.Network = nil, nil, 0
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

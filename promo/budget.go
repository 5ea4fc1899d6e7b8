package promo

import (
	"context"
	"errors"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

// HoldStatus is the state of a budget hold. It changes at most once, from
// HoldPending to one of the others.
type HoldStatus string

// The states of a budget hold, as the ledger's pending transfers.
const (
	HoldPending HoldStatus = "pending"
	HoldPosted  HoldStatus = "posted"
	HoldVoided  HoldStatus = "voided"
	HoldExpired HoldStatus = "expired"
)

// HoldTimeout is how long a budget hold stays pending when nothing posts
// or voids it: as long as the issuer's hold of the purchase
// (ledger.HoldTimeout), so that clearing finds it.
const HoldTimeout = 7 * 24 * time.Hour

// Hold is a reservation of a campaign's budget and of the card's limits
// for one authorization: pending until clearing posts it, or a decline, a
// reversal or the expiry sweep releases it. Its ID is the authorization's
// message identity, so a retransmission finds it instead of reserving
// again.
type Hold struct {
	ID        string     `json:"id"`
	Campaign  string     `json:"campaign"`
	Card      string     `json:"card"`
	Amount    int64      `json:"amount"` // the discount, fen
	At        time.Time  `json:"at"`     // the authorization's time; its UTC date is the day of the card's daily limits
	ExpiresAt time.Time  `json:"expires_at"`
	Status    HoldStatus `json:"status"`
	Refunded  int64      `json:"refunded,omitempty"` // given back to the budget by refunds of the posted hold
	// Decided marks a hold a Mirror decided while its campaign was open
	// as the network knew it: a pause the network had not read yet does
	// not refuse it (the pause applies to the decisions after). The
	// budget, the count, the window and the card's limits still do.
	Decided bool `json:"-"`
}

// Day returns the UTC date of the hold, the key of the daily limits.
func (h Hold) Day() string { return h.At.UTC().Format("2006-01-02") }

// The errors of the budget. Compare with errors.Is.
var (
	// ErrBudget: the campaign's budget (or its total count) cannot take
	// the hold.
	ErrBudget = fault.E(fault.Limit, "promo_budget", "")
	// ErrCardLimit: the card's limit for the campaign (per day or in all,
	// in count or amount) cannot take the hold.
	ErrCardLimit = fault.E(fault.Limit, "promo_card_limit", "")
	// ErrNotOpen: the campaign is paused, unknown, or the hold's time is
	// outside its window.
	ErrNotOpen = fault.E(fault.Conflict, "promo_not_open", "")
	// ErrHoldConflict: a hold with this id exists with other fields.
	ErrHoldConflict = fault.E(fault.Conflict, "promo_hold_conflict", "")
	// ErrHoldResolved: the hold was already resolved otherwise (posting a
	// voided hold, voiding a posted one).
	ErrHoldResolved = fault.E(fault.Conflict, "promo_hold_resolved", "")
	// ErrNoHold: no hold has this id.
	ErrNoHold = fault.E(fault.NotFound, "promo_no_hold", "")
)

// Usage is a campaign's budget at a moment.
type Usage struct {
	Campaign      string `json:"campaign"`
	Budget        int64  `json:"budget"`
	Reserved      int64  `json:"reserved"` // pending holds
	Spent         int64  `json:"spent"`    // posted holds, less what refunds restored
	ReservedCount int64  `json:"reserved_count"`
	SpentCount    int64  `json:"spent_count"`
}

// Remaining returns what the budget can still take. It never fails.
func (u Usage) Remaining() int64 { return u.Budget - u.Reserved - u.Spent }

// Store keeps campaigns and their budgets. Every method that changes a
// budget is one transaction, idempotent by its id, safe when several
// network processes share the store: reserved + spent never exceeds the
// budget, a card never exceeds its limits, and a hold resolves once.
type Store interface {
	// Save stores campaigns (new ones, or new versions of existing ones:
	// what was reserved and spent stays), all or none. It fails with
	// ErrInvalid for a campaign Validate refuses, and fault.Unavailable
	// when the storage fails.
	Save(ctx context.Context, cs []Campaign) error
	// Campaigns returns every campaign, by id.
	Campaigns(ctx context.Context) ([]Campaign, error)
	// SetPaused pauses or resumes a campaign; fault.NotFound if unknown.
	SetPaused(ctx context.Context, id string, paused bool) error
	// Enrol records that the card holder added the offer id to card.
	Enrol(ctx context.Context, id, card string) error
	// Enrolled returns the campaigns card was added to.
	Enrolled(ctx context.Context, card string) (map[string]bool, error)
	// Reserve places h (Status ignored) and returns it as stored. A hold
	// with the same id and fields is returned as it stands (in whatever
	// state) without a second reservation. It fails with ErrBudget,
	// ErrCardLimit, ErrNotOpen, ErrHoldConflict or fault.Unavailable, and
	// then reserved nothing.
	Reserve(ctx context.Context, h Hold) (Hold, error)
	// Post spends a pending hold (at clearing). It returns true when this
	// call posted it, false when it was already posted; ErrHoldResolved
	// when it was voided or expired, ErrNoHold when unknown.
	Post(ctx context.Context, id string) (bool, error)
	// Void releases a pending hold (decline, reversal). It returns true
	// when this call voided it, false when it was already voided or
	// expired; ErrHoldResolved when it was posted, ErrNoHold when unknown.
	Void(ctx context.Context, id string) (bool, error)
	// Expire releases every pending hold whose ExpiresAt is at or before
	// now and returns how many.
	Expire(ctx context.Context, now time.Time) (int, error)
	// Refund gives back to the budget what the refund refundID of the
	// posted hold id restores (split.Restore fen, and the card's count
	// when split.RestoreCount), once per refundID. It returns true when
	// this call applied it, false when refundID was applied before. It
	// fails with fault.Invalid when the refunds would restore more than
	// the hold spent, ErrHoldResolved when the hold is not posted,
	// ErrNoHold when unknown.
	Refund(ctx context.Context, id, refundID string, split RefundSplit) (bool, error)
	// Hold returns a hold by id, or ErrNoHold.
	Hold(ctx context.Context, id string) (Hold, error)
	// Usage returns a campaign's budget, or fault.NotFound.
	Usage(ctx context.Context, id string) (Usage, error)
}

// Apply gives p its promotion: the best offer of m whose budget and card
// limits st can reserve, tried in the matcher's order (a campaign out of
// budget or over the card's limit gives way to the next best). It returns
// the offer, its hold and true; false when no campaign applies. A
// retransmission of p finds its hold and gets the same offer. It fails
// only when the store fails (fault.Unavailable), and then reserved
// nothing.
func Apply(ctx context.Context, st Store, m *Matcher, p *Purchase) (Offer, Hold, bool, error) {
	var refused map[string]bool
	for {
		o, ok := m.bestBut(p, refused)
		if !ok {
			return Offer{}, Hold{}, false, nil
		}
		h, err := st.Reserve(ctx, Hold{ID: p.Identity, Campaign: o.Campaign.ID, Card: p.Card,
			Amount: o.Discount, At: p.At, ExpiresAt: p.At.Add(HoldTimeout)})
		switch {
		case err == nil:
			return o, h, true, nil
		case errors.Is(err, ErrBudget), errors.Is(err, ErrCardLimit), errors.Is(err, ErrNotOpen):
			if refused == nil {
				refused = map[string]bool{}
			}
			refused[o.Campaign.ID] = true
			continue
		case errors.Is(err, ErrHoldConflict):
			// The message already holds another campaign (a retransmission
			// after a campaign changed): that hold is the answer.
			prev, herr := st.Hold(ctx, p.Identity)
			if herr != nil {
				return Offer{}, Hold{}, false, herr
			}
			for _, po := range m.Rank(p) {
				if po.Campaign.ID == prev.Campaign && po.Discount == prev.Amount {
					return po, prev, true, nil
				}
			}
			return Offer{}, Hold{}, false, err
		default:
			return Offer{}, Hold{}, false, err
		}
	}
}

package acquirer

import (
	"context"
	"fmt"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/money"
)

// Kind is what a charge was at the terminal: a sale or a
// pre-authorization.
type Kind string

// The kinds of charges.
const (
	KindSale    Kind = "sale"    // 0100 with processing code 000000: a purchase
	KindPreAuth Kind = "preauth" // 0100 with processing code 030000: a hold to complete later
)

// PreAuthProcessingCode is DE3 of a pre-authorization: transaction type
// 03 (as China UnionPay numbers it), default accounts. The issuer places
// the hold as for a purchase; the terminal completes it later for the
// final amount (Complete).
const PreAuthProcessingCode = "030000"

// Error codes of the store terminal's operations (fault codes).
const (
	// CodeBatchClosed: the charge was settled in a closed batch; a void
	// is no longer possible (refund it instead).
	CodeBatchClosed = "batch_closed"
	// CodeVoided: the charge was voided already.
	CodeVoided = "charge_voided"
	// CodeHasRefunds: a charge with refunds cannot be voided.
	CodeHasRefunds = "charge_has_refunds"
	// CodeRefundExceeds: a refund above what the charge has left.
	CodeRefundExceeds = "refund_exceeds_charge"
	// CodeNotPreAuth: a completion of a charge that is not a
	// pre-authorization.
	CodeNotPreAuth = "not_preauth"
	// CodeCompleted: a pre-authorization completed already (for another
	// amount).
	CodeCompleted = "preauth_completed"
	// CodeNotCompleted: a refund of a pre-authorization not completed.
	CodeNotCompleted = "preauth_not_completed"
	// CodeCompletionExceeds: a completion above the pre-authorization
	// (or not above zero).
	CodeCompletionExceeds = "completion_exceeds_preauth"
	// CodeReversalDeclined: the network answered a void or a completion
	// with something other than 00.
	CodeReversalDeclined = "reversal_declined"
)

// Line is a count of transactions and their amount in minor units.
type Line struct {
	Count  int   `json:"count"`
	Amount int64 `json:"amount"`
}

func (l *Line) add(n int64) { l.Count++; l.Amount += n }

// Totals are one currency's totals of a terminal's batch: sales (not
// voided), completed pre-authorizations (their final amounts), refunds
// answered 00, voids (the amounts voided), and the net the merchant is
// owed (sales + completions - refunds).
type Totals struct {
	Currency    int   `json:"currency"`
	Sales       Line  `json:"sales"`
	Completions Line  `json:"completions"`
	Refunds     Line  `json:"refunds"`
	Voids       Line  `json:"voids"`
	Net         int64 `json:"net"`
}

// Batch is a terminal's batch: its number (0 for the open one), when it
// was closed and its totals per currency, in currency order.
type Batch struct {
	Terminal string    `json:"terminal"`
	Number   int64     `json:"number"`
	ClosedAt time.Time `json:"closed_at,omitzero"`
	Totals   []Totals  `json:"totals"`
}

// BatchRefund is an approved refund part as batch totals count it
// (TotalsOf).
type BatchRefund struct {
	Currency int
	Amount   int64
}

// TotalsOf sums charges and approved refund parts into totals per
// currency, in currency order; it never fails. A pre-authorization not
// completed and not voided is not counted (it is no sale yet).
func TotalsOf(charges []Charge, refunds []BatchRefund) []Totals {
	by := map[int]*Totals{}
	of := func(cur int) *Totals {
		if by[cur] == nil {
			by[cur] = &Totals{Currency: cur}
		}
		return by[cur]
	}
	for _, c := range charges {
		t := of(c.Currency)
		switch {
		case !c.VoidedAt.IsZero():
			t.Voids.add(c.Final())
		case c.Kind == KindPreAuth && c.Completed > 0:
			t.Completions.add(c.Completed)
		case c.Kind != KindPreAuth:
			t.Sales.add(c.Amount)
		}
	}
	for _, r := range refunds {
		of(r.Currency).Refunds.add(r.Amount)
	}
	out := make([]Totals, 0, len(by))
	for _, t := range by {
		t.Net = t.Sales.Amount + t.Completions.Amount - t.Refunds.Amount
		out = append(out, *t)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Currency < out[j-1].Currency; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// Final returns what the charge takes from the card: a sale's amount, a
// completed pre-authorization's final amount, or the amount held by a
// pre-authorization not completed.
func (c Charge) Final() int64 {
	if c.Kind == KindPreAuth && c.Completed > 0 {
		return c.Completed
	}
	return c.Amount
}

// money returns n minor units in the charge's currency.
func (c Charge) money(n int64) money.Amount { return money.New(n, money.Currency(c.Currency)) }

// TerminalStore is the store terminal's part of the acquirer's store.
type TerminalStore interface {
	// FindCharge returns a terminal's charge by its RRN (DE37) or, when
	// rrn is empty, by the auth code of its answer (the newest such); it
	// fails with fault.NotFound CodeChargeNotFound.
	FindCharge(ctx context.Context, terminal, rrn, authCode string) (Charge, error)
	// Refunded returns the amount of a charge's refunds not declined.
	Refunded(ctx context.Context, chargeRef string) (int64, error)
	// MarkVoided records that a charge was voided (the first time counts).
	MarkVoided(ctx context.Context, chargeRef string, at time.Time) error
	// MarkCompleted records a pre-authorization's final amount.
	MarkCompleted(ctx context.Context, chargeRef string, amount int64) error
	// Reversal returns a reversal recorded (owed or answered) by id;
	// false when there is none.
	Reversal(ctx context.Context, id string) (Reversal, bool, error)
	// OpenBatch returns the totals of a terminal's open batch (number 0).
	OpenBatch(ctx context.Context, terminal string) (Batch, error)
	// CloseBatch closes a terminal's open batch in one transaction: its
	// charges (but pre-authorizations neither completed nor voided, which
	// stay open) and the refunds of its charges not in a batch yet get
	// the next batch number (1, 2, …), and the batch is kept with its
	// totals, which it returns.
	CloseBatch(ctx context.Context, terminal string, at time.Time) (Batch, error)
	// Batches returns a terminal's closed batches, newest first, at most
	// limit.
	Batches(ctx context.Context, terminal string, limit int) ([]Batch, error)
}

// VoidRequest builds the 0400 that voids (part of) a charge on the
// merchant's request: the charge's token, processing code, amount,
// merchant, acquirer and RRN, its own STAN, DE7 and local date and time
// now, and DE90 naming the charge's 0100. remaining > 0 makes it partial
// (DE95: the amount that stays authorised, as a completion below a
// pre-authorization sends it). It fails with the codec's fault.Invalid
// error for an element that does not fit.
func VoidRequest(c Charge, stan iso8583.STAN, now time.Time, remaining int64) (*iso8583.Message, error) {
	de95 := ""
	if remaining > 0 {
		de95 = fmt.Sprintf("%012d%012dC00000000C00000000", remaining, remaining)
	}
	return build(iso8583.ReversalRequest, c.Amount, c.Currency, []field{
		{iso8583.DEPAN, c.Token}, {iso8583.DEProcessingCode, c.ProcessingCode}, {iso8583.DETransmission, now.UTC().Format("0102150405")},
		{iso8583.DESTAN, stan.String()}, {iso8583.DELocalTime, now.Format("150405")}, {iso8583.DELocalDate, now.Format("0102")},
		{iso8583.DEMCC, c.MCC}, {iso8583.DEPOSCondition, "00"}, {iso8583.DEAcquirer, c.Acquirer}, {iso8583.DERRN, c.RRN},
		{iso8583.DETerminal, c.Terminal}, {iso8583.DEMerchant, c.Merchant},
		{iso8583.DEOriginal, OriginalData(c.STAN, c.Transmission, c.Acquirer)}, {iso8583.DEReplacement, de95},
	})
}

// Answered is what came of a void, a completion or a refund at the
// network: its response code and, for a refund, the auth code and STAN.
type Answered struct {
	Code     iso8583.ResponseCode
	AuthCode string
	STAN     string
}

// Void reverses a charge of the open batch in full on the merchant's
// request (0400, DE90 naming it): the issuer releases its hold and
// clearing does not present it. The reversal is recorded owed before it
// is sent (as for a timeout), so one the network does not answer is sent
// again by FlushReversals, and Void of the same charge again finds its
// answer. It fails with fault.Conflict CodeBatchClosed (the batch was
// closed: refund instead), CodeVoided, CodeHasRefunds, fault.Declined
// CodeReversalDeclined for an answer other than 00, ErrNoAnswer when the
// network does not answer (the void stays owed), and the store's error.
func (a *Acquirer) Void(ctx context.Context, c Charge, counters Counters) (Answered, error) {
	switch {
	case !c.VoidedAt.IsZero():
		return Answered{}, fault.E(fault.Conflict, CodeVoided, "the charge RRN %s was voided already", c.RRN)
	case c.Batch != 0:
		return Answered{}, fault.E(fault.Conflict, CodeBatchClosed, "the charge RRN %s was settled in batch %d: a void is no longer possible, refund it instead", c.RRN, c.Batch)
	}
	refunded, err := a.Store.Refunded(ctx, c.Ref)
	if err != nil {
		return Answered{}, err
	}
	if refunded > 0 {
		return Answered{}, fault.E(fault.Conflict, CodeHasRefunds, "the charge RRN %s has refunds: refund the rest instead of voiding it", c.RRN)
	}
	ans, err := a.reverseCharge(ctx, "void|"+c.AuthID(), c, 0, counters)
	if err != nil {
		return ans, err
	}
	return ans, a.Store.MarkVoided(ctx, c.Ref, a.now())
}

// Complete completes a pre-authorization for its final amount, at most
// the amount held. Below it, the acquirer sends the network's completion
// message: a partial reversal (0400 with DE95, the final amount staying
// authorised), so the issuer reduces its hold to the final amount and
// clearing presents it; at the amount held nothing is sent (clearing
// presents the pre-authorization as it stands). It fails with
// fault.Invalid CodeNotPreAuth or CodeCompletionExceeds, fault.Conflict
// CodeVoided or CodeCompleted (completed before for another amount; the
// same amount again answers as before), and as Void for the network's
// answer.
func (a *Acquirer) Complete(ctx context.Context, c Charge, amount int64, counters Counters) (Answered, error) {
	switch {
	case c.Kind != KindPreAuth:
		return Answered{}, fault.E(fault.Invalid, CodeNotPreAuth, "the charge RRN %s is a %s, not a pre-authorization", c.RRN, c.Kind)
	case !c.VoidedAt.IsZero():
		return Answered{}, fault.E(fault.Conflict, CodeVoided, "the pre-authorization RRN %s was voided", c.RRN)
	case c.Completed > 0 && c.Completed != amount:
		return Answered{}, fault.E(fault.Conflict, CodeCompleted, "the pre-authorization RRN %s was completed already for %s", c.RRN, c.money(c.Completed))
	case amount <= 0 || amount > c.Amount:
		return Answered{}, fault.E(fault.Invalid, CodeCompletionExceeds, "the completion must be above zero and at most the pre-authorization's %s (got %s)", c.money(c.Amount), c.money(amount))
	}
	if amount == c.Amount {
		return Answered{Code: iso8583.Approved}, a.Store.MarkCompleted(ctx, c.Ref, amount)
	}
	ans, err := a.reverseCharge(ctx, "complete|"+c.AuthID(), c, amount, counters)
	if err != nil {
		return ans, err
	}
	return ans, a.Store.MarkCompleted(ctx, c.Ref, amount)
}

// reverseCharge records the reversal id of c (remaining: DE95; 0 in
// full) owed, unless recorded before, and sends it unless answered
// before; it returns the answer.
func (a *Acquirer) reverseCharge(ctx context.Context, id string, c Charge, remaining int64, counters Counters) (Answered, error) {
	r, ok, err := a.Store.Reversal(ctx, id)
	if err != nil {
		return Answered{}, err
	}
	if !ok {
		now := a.now()
		stan, _, err := counters.Next(ctx, now, false)
		if err != nil {
			return Answered{}, err
		}
		m, err := VoidRequest(c, stan, now, remaining)
		if err != nil {
			return Answered{}, err
		}
		b, err := m.Pack()
		if err != nil {
			return Answered{}, err
		}
		r = Reversal{ID: id, Message: b, OwedAt: now}
		if err := a.Store.OweReversal(ctx, r); err != nil {
			return Answered{}, err
		}
		if r, _, err = a.Store.Reversal(ctx, id); err != nil {
			return Answered{}, err
		}
	}
	ans := Answered{Code: iso8583.ResponseCode(r.Answered)}
	if m, err := iso8583.Unpack(r.Message); err == nil {
		ans.STAN, _ = m.String(iso8583.DESTAN)
	}
	if r.Answered == "" {
		rc, err := a.sendReversal(ctx, r)
		if err != nil {
			a.owed.Store(1)
			return ans, fault.Wrap(err, fault.Unavailable, CodeNoAnswer, "no answer from the card network: the reversal stays owed and is sent again (run the command again to see its answer)")
		}
		ans.Code = rc
	}
	if !ans.Code.Approved() {
		return ans, fault.E(fault.Declined, CodeReversalDeclined, "the card network answered %s", ans.Code)
	}
	return ans, nil
}

// RefundCharge gives amount of a charge back to its card (Refund, the
// refund ref): at most what the charge has left — a sale's amount or a
// completed pre-authorization's final amount, less its refunds not
// declined. It returns the answer of the (last) refund message. It fails
// with fault.Invalid CodeRefundExceeds above that, fault.Conflict
// CodeVoided for a voided charge or CodeNotCompleted for a
// pre-authorization not completed (void it instead), and like Refund.
func (a *Acquirer) RefundCharge(ctx context.Context, c Charge, ref string, amount int64) (Answered, error) {
	switch {
	case !c.VoidedAt.IsZero():
		return Answered{}, fault.E(fault.Conflict, CodeVoided, "the charge RRN %s was voided: nothing to refund", c.RRN)
	case c.Kind == KindPreAuth && c.Completed == 0:
		return Answered{}, fault.E(fault.Conflict, CodeNotCompleted, "the pre-authorization RRN %s is not completed: void it instead", c.RRN)
	case amount <= 0:
		return Answered{}, fault.E(fault.Invalid, CodeRefundExceeds, "a refund must be above zero")
	}
	if _, err := a.Store.Charge(ctx, c.Ref); err != nil {
		return Answered{}, err
	}
	parts, err := a.Store.PlanRefund(ctx, ref, nil, 0, a.now()) // a refund planned before
	if err != nil {
		return Answered{}, err
	}
	if len(parts) == 0 {
		refunded, err := a.Store.Refunded(ctx, c.Ref)
		if err != nil {
			return Answered{}, err
		}
		if left := c.Final() - refunded; amount > left {
			return Answered{}, fault.E(fault.Invalid, CodeRefundExceeds, "a refund of %s exceeds what the charge RRN %s has left: %s of %s (refunded %s)",
				c.money(amount), c.RRN, c.money(left), c.money(c.Final()), c.money(refunded))
		}
	}
	if _, err := a.Refund(ctx, ref, []string{c.Ref}, amount); err != nil {
		return Answered{}, err
	}
	parts, err = a.Store.PlanRefund(ctx, ref, nil, 0, a.now())
	if err != nil || len(parts) == 0 {
		return Answered{}, err
	}
	last := parts[len(parts)-1]
	return Answered{Code: iso8583.ResponseCode(last.ResponseCode), AuthCode: last.AuthCode, STAN: last.Message.STAN}, nil
}

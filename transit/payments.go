package transit

import (
	"context"
	"sync"

	"github.com/tapwallet/tapwallet/fault"
)

// PhoneCards tells which bank cards a phone can pay with: the token
// numbers of its active cards (the token service knows; the operator
// asks, it keeps no token records).
type PhoneCards interface {
	ActiveCards(ctx context.Context, phoneID string) ([]string, error)
}

// CardOnFile is the Payments the operators use until their charges are
// routed over the card network as authorizations: it approves a charge
// when the token is an active card of the paying phone (the phone signed
// the request with its device key) and remembers charges by reference (a
// reference reused with another amount is refused). It moves no money at
// any bank; docs/transit.md says what the network route adds.
type CardOnFile struct {
	Tokens PhoneCards

	mu       sync.Mutex
	charged  map[string]int64 // ref → amount
	refunded map[string]int64
}

// Charge approves a payment from an active card of the phone. It fails
// with fault.Declined "card_not_usable" for a token that is not one, or
// fault.Conflict "ref_reused" for a reference used with another amount.
func (c *CardOnFile) Charge(ctx context.Context, p Payment) (string, error) {
	if p.Amount <= 0 {
		return "", fault.E(fault.Invalid, "bad_amount", "a charge must be positive")
	}
	if err := c.usable(ctx, p); err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.charged == nil {
		c.charged, c.refunded = map[string]int64{}, map[string]int64{}
	}
	if a, ok := c.charged[p.Ref]; ok && a != p.Amount {
		return "", fault.E(fault.Conflict, "ref_reused", "this payment reference was used for another amount")
	}
	c.charged[p.Ref] = p.Amount
	return "CARDONFILE", nil
}

func (c *CardOnFile) usable(ctx context.Context, p Payment) error {
	if c.Tokens == nil {
		return nil
	}
	toks, err := c.Tokens.ActiveCards(ctx, p.PhoneID)
	if err != nil {
		return err
	}
	for _, t := range toks {
		if t == p.Token {
			return nil
		}
	}
	return fault.E(fault.Declined, "card_not_usable", "the bank card is not an active card of this phone")
}

// Refund gives money back; refunding the same reference again is a no-op.
func (c *CardOnFile) Refund(ctx context.Context, p Payment) error {
	if p.Amount < 0 {
		return fault.E(fault.Invalid, "bad_amount", "a refund must not be negative")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refunded == nil {
		c.charged, c.refunded = map[string]int64{}, map[string]int64{}
	}
	c.refunded[p.Ref] = p.Amount
	return nil
}

package tsp

import (
	"context"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fault"
)

// CreditResult is a token swapped for its PAN for a credit to the card (a
// merchant's refund).
type CreditResult struct {
	Token Token
	PAN   card.PAN
}

// Credit checks a token for a credit the merchant sends to the card (a
// refund, ISO 8583 0200 with processing code 200000) and swaps it for the
// PAN. A credit carries no cryptogram — the card holder authorizes
// nothing, the merchant gives money back — so only this is checked: the
// token exists and is not deleted. A suspended token (the wallet switched
// off, the phone lost) still gets its money back, and no limited-use key
// or counter is used. It fails with fault.Declined token_unknown or
// token_deleted, and with the store's or key store's error.
func (s *Service) Credit(ctx context.Context, token string) (CreditResult, error) {
	t, err := s.Store.Token(ctx, token)
	if err != nil {
		if fault.KindOf(err) == fault.NotFound {
			return CreditResult{}, decline(DeclineTokenUnknown, "no such token")
		}
		return CreditResult{}, err
	}
	if t.State == Deleted {
		return CreditResult{}, decline(DeclineTokenDeleted, "the token was deleted")
	}
	v, err := s.Store.VaultPAN(ctx, t.PANID)
	if err != nil {
		return CreditResult{}, err
	}
	panB, err := s.Keys.Open(ctx, v.Sealed, []byte("vault:"+v.ID))
	if err != nil {
		return CreditResult{}, err
	}
	pan, err := card.ParsePAN(string(panB))
	clear(panB)
	if err != nil {
		return CreditResult{}, fault.E(fault.Internal, "vault_pan", "the vault holds an invalid card number")
	}
	return CreditResult{Token: t, PAN: pan}, nil
}

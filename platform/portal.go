package platform

import (
	"context"
	"sort"
	"strings"

	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/portal"
)

// accountPayments shows the portal an account's payments: the card
// network's authorization records of the tokens of its phones (declines
// too), newest first.
type accountPayments struct{ p *Platform }

var _ portal.Payments = accountPayments{}

// Payments lists the account's newest authorizations; it fails with the
// stores' errors.
func (a accountPayments) Payments(ctx context.Context, accountID string, limit int) ([]portal.Payment, error) {
	phones, err := a.p.Wallet.Store.Phones(ctx, accountID)
	if err != nil {
		return nil, err
	}
	phoneOf := map[string]string{} // token → phone
	var tokens []string
	for _, ph := range phones {
		toks, err := a.p.Tokens.Cards(ctx, ph.ID)
		if err != nil {
			return nil, err
		}
		for _, t := range toks {
			phoneOf[t.Number.Digits()] = ph.ID
			tokens = append(tokens, t.Number.Digits())
		}
	}
	auths, err := a.p.Records.TokenAuths(ctx, tokens, limit)
	if err != nil {
		return nil, err
	}
	var out []portal.Payment
	for _, au := range auths {
		if au.AccountID != "" && au.AccountID != accountID {
			continue
		}
		amount := au.Amount
		if au.PartiallyReversed() {
			amount = au.ClearAmount // what stays charged
		}
		pm := portal.Payment{At: au.ReceivedAt, PhoneID: phoneOf[au.Token], TokenLast4: au.TokenLast4, Merchant: au.MerchantName,
			Amount: money.New(amount, money.Currency(au.Currency)), Approved: au.Captured(), Code: string(au.ResponseCode)}
		switch {
		case au.PartiallyReversed():
			pm.Reason = "partially reversed by the terminal from " + money.New(au.Amount, money.Currency(au.Currency)).String()
		case au.Reversed():
			pm.Reason = "reversed by the terminal"
		case !au.Approved():
			pm.Reason = iso8583.ResponseCode(au.ResponseCode).Text()
			if au.Reason != "" && au.Reason != "issuer_declined" {
				pm.Reason += " (" + strings.ReplaceAll(string(au.Reason), "_", " ") + ")"
			}
		}
		out = append(out, pm)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

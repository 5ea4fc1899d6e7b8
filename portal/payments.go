package portal

import (
	"context"
	"sort"
	"strings"

	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netswitch"
)

// Records is the card network's read of its authorization records by
// token, declines included (netswitch/sqlstore.Store.TokenAuths), newest
// first.
type Records interface {
	TokenAuths(ctx context.Context, tokens []string, limit int) ([]netswitch.Auth, error)
}

// payments lists the account's newest authorizations, asking each party
// for its part: the wallet for the account's phones, the token service
// for each phone's tokens, the card network for the records of those
// tokens (declines too: a switched-off phone's declined taps carry no
// phone). It fails with the first party's error.
func (p *Portal) payments(ctx context.Context, accountID string, limit int) ([]Payment, error) {
	phones, err := p.cfg.Wallet.Phones(ctx, accountID)
	if err != nil {
		return nil, err
	}
	phoneOf := map[string]string{} // token → phone
	var tokens []string
	for _, ph := range phones {
		toks, err := p.cfg.Tokens.Cards(ctx, ph.ID)
		if err != nil {
			return nil, err
		}
		for _, t := range toks {
			phoneOf[t.Number.Digits()] = ph.ID
			tokens = append(tokens, t.Number.Digits())
		}
	}
	auths, err := p.cfg.Records.TokenAuths(ctx, tokens, limit)
	if err != nil {
		return nil, err
	}
	var out []Payment
	for _, au := range auths {
		if au.AccountID != "" && au.AccountID != accountID {
			continue
		}
		out = append(out, paymentOf(au, phoneOf[au.Token]))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// paymentOf is a network record as the portal shows it: what stays
// charged after a partial reversal, and why a payment did not go through.
func paymentOf(au netswitch.Auth, phoneID string) Payment {
	amount := au.Amount
	if au.PartiallyReversed() {
		amount = au.ClearAmount
	}
	pm := Payment{At: au.ReceivedAt, PhoneID: phoneID, TokenLast4: au.TokenLast4, Merchant: au.MerchantName,
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
	return pm
}

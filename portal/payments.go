package portal

import (
	"context"
	"sort"
	"time"

	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/tsp"
)

// Records is the card network's read of its authorization records by
// token, declines included (netswitch/sqlstore.Store.TokenAuths), newest
// first.
type Records interface {
	TokenAuths(ctx context.Context, tokens []string, limit int) ([]netswitch.Auth, error)
}

// Payment is one authorization of a card of the account, as the card
// network recorded it, in the portal's words.
type Payment struct {
	At         time.Time
	PhoneID    string
	PhoneName  string
	TokenLast4 string
	BankID     string // the card's bank's id (its name in the catalogues: bank.<id>)
	BankName   string // the card's bank, when the card is still on a phone
	PANLast4   string // the card's own last 4 digits, likewise
	Merchant   string
	Amount     money.Amount // what stays charged (after a partial reversal: the rest; after an instant discount: the net)
	Original   money.Amount // what was charged before a partial reversal changed it
	Price      money.Amount // the price before an instant discount (Minor 0: none)
	Discount   money.Amount // the promotion's discount (Minor 0: none)
	Promo      *promo.Redemption
	Decision   *decisionView // the risk engine's, when it kept one
	Approved   bool
	Reversed   bool   // approved, then reversed in full by the terminal
	Partial    bool   // approved, then partly reversed
	Code       string // ISO 8583 response code (DE39), never shown as such
	Reason     string // the network's decline reason code, never shown as such
	token      string
	id         string // the network's message identity (the risk decision's and the redemption's key)
}

// cardInfo is what the token service says of a token for the pages.
type cardInfo struct {
	phoneID, phoneName, bank, panLast4 string
}

// accountTokens asks the wallet for the account's phones and the token
// service for each phone's tokens.
func (p *Portal) accountTokens(ctx context.Context, accountID string) (map[string]cardInfo, []string, error) {
	phones, err := p.cfg.Wallet.Phones(ctx, accountID)
	if err != nil {
		return nil, nil, err
	}
	info := map[string]cardInfo{}
	var tokens []string
	for _, ph := range phones {
		toks, err := p.cfg.Tokens.Cards(ctx, ph.ID)
		if err != nil {
			return nil, nil, err
		}
		for _, t := range toks {
			info[t.Number.Digits()] = cardInfo{phoneID: ph.ID, phoneName: ph.Name, bank: bankName(t), panLast4: t.PANLast4}
			tokens = append(tokens, t.Number.Digits())
		}
	}
	return info, tokens, nil
}

func bankName(t tsp.Token) string {
	if t.BankName != "" {
		return t.BankName
	}
	return t.BankID
}

// payments lists the account's newest authorizations (at most limit),
// asking each party for its part: the wallet for the account's phones, the
// token service for each phone's tokens, the card network for the records
// of those tokens (declines too: a switched-off phone's declined taps carry
// no phone), with the discount the network recorded and the risk engine's
// decision. It fails with the first party's error.
func (p *Portal) payments(ctx context.Context, accountID string, limit int) ([]Payment, error) {
	info, tokens, err := p.accountTokens(ctx, accountID)
	if err != nil {
		return nil, err
	}
	return p.paymentsOf(ctx, accountID, info, tokens, limit)
}

// explained adds the risk engine's kept decision to each payment.
func (p *Portal) explained(ctx context.Context, t *tr, pays []Payment) {
	for i := range pays {
		pays[i].Decision = p.decisionOf(ctx, t, pays[i].id)
	}
}

func (p *Portal) paymentsOf(ctx context.Context, accountID string, info map[string]cardInfo, tokens []string, limit int) ([]Payment, error) {
	if len(tokens) == 0 || p.cfg.Records == nil {
		return nil, nil
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
		out = append(out, paymentOf(au, info[au.Token.Digits()]))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// paymentOf is a network record as the portal shows it: what stays
// charged after a partial reversal and an instant discount (the record's
// redemption: the net; the merchant is settled the gross), and why a
// payment did not go through.
func paymentOf(au netswitch.Auth, c cardInfo) Payment {
	cur := au.Amount.Currency
	pm := Payment{At: au.ReceivedAt, PhoneID: c.phoneID, PhoneName: c.phoneName, TokenLast4: au.TokenLast4, BankName: c.bank, PANLast4: c.panLast4,
		Merchant: au.MerchantName, Amount: au.Amount, Approved: au.Captured(),
		Reversed: au.Reversed(), Partial: au.PartiallyReversed(), Code: string(au.ResponseCode), Reason: string(au.Reason), token: au.Token.Digits(),
		id: au.ID, BankID: au.BankID}
	if pm.PANLast4 == "" {
		pm.PANLast4 = au.PANLast4
	}
	if pm.Partial {
		pm.Original, pm.Amount = pm.Amount, money.New(au.ClearAmount, cur)
	}
	if r := au.Promo; r != nil && r.Discount > 0 && pm.Approved {
		pm.Promo, pm.Discount = r, money.New(r.Discount, cur)
		if r.Fulfilment == promo.FulfilInstant && pm.Amount.Minor > r.Discount {
			pm.Price = pm.Amount
			pm.Amount = money.New(pm.Amount.Minor-r.Discount, cur)
			if pm.Partial {
				pm.Original = money.New(pm.Original.Minor-r.Discount, cur)
			}
		}
	}
	return pm
}

// result says in words how a payment ended.
func (t *tr) result(pm Payment) string {
	switch {
	case pm.Partial:
		return t.T("result.partial", "Original", Money(pm.Original))
	case pm.Reversed:
		return t.T("result.reversed")
	case pm.Approved:
		return t.T("result.approved")
	}
	return t.T("result.declined", "Why", t.decline(pm.Code, pm.Reason))
}

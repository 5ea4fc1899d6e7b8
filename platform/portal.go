package platform

import (
	"context"
	"sort"
	"strings"

	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/lostphone"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/portal"
	portalstore "github.com/tapwallet/tapwallet/portal/sqlstore"
	"github.com/tapwallet/tapwallet/wallet"
	walletstore "github.com/tapwallet/tapwallet/wallet/sqlstore"
	"github.com/tapwallet/tapwallet/walletapi"
)

// walletWings are the wallet service's and the portal's own databases.
type walletWings struct {
	wallet *walletstore.Store // accounts, sessions, phones, security events
	portal *portalstore.Store // passkeys, ceremonies, lost-phone switches and commands
}

// newWallet opens the wallet's wing (wallet.db, or the schema wallet) and
// the portal's (portal.db, or the schema portal) and builds the wallet
// service over the first. It fails like sqldb.OpenWing.
func (p *Platform) newWallet(ctx context.Context, cfg Config) error {
	ws, err := walletstore.Open(ctx, cfg.DSN, cfg.DataDir)
	if err != nil {
		return err
	}
	ws.DB.Now = cfg.Now
	ps, err := portalstore.Open(ctx, cfg.DSN, cfg.DataDir)
	if err != nil {
		ws.Close()
		return err
	}
	ps.DB.Now = cfg.Now
	p.wings = walletWings{wallet: ws, portal: ps}
	p.Wallet = wallet.NewService(ws, cfg.Log)
	p.Wallet.Now = cfg.Now
	if cfg.ArgonTime > 0 {
		p.Wallet.ArgonTime = cfg.ArgonTime
	}
	return nil
}

// newWalletAPI builds the wallet role: the wallet API and the lost-phone
// switch (its records in the portal's wing), finishing any switch a crash
// left half done (lostphone.Service.Recover; what it cannot finish now is
// logged and finished when the switch is asked again).
func (p *Platform) newWalletAPI(ctx context.Context, cfg Config, tokens lostphone.Tokens, api *walletapi.API) {
	p.API = api
	p.Lost = lostphone.New(p.wings.portal, p.Wallet, tokens, cfg.Log)
	p.Lost.Now = cfg.Now
	p.API.MountLostPhone(p.Lost, p.wings.portal)
	if n, err := p.Lost.Recover(ctx); n > 0 || err != nil {
		p.Log.Info("lost-phone switches finished at start", "n", n, "err", err)
	}
}

// closeWallet closes the wallet's and the portal's wings.
func (p *Platform) closeWallet() error {
	var err error
	if p.wings.portal != nil {
		err = p.wings.portal.Close()
	}
	if p.wings.wallet != nil {
		if cerr := p.wings.wallet.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

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
		toks, err := a.p.Requestor.Cards(ctx, ph.ID)
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

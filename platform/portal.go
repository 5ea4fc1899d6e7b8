package platform

import (
	"context"

	"github.com/tapwallet/tapwallet/lostphone"
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

package platform

import (
	"context"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/tsp"
	tspstore "github.com/tapwallet/tapwallet/tsp/sqlstore"
	"github.com/tapwallet/tapwallet/wallet"
)

// newTokens opens the token service's own storage wing (tsp.db on SQLite,
// the schema tsp on PostgreSQL) and builds the token service over it, its
// ID&V through iss, its security findings handed to the wallet's audit
// trail. It fails like tspstore.Open.
func (p *Platform) newTokens(ctx context.Context, cfg Config, iss bank.IDV) error {
	st, err := tspstore.Open(ctx, cfg.DSN, cfg.DataDir)
	if err != nil {
		return err
	}
	st.DB.Now = cfg.Now
	p.net.tokens = st
	p.Tokens = tsp.New(st, p.Keys, iss, tsp.EMVKeys{Alg: emv.TDES}, cfg.Log)
	p.Tokens.Now = cfg.Now
	p.Tokens.Security = tokenSecurity{p.Wallet} // a suspected clone is a security event of the account
	return nil
}

// tokenSecurity hands the token service's security findings to the
// wallet's audit trail.
type tokenSecurity struct{ w *wallet.Service }

func (s tokenSecurity) SecurityEvent(ctx context.Context, e tsp.SecurityEvent) {
	s.w.Record(ctx, wallet.Event{AccountID: e.AccountID, PhoneID: e.DeviceID, Kind: e.Kind, Detail: e.Detail, Source: e.Source})
}

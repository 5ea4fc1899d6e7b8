package platform

import (
	"context"
	"net/http"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/issuer/rewardshttp"
)

// Rewards is the banks' points programmes as the wallet reaches them
// (bank.Rewards, docs/promotions.md Points): the issuer hosts this process
// runs answer for their banks in process; a bank whose issuer process is
// elsewhere — named in Config.ClearingAt or Config.IDVAt, the issuer
// process's http://HOST:PORT — is asked there over issuer/rewardshttp,
// under the network–issuer shared secret. A bank neither here nor named
// is answered fault.NotFound rewards_not_hosted. It never fails.
func (p *Platform) Rewards() bank.Rewards {
	local := issuer.RewardsHosts{}
	if p.Issuers != nil {
		for id, h := range p.Issuers.Hosts {
			local[id] = h
		}
	}
	at := map[string]string{}
	for id, u := range p.cfg.IDVAt {
		at[id] = u
	}
	for id, u := range p.cfg.ClearingAt {
		at[id] = u
	}
	for id := range local {
		delete(at, id) // hosted here: asked here
	}
	if len(at) == 0 {
		return local
	}
	return &rewardshttp.Client{At: at, Secret: p.ClearingSecret(), Local: local}
}

// MountRewards serves the points of the banks whose issuer hosts this
// process runs at rewardshttp.Path, for wallet processes elsewhere
// (issuer/rewardshttp, under the network–issuer shared secret); nothing
// when it runs none.
func (p *Platform) MountRewards(mux *http.ServeMux) {
	if p.Issuers == nil {
		return
	}
	mux.Handle(rewardshttp.Path, rewardshttp.Handler(issuer.RewardsHosts(p.Issuers.Hosts), p.ClearingSecret(), p.Log))
}

// ExpirePoints releases, oldest first, the points whose life ended at
// every bank whose issuer host this process runs (issuer.Host.ExpirePoints,
// which clearing runs too), as the hourly sweep of the holds does.
func (p *Platform) ExpirePoints(ctx context.Context) {
	if p.Issuers == nil {
		return
	}
	for id, h := range p.Issuers.Hosts {
		if n, err := h.ExpirePoints(ctx, p.cfg.Now()); err != nil {
			p.Log.Error("issuers: points expiry failed", "bank", id, "err", fault.MessageOf(err))
		} else if n > 0 {
			p.Log.Info("issuers: points expired", "bank", id, "points", n)
		}
	}
}

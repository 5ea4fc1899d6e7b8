package platform

import (
	"context"
	"github.com/tapwallet/tapwallet/risk"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/portal"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/walletapi"
)

// portalPromotions is the portal's promotions (portal.Promotions) over the
// network's promo store, as the wallet API's offers (walletOffers): a card
// is named as the switch names it in a purchase (its PAR; a token without
// one by "token:" and its number, as netswitch does), so "add to card" in
// the portal is what the switch finds, and its BIN is its product's in
// the bank directory.
type portalPromotions struct {
	promoStore
	offers walletOffers
}

var _ portal.Promotions = portalPromotions{}

// Card is tok's card as the switch matches purchases (never shown: the
// portal names cards by a keyed hash).
func (o portalPromotions) Card(tok tsp.Token) promo.Purchase {
	c := o.offers.card(walletapi.OfferCard{PAR: tok.PAR, Bank: tok.BankID, Product: tok.Product})
	pc := promo.Purchase{Card: c.PAR, Bank: c.Bank, BIN: c.BIN, Product: c.Product}
	if pc.Card == "" {
		pc.Card = "token:" + tok.Number.Digits()
	}
	return pc
}

// PortalPromotions returns the portal's offers over the network's promo
// store st (nil: the portal lists no offers); startPortal passes it as
// portal.Config.Promotions.
func (p *Platform) PortalPromotions(st promo.Store) portal.Promotions {
	if st == nil {
		return nil
	}
	o := portalPromotions{promoStore: st, offers: walletOffers{store: st}}
	if p.Banks != nil {
		o.offers.banks = p.Banks.Directory()
	}
	return o
}

// PortalPoints returns the banks' points programmes as the portal reads
// them (Rewards, asked at each read: the issuer hosts start after the
// portal is built); startPortal passes it as portal.Config.Points.
func (p *Platform) PortalPoints() portal.Points { return portalPoints{p} }

// portalPoints is Rewards as it stands when the portal asks.
type portalPoints struct{ p *Platform }

// Points is bank.Rewards.Points of the bank's host, here or over HTTP.
func (o portalPoints) Points(ctx context.Context, bankID, par string) (bank.Points, error) {
	return o.p.Rewards().Points(ctx, bankID, par)
}

// PortalRisk returns the risk engine's cases, state and kept decisions
// for the portal's alerts and payments (zero without the engine: no
// alerts page); startPortal passes it as portal.Config.Risk.
func (p *Platform) PortalRisk() portal.Risk {
	if p.risk.store == nil {
		return portal.Risk{}
	}
	r := portal.Risk{Cases: p.risk.store, State: p.risk.store, Decisions: p.risk.store}
	if p.Transit != nil {
		t := p.Transit
		r.BlockRideCard = func(ctx context.Context, c risk.Case) (string, bool, error) {
			return walletapi.BlockRideCard(ctx, t, c)
		}
	}
	return r
}

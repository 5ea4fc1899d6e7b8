package platform

import (
	"context"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/walletapi"
)

// promoStore is the part of the network's promo store (promo.Store, the
// promo wing) the wallet's offers use.
type promoStore interface {
	Campaigns(ctx context.Context) ([]promo.Campaign, error)
	Enrolled(ctx context.Context, card string) (map[string]bool, error)
	Enrol(ctx context.Context, id, card string) error
}

var _ promoStore = promo.Store(nil)

// walletOffers is the wallet API's offers (walletapi.Offers) over the
// network's promo store: a card is known by its PAR (the key of its
// add-to-card enrolments), its bank and product; its BIN is its
// product's in the bank directory.
type walletOffers struct {
	store promoStore
	banks *bank.Directory
	now   func() time.Time
}

var _ walletapi.Offers = walletOffers{}

// Offers returns each card's offers now; it fails with the promo store's
// error.
func (o walletOffers) Offers(ctx context.Context, cards []walletapi.OfferCard) ([][]walletapi.Offer, error) {
	cs, err := o.store.Campaigns(ctx)
	if err != nil {
		return nil, err
	}
	now := o.now()
	out := make([][]walletapi.Offer, len(cards))
	for i, c := range cards {
		c = o.card(c)
		enrolled := map[string]bool{}
		if c.PAR != "" {
			if enrolled, err = o.store.Enrolled(ctx, c.PAR); err != nil {
				return nil, err
			}
		}
		out[i] = walletapi.CardOffersOf(cs, c, enrolled, now, o.name)
	}
	return out, nil
}

// Enrol adds an add-to-card campaign's offer to the card (by its PAR).
func (o walletOffers) Enrol(ctx context.Context, campaign string, card walletapi.OfferCard) (walletapi.Offer, error) {
	card = o.card(card)
	if card.PAR == "" {
		return walletapi.Offer{}, fault.E(fault.Invalid, "offer_not_for_card", "this card has no payment account reference: no offer can be added to it")
	}
	cs, err := o.store.Campaigns(ctx)
	if err != nil {
		return walletapi.Offer{}, err
	}
	for i := range cs {
		c := &cs[i]
		if c.ID != campaign {
			continue
		}
		switch {
		case !walletapi.OfferedTo(c, card, o.now()):
			return walletapi.Offer{}, fault.E(fault.Invalid, "offer_not_for_card", "offer %q is not for this card (its bank, card range or product, or it is not open now)", campaign)
		case c.Enrolment != promo.EnrolAddToCard:
			return walletapi.Offer{}, fault.E(fault.Invalid, "offer_auto", "offer %q applies to the card without adding it", campaign)
		}
		if err := o.store.Enrol(ctx, c.ID, card.PAR); err != nil {
			return walletapi.Offer{}, err
		}
		return walletapi.OfferView(c, card.Bank, true, o.name), nil
	}
	return walletapi.Offer{}, fault.E(fault.NotFound, "promo_no_campaign", "no offer %q", campaign)
}

// card fills in the card's BIN: its product's in the directory.
func (o walletOffers) card(c walletapi.OfferCard) walletapi.OfferCard {
	if c.BIN != "" || o.banks == nil {
		return c
	}
	if b, ok := o.banks.BankByID(c.Bank); ok {
		for _, p := range b.Products {
			if string(p.Kind) == c.Product {
				c.BIN = p.BIN
				break
			}
		}
	}
	return c
}

// name names a funder's party: a bank by its short name.
func (o walletOffers) name(party string) string {
	if o.banks != nil {
		if _, ok := o.banks.BankByID(party); ok {
			return bankName(o.banks, party)
		}
	}
	return party
}

// MountPromotions adds the wallet API's offers and points routes
// (walletapi.MountPromotions) over the network's promo store
// (p.Promotions()) and the banks' points (p.Rewards(), asked at each
// request, so the issuer hosts started later answer). The lead calls it in
// newNetwork once the promo wing is open (after newPromo), beside
// MountNetwork.
func (p *Platform) MountPromotions() {
	p.MountPromotionsWith(p.Promotions(), platformRewards{p})
}

// MountPromotionsWith is MountPromotions over another promo store and
// rewards (a test's); called again it replaces them. Either may be nil:
// its routes then answer 404.
func (p *Platform) MountPromotionsWith(st promo.Store, rw bank.Rewards) {
	if p.API == nil {
		return
	}
	var dir *bank.Directory
	if p.Banks != nil {
		dir = p.Banks.Directory()
	}
	now := p.cfg.Now
	if now == nil {
		now = time.Now
	}
	pr := walletapi.Promotions{Rewards: rw, BankName: func(id string) string { return bankName(dir, id) }}
	if st != nil {
		pr.Offers = walletOffers{store: st, banks: dir, now: now}
	}
	if p.Records != nil {
		pr.Payments = p.walletPayments(st)
	}
	p.API.MountPromotions(pr)
}

// platformRewards is p.Rewards() asked at each call: the issuer hosts
// this process runs are known once it started.
type platformRewards struct{ p *Platform }

func (r platformRewards) Points(ctx context.Context, bankID, par string) (bank.Points, error) {
	return r.p.Rewards().Points(ctx, bankID, par)
}

func (r platformRewards) PayWithPoints(ctx context.Context, req bank.PayWithPoints) (bank.PointsPayment, error) {
	return r.p.Rewards().PayWithPoints(ctx, req)
}

// walletPayments is the payment history over the network's records with
// campaigns named from st (nil: by id) and funders by the directory. The
// lead mounts it in platform/network.go:
// p.API.MountNetwork(walletapi.Network{Payments: p.walletPayments(p.Promotions())}).
func (p *Platform) walletPayments(st promo.Store) promoPayments {
	pp := promoPayments{phonePayments: phonePayments{p.Records}}
	if st != nil {
		pp.campaigns = st
	}
	if p.Banks != nil {
		pp.banks = p.Banks.Directory()
	}
	return pp
}

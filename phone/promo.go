package phone

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/walletapi/client"
)

// offersFile is where the phone keeps the offers of its cards as the
// network last gave them (shown when the phone meets a terminal, without
// asking the server then).
const offersFile = "offers.json"

// Offers returns the offers of this phone's cards (GET /v1/offers) and
// keeps them in the profile for the next tap. It fails like the wallet
// API.
func (p *Phone) Offers(ctx context.Context) ([]client.CardOffers, error) {
	if p.Profile.PhoneID == "" {
		return nil, fault.E(fault.Invalid, "not_registered", "this phone is not registered: run 'tapwallet phone register' (after 'phone login')")
	}
	var out client.Offers
	if _, err := p.call(ctx, "GET", "/v1/offers?phone="+url.QueryEscape(p.Profile.PhoneID), nil, &out, false); err != nil {
		return nil, err
	}
	if err := p.saveOffers(out); err != nil {
		return nil, err
	}
	return out.Cards, nil
}

// AddOffer adds an add-to-card offer to one of the phone's cards (token,
// token or card last 4 digits).
func (p *Phone) AddOffer(ctx context.Context, campaign, ref string) (client.OfferAdded, error) {
	c, err := p.FindCard(ref)
	if err != nil {
		return client.OfferAdded{}, err
	}
	var out client.OfferAdded
	_, err = p.call(ctx, "POST", "/v1/offers/"+url.PathEscape(campaign)+"/cards/"+url.PathEscape(c.Token)+"/add", nil, &out, false)
	return out, err
}

// Points returns the points of this phone's cards at their banks.
func (p *Phone) Points(ctx context.Context) (client.Points, error) {
	if p.Profile.PhoneID == "" {
		return client.Points{}, fault.E(fault.Invalid, "not_registered", "this phone is not registered: run 'tapwallet phone register' (after 'phone login')")
	}
	var out client.Points
	_, err := p.call(ctx, "GET", "/v1/points?phone="+url.QueryEscape(p.Profile.PhoneID), nil, &out, false)
	return out, err
}

// PayWithPoints pays a purchase (its payment id, from History) with at
// most points points (0: as many as it takes).
func (p *Phone) PayWithPoints(ctx context.Context, payment string, points int64) (client.PointsPaid, error) {
	var out client.PointsPaid
	_, err := p.call(ctx, "POST", "/v1/points/pay", client.PayWithPoints{Payment: payment, Points: points}, &out, false)
	return out, err
}

// CachedOffers returns the offers last fetched (Offers), or none.
func (p *Phone) CachedOffers() []client.CardOffers {
	b, err := os.ReadFile(filepath.Join(p.Dir, offersFile))
	if err != nil {
		return nil
	}
	var out client.Offers
	if json.Unmarshal(b, &out) != nil {
		return nil
	}
	return out.Cards
}

func (p *Phone) saveOffers(o client.Offers) error {
	b, _ := json.MarshalIndent(o, "", "  ")
	tmp := filepath.Join(p.Dir, offersFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fault.Wrap(err, fault.Unavailable, "profile", "write the offers")
	}
	if err := os.Rename(tmp, filepath.Join(p.Dir, offersFile)); err != nil {
		return fault.Wrap(err, fault.Unavailable, "profile", "write the offers")
	}
	return nil
}

// PayingCard is the card a tap pays with: ref's (token, token or card
// last 4 digits), or the default. It fails like PaymentCards.
func (p *Phone) PayingCard(ref string) (Card, error) {
	cards, err := p.PaymentCards(ref)
	if err != nil {
		return Card{}, err
	}
	if len(cards) == 0 {
		return Card{}, fault.E(fault.NotFound, "no_cards", "no card on this phone (tapwallet phone add-card)")
	}
	return p.FindCard(cards[0].Token)
}

// OffersFor returns the cached offers of one card (by token), or none.
func OffersFor(cached []client.CardOffers, token string) []client.Offer {
	for _, c := range cached {
		if c.Card == token {
			return c.Offers
		}
	}
	return nil
}

package platform

import (
	"context"

	"github.com/tapwallet/tapwallet/fare"
	"github.com/tapwallet/tapwallet/lostphone"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/transit"
)

// newTransit builds the six city transit operators' host on the
// platform's database and key store, mounts its routes (gates and phones)
// and connects it to the lost-phone switch, so that switching a phone's
// wallet off puts its transit cards on the hot lists.
func (p *Platform) newTransit(cfg Config) error {
	token, err := operatorToken(cfg)
	if err != nil {
		return err
	}
	p.Transit = transit.New(&sqldb.TransitStore{DB: p.DB}, p.Keys, fare.Default(), &transit.CardOnFile{Tokens: p.Tokens}, p.Log)
	p.API.MountTransit(p.Transit, token)
	if p.Lost != nil && p.Lost.Transit == nil {
		p.Lost.Transit = lostTransit{p.Transit}
	}
	return nil
}

// lostTransit is the transit side of the lost-phone switch.
type lostTransit struct{ t *transit.Service }

var _ lostphone.Transit = lostTransit{}

func (l lostTransit) Cards(ctx context.Context, phoneID string) ([]lostphone.TransitCard, error) {
	cards, err := l.t.CardsOfPhone(ctx, phoneID)
	if err != nil {
		return nil, err
	}
	var out []lostphone.TransitCard
	for _, c := range cards {
		state := c.State
		if blocked, err := l.t.Blocked(ctx, c); err == nil && blocked && state == transit.CardActive {
			state = "blocked"
		}
		name := c.City
		if city, err := l.t.Fares.City(c.City); err == nil {
			name = city.Name
		}
		out = append(out, lostphone.TransitCard{ID: c.Number, City: name, Number: c.Number, Balance: money.Fen(c.Balance).String(), State: state})
	}
	return out, nil
}

func (l lostTransit) Block(ctx context.Context, phoneID, actor, reason string) ([]string, error) {
	return l.t.BlockPhone(ctx, phoneID, "wallet switched off by "+actor+": "+reason)
}

func (l lostTransit) Unblock(ctx context.Context, phoneID string, cards []string, actor, reason string) error {
	return l.t.Unblock(ctx, cards)
}

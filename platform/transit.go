package platform

import (
	"context"
	"time"

	"github.com/tapwallet/tapwallet/acquirer"
	acqsql "github.com/tapwallet/tapwallet/acquirer/sqlstore"
	"github.com/tapwallet/tapwallet/lostphone"
	"github.com/tapwallet/tapwallet/risk"
	"github.com/tapwallet/tapwallet/transit"
	"github.com/tapwallet/tapwallet/transit/operatorapi"
	transitsql "github.com/tapwallet/tapwallet/transit/sqlstore"
	"github.com/tapwallet/tapwallet/tsp"
)

// transitParty is what the transit role holds open: the operators' own
// wing and their acquirer's.
type transitParty struct {
	store *transitsql.TransitStore
	acq   *acqsql.Store
	link  *acquirer.Dialer
}

// newTransit builds the six city transit operators' host on its own
// storage wing (transit) and the platform's key store; their payments go
// to the card network as an acquirer (MCC 4111, its own wing acquirer)
// over ISO 8583 — to this process's network once it listens, or
// cfg.NetworkAddr. It mounts the phones' transit routes on the wallet API
// and the operators' back office (gates, settlement) beside them, and
// connects the host to the lost-phone switch, so that switching a phone's
// wallet off puts its transit cards on the hot lists.
func (p *Platform) newTransit(cfg Config) error {
	ctx := context.Background()
	token, err := operatorToken(cfg)
	if err != nil {
		return err
	}
	st, err := transitsql.Open(ctx, cfg.DSN, cfg.DataDir)
	if err != nil {
		return err
	}
	st.DB.Now = cfg.Now
	acqStore, err := acqsql.Open(ctx, cfg.DSN, cfg.DataDir)
	if err != nil {
		st.Close()
		return err
	}
	network := func() string {
		if p.ISOAddr != "" {
			return p.ISOAddr
		}
		return cfg.NetworkAddr
	}
	link := &acquirer.Dialer{Addr: network, Timeout: 10 * time.Second}
	acq, err := acquirer.New(ctx, link, acqStore, p.Log)
	if err != nil {
		st.Close()
		acqStore.Close()
		return err
	}
	p.transit = transitParty{store: st, acq: acqStore, link: link}
	pay := &transit.NetworkPayments{Acquirer: acq, Counters: acqStore.Counters, Store: st, Log: p.Log,
		CardOnFile: &transit.CardOnFile{Tokens: phoneCards{p.Requestor}}, Online: func() bool { return network() != "" }}
	p.Transit = transit.New(st, p.Keys, nil, pay, p.Log)
	pay.Fares = p.Transit.Fares
	if p.API != nil {
		p.API.MountTransit(p.Transit)
		p.API.Handle("/v1/transit/", operatorapi.New(p.TransitClearing(), token))
	}
	if p.Lost != nil && p.Lost.Transit == nil {
		p.Lost.Transit = lostTransit{p.Transit}
	}
	return nil
}

// TransitClearing is the operators' host whose clearing files the
// network's risk engine checks after the fact (transit.Checked): each
// accepted ride is decided at the point transit_clearing, its decision
// kept in the risk wing, a review flagged on the record and, when the
// transit card belongs to a wallet account, a "was this you?" case opened
// for it. Without the engine (Config.RiskOff, or no network, token
// service or wallet role here) the host clears unchecked.
func (p *Platform) TransitClearing() transit.Checked {
	c := transit.Checked{Service: p.Transit}
	if p.risk.engine != nil {
		c.Risk = transitRisk{engine: risk.Metered{Engine: p.risk.engine, Meter: p.risk.meter}, keep: p.risk.store}
	}
	return c
}

// transitRisk is the transit operators' after-the-fact check: the risk
// engine, named in its facts' terms (a transit card by its reference
// risk.TransitCardRef, the bank card that paid for it by risk.TokenRef).
type transitRisk struct {
	engine risk.RideEngine
	keep   risk.RideKeeper
}

var _ transit.RideChecker = transitRisk{}

func (r transitRisk) CheckRides(ctx context.Context, rides []transit.ClearedRide) ([]transit.RideFlag, error) {
	in := make([]risk.TransitRide, len(rides))
	for i, c := range rides {
		card := risk.TransitCardRef(c.Card)
		in[i] = risk.TransitRide{ID: risk.RideID(c.City, card, c.ATC), At: c.At, Card: card, Phone: c.PhoneID,
			Account: c.AccountID, City: c.City, Line: int(c.Line), Station: int(c.Station), Amount: c.Amount, Summary: c.Summary}
		if c.Token != "" {
			in[i].Token = risk.TokenRef(c.Token)
		}
	}
	out, err := risk.CheckRides(ctx, r.engine, r.keep, in)
	var flags []transit.RideFlag
	for i, o := range out {
		if !o.Decided || o.Decision.Outcome == risk.Approve {
			continue
		}
		d := o.Decision
		flags = append(flags, transit.RideFlag{Card: rides[i].Card, ATC: rides[i].ATC, Outcome: d.Outcome.String(), Score: d.Score,
			Version: d.Version, Rules: d.Reasons, Case: o.Case})
	}
	return flags, err
}

// stopTransit closes the transit role's connection and wings.
func (p *Platform) stopTransit() {
	if p.transit.store == nil {
		return
	}
	p.transit.link.Close()
	p.transit.acq.Close()
	p.transit.store.Close()
	p.transit = transitParty{}
}

// lostTransit is the transit side of the lost-phone switch.
type lostTransit struct{ t *transit.Service }

var _ lostphone.Transit = lostTransit{}

func (l lostTransit) Cards(ctx context.Context, phoneID string) ([]lostphone.TransitCard, error) {
	cards, err := l.t.CardsShown(ctx, phoneID)
	var out []lostphone.TransitCard
	for _, c := range cards {
		out = append(out, lostphone.TransitCard{ID: c.Number, City: c.City, Number: c.Number, Balance: c.Balance, State: c.State})
	}
	return out, err
}

func (l lostTransit) Block(ctx context.Context, phoneID, actor, reason string) ([]string, error) {
	return l.t.BlockPhone(ctx, phoneID, "wallet switched off by "+actor+": "+reason)
}

func (l lostTransit) Unblock(ctx context.Context, phoneID string, cards []string, actor, reason string) error {
	return l.t.Unblock(ctx, cards)
}

// phoneCards tells the operators which bank cards of a phone are active,
// from the token service.
type phoneCards struct{ t tsp.Requestor }

func (c phoneCards) ActiveCards(ctx context.Context, phoneID string) ([]string, error) {
	if c.t == nil {
		return nil, nil
	}
	toks, err := c.t.Cards(ctx, phoneID)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range toks {
		if t.State == tsp.Active {
			out = append(out, t.Number.Digits())
		}
	}
	return out, nil
}

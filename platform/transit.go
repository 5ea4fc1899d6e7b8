package platform

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fare"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
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
	pay := &networkPayments{p: p, cardOnFile: &transit.CardOnFile{Tokens: p.Tokens}, stan: iso8583.NewSTANCounter(0)}
	p.Transit = transit.New(&sqldb.TransitStore{DB: p.DB}, p.Keys, fare.Default(), pay, p.Log)
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

// networkPayments charges transit fees, deposits and top-ups over the card
// network, the operator acting as the merchant: the phone's payment applet
// made the cryptogram (with a fresh fingerprint) for an in-app kernel,
// whose 0100 comes with the request; the operator puts its own terminal,
// merchant, category (4111, transit) and trace numbers on it and sends it
// to the switch, which checks the token and the cryptogram at the token
// service and asks the bank. A charge without the phone's authorization
// (a client of the Go API, or a platform built with New and not started)
// is taken card-on-file: the token must be an active card of the signing
// phone. Refunds are recorded, not yet sent to the network.
type networkPayments struct {
	p          *Platform
	cardOnFile *transit.CardOnFile
	stan       *iso8583.STANCounter
}

func (n *networkPayments) Charge(ctx context.Context, pay transit.Payment) (string, error) {
	sw := n.p.Switch
	if sw == nil || len(pay.Auth) == 0 {
		return n.cardOnFile.Charge(ctx, pay)
	}
	m, err := iso8583.Unpack(pay.Auth)
	if err != nil || m.MTI != iso8583.AuthorizationRequest {
		return "", fault.E(fault.Invalid, "bad_auth", "the payment is not an ISO 8583 authorization request")
	}
	if tok, _ := m.String(iso8583.DEPAN); tok != pay.Token {
		return "", fault.E(fault.Invalid, "bad_auth", "the payment is for another card than the one named")
	}
	if amt, err := m.Amount(); err != nil || amt != money.Fen(pay.Amount) {
		return "", fault.E(fault.Invalid, "bad_auth", "the payment's amount is not the charge's")
	}
	city, err := fare.Default().City(pay.City)
	if err != nil {
		return "", err
	}
	now := time.Now()
	stan := n.stan.Next()
	name := strings.ToUpper(city.Name) + " TRANSIT"
	for _, f := range []struct {
		de int
		v  string
	}{
		{iso8583.DEMCC, "4111"},
		{iso8583.DETerminal, fmt.Sprintf("TR%06d", city.AreaCode)},
		{iso8583.DEMerchant, fmt.Sprintf("8980%04d4111001", city.AreaCode%10000)},
		{iso8583.DEMerchantName, fmt.Sprintf("%-25s%-13s%-2s", name, strings.ToUpper(city.Name), "CN")},
		{iso8583.DERRN, fmt.Sprintf("%d%03d%02d%s", now.Year()%10, now.YearDay(), now.Hour(), stan)},
	} {
		if err := m.SetString(f.de, f.v); err != nil {
			return "", fault.Wrap(err, fault.Internal, "bad_auth", "set DE%d", f.de)
		}
	}
	if err := m.SetSTAN(stan); err != nil {
		return "", err
	}
	m.SetTransmissionTime(now)
	resp := sw.Handle(ctx, m)
	rc, _ := resp.ResponseCode()
	if !rc.Approved() {
		return "", fault.E(fault.Declined, "payment_declined", "the payment was declined (%s)", rc)
	}
	code, _ := resp.String(iso8583.DEAuthID)
	return code, nil
}

func (n *networkPayments) Refund(ctx context.Context, pay transit.Payment) error {
	return n.cardOnFile.Refund(ctx, pay)
}

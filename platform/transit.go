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
	"github.com/tapwallet/tapwallet/netswitch"
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
	pay := &networkPayments{p: p, cardOnFile: &transit.CardOnFile{Tokens: p.Tokens}, stan: iso8583.NewSTANCounter(0),
		acq: &sqldb.AcquirerStore{DB: p.DB}}
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
// phone. The operator remembers each charge the network approved
// (acquirer_charges), and gives money back over the network as refunds
// naming those charges (see Refund).
type networkPayments struct {
	p          *Platform
	cardOnFile *transit.CardOnFile
	stan       *iso8583.STANCounter
	acq        *sqldb.AcquirerStore
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
	if c, err := netswitch.ChargeOf(pay.Ref, m, now); err != nil {
		n.p.Log.Error("transit: an approved charge cannot be refunded over the network", "err", fault.MessageOf(err))
	} else if err := n.acq.SaveCharge(ctx, c); err != nil {
		// The money is taken: the card or load goes ahead; a refund of it
		// falls back to the operator's own books (Refund).
		n.p.Log.Error("transit: cannot remember an approved charge", "err", fault.MessageOf(err))
	}
	return code, nil
}

// Refund gives money back to the bank cards it came from over the card
// network: one refund (0200, processing code 200000) per charge it gives
// back, naming the charge's authorization (DE37, DE90). A load's refund
// gives back the load's charge; a closed card's refund (its balance and
// deposit) gives back its loads' charges, newest first, then its issue
// charge, each at most what it has left. The refund's messages are planned
// once and kept (acquirer_refunds), so that a refund tried again — after a
// 91, a crash — sends the same messages and the network answers them as
// the first time. What no charge over the network covers (charges taken
// card-on-file, a platform not started) is refunded card-on-file. It fails
// with fault.Declined "refund_declined" when the network declines a part,
// fault.Unavailable "refund_unanswered" when it gives no final answer (try
// again), and with the store's error.
func (n *networkPayments) Refund(ctx context.Context, pay transit.Payment) error {
	sw := n.p.Switch
	if sw == nil || pay.Amount <= 0 {
		return n.cardOnFile.Refund(ctx, pay)
	}
	charges, err := n.chargesOf(ctx, pay.Ref)
	if err != nil {
		return err
	}
	parts, err := n.acq.PlanRefund(ctx, pay.Ref, charges, pay.Amount, n.stan.Next, time.Now())
	if err != nil {
		return err
	}
	covered := int64(0)
	for _, part := range parts {
		covered += part.Message.Amount
		if part.ResponseCode == string(iso8583.Approved) {
			continue
		}
		c, err := n.acq.Charge(ctx, part.ChargeRef)
		if err != nil {
			return err
		}
		m, err := netswitch.RefundRequest(c, part.Message)
		if err != nil {
			return err
		}
		resp := sw.Handle(ctx, m)
		rc, _ := resp.ResponseCode()
		switch rc {
		case iso8583.IssuerInoperative, iso8583.SystemMalfunction, "":
			return fault.E(fault.Unavailable, "refund_unanswered", "the card network gave no answer to the refund (%s): try again", rc)
		}
		code, _ := resp.String(iso8583.DEAuthID)
		if err := n.acq.AnswerRefund(ctx, pay.Ref, part.Part, string(rc), code); err != nil {
			return err
		}
		if !rc.Approved() {
			return fault.E(fault.Declined, "refund_declined", "the card network declined the refund (%s)", rc)
		}
	}
	if rest := pay.Amount - covered; rest > 0 {
		if len(parts) > 0 {
			n.p.Log.Warn("transit: part of a refund has no charge over the network to give back; booked card-on-file", "fen", rest)
		}
		rp := pay
		rp.Amount = rest
		return n.cardOnFile.Refund(ctx, rp)
	}
	return nil
}

// chargesOf names the charges a transit refund gives back, in the order
// to give them back: a load's refund ("load-refund:<load>") its load's
// charge; a card's refund ("card-refund:<card>") the charges of the card's
// loads that reached it, newest first, then its issue charge.
func (n *networkPayments) chargesOf(ctx context.Context, ref string) ([]string, error) {
	var out []string
	card := ""
	err := n.p.Transit.Store.InTx(ctx, func(tx transit.Tx) error {
		out = nil
		switch {
		case strings.HasPrefix(ref, "load-refund:"):
			l, err := tx.Load(strings.TrimPrefix(ref, "load-refund:"))
			if err != nil {
				return err
			}
			out = append(out, l.PaymentRef)
		case strings.HasPrefix(ref, "card-refund:"):
			c, err := tx.Card(strings.TrimPrefix(ref, "card-refund:"))
			if err != nil {
				return err
			}
			card, out = c.Number, append(out, "issue:"+c.IssueRef)
		}
		return nil
	})
	if err != nil || card == "" {
		return out, err
	}
	loads, err := n.acq.TransitLoadCharges(ctx, card)
	return append(loads, out...), err
}

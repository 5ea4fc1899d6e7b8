package transit

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/acquirer"
	"github.com/tapwallet/tapwallet/fare"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/money"
)

// TransitMCC is the merchant category of the operators' charges (DE18):
// local and suburban passenger transportation.
const TransitMCC = "4111"

// OperatorAcquirerID is the acquiring institution id (DE32) the operators
// send their charges under.
const OperatorAcquirerID = "48021000"

// Merchant returns a city operator's profile as an acquirer: terminal
// TR + the city's area code (DE41), merchant 8980 + area code + 4111001
// (DE42), "<CITY> TRANSIT" in DE43, MCC 4111.
func Merchant(city *fare.City) acquirer.Merchant {
	return acquirer.Merchant{Acquirer: OperatorAcquirerID, Terminal: fmt.Sprintf("TR%06d", city.AreaCode),
		ID: fmt.Sprintf("8980%04d4111001", city.AreaCode%10000), Name: strings.ToUpper(city.Name) + " TRANSIT",
		City: strings.ToUpper(city.Name), Country: "CN", MCC: TransitMCC}
}

// NetworkPayments charges transit fees, deposits and top-ups over the card
// network, the operator acting as the merchant (an acquirer with MCC
// 4111): the phone's payment applet made the cryptogram (with a fresh
// fingerprint) for an in-app kernel, whose 0100 comes with the request;
// the operator puts its own terminal, merchant, category and numbers on it
// and sends it to the network over ISO 8583 (the acquirer reverses it when
// no usable answer comes). A charge without the phone's authorization (a
// client of the Go API), or while no network is reachable at all
// (Online false), is taken card-on-file: the token must be an active card
// of the signing phone. The acquirer remembers each charge the network
// approved, and gives money back over the network as refunds naming those
// charges (see Refund).
type NetworkPayments struct {
	Acquirer   *acquirer.Acquirer
	Counters   func(terminal string) acquirer.Counters
	CardOnFile *CardOnFile
	Fares      *fare.Table
	// Store is the operators' store, where a refund finds the charges it
	// gives back (a load's, a card's loads' and issue's).
	Store Store
	// Online reports whether the network is there to send to (nil:
	// always).
	Online func() bool
	Log    *slog.Logger
}

var _ Payments = (*NetworkPayments)(nil)

func (n *NetworkPayments) online() bool { return n.Acquirer != nil && (n.Online == nil || n.Online()) }

func (n *NetworkPayments) log() *slog.Logger {
	if n.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return n.Log
}

// Charge sends the phone's authorization for the payment as the city's
// merchant. It fails with fault.Invalid "bad_auth" when the authorization
// is not a 0100 for the payment's token and amount, fault.Declined
// "payment_declined" when the network declines, fault.Unavailable
// (acquirer.CodeNoAnswer, acquirer.CodeNetworkDown) when it gives no
// usable answer (the authorization is reversed).
func (n *NetworkPayments) Charge(ctx context.Context, pay Payment) (string, error) {
	if !n.online() || len(pay.Auth) == 0 {
		return n.CardOnFile.Charge(ctx, pay)
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
	city, err := n.Fares.City(pay.City)
	if err != nil {
		return "", err
	}
	merchant := Merchant(city)
	counters := n.Counters(merchant.Terminal)
	now := time.Now()
	stan, rrn, err := counters.Next(ctx, now, true)
	if err != nil {
		return "", err
	}
	if err := merchant.Stamp(m, stan, rrn, now); err != nil {
		return "", err
	}
	res, err := n.Acquirer.Charge(context.WithoutCancel(ctx), pay.Ref, m, counters)
	if err != nil {
		return "", err
	}
	if !res.Approved() {
		return "", fault.E(fault.Declined, "payment_declined", "the payment was declined (%s)", res.Code)
	}
	return res.AuthCode, nil
}

// Refund gives money back to the bank cards it came from over the card
// network (acquirer.Acquirer.Refund): a load's refund gives back the
// load's charge; a closed card's refund (its balance and deposit) gives
// back its loads' charges, newest first, then its issue charge, each at
// most what it has left. What no charge over the network covers (charges
// taken card-on-file) is refunded card-on-file. It fails with the
// acquirer's errors: fault.Declined acquirer.CodeRefundDeclined,
// fault.Unavailable acquirer.CodeRefundUnanswered (try again: the same
// messages are sent), and the stores'.
func (n *NetworkPayments) Refund(ctx context.Context, pay Payment) error {
	if !n.online() || pay.Amount <= 0 {
		return n.CardOnFile.Refund(ctx, pay)
	}
	charges, err := n.chargesOf(ctx, pay.Ref)
	if err != nil {
		return err
	}
	covered, err := n.Acquirer.Refund(context.WithoutCancel(ctx), pay.Ref, charges, pay.Amount)
	if err != nil {
		return err
	}
	if rest := pay.Amount - covered; rest > 0 {
		if covered > 0 {
			n.log().Warn("transit: part of a refund has no charge over the network to give back; booked card-on-file", "fen", rest)
		}
		rp := pay
		rp.Amount = rest
		return n.CardOnFile.Refund(ctx, rp)
	}
	return nil
}

// chargesOf names the charges a transit refund gives back, in the order
// to give them back: a load's refund ("load-refund:<load>") its load's
// charge; a card's refund ("card-refund:<card>") the charges of the card's
// loads that reached it, newest first, then its issue charge.
func (n *NetworkPayments) chargesOf(ctx context.Context, ref string) ([]string, error) {
	var out []string
	err := n.Store.InTx(ctx, func(tx Tx) error {
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
			loads, err := tx.LoadPaymentRefs(c.Number)
			if err != nil {
				return err
			}
			out = append(loads, "issue:"+c.IssueRef)
		}
		return nil
	})
	return out, err
}

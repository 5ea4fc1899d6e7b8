package main

import (
	"slices"
	"strings"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/lostphone/taptest"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/walletapi/client"
)

// fillCards adds cards to the phone; a card the risk engine steps up is
// confirmed with the one-time code read from the phone's messages. From
// the sixth different card tried on one phone in a day the network's risk
// engine asks for a code even when the bank approves at once
// (bind.cards_per_phone: MDES's ">5 cards on one device in 24 h", a
// reason the issuer answers with a step-up); it fails when a card is
// neither added nor stepped up.
func (d *demo) fillCards(ph *phone.Phone, cards []*bank.Cardholder) error {
	ctx := d.ctx
	for _, c := range cards {
		r, err := ph.AddCard(ctx, c.PAN.Digits(), c.Expiry.MMYY(), c.CVN2.Digits())
		if err != nil {
			return err
		}
		if r.Card == nil {
			if err := d.check(r.BindingID != "", "a card was neither added nor stepped up"); err != nil {
				return err
			}
			code, err := ph.LatestOTP(ctx)
			if err != nil {
				return err
			}
			if r, err = ph.VerifyOTP(ctx, r.BindingID, code); err != nil {
				return err
			}
			d.ok("added %s — more than 5 different cards on this phone today: the risk engine asked for a one-time code (bind.cards_per_phone), the message read %s", r.Card.Describe(), code)
			continue
		}
		d.ok("added %s", r.Card.Describe())
	}
	return nil
}

// riskChapter: the network's risk engine at the terminal. A burst of
// small payments is declined as card testing; a tap at the Shanghai store
// minutes after the phone reported itself in Beijing is declined as
// impossible travel, and Alice answers the "was this you?" alert "no":
// the card's token is suspended.
// It comes last: the card's token ends the story suspended.
func (d *demo) riskChapter() error {
	ctx, ph := d.ctx, d.alice
	pos, err := taptest.NewTerminal(d.p.ISOAddr, "T0000707")
	if err != nil {
		return err
	}
	d.say("Someone tries the card with a burst of small payments (card testing)")
	declined := -1
	for i := 1; i <= 8 && declined < 0; i++ {
		pay, err := pos.Pay(ctx, ph, money.Fen(100))
		if err != nil {
			return err
		}
		if !pay.Approved {
			if err := d.check(pay.Code == iso8583.SuspectedFraud, "payment %d of the burst: got %s, want declined 59", i, pay); err != nil {
				return err
			}
			declined = i
		}
	}
	// The token's taps earlier in the story count in its 15 minutes too,
	// so the burst may be cut short before its 6th payment.
	if err := d.check(declined > 0, "no payment of the burst was declined, want one declined 59"); err != nil {
		return err
	}
	burst, err := d.alertFor(ph, "auth.small_burst")
	if err != nil {
		return err
	}
	d.ok("payment %d of the burst (1.00 CNY; the card's taps earlier in the quarter hour count too) declined 59 by the network before the issuer: %s (score %d, rules v%d)", declined, strings.Join(burst.Reasons, "; "), burst.Score, burst.Version)

	d.say("Her phone reports itself in Sanlitun, Beijing; a minute later the card is tapped at the Shanghai store")
	if _, err := ph.CheckIn(ctx, &phone.Location{Lat: 39.93391, Lon: 116.45400}); err != nil {
		return err
	}
	pay, err := pos.Pay(ctx, ph, money.Fen(12000))
	if err != nil {
		return err
	}
	if err := d.check(!pay.Approved && pay.Code == iso8583.SuspectedFraud, "the tap in Shanghai: got %s, want declined 59", pay); err != nil {
		return err
	}
	travel, err := d.alertFor(ph, "auth.impossible_travel")
	if err != nil {
		return err
	}
	d.ok("declined 59: %s", strings.Join(travel.Reasons, "; "))

	d.say("Her phone asks: was this you? (tapwallet phone alerts) — she answers no")
	d.ok("alert %s: %s", travel.ID, travel.Summary)
	ans, err := ph.AnswerAlert(ctx, travel.ID, false)
	if err != nil {
		return err
	}
	if err := d.check(ans.Alert.State == "confirmed_fraud" && ans.Suspended != "", "the answer: state %s, suspended %q", ans.Alert.State, ans.Suspended); err != nil {
		return err
	}
	d.ok("closed as fraud; the card's token ending %s is suspended. %s", ans.Suspended, ans.Advice)
	return nil
}

// alertFor returns the newest open alert on which rule fired.
func (d *demo) alertFor(ph *phone.Phone, rule string) (client.Alert, error) {
	alerts, err := ph.Alerts(d.ctx, true)
	if err != nil {
		return client.Alert{}, err
	}
	for _, a := range alerts {
		if slices.Contains(a.Rules, rule) {
			return a, nil
		}
	}
	return client.Alert{}, d.check(false, "no open alert names %s", rule)
}

package main

import (
	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/phone"
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

// Package taptest makes the chip data of one contactless tap from a phone,
// for the tests, benchmarks and demo of the lost-phone flow: the phone's
// real payment applet (package applet) on its secure element answers a
// minimal terminal — SELECT of the card's AID, then GET PROCESSING OPTIONS
// with the store terminal's data — in process, without the NFC link. What
// it returns is what a store terminal puts in DE55 (the terminal's tags and
// the card's), ready for tsp.Authorize. The store terminal proper, with
// every check, is package kernel.
package taptest

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/tapwallet/tapwallet/apdu"
	"github.com/tapwallet/tapwallet/applet"
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/qpboc"
	"github.com/tapwallet/tapwallet/tsp"
)

// fingerprint is a card holder who has just touched the fingerprint sensor.
type fingerprint struct{}

func (fingerprint) Verified() bool { return true }
func (fingerprint) Used()          {}

// bcd packs n as size bytes of BCD digits.
func bcd(n int64, size int) []byte {
	b := make([]byte, size)
	for i := size - 1; i >= 0 && n > 0; i-- {
		b[i] = byte(n%10) | byte((n/10)%10)<<4
		n /= 100
	}
	return b
}

// PaymentCard turns a card of the phone's profile into the applet's card.
// It fails with fault.Invalid for a card the profile holds wrongly.
func PaymentCard(c phone.Card) (applet.PaymentCard, error) {
	aid, err := hex.DecodeString(c.AID)
	exp, err2 := card.ParseExpiry(c.Expiry)
	psn, err3 := strconv.Atoi(c.PSN)
	if c.PSN == "" {
		psn, err3 = 0, nil
	}
	if err != nil || err2 != nil || err3 != nil || psn < 0 || psn > 99 {
		return applet.PaymentCard{}, fault.E(fault.Invalid, "bad_card", "the phone's card ending %s is not a payment card it can tap", c.TokenLast4)
	}
	return applet.PaymentCard{Token: c.Token, AID: aid, Label: c.BankName, Expiry: exp, PSN: byte(psn), Alg: emv.TDES}, nil
}

// Tap taps the phone's card for amount fen and returns the chip data the
// terminal sends the network. It fails with fault.Declined "see_phone" or
// "no_keys" when the applet refuses (status 6986 / 6984), or
// fault.Invalid when the applet's answer cannot be read.
func Tap(el applet.Element, c phone.Card, amount int64, now time.Time) (map[emv.Tag][]byte, error) {
	pc, err := PaymentCard(c)
	if err != nil {
		return nil, err
	}
	pay := applet.NewPayment(el, fingerprint{}, pc)
	if r := pay.Select(pc.AID, false); r.SW != apdu.SWSuccess {
		return nil, fault.E(fault.Invalid, "select", "SELECT of the card answered %04X", uint16(r.SW))
	}
	un := make([]byte, 4)
	rand.Read(un)
	y, m, d := now.Date()
	term := map[emv.Tag][]byte{
		qpboc.TagTTQ: qpboc.StoreTTQ(), qpboc.TagAmount: bcd(amount, 6), qpboc.TagAmountOther: bcd(0, 6),
		qpboc.TagCountry: {0x01, 0x56}, qpboc.TagTVR: make([]byte, 5), qpboc.TagCurrency: {0x01, 0x56},
		qpboc.TagDate: {bcd(int64(y%100), 1)[0], bcd(int64(m), 1)[0], bcd(int64(d), 1)[0]}, qpboc.TagType: {0x00}, qpboc.TagUN: un,
		emv.TagMerchantNameLocation: []byte("tapwallet test store"),
	}
	data, _ := emv.Encode(emv.New(0x83, applet.PDOL.Build(term)))
	r := pay.Process(apdu.Command{CLA: 0x80, INS: apdu.InsGetProcessingOptions, Data: data, Ne: 256})
	switch r.SW {
	case apdu.SWSuccess:
	case applet.SWSeePhone:
		return nil, fault.E(fault.Declined, "see_phone", "the phone asks its owner to verify first")
	case applet.SWNoKeys:
		return nil, fault.E(fault.Declined, "no_keys", "the phone has no payment key left for this card: it must sync")
	default:
		return nil, fault.E(fault.Invalid, "gpo", "GET PROCESSING OPTIONS answered %04X", uint16(r.SW))
	}
	objs, err := emv.Decode(r.Data)
	if err != nil || len(objs) != 1 || objs[0].Tag != 0x77 {
		return nil, fault.E(fault.Invalid, "gpo", "the GPO answer is not a format 2 template")
	}
	chip := map[emv.Tag][]byte{}
	for t, v := range term {
		if t != emv.TagMerchantNameLocation {
			chip[t] = v
		}
	}
	for _, o := range objs[0].Children {
		chip[o.Tag] = o.Value
	}
	return chip, nil
}

// Request is the token service's authorization request for a tap.
func Request(token string, chip map[emv.Tag][]byte) tsp.AuthRequest {
	return tsp.AuthRequest{Token: token, Contactless: true, Chip: chip}
}

// Package taptest pays from a phone for the tests, benchmarks and demo of
// the lost-phone flow, two ways. Tap makes the chip data of one contactless
// tap: the phone's real payment applet (package applet) on its secure
// element answers a minimal terminal — SELECT of the card's AID, then GET
// PROCESSING OPTIONS with the store terminal's data — in process, without
// the NFC link, ready for tsp.Authorize. StorePayment is the whole way: the
// store terminal (package kernel) on an NFC link, the phone tapping it, and
// the authorization sent to the card network over ISO 8583.
package taptest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/tapwallet/tapwallet/apdu"
	"github.com/tapwallet/tapwallet/applet"
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/kernel"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/nfc"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/qpboc"
	"github.com/tapwallet/tapwallet/tsp"
)

// fingerprint is a card holder who has just touched the fingerprint sensor.
type fingerprint struct{}

func (fingerprint) Consented(applet.Request) bool { return true }
func (fingerprint) Used()                         {}

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
	return TapCard(el, pc, amount, now)
}

// TapCard is Tap with the applet's card given whole (e.g. an SM4 card,
// Alg emv.SM4: cryptogram version 12).
func TapCard(el applet.Element, pc applet.PaymentCard, amount int64, now time.Time) (map[emv.Tag][]byte, error) {
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

// Payment is how a payment at a store terminal ended.
type Payment struct {
	Outcome  kernel.Outcome       // the tap's outcome at the terminal
	Code     iso8583.ResponseCode // the card network's answer (DE39), when the tap went online
	Approved bool
	Took     time.Duration // from the authorization request sent to the answer
	// NoCard: the phone offered no card to pay with (its wallet shows the
	// cards suspended or removed), so the terminal got no outcome.
	NoCard bool
}

// String says "approved", "declined 78 (…)", or the tap's outcome.
func (p Payment) String() string {
	switch {
	case p.Approved:
		return "approved"
	case p.NoCard:
		return "tap: no card offered"
	case p.Outcome != kernel.Online:
		return "tap: " + p.Outcome.String()
	}
	return "declined " + string(p.Code) + " (" + p.Code.Text() + ")"
}

// Terminal is a store terminal connected to the card network. One
// terminal numbers its authorizations (STAN) in turn: use one per test so
// that two payments in the same second are not taken for one sent twice.
type Terminal struct {
	k       *kernel.Kernel
	network string
}

// NewTerminal returns a store terminal (kernel.DefaultConfig, with the
// terminal id if not empty: two terminals of one merchant must differ)
// that sends its authorizations to the card network's switch at network.
func NewTerminal(network, terminalID string) (*Terminal, error) {
	return NewTerminalAt(network, terminalID, "")
}

// NewTerminalAt is NewTerminal for a store in city (DE43; "" for the
// kernel's default): a story whose phone reports its place must tap where
// the phone is, or the network's risk engine rightly sees impossible
// travel.
func NewTerminalAt(network, terminalID, city string) (*Terminal, error) {
	cfg := kernel.DefaultConfig()
	if city != "" {
		cfg.City = city
	}
	if terminalID != "" {
		cfg.TerminalID = terminalID
	}
	k, err := kernel.New(cfg)
	if err != nil {
		return nil, err
	}
	return &Terminal{k: k, network: network}, nil
}

// Pay pays amount at the terminal through the card network: the terminal
// (package kernel) waits on an NFC link, the phone taps it with its
// owner's fingerprint just verified (enrolled first if it is not), and
// the terminal sends its authorization request (0100) to the switch. It
// fails if the tap does not end (the link drops, ctx ends) or the network
// does not answer.
func (t *Terminal) Pay(ctx context.Context, ph *phone.Phone, amount money.Amount) (Payment, error) {
	k := t.k
	l, err := nfc.Listen("127.0.0.1:0", nfc.Config{})
	if err != nil {
		return Payment{}, err
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	type charged struct {
		res *kernel.Result
		err error
	}
	done := make(chan charged, 1)
	go func() {
		res, _, err := k.Charge(ctx, l, kernel.Transaction{Amount: amount}, func(string) {})
		done <- charged{res, err}
	}()
	if err := ph.EnrollFinger(phone.DefaultFinger); err != nil {
		return Payment{}, err
	}
	if err := ph.VerifyFinger(phone.DefaultFinger); err != nil {
		return Payment{}, err
	}
	if _, err := ph.Tap(ctx, phone.TapOptions{Reader: l.Addr().String()}); err != nil && ctx.Err() != nil {
		return Payment{}, err
	}
	var c charged
	select {
	case c = <-done:
	case <-time.After(3 * time.Second):
		// The terminal waits for another tap: this one gave it nothing
		// (the phone offered no card it could pay with).
		cancel()
		<-done
		return Payment{NoCard: true}, nil
	}
	if c.err != nil {
		return Payment{}, c.err
	}
	out := Payment{Outcome: c.res.Outcome}
	if c.res.Outcome != kernel.Online {
		return out, nil
	}
	req, err := k.AuthorizationRequest(c.res, time.Now())
	if err != nil {
		return Payment{}, err
	}
	cl, err := isolink.Dial(ctx, t.network, isolink.Options{Timeout: 10 * time.Second})
	if err != nil {
		return Payment{}, err
	}
	defer cl.Close()
	start := time.Now()
	resp, err := cl.Send(ctx, req)
	out.Took = time.Since(start)
	if err != nil {
		return Payment{}, err
	}
	out.Code, _ = resp.ResponseCode()
	out.Approved = out.Code.Approved()
	return out, nil
}

// Package applettest provisions payment cards straight into a phone's secure
// element, for tests and benchmarks of the contactless tap (the applet, the
// terminal kernel, `tapwallet bench tap`): keys are derived from a fixed
// issuer master key exactly as the token service does (tsp.EMVKeys: option A
// card master key, then one PBOC session key per key index), so a cryptogram
// made with them verifies with keys derived independently. Never use it for
// a real phone: real phones get their keys from the token service.
package applettest

import (
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"time"

	"github.com/tapwallet/tapwallet/applet"
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/devicekey"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/se"
	"github.com/tapwallet/tapwallet/tsp"
)

// IMK is the test issuer master key (the one of the EMV test vectors).
var IMK, _ = hex.DecodeString("0123456789ABCDEFFEDCBA9876543210")

// Test token numbers (Luhn-valid, in tapwallet's token ranges 628801 and
// 628802).
const (
	DebitToken  = "6288010000001239"
	CreditToken = "6288020000004562"
)

// Expiry is the test cards' expiry: December 2030.
var Expiry = card.Expiry{Year: 2030, Month: 12}

// DebitCard returns the test debit card (UnionPay debit AID, TDES).
func DebitCard() applet.PaymentCard {
	return applet.PaymentCard{Token: DebitToken, AID: []byte{0xA0, 0, 0, 0x03, 0x33, 0x01, 0x01, 0x01},
		Label: "ICBC 1239", Expiry: Expiry, PSN: 0, Alg: emv.TDES}
}

// CreditCard returns the test credit card (UnionPay credit AID, TDES).
func CreditCard() applet.PaymentCard {
	return applet.PaymentCard{Token: CreditToken, AID: []byte{0xA0, 0, 0, 0x03, 0x33, 0x01, 0x01, 0x02},
		Label: "CMB 4562", Expiry: Expiry, PSN: 0, Alg: emv.TDES}
}

// LUK returns the limited-use key with the given index of a token, derived
// from imk as the token service derives it.
func LUK(imk []byte, token string, psn byte, index int) ([]byte, error) {
	t, err := card.ParseToken(token)
	if err != nil {
		return nil, err
	}
	return tsp.EMVKeys{Alg: emv.TDES}.LUK(imk, t, psnString(psn), index)
}

func psnString(psn byte) string { return string([]byte{'0' + psn/10%10, '0' + psn%10}) }

// InstallKeys derives n limited-use keys (indexes first to first+n-1) of a
// card from imk, seals them to el's device key as the token service does
// and installs them. It returns how many keys the card has unused; it fails
// if the token is not a token number or a key cannot be derived or sealed.
func InstallKeys(el *se.Element, imk []byte, c applet.PaymentCard, first, n int, expires time.Time) (int, error) {
	b := tsp.KeyBatch{Token: c.Token}
	for i := first; i < first+n; i++ {
		k, err := LUK(imk, c.Token, c.PSN, i)
		if err != nil {
			return 0, err
		}
		b.Keys = append(b.Keys, tsp.BatchKey{Index: i, Key: k, ExpiresAt: expires.Unix()})
	}
	plain, err := json.Marshal(b)
	if err != nil {
		return 0, fault.Wrap(err, fault.Internal, "batch", "encode the key batch")
	}
	defer clear(plain)
	pub, err := devicekey.ParsePublic(el.PublicKey())
	if err != nil {
		return 0, err
	}
	sealed, err := devicekey.Seal(pub, plain, []byte(c.Token))
	if err != nil {
		return 0, err
	}
	return el.InstallKeys(c.Token, sealed)
}

// Finger is a fingerprint sensor for tests: Consented reports OK (for any
// request, or only for For when set), and Used clears it unless Sticky is
// set.
type Finger struct {
	OK     bool
	Sticky bool            // stays verified after a payment (benchmarks)
	Uses   int             // how many payments it verified
	For    *applet.Request // if set, the only amount and currency consented
	Asked  []applet.Request
}

// Consented reports f.OK, and that req is For's amount and currency when
// For is set; it records req in Asked.
func (f *Finger) Consented(req applet.Request) bool {
	f.Asked = append(f.Asked, req)
	return f.OK && (f.For == nil || f.For.Same(req))
}

// Used counts a payment and clears OK unless Sticky.
func (f *Finger) Used() {
	f.Uses++
	if !f.Sticky {
		f.OK = false
	}
}

var _ applet.CDCVM = (*Finger)(nil)

// Phone is a phone's card OS with payment cards provisioned straight into
// its secure element: what a tap test or benchmark serves on the NFC link.
type Phone struct {
	SE      *se.Element
	Finger  *Finger
	Payment *applet.Payment
	Card    *applet.Dispatcher // the nfc.Card
}

// NewPhone makes a phone whose secure element lives in dir, with cards
// (default first), each given keys limited-use keys (indexes 1 to keys)
// valid for a day, derived from IMK. Its fingerprint starts unverified. It
// fails if the secure element cannot be made or the keys installed.
func NewPhone(dir string, keys int, cards ...applet.PaymentCard) (*Phone, error) {
	el, err := se.Open(filepath.Join(dir, "secure-element.json"))
	if err != nil {
		return nil, err
	}
	if keys > 0 {
		for _, c := range cards {
			if _, err := InstallKeys(el, IMK, c, 1, keys, time.Now().Add(24*time.Hour)); err != nil {
				return nil, err
			}
		}
	}
	p := &Phone{SE: el, Finger: &Finger{}}
	p.Payment = applet.NewPayment(el, p.Finger, cards...)
	p.Card = applet.NewDispatcher(p.Payment)
	return p, nil
}

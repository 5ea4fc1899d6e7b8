// Package nettest is the far side of the card network for tests and the
// authorization benchmark: it provisions tokens on simulated phones
// straight through the token service, makes qPBOC chip data with real
// cryptograms — with a phone's secure element as the payment applet does,
// or with a simulated phone's opened key batch — and builds the 0100 and
// 0400 a store terminal sends.
package nettest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/devicekey"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/qpboc"
	"github.com/tapwallet/tapwallet/se"
	"github.com/tapwallet/tapwallet/tsp"
)

// Phone is a simulated phone: a device key in memory, registered under a
// wallet account, holding its tokens' opened limited-use keys.
type Phone struct {
	Device tsp.Device // the phone as the token service knows it
	priv   *ecdsa.PrivateKey
	Cards  []*Card
}

// Registrar signs up an account for email and registers a phone with the
// device public key (DER) at the wallet service, and returns the phone as
// the token service knows it (platform.Platform.RegisterSimulatedPhone).
type Registrar func(ctx context.Context, email string, publicKey []byte) (tsp.Device, error)

// Card is a token on a simulated phone with its limited-use keys, used
// oldest first, and its transaction counter.
type Card struct {
	Token   string
	Expiry  string // YYMM, as the chip gives it
	Bank    string
	Product string
	Keys    []tsp.BatchKey
	ATC     int
	lastKey tsp.BatchKey
}

// NewPhone makes a new device key in memory and registers it with reg
// under a new account for email. It fails with reg's errors.
func NewPhone(ctx context.Context, reg Registrar, email string) (*Phone, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "keygen", "make a device key")
	}
	pub, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	d, err := reg(ctx, email, pub)
	if err != nil {
		return nil, err
	}
	return &Phone{Device: d, priv: priv}, nil
}

// AddCard binds a test card to the phone through the token service and
// opens its key batch. It fails with the token service's errors, and with
// fault.Invalid "step_up" for a card whose bank asks for a one-time code.
func (p *Phone) AddCard(ctx context.Context, t *tsp.Service, c *bank.Cardholder) (*Card, error) {
	res, err := t.AddCard(ctx, tsp.AddCardRequest{Device: p.Device, PAN: c.PAN.Digits(), Expiry: c.Expiry.MMYY(), CVN2: c.CVN2.Digits()})
	if err != nil {
		return nil, err
	}
	if res.Card == nil {
		return nil, fault.E(fault.Invalid, "step_up", "the bank asks for a one-time code for this card")
	}
	plain, err := devicekey.Open(p.priv, res.Card.KeyBatch, []byte(res.Card.Token.Number.Digits()))
	if err != nil {
		return nil, err
	}
	var b tsp.KeyBatch
	if err := json.Unmarshal(plain, &b); err != nil {
		return nil, fault.E(fault.Internal, "key_batch", "the key batch does not decode")
	}
	card := &Card{Token: b.Token, Expiry: c.Expiry.YYMM(), Bank: c.Bank, Product: string(c.Product), Keys: b.Keys}
	p.Cards = append(p.Cards, card)
	return card, nil
}

// Terminal is a store terminal's data for building messages.
type Terminal struct {
	ID       string // DE41, 8 characters
	Merchant string // DE42, 15 characters
	Name     string // DE43 name, up to 25 characters
	City     string // DE43 city, up to 13 characters
	MCC      string // DE18
	Acquirer string // DE32
	STAN     *iso8583.STANCounter
}

// NewTerminal returns a terminal of the test acquirer 48021000.
func NewTerminal(id, merchant, name string) *Terminal {
	return &Terminal{ID: id, Merchant: merchant, Name: name, City: "SHANGHAI", MCC: "5411", Acquirer: "48021000", STAN: &iso8583.STANCounter{}}
}

// TerminalData is the terminal's part of the chip data: the PDOL values.
func TerminalData(amount int64, now time.Time) map[emv.Tag][]byte {
	amt, _ := hex.DecodeString(fmt.Sprintf("%012d", amount))
	date, _ := hex.DecodeString(now.UTC().Format("060102"))
	un := make([]byte, 4)
	rand.Read(un)
	return map[emv.Tag][]byte{
		qpboc.TagTTQ: qpboc.StoreTTQ(), qpboc.TagAmount: amt, qpboc.TagAmountOther: make([]byte, 6),
		qpboc.TagCountry: {0x01, 0x56}, qpboc.TagTVR: make([]byte, 5), qpboc.TagCurrency: {0x01, 0x56},
		qpboc.TagDate: date, qpboc.TagType: {0x00}, qpboc.TagUN: un,
		qpboc.TagTerminalCaps: {0xE0, 0x08, 0x08}, qpboc.TagCVMResults: {0x1F, 0x00, 0x02},
	}
}

// Tap is how a tap goes wrong on purpose (the zero value is a good tap).
type Tap struct {
	NoCDCVM      bool // the phone did not verify the fingerprint
	BadCrypto    bool // flip a bit of the cryptogram
	KeyIndex     int  // use this key index instead of the next key's (0: the next)
	ATC          int  // use this counter instead of the next (0: the next)
	ReuseLastKey bool // take the key used last time again
}

// chip completes the terminal data with the card's answer: AIP, ATC, IAD
// (CVR with the CDCVM result and the key index), CTQ, CID, AID and the ARQC.
func chip(term map[emv.Tag][]byte, atc, keyIndex int, cdcvm bool, aid string) map[emv.Tag][]byte {
	tags := make(map[emv.Tag][]byte, len(term)+8)
	for k, v := range term {
		tags[k] = v
	}
	tags[qpboc.TagAIP] = qpboc.AIP
	tags[qpboc.TagATC] = []byte{byte(atc >> 8), byte(atc)}
	tags[qpboc.TagIAD] = qpboc.IAD{DKI: 1, CVN: qpboc.CVNTDES, CVR: qpboc.NewCVR(cdcvm), KeyIndex: uint16(keyIndex)}.Bytes()
	tags[qpboc.TagCTQ] = qpboc.CTQ(cdcvm)
	tags[qpboc.TagCID] = []byte{qpboc.CIDARQC}
	a, _ := hex.DecodeString(aid)
	tags[qpboc.TagDFName] = a
	return tags
}

// Answer makes the card's answer with the next limited-use key and
// counter of a simulated phone's card (or what tap asks for), computing
// the ARQC as the payment applet does. It fails with se.ErrNoKeys when the
// card has no key left.
func (c *Card) Answer(term map[emv.Tag][]byte, tap Tap) (map[emv.Tag][]byte, error) {
	if len(c.Keys) == 0 && !tap.ReuseLastKey {
		return nil, se.ErrNoKeys
	}
	var k tsp.BatchKey
	switch {
	case tap.ReuseLastKey:
		if c.lastKey.Key == nil {
			return nil, se.ErrNoKeys
		}
		k = c.lastKey
	default:
		k = c.Keys[0]
		c.Keys = c.Keys[1:]
	}
	c.lastKey = k
	c.ATC++
	atc := c.ATC
	if tap.ATC != 0 {
		atc = tap.ATC
	}
	idx := k.Index
	if tap.KeyIndex != 0 {
		idx = tap.KeyIndex
	}
	aid := tsp.AIDDebit
	if c.Product == "credit" {
		aid = tsp.AIDCredit
	}
	tags := chip(term, atc, idx, !tap.NoCDCVM, aid)
	data, err := qpboc.ARQCData(tags)
	if err != nil {
		return nil, err
	}
	ac, err := emv.Cryptogram(emv.TDES, k.Key, data, emv.PadMethod1)
	if err != nil {
		return nil, err
	}
	if tap.BadCrypto {
		ac[0] ^= 0x01
	}
	tags[qpboc.TagCryptogram] = ac
	return tags, nil
}

// LastKey returns the limited-use key the card used last (nil before its
// first tap), for checking an ARPC.
func (c *Card) LastKey() []byte { return c.lastKey.Key }

// AnswerSE makes the card's answer inside a phone's secure element, with
// its next limited-use key and counter, as the payment applet does. It
// fails like se.Element.Cryptogram.
func AnswerSE(el *se.Element, token, aid string, term map[emv.Tag][]byte, cdcvm bool) (map[emv.Tag][]byte, error) {
	var tags map[emv.Tag][]byte
	use, err := el.Cryptogram(token, emv.TDES, emv.PadMethod1, func(atc, keyIndex int) ([]byte, error) {
		tags = chip(term, atc, keyIndex, cdcvm, aid)
		return qpboc.ARQCData(tags)
	})
	if err != nil {
		return nil, err
	}
	tags[qpboc.TagCryptogram] = use.Cryptogram
	return tags, nil
}

// DE55Tags are the chip tags a terminal puts in DE55, in order.
var DE55Tags = []emv.Tag{qpboc.TagCryptogram, qpboc.TagCID, qpboc.TagIAD, qpboc.TagUN, qpboc.TagATC, qpboc.TagTVR,
	qpboc.TagDate, qpboc.TagType, qpboc.TagAmount, qpboc.TagAmountOther, qpboc.TagCurrency, qpboc.TagAIP, qpboc.TagCountry,
	qpboc.TagTerminalCaps, qpboc.TagCVMResults, qpboc.TagCTQ, qpboc.TagTTQ, qpboc.TagDFName}

// ICC encodes chip data as DE55.
func ICC(tags map[emv.Tag][]byte) []byte {
	var objs []emv.TLV
	for _, t := range DE55Tags {
		if v, ok := tags[t]; ok {
			objs = append(objs, emv.New(t, v))
		}
	}
	b, _ := emv.Encode(objs...)
	return b
}

var rrnSeq atomic.Uint64

// Authorization builds the 0100 a store terminal sends for a tap: token,
// amount (fen, CNY), the terminal's identity, a new STAN, and the chip
// data. It fails with a format error if a field does not fit.
func (t *Terminal) Authorization(token, expiryYYMM string, amount int64, tags map[emv.Tag][]byte, now time.Time) (*iso8583.Message, error) {
	m := iso8583.New(iso8583.AuthorizationRequest)
	stan := t.STAN.Next()
	m.SetTransmissionTime(now)
	m.SetLocalTime(now)
	var err error
	set := func(de int, v string) {
		if err == nil {
			err = m.SetString(de, v)
		}
	}
	set(iso8583.DEPAN, token)
	set(iso8583.DEProcessingCode, "000000")
	if err == nil {
		err = m.SetSTAN(stan)
	}
	if expiryYYMM != "" {
		set(iso8583.DEExpiry, expiryYYMM)
	}
	set(iso8583.DEMCC, t.MCC)
	set(iso8583.DEPOSEntryMode, "072")
	set(iso8583.DEPOSCondition, "00")
	set(iso8583.DEAcquirer, t.Acquirer)
	set(iso8583.DERRN, fmt.Sprintf("%06d%06d", now.YearDay()*1000+int(rrnSeq.Add(1)%1000), stan))
	set(iso8583.DETerminal, pad(t.ID, 8))
	set(iso8583.DEMerchant, pad(t.Merchant, 15))
	set(iso8583.DEMerchantName, pad(t.Name, 25)+pad(t.City, 13)+"CN")
	if err == nil {
		err = m.SetNumber(iso8583.DEAmount, amount)
	}
	if err == nil {
		err = m.SetNumber(iso8583.DECurrency, 156)
	}
	if err == nil {
		err = m.SetBytes(iso8583.DEICC, ICC(tags))
	}
	return m, err
}

// Reversal builds the 0400 a terminal sends for an authorization it got
// no answer to: the original's elements, a new STAN, and DE90 naming it.
func (t *Terminal) Reversal(orig *iso8583.Message, now time.Time) (*iso8583.Message, error) {
	m := iso8583.New(iso8583.ReversalRequest)
	m.Copy(orig, iso8583.DEPAN, iso8583.DEProcessingCode, iso8583.DEAmount, iso8583.DELocalTime, iso8583.DELocalDate,
		iso8583.DEAcquirer, iso8583.DERRN, iso8583.DETerminal, iso8583.DEMerchant, iso8583.DECurrency, iso8583.DEMCC, iso8583.DEPOSEntryMode)
	m.SetTransmissionTime(now)
	if err := m.SetSTAN(t.STAN.Next()); err != nil {
		return nil, err
	}
	stan, _ := orig.String(iso8583.DESTAN)
	de7, _ := orig.String(iso8583.DETransmission)
	acq, _ := orig.String(iso8583.DEAcquirer)
	acq = strings.Repeat("0", 11-len(acq)) + acq
	if err := m.SetString(iso8583.DEOriginal, "0100"+stan+de7+acq+strings.Repeat("0", 11)); err != nil {
		return nil, err
	}
	return m, nil
}

func pad(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s + strings.Repeat(" ", n-len(s))
}

package applet

import (
	"bytes"
	"errors"
	"strings"
	"sync"

	"github.com/tapwallet/tapwallet/apdu"
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/qpboc"
	"github.com/tapwallet/tapwallet/se"
)

// Status words of the payment applet with a wallet meaning.
const (
	// SWSeePhone (6986) answers GET PROCESSING OPTIONS when the card holder
	// has not verified a fingerprint on the phone in the last 30 seconds
	// (or payments are locked after 5 wrong fingers): no cryptogram is
	// made, no counter or key is used. A terminal shows "see phone: verify
	// on your phone and tap again", as for Visa's "See Phone" status.
	SWSeePhone = apdu.SWNoCurrentEF
	// SWNoKeys (6984, "reference data not usable") answers GET PROCESSING
	// OPTIONS when the card has no unused, unexpired limited-use key: the
	// phone must go online to sync before it can pay with that card. A
	// terminal shows "card needs a sync: open the wallet online".
	SWNoKeys = apdu.SWReferenceDataNotUsable
)

// PDOL is the payment applet's processing options data object list: the
// qPBOC list (qpboc.PDOL) and the merchant name and location (9F4E, 20
// bytes), which only the phone reads, to tell its owner where it paid.
var PDOL = append(append(emv.DOL{}, qpboc.PDOL...), emv.DOLEntry{Tag: emv.TagMerchantNameLocation, Len: 20})

// AFL is the application file locator of the GPO answer: SFI 1, record 1
// to 1, no record for offline data authentication.
var AFL = []byte{0x08, 0x01, 0x01, 0x00}

// ServiceCode is the track-2 service code of a wallet token: 220
// (international, integrated circuit; normal authorization; no
// restrictions).
const ServiceCode = "220"

// Element is what the payment applet needs from the secure element; an
// *se.Element is one.
type Element interface {
	// Cryptogram uses the token's next counter and oldest unused key, see
	// se.Element.Cryptogram; it fails with se.ErrNoKeys when none is left.
	Cryptogram(token string, alg emv.Alg, pad emv.Padding, build func(atc, keyIndex int) ([]byte, error)) (se.Use, error)
	// KeysLeft returns how many unused, unexpired keys the token has.
	KeysLeft(token string) int
	// Counter returns the token's next transaction counter.
	Counter(token string) int
}

var _ Element = (*se.Element)(nil)

// Request is what a terminal asks the phone to pay, from the PDOL data of
// its GET PROCESSING OPTIONS.
type Request struct {
	Amount   int64  // minor units, from 9F02
	Currency uint16 // ISO 4217 numeric, from 5F2A
	Merchant string // from 9F4E, trimmed ("" if the terminal sent none)
}

// Same reports whether r asks the same money as o: amount and currency.
func (r Request) Same(o Request) bool { return r.Amount == o.Amount && r.Currency == o.Currency }

// CDCVM is the consumer-device cardholder verification method: the
// fingerprint check on the phone, as the card holder's consent to pay.
type CDCVM interface {
	// Consented reports whether the card holder verified on the phone
	// recently enough (a fingerprint within the last 30 seconds, payments
	// not locked) and for this request: a consent given for one amount
	// and currency does not pay another. It is asked only when the card
	// could pay; a request it refuses is one the phone shows its holder.
	Consented(req Request) bool
	// Used is called when a cryptogram has been made on the strength of
	// the verification: one verification pays once.
	Used()
}

// PaymentCard is one of the phone's payment cards, as the applet serves it.
type PaymentCard struct {
	Token  string      // token number, 13 to 19 digits
	AID    []byte      // UnionPay debit A000000333010101 or credit A000000333010102
	Label  string      // application label, up to 16 ASCII characters ("ICBC 5678")
	Expiry card.Expiry // the token's expiry
	PSN    byte        // PAN sequence number, 0 to 99
	Alg    emv.Alg     // emv.TDES (CVN 11) or emv.SM4 (CVN 12); zero means TDES
}

// EventKind is what happened in a payment applet during a tap.
type EventKind int

// What the payment applet reports to the phone.
const (
	// Paid: an online cryptogram (ARQC) was made with a limited-use key.
	Paid EventKind = iota + 1
	// SeePhone: GPO came without a fresh fingerprint; answered 6986.
	SeePhone
	// NoKeys: GPO came for a card with no key left; answered 6984.
	NoKeys
	// Refused: the terminal's GPO was refused (bad PDOL data, no card
	// selected, …); SW says how. The terminal reports an error.
	Refused
	// Outcome: the terminal told the phone what became of the payment
	// (PUT DATA FF71, see qpboc.Outcome): ARC and Message are set.
	Outcome
)

// String returns "paid", "see phone", "no keys", "refused" or "outcome".
func (k EventKind) String() string {
	switch k {
	case Paid:
		return "paid"
	case SeePhone:
		return "see phone"
	case NoKeys:
		return "no keys"
	case Refused:
		return "refused"
	case Outcome:
		return "outcome"
	}
	return "unknown"
}

// Event is what the payment applet learnt from a GET PROCESSING OPTIONS,
// or from the terminal's outcome after it.
type Event struct {
	Kind     EventKind
	Token    string // the card's token number
	Amount   int64  // minor units, from 9F02
	Currency uint16 // ISO 4217 numeric, from 5F2A
	Merchant string // from 9F4E, trimmed ("" if the terminal sent none)
	ATC      int    // Paid only: the transaction counter used
	KeyIndex int    // Paid only: the limited-use key used

	SW         apdu.StatusWord // Refused only: the status word answered
	ARC        string          // Outcome only: the authorisation response code, "" for a terminal error
	Message    string          // Outcome only: the terminal's message
	IssuerAuth bool            // Outcome only: the terminal passed on the issuer's authentication data (91)
}

// Request returns the request the event is about.
func (e Event) Request() Request {
	return Request{Amount: e.Amount, Currency: e.Currency, Merchant: e.Merchant}
}

// Payment is the phone's payment applet: qPBOC online with a limited-use
// key per cryptogram. The commands it answers, their data and status words
// are in docs/emv.md ("The payment applet").
//
// A phone with several cards lists each in the PPSE, in the order given
// (the first is the default and has priority 1). SELECT of an AID picks the
// first card with that AID (so the default card when it has it); SELECT with
// P2 = 02 (next occurrence) picks the next card with that AID, and 6A82
// when there is none.
type Payment struct {
	// OnEvent, if set, is called after each GET PROCESSING OPTIONS that
	// made a cryptogram or refused to (see phone, no keys).
	OnEvent func(Event)

	el    Element
	cvm   CDCVM
	cards []PaymentCard

	mu       sync.Mutex
	state    paymentState
	name     []byte // the name of the last SELECT
	cur      int    // the selected card (index into cards)
	paidCard int    // the card of the successful GPO
}

type paymentState int

const (
	idle paymentState = iota
	ppseSelected
	cardSelected
	processing // GPO answered with an ARQC: records may be read
)

// NewPayment returns a payment applet serving cards (default first) with
// keys in el, asking cvm for the fingerprint.
func NewPayment(el Element, cvm CDCVM, cards ...PaymentCard) *Payment {
	return &Payment{el: el, cvm: cvm, cards: append([]PaymentCard(nil), cards...)}
}

// Name returns "payment".
func (p *Payment) Name() string { return "payment" }

// Kind returns KindPayment.
func (p *Payment) Kind() Kind { return KindPayment }

// AIDs returns the distinct AIDs of the cards.
func (p *Payment) AIDs() [][]byte {
	var out [][]byte
	for _, c := range p.cards {
		if !containsAID(out, c.AID) {
			out = append(out, c.AID)
		}
	}
	return out
}

func containsAID(list [][]byte, aid []byte) bool {
	for _, a := range list {
		if bytes.Equal(a, aid) {
			return true
		}
	}
	return false
}

// Deselect forgets the transaction.
func (p *Payment) Deselect() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state, p.name = idle, nil
}

func sw(s apdu.StatusWord) apdu.Response { return apdu.Response{SW: s} }

func ok(data []byte) apdu.Response { return apdu.Response{Data: data, SW: apdu.SWSuccess} }

// Select answers SELECT of the PPSE (the directory of the phone's cards)
// or of an AID (the card's FCI with the PDOL).
func (p *Payment) Select(name []byte, next bool) apdu.Response {
	p.mu.Lock()
	defer p.mu.Unlock()
	if bytes.Equal(name, PPSE) {
		if next || len(p.cards) == 0 {
			p.state = idle
			return sw(apdu.SWFileNotFound)
		}
		p.state, p.name = ppseSelected, append([]byte(nil), name...)
		return ok(p.ppseFCI())
	}
	start := 0
	if next && p.state != idle && bytes.Equal(p.name, name) && p.state != ppseSelected {
		start = p.cur + 1
	}
	for i := start; i < len(p.cards); i++ {
		if bytes.HasPrefix(p.cards[i].AID, name) {
			p.state, p.cur, p.name = cardSelected, i, append([]byte(nil), name...)
			return ok(p.fci(i))
		}
	}
	p.state = idle
	return sw(apdu.SWFileNotFound)
}

// label returns the card's label as at most 16 printable ASCII characters.
func label(c PaymentCard) []byte {
	l := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7E {
			return -1
		}
		return r
	}, c.Label)
	if len(l) > 16 {
		l = l[:16]
	}
	return []byte(l)
}

func mustEncode(objs ...emv.TLV) []byte {
	b, err := emv.Encode(objs...)
	if err != nil {
		panic(err) // the applet's own objects always encode
	}
	return b
}

// ppseFCI lists the cards: 61 entries with 4F AID, 50 label, 87 priority.
// If that does not fit in a short answer, the labels are left out.
func (p *Payment) ppseFCI() []byte {
	build := func(labels bool) []byte {
		var entries []emv.TLV
		for i, c := range p.cards {
			e := []emv.TLV{emv.New(emv.TagAID, c.AID)}
			if l := label(c); labels && len(l) > 0 {
				e = append(e, emv.New(0x50, l))
			}
			prio := byte(i + 1)
			if i >= 14 {
				prio = 15
			}
			e = append(e, emv.New(emv.TagPriority, []byte{prio}))
			entries = append(entries, emv.NewConstructed(0x61, e...))
		}
		return mustEncode(emv.NewConstructed(0x6F,
			emv.New(qpboc.TagDFName, PPSE),
			emv.NewConstructed(0xA5, emv.NewConstructed(emv.TagFCIIssuerDiscretion, entries...))))
	}
	if b := build(true); len(b) <= apdu.MaxShortNe {
		return b
	}
	return build(false)
}

// fci is the FCI of a card: 84 AID, A5 with 50 label, 87 priority, 9F38
// PDOL and 5F2D language preference "zhen".
func (p *Payment) fci(i int) []byte {
	c := p.cards[i]
	prop := []emv.TLV{}
	if l := label(c); len(l) > 0 {
		prop = append(prop, emv.New(0x50, l))
	}
	prop = append(prop,
		emv.New(emv.TagPriority, []byte{byte(min(i+1, 15))}),
		emv.New(emv.TagPDOL, PDOL.Bytes()),
		emv.New(0x5F2D, []byte("zhen")))
	return mustEncode(emv.NewConstructed(0x6F, emv.New(qpboc.TagDFName, c.AID), emv.NewConstructed(0xA5, prop...)))
}

// Process answers GET PROCESSING OPTIONS, READ RECORD, GET DATA and the
// terminal's outcome (PUT DATA FF71); see docs/emv.md for every status word.
func (p *Payment) Process(cmd apdu.Command) apdu.Response {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cmd.CLA != 0x00 && cmd.CLA != 0x80 {
		return sw(apdu.SWCLANotSupported)
	}
	switch cmd.INS {
	case apdu.InsGetProcessingOptions:
		if cmd.CLA != 0x80 {
			return sw(apdu.SWCLANotSupported)
		}
		return p.gpo(cmd)
	case apdu.InsReadRecord:
		if cmd.CLA != 0x00 {
			return sw(apdu.SWCLANotSupported)
		}
		return p.readRecord(cmd)
	case apdu.InsGetData:
		if cmd.CLA != 0x80 {
			return sw(apdu.SWCLANotSupported)
		}
		return p.getData(cmd)
	case apdu.InsPutData:
		if cmd.CLA != 0x80 {
			return sw(apdu.SWCLANotSupported)
		}
		return p.putOutcome(cmd)
	}
	return sw(apdu.SWINSNotSupported)
}

// gpo answers GET PROCESSING OPTIONS. A refusal is reported as a Refused
// event when a card is selected (the terminal reports an error then).
func (p *Payment) gpo(cmd apdu.Command) apdu.Response {
	r, ev := p.gpo1(cmd)
	if r.SW != apdu.SWSuccess && r.SW != SWSeePhone && r.SW != SWNoKeys && p.state != idle && p.state != ppseSelected {
		ev.SW = r.SW
		p.event(ev, Refused)
	}
	return r
}

func (p *Payment) gpo1(cmd apdu.Command) (apdu.Response, Event) {
	var ev Event
	if p.state == cardSelected || p.state == processing {
		ev.Token = p.cards[p.cur].Token
	}
	if cmd.P1 != 0 || cmd.P2 != 0 {
		return sw(apdu.SWWrongP1P2Data), ev
	}
	if p.state != cardSelected {
		return sw(apdu.SWConditionsNotSatisfied), ev
	}
	objs, err := emv.Decode(cmd.Data)
	if err != nil || len(objs) != 1 || objs[0].Tag != 0x83 {
		return sw(apdu.SWWrongData), ev
	}
	vals, err := PDOL.Split(objs[0].Value)
	if err != nil {
		return sw(apdu.SWWrongLength), ev
	}
	amount, ok1 := bcd(vals[qpboc.TagAmount])
	cur, ok2 := bcd(vals[qpboc.TagCurrency])
	_, ok3 := bcd(vals[qpboc.TagAmountOther])
	if !ok1 || !ok2 || !ok3 {
		return sw(apdu.SWWrongData), ev
	}
	c := p.cards[p.cur]
	ev = Event{Token: c.Token, Amount: amount, Currency: uint16(cur), Merchant: merchant(vals[emv.TagMerchantNameLocation])}
	// A card with no key cannot pay whatever the finger: say so first.
	// The application stays selected (GET DATA still answers); a GPO may
	// come again, after a sync or a fingerprint.
	if p.el.KeysLeft(c.Token) == 0 {
		p.event(ev, NoKeys)
		return sw(SWNoKeys), ev
	}
	if p.cvm == nil || !p.cvm.Consented(ev.Request()) {
		p.event(ev, SeePhone)
		return sw(SWSeePhone), ev
	}
	alg, cvn := emv.TDES, qpboc.CVNTDES
	if c.Alg == emv.SM4 {
		alg, cvn = emv.SM4, qpboc.CVNSM4
	}
	var iad, atcB []byte
	use, err := p.el.Cryptogram(c.Token, alg, emv.PadMethod1, func(atc, keyIndex int) ([]byte, error) {
		atcB = []byte{byte(atc >> 8), byte(atc)}
		iad = qpboc.IAD{DKI: 0x01, CVN: cvn, CVR: qpboc.NewCVR(true), KeyIndex: uint16(keyIndex)}.Bytes()
		tags := make(map[emv.Tag][]byte, len(vals)+3)
		for t, v := range vals {
			tags[t] = v
		}
		tags[qpboc.TagAIP], tags[qpboc.TagATC], tags[qpboc.TagIAD] = qpboc.AIP, atcB, iad
		return qpboc.ARQCData(tags)
	})
	if errors.Is(err, se.ErrNoKeys) {
		p.event(ev, NoKeys)
		return sw(SWNoKeys), ev
	}
	if err != nil {
		return sw(apdu.SWNoPreciseDiagnosis), ev
	}
	p.cvm.Used()
	p.state, p.paidCard = processing, p.cur
	ev.ATC, ev.KeyIndex = use.ATC, use.KeyIndex
	p.event(ev, Paid)
	return ok(mustEncode(emv.NewConstructed(0x77,
		emv.New(qpboc.TagAIP, qpboc.AIP),
		emv.New(qpboc.TagAFL, AFL),
		emv.New(qpboc.TagATC, atcB),
		emv.New(qpboc.TagCryptogram, use.Cryptogram),
		emv.New(qpboc.TagCID, []byte{qpboc.CIDARQC}),
		emv.New(qpboc.TagIAD, iad),
		emv.New(qpboc.TagCTQ, qpboc.CTQ(true)),
	))), ev
}

// putOutcome takes the terminal's outcome (PUT DATA FF71, qpboc.Outcome)
// for the card selected: 9000 and an Outcome event; 6A88 for another tag,
// 6A80 if the outcome does not parse, 6985 with no card selected.
func (p *Payment) putOutcome(cmd apdu.Command) apdu.Response {
	if emv.Tag(cmd.P1)<<8|emv.Tag(cmd.P2) != qpboc.TagOutcome {
		return sw(apdu.SWReferenceNotFound)
	}
	if p.state != cardSelected && p.state != processing {
		return sw(apdu.SWConditionsNotSatisfied)
	}
	o, err := qpboc.ParseOutcome(cmd.Data)
	if err != nil {
		return sw(apdu.SWWrongData)
	}
	c := p.cur
	if p.state == processing {
		c = p.paidCard
	}
	p.event(Event{Token: p.cards[c].Token, ARC: o.ARC, Message: o.Message, IssuerAuth: len(o.IssuerAuth) > 0}, Outcome)
	return ok(nil)
}

func (p *Payment) event(ev Event, k EventKind) {
	ev.Kind = k
	if p.OnEvent != nil {
		p.OnEvent(ev)
	}
}

// bcd reads packed BCD digits; false if a nibble is not a digit.
func bcd(b []byte) (int64, bool) {
	var n int64
	for _, x := range b {
		hi, lo := x>>4, x&0x0F
		if hi > 9 || lo > 9 {
			return 0, false
		}
		n = n*100 + int64(hi)*10 + int64(lo)
	}
	return n, true
}

// merchant returns the printable part of 9F4E without padding.
func merchant(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7E {
			return -1
		}
		return r
	}, string(b))
	return strings.TrimSpace(s)
}

func (p *Payment) readRecord(cmd apdu.Command) apdu.Response {
	if cmd.P1 == 0 || cmd.P2&0x07 != 0x04 {
		return sw(apdu.SWWrongP1P2Data)
	}
	if p.state != processing {
		return sw(apdu.SWConditionsNotSatisfied)
	}
	if cmd.P2>>3 != 1 || cmd.P1 != 1 {
		return sw(apdu.SWRecordNotFound)
	}
	c := p.cards[p.paidCard]
	return ok(mustEncode(emv.NewConstructed(0x70,
		emv.New(qpboc.TagTrack2, Track2(c.Token, c.Expiry)),
		emv.New(0x5A, packDigits(c.Token)),
		emv.New(qpboc.TagExpiry, expiryYYMMDD(c.Expiry)),
		emv.New(qpboc.TagPSN, packDigits(twoDigits(c.PSN))),
	)))
}

func (p *Payment) getData(cmd apdu.Command) apdu.Response {
	if p.state != cardSelected && p.state != processing {
		return sw(apdu.SWConditionsNotSatisfied)
	}
	tag := emv.Tag(cmd.P1)<<8 | emv.Tag(cmd.P2)
	switch tag {
	case qpboc.TagATC:
		atc := p.el.Counter(p.cards[p.cur].Token) - 1
		return ok(mustEncode(emv.New(qpboc.TagATC, []byte{byte(atc >> 8), byte(atc)})))
	}
	return sw(apdu.SWReferenceNotFound)
}

// Track2 returns the track-2 equivalent data (tag 57) of a token: its
// digits, separator D, expiry YYMM, service code 220, discretionary data
// of zeros, packed two digits a byte with a trailing F if the count is odd.
func Track2(token string, exp card.Expiry) []byte {
	return packDigits(token + "D" + exp.YYMM() + ServiceCode + "00000000000")
}

// packDigits packs hex digit characters (0-9, D) two a byte, F-padded.
func packDigits(s string) []byte {
	if len(s)%2 == 1 {
		s += "F"
	}
	out := make([]byte, len(s)/2)
	for i := range out {
		out[i] = nibble(s[2*i])<<4 | nibble(s[2*i+1])
	}
	return out
}

func nibble(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return 0x0F
}

func twoDigits(n byte) string {
	return string([]byte{'0' + n/10%10, '0' + n%10})
}

// expiryYYMMDD returns 5F24: the last day of the expiry month, n6 BCD.
func expiryYYMMDD(e card.Expiry) []byte {
	days := [...]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	d := 31
	if e.Month >= 1 && e.Month <= 12 {
		d = days[e.Month-1]
		if e.Month == 2 && (e.Year%4 == 0 && (e.Year%100 != 0 || e.Year%400 == 0)) {
			d = 29
		}
	}
	return packDigits(e.YYMM() + twoDigits(byte(d)))
}

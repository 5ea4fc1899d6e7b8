// Package applet is the phone's card operating system: the applets that live
// in the secure element and answer a reader's APDUs over the NFC link, and
// the [Dispatcher] that routes those APDUs to them. The Dispatcher is the
// phone's nfc.Card.
//
// # Applets
//
// An [Applet] answers SELECT for its application identifiers (AIDs) and then
// the commands that follow while it stays selected. Its [Kind] says what it
// is for, which decides when the phone serves it:
//
//   - [KindPayment] applets (EMV / qPBOC, this package's [Payment]) are always
//     selectable, but never make a cryptogram without a fresh fingerprint
//     (the consumer-device CVM, see [CDCVM]); without one they answer
//     GET PROCESSING OPTIONS with 6986 "see phone".
//   - [KindTransit] applets (PBOC electronic purses of the cities) may be served
//     while the phone is locked and without a fingerprint: "express mode"
//     ([Dispatcher.Express], on by default). With express mode off, a locked
//     phone answers their SELECT with 6985.
//
// # Routing
//
// SELECT by name (00 A4 04 00, or 00 A4 04 02 for the next occurrence) goes
// to the applet owning the name: the PPSE name 2PAY.SYS.DDF01 to the first
// payment applet, an AID (whole, or a prefix of at least 5 bytes, as EMV
// partial selection allows) to the first applet with a matching AID. A
// successful SELECT makes that applet the selected one and deselects the
// previous; a failed one leaves no applet selected. Every other command goes
// to the selected applet, including SELECT by file identifier (P1 other than
// 04), which a purse may use for its files. Power off, power on and reset
// deselect.
//
// Nothing panics on bad input: an APDU that does not parse gets 6700 (wrong
// length); a SELECT by name with P2 other than 00 / 02, or any other SELECT
// with no applet selected, gets 6A86 (6E00 for a CLA other than 00);
// an unknown name 6A82; a command with no applet selected 6985 if it is a
// known instruction, 6D00 otherwise. A panic inside an applet is answered
// 6F00 and the applet is deselected.
//
// # Plugging in an applet
//
// Write a type with the five methods of [Applet]; keep its state (a purse
// balance) in the secure element (se.Element.AppletData / SetAppletData, saved
// before the answer leaves). Give it to [NewDispatcher] or
// [Dispatcher.Install]; on the phone, register a maker with
// phone.RegisterApplet in an init function so that every tap serves it.
package applet

import (
	"bytes"
	"sync"

	"github.com/tapwallet/tapwallet/apdu"
)

// Kind says what an applet is for.
type Kind int

const (
	// KindPayment is an EMV / qPBOC payment application: a fresh fingerprint
	// for every cryptogram.
	KindPayment Kind = iota + 1
	// KindTransit is a transit card (PBOC electronic purse): served in express
	// mode, even while the phone is locked.
	KindTransit
)

// String returns "payment" or "transit".
func (k Kind) String() string {
	switch k {
	case KindPayment:
		return "payment"
	case KindTransit:
		return "transit"
	}
	return "unknown"
}

// PPSE is the name of the proximity payment system environment,
// "2PAY.SYS.DDF01", which a contactless terminal selects first.
var PPSE = []byte("2PAY.SYS.DDF01")

// Applet is one application in the phone's secure element.
type Applet interface {
	// Name names the applet for traces and logs ("payment",
	// "transit-beijing").
	Name() string
	// Kind says whether it is a payment or a transit applet.
	Kind() Kind
	// AIDs returns the application identifiers it answers SELECT for.
	AIDs() [][]byte
	// Select answers SELECT by name: name is the PPSE name (payment
	// applets only) or a whole or partial AID of this applet; next is true
	// for P2 = 02, "next occurrence". An answer with a status other than
	// 9000 (or 61XX) leaves the applet unselected.
	Select(name []byte, next bool) apdu.Response
	// Process answers a command other than SELECT while the applet is
	// selected. It must answer every command, with a status word for
	// those it refuses.
	Process(cmd apdu.Command) apdu.Response
	// Deselect tells the applet it is no longer selected (another was
	// selected, or the link was reset); it forgets the transaction.
	Deselect()
}

// Dispatcher is the phone's card operating system on the NFC link: it holds
// the installed applets, routes SELECT and keeps the selected applet. It
// implements nfc.Card. Its methods are safe for concurrent use.
type Dispatcher struct {
	// Locked reports whether the phone is locked; nil means never.
	Locked func() bool
	// Express lets transit applets answer while the phone is locked.
	Express bool

	mu       sync.Mutex
	applets  []Applet
	selected Applet
	atr      []byte
}

// NewDispatcher returns a dispatcher holding applets, in order (the first
// payment applet answers the PPSE), with express mode on.
func NewDispatcher(applets ...Applet) *Dispatcher {
	return &Dispatcher{Express: true, applets: append([]Applet(nil), applets...), atr: ATR()}
}

// Install adds an applet after the ones already installed.
func (d *Dispatcher) Install(a Applet) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.applets = append(d.applets, a)
}

// Applets returns the installed applets in order.
func (d *Dispatcher) Applets() []Applet {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Applet(nil), d.applets...)
}

// Selected returns the selected applet, or nil.
func (d *Dispatcher) Selected() Applet {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.selected
}

// ATR returns a contactless ISO 14443-4 card's answer to reset as a PC/SC
// reader reports it (PC/SC part 3: 3B 8n 80 01, historical bytes, TCK),
// with the historical bytes "TAPWALLET".
func ATR() []byte {
	hist := []byte("TAPWALLET")
	atr := []byte{0x3B, 0x80 | byte(len(hist)), 0x80, 0x01}
	atr = append(atr, hist...)
	var tck byte
	for _, b := range atr[1:] {
		tck ^= b
	}
	return append(atr, tck)
}

// ATR returns the answer to reset (nfc.Card).
func (d *Dispatcher) ATR() []byte { return append([]byte(nil), d.atr...) }

// Reset deselects the selected applet (nfc.Card: power off, on, reset).
func (d *Dispatcher) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.deselect()
}

func (d *Dispatcher) deselect() {
	if d.selected != nil {
		d.selected.Deselect()
		d.selected = nil
	}
}

// Process answers one command APDU with a response APDU (nfc.Card). It
// never panics and always answers with at least a status word.
func (d *Dispatcher) Process(b []byte) []byte {
	cmd, err := apdu.ParseCommand(b)
	if err != nil {
		return apdu.Response{SW: apdu.SWWrongLength}.Marshal()
	}
	return d.Transmit(cmd).Marshal()
}

// Transmit answers a parsed command; see the package comment for the
// routing and the status words.
func (d *Dispatcher) Transmit(cmd apdu.Command) (resp apdu.Response) {
	d.mu.Lock()
	defer d.mu.Unlock()
	defer func() {
		if recover() != nil {
			d.selected = nil
			resp = apdu.Response{SW: apdu.SWNoPreciseDiagnosis}
		}
	}()
	switch {
	case cmd.INS == apdu.InsSelect && cmd.P1 == 0x04:
		resp = d.selectByName(cmd)
	case d.selected != nil:
		// Other SELECTs (by file identifier inside a purse) are the
		// selected applet's business.
		resp = d.selected.Process(cmd)
	case cmd.INS == apdu.InsSelect && cmd.CLA != 0x00:
		resp = apdu.Response{SW: apdu.SWCLANotSupported}
	case cmd.INS == apdu.InsSelect:
		resp = apdu.Response{SW: apdu.SWWrongP1P2Data}
	case knownINS[cmd.INS]:
		resp = apdu.Response{SW: apdu.SWConditionsNotSatisfied}
	default:
		resp = apdu.Response{SW: apdu.SWINSNotSupported}
	}
	return fitNe(cmd, resp)
}

// fitNe answers 6CXX when the data is longer than the Le the reader gave
// (short form), as ISO 7816-3 T=0 cards do.
func fitNe(cmd apdu.Command, resp apdu.Response) apdu.Response {
	if cmd.Ne > 0 && len(resp.Data) > cmd.Ne && len(resp.Data) <= apdu.MaxShortNe {
		return apdu.Response{SW: apdu.SWWrongLe | apdu.StatusWord(byte(len(resp.Data)))}
	}
	return resp
}

func (d *Dispatcher) selectByName(cmd apdu.Command) apdu.Response {
	switch {
	case cmd.CLA != 0x00:
		return apdu.Response{SW: apdu.SWCLANotSupported}
	case cmd.P2 != 0x00 && cmd.P2 != 0x02:
		return apdu.Response{SW: apdu.SWWrongP1P2Data}
	case len(cmd.Data) < 5 || len(cmd.Data) > 16:
		return apdu.Response{SW: apdu.SWWrongLength}
	}
	name := cmd.Data
	a := d.find(name)
	if a == nil {
		d.deselect()
		return apdu.Response{SW: apdu.SWFileNotFound}
	}
	if a.Kind() == KindTransit && !d.Express && d.Locked != nil && d.Locked() {
		d.deselect()
		return apdu.Response{SW: apdu.SWConditionsNotSatisfied}
	}
	if d.selected != nil && d.selected != a {
		d.deselect()
	}
	resp := a.Select(name, cmd.P2 == 0x02)
	if resp.SW.OK() {
		d.selected = a
	} else {
		a.Deselect()
		d.selected = nil
	}
	return resp
}

// find returns the applet owning name: the first payment applet for the
// PPSE, else the first applet with an AID that name equals or begins.
func (d *Dispatcher) find(name []byte) Applet {
	if bytes.Equal(name, PPSE) {
		for _, a := range d.applets {
			if a.Kind() == KindPayment {
				return a
			}
		}
		return nil
	}
	for _, a := range d.applets {
		for _, aid := range a.AIDs() {
			if bytes.HasPrefix(aid, name) {
				return a
			}
		}
	}
	return nil
}

// knownINS are the instructions some tapwallet applet understands; with no
// applet selected they are answered 6985 instead of 6D00.
var knownINS = map[byte]bool{
	apdu.InsGetProcessingOptions: true, apdu.InsReadRecord: true, apdu.InsGenerateAC: true,
	apdu.InsGetData: true, apdu.InsGetResponse: true, apdu.InsVerify: true,
	apdu.InsInitializeTransaction: true, apdu.InsCreditForLoad: true, apdu.InsDebitForPurchase: true,
	apdu.InsGetBalance: true, apdu.InsGetTransactionProof: true, apdu.InsGetChallenge: true,
	apdu.InsExternalAuthenticate: true, apdu.InsInternalAuthenticate: true, apdu.InsUpdateRecord: true,
	apdu.InsPutData: true,
}

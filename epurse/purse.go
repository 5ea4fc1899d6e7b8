// Package epurse is the transit card on the phone: the PBOC electronic
// purse applet that China's city transit cards are built on, living in the
// phone's secure element (package se) and served by the phone's card OS
// (package applet) in express mode — and the purse's cryptography and file
// layouts, which the gate's secure access module (package sam) and the
// operator's host (package transit) share.
//
// A purse holds a balance in fen, separate offline (purchase) and online
// (load) counters, an overdraft limit, a public-information file, a
// management file, a cyclic transaction log and the trip record (the CAPP
// data cache). It answers SELECT, READ BINARY, READ RECORD, GET BALANCE,
// INITIALIZE FOR PURCHASE / CAPP PURCHASE / LOAD, UPDATE CAPP DATA CACHE,
// DEBIT FOR (CAPP) PURCHASE, CREDIT FOR LOAD, GET TRANSACTION PROOF, GET
// CHALLENGE and APPLICATION BLOCK (the table is in docs/transit.md). Every
// command that changes the purse saves its whole state through
// se.Element.SetAppletData before the answer leaves, so a trip-record update
// and the debit it belongs to commit together or not at all. Bad commands
// get a status word, never a panic.
package epurse

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"io"
	"sync"

	"github.com/tapwallet/tapwallet/apdu"
	"github.com/tapwallet/tapwallet/applet"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
)

// Status words of the purse beyond those of package apdu.
const (
	// SWBlocked answers SELECT of a blocked or closed purse (with its FCI).
	SWBlocked = apdu.SWSelectedFileDeactivated // 6283
	// SWNoProof answers GET TRANSACTION PROOF for a transaction the purse
	// does not hold a proof of.
	SWNoProof = apdu.SWPurseMACUnavailable // 9406
	// SWBadBlockMAC answers APPLICATION BLOCK with a wrong MAC.
	SWBadBlockMAC = apdu.SWSMObjectsIncorrect // 6988
	// SWMemory answers a command whose result could not be saved.
	SWMemory = apdu.SWMemoryFailure // 6581
)

// Store is where a purse keeps its state: the secure element's applet
// data (an *se.Element is one).
type Store interface {
	AppletData(name string) []byte
	SetAppletData(name string, data []byte) error
}

// proof is what GET TRANSACTION PROOF answers for the last transaction.
type proof struct {
	Type byte    `json:"type"`
	ATC  uint16  `json:"atc"`
	TAC  [4]byte `json:"tac"`
	MAC2 [4]byte `json:"mac2"`
}

// state is the purse's non-volatile memory.
type state struct {
	City        string   `json:"city"`
	AID         []byte   `json:"aid"`
	Alg         string   `json:"alg"`
	Number      string   `json:"number"`
	KeyVersion  byte     `json:"key_version"`
	DPK         []byte   `json:"dpk"`
	DLK         []byte   `json:"dlk"`
	DTK         []byte   `json:"dtk"`
	DAMK        []byte   `json:"damk"`
	Balance     int64    `json:"balance"`
	Cap         int64    `json:"cap"`
	Overdraft   int64    `json:"overdraft"`
	OnlineATC   uint16   `json:"online_atc"`
	OfflineATC  uint16   `json:"offline_atc"`
	Public      []byte   `json:"public"`
	Management  []byte   `json:"management"`
	Log         [][]byte `json:"log"`
	Trip        []byte   `json:"trip"`
	Blocked     bool     `json:"blocked,omitempty"`
	Closed      bool     `json:"closed,omitempty"`
	ExpressOff  bool     `json:"express_off,omitempty"`
	LastOffline *proof   `json:"last_offline,omitempty"`
	LastOnline  *proof   `json:"last_online,omitempty"`
}

// session is a transaction in progress (volatile memory).
type session struct {
	kind     byte // TypePurchase, TypeCAPP or TypeLoad
	amount   uint32
	terminal [6]byte
	random   [4]byte
	atc      uint16
	trip     []byte // staged UPDATE CAPP DATA CACHE
	seslk    []byte // load session key
}

// Purse is one city's transit card applet on the phone. It implements
// applet.Applet. Its methods are safe for concurrent use.
type Purse struct {
	// Locked reports whether the phone is locked; with express mode off
	// for this card a locked phone's purse refuses SELECT (6985). Nil
	// means never locked.
	Locked func() bool
	// Rand is the source of the purse's random numbers (crypto/rand if
	// nil).
	Rand io.Reader

	mu        sync.Mutex
	store     Store
	name      string
	alg       emv.Alg
	st        state
	sess      *session
	challenge *[4]byte
}

var _ applet.Applet = (*Purse)(nil)

// AppletName returns the secure-element applet name of a city's purse.
func AppletName(city string) string { return "transit-" + city }

// Installed reports whether the store holds a purse for the city.
func Installed(store Store, city string) bool { return len(store.AppletData(AppletName(city))) > 0 }

// Open loads a city's purse from the store. It fails with fault.NotFound
// "no_transit_card" if there is none, or fault.Invalid "se_store" if its
// data is damaged.
func Open(store Store, city string) (*Purse, error) {
	b := store.AppletData(AppletName(city))
	if len(b) == 0 {
		return nil, fault.E(fault.NotFound, "no_transit_card", "this phone has no %s transit card", city)
	}
	p := &Purse{store: store, name: AppletName(city)}
	if err := json.Unmarshal(b, &p.st); err != nil {
		return nil, fault.E(fault.Invalid, "se_store", "the %s transit card's data is damaged", city)
	}
	alg, err := emv.ParseAlg(p.st.Alg)
	if err != nil || len(p.st.DPK) != 16 || len(p.st.DLK) != 16 || len(p.st.DTK) != 16 || len(p.st.DAMK) != 16 {
		return nil, fault.E(fault.Invalid, "se_store", "the %s transit card's keys are damaged", city)
	}
	p.alg = alg
	return p, nil
}

// Delete removes a city's purse from the store (after it was closed and
// the operator confirmed).
func Delete(store Store, city string) error { return store.SetAppletData(AppletName(city), nil) }

// Name returns "transit-CITY".
func (p *Purse) Name() string { return p.name }

// Kind returns applet.KindTransit.
func (p *Purse) Kind() applet.Kind { return applet.KindTransit }

// AIDs returns the city's application identifier.
func (p *Purse) AIDs() [][]byte { return [][]byte{bytes.Clone(p.st.AID)} }

// Deselect forgets the transaction in progress.
func (p *Purse) Deselect() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sess, p.challenge = nil, nil
}

func sw(s apdu.StatusWord) apdu.Response { return apdu.Response{SW: s} }

func ok(data []byte) apdu.Response { return apdu.Response{Data: data, SW: apdu.SWSuccess} }

// fci returns 6F { 84 AID, A5 { 9F08 version, 9F0C public information } }.
func (p *Purse) fci() []byte {
	prop := emv.NewConstructed(emv.Tag(0xA5),
		emv.New(emv.Tag(0x9F08), []byte{0x01}),
		emv.New(emv.Tag(0x9F0C), p.st.Public))
	b, err := emv.Encode(emv.NewConstructed(emv.Tag(0x6F), emv.New(emv.Tag(0x84), p.st.AID), prop))
	if err != nil {
		return nil
	}
	return b
}

// Select answers SELECT by the city's AID with the FCI, whose tag 9F0C
// holds the public information file so that a gate needs no READ BINARY.
// A blocked or closed purse answers its FCI with 6283; with express mode
// off, a locked phone's purse answers 6985.
func (p *Purse) Select(name []byte, next bool) apdu.Response {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sess, p.challenge = nil, nil
	switch {
	case next || !bytes.HasPrefix(p.st.AID, name):
		return sw(apdu.SWFileNotFound)
	case p.st.ExpressOff && p.Locked != nil && p.Locked():
		return sw(apdu.SWConditionsNotSatisfied)
	case p.st.Blocked || p.st.Closed:
		return apdu.Response{Data: p.fci(), SW: SWBlocked}
	}
	return ok(p.fci())
}

// Process answers a command while the purse is selected. See the package
// comment and docs/transit.md for the commands and status words.
func (p *Purse) Process(cmd apdu.Command) (resp apdu.Response) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.st.Blocked || p.st.Closed {
		return sw(apdu.SWConditionsNotSatisfied)
	}
	switch cmd.INS {
	case InsReadBinary:
		return p.readBinary(cmd)
	case apdu.InsReadRecord:
		return p.readRecord(cmd)
	case apdu.InsGetChallenge:
		return p.getChallenge(cmd)
	case apdu.InsGetBalance:
		return p.getBalance(cmd)
	case apdu.InsInitializeTransaction:
		return p.initialize(cmd)
	case apdu.InsUpdateRecord:
		return p.updateCAPP(cmd)
	case apdu.InsDebitForPurchase:
		return p.debit(cmd)
	case apdu.InsCreditForLoad:
		return p.credit(cmd)
	case apdu.InsGetTransactionProof:
		return p.transactionProof(cmd)
	case apdu.InsApplicationBlock:
		return p.block(cmd)
	}
	return sw(apdu.SWINSNotSupported)
}

func (p *Purse) random4() ([4]byte, error) {
	var r [4]byte
	src := p.Rand
	if src == nil {
		src = rand.Reader
	}
	_, err := io.ReadFull(src, r[:])
	return r, err
}

// save writes the state; on failure it restores old (volatile state is
// left as it was) so that nothing half-done survives.
func (p *Purse) save(old state) bool {
	b, err := json.Marshal(p.st)
	if err == nil {
		err = p.store.SetAppletData(p.name, b)
	}
	if err != nil {
		p.st = old
		return false
	}
	return true
}

// snapshot returns a deep enough copy of the state to restore on failure.
func (p *Purse) snapshot() state {
	s := p.st
	s.Log = append([][]byte(nil), p.st.Log...)
	s.Trip = bytes.Clone(p.st.Trip)
	return s
}

func (p *Purse) readBinary(cmd apdu.Command) apdu.Response {
	if cmd.CLA != 0x00 {
		return sw(apdu.SWCLANotSupported)
	}
	if cmd.P1&0x80 == 0 {
		return sw(apdu.SWNoCurrentEF)
	}
	var file []byte
	switch cmd.P1 & 0x1F {
	case SFIPublic:
		file = p.st.Public
	case SFIManagement:
		file = p.st.Management
	default:
		return sw(apdu.SWFileNotFound)
	}
	off := int(cmd.P2)
	if off >= len(file) {
		return sw(apdu.SWWrongP1P2)
	}
	data := file[off:]
	if cmd.Ne > 0 && cmd.Ne < len(data) {
		data = data[:cmd.Ne]
	}
	return ok(bytes.Clone(data))
}

func (p *Purse) readRecord(cmd apdu.Command) apdu.Response {
	if cmd.CLA != 0x00 {
		return sw(apdu.SWCLANotSupported)
	}
	if cmd.P2&0x07 != 0x04 || cmd.P1 == 0 {
		return sw(apdu.SWWrongP1P2Data)
	}
	n := int(cmd.P1)
	switch cmd.P2 >> 3 {
	case SFILog:
		if n > len(p.st.Log) {
			return sw(apdu.SWRecordNotFound)
		}
		return ok(bytes.Clone(p.st.Log[n-1]))
	case SFITrip:
		if n != 1 {
			return sw(apdu.SWRecordNotFound)
		}
		return ok(bytes.Clone(p.st.Trip))
	}
	return sw(apdu.SWFileNotFound)
}

func (p *Purse) getChallenge(cmd apdu.Command) apdu.Response {
	if cmd.CLA != 0x00 {
		return sw(apdu.SWCLANotSupported)
	}
	if cmd.P1 != 0 || cmd.P2 != 0 {
		return sw(apdu.SWWrongP1P2Data)
	}
	if cmd.Ne != 4 || len(cmd.Data) != 0 {
		return sw(apdu.SWWrongLength)
	}
	r, err := p.random4()
	if err != nil {
		return sw(apdu.SWExecutionError)
	}
	p.challenge = &r
	return ok(r[:])
}

func (p *Purse) getBalance(cmd apdu.Command) apdu.Response {
	switch {
	case cmd.CLA != 0x80:
		return sw(apdu.SWCLANotSupported)
	case cmd.P1 != 0x00 || cmd.P2 != 0x02:
		return sw(apdu.SWWrongP1P2Data)
	case len(cmd.Data) != 0 || cmd.Ne != 4:
		return sw(apdu.SWWrongLength)
	}
	return ok(binary.BigEndian.AppendUint32(nil, uint32(int32(p.st.Balance))))
}

// initialize answers INITIALIZE FOR LOAD (P1 00), PURCHASE (01) and CAPP
// PURCHASE (03), P2 02 (electronic purse), data key index(1) ||
// amount(4) || terminal number(6).
func (p *Purse) initialize(cmd apdu.Command) apdu.Response {
	p.sess = nil
	switch {
	case cmd.CLA != 0x80:
		return sw(apdu.SWCLANotSupported)
	case cmd.P2 != 0x02 || (cmd.P1 != 0x00 && cmd.P1 != 0x01 && cmd.P1 != 0x03):
		return sw(apdu.SWWrongP1P2Data)
	case len(cmd.Data) != 11:
		return sw(apdu.SWWrongLength)
	case cmd.Data[0] != 0x01:
		return sw(apdu.SWPurseKeyIndexUnsupported)
	}
	s := &session{amount: binary.BigEndian.Uint32(cmd.Data[1:])}
	copy(s.terminal[:], cmd.Data[5:11])
	r, err := p.random4()
	if err != nil {
		return sw(apdu.SWExecutionError)
	}
	s.random = r
	bal := p.st.Balance
	if s.amount > 0x7FFFFFFF {
		return sw(apdu.SWWrongData)
	}
	amt := int64(s.amount)
	var out []byte
	out = binary.BigEndian.AppendUint32(out, uint32(int32(bal)))
	if cmd.P1 == 0x00 { // load
		if bal+amt > p.st.Cap {
			return sw(apdu.SWWrongData)
		}
		if p.st.OnlineATC == 0xFFFF {
			return sw(apdu.SWConditionsNotSatisfied)
		}
		s.kind, s.atc = TypeLoad, p.st.OnlineATC
		sk, err := LoadSessionKey(p.alg, p.st.DLK, s.random, s.atc)
		if err != nil {
			return sw(apdu.SWExecutionError)
		}
		m1, err := SessionMAC(p.alg, sk, LoadMAC1Data(int32(bal), s.amount, s.terminal))
		if err != nil {
			return sw(apdu.SWExecutionError)
		}
		s.seslk = sk
		out = binary.BigEndian.AppendUint16(out, s.atc)
		out = append(out, p.st.KeyVersion, AlgID(p.alg))
		out = append(out, s.random[:]...)
		out = append(out, m1[:]...)
		p.sess = s
		return ok(out)
	}
	if bal-amt < -p.st.Overdraft {
		return sw(apdu.SWPurseInsufficientFunds)
	}
	if p.st.OfflineATC == 0xFFFF {
		return sw(apdu.SWConditionsNotSatisfied)
	}
	s.kind, s.atc = TypePurchase, p.st.OfflineATC
	if cmd.P1 == 0x03 {
		s.kind = TypeCAPP
	}
	out = binary.BigEndian.AppendUint16(out, s.atc)
	od := uint32(p.st.Overdraft)
	out = append(out, byte(od>>16), byte(od>>8), byte(od))
	out = append(out, p.st.KeyVersion, AlgID(p.alg))
	out = append(out, s.random[:]...)
	p.sess = s
	return ok(out)
}

// updateCAPP stages UPDATE CAPP DATA CACHE (80 DC 01 B8, the trip
// record) for the DEBIT FOR CAPP PURCHASE that follows.
func (p *Purse) updateCAPP(cmd apdu.Command) apdu.Response {
	switch {
	case cmd.CLA != 0x80:
		return sw(apdu.SWCLANotSupported)
	case p.sess == nil || p.sess.kind != TypeCAPP:
		return sw(apdu.SWConditionsNotSatisfied)
	case cmd.P2 != SFITrip<<3 || cmd.P1 != 0x01:
		return sw(apdu.SWRecordNotFound)
	case len(cmd.Data) != TripSize:
		return sw(apdu.SWWrongLength)
	}
	p.sess.trip = bytes.Clone(cmd.Data)
	return sw(apdu.SWSuccess)
}

// debit answers DEBIT FOR (CAPP) PURCHASE (80 54 01 00), data terminal
// sequence(4) || date(4) || time(3) || MAC1(4), with TAC(4) || MAC2(4).
func (p *Purse) debit(cmd apdu.Command) apdu.Response {
	s := p.sess
	switch {
	case cmd.CLA != 0x80:
		return sw(apdu.SWCLANotSupported)
	case cmd.P1 != 0x01 || cmd.P2 != 0x00:
		return sw(apdu.SWWrongP1P2Data)
	case s == nil || (s.kind != TypePurchase && s.kind != TypeCAPP):
		return sw(apdu.SWConditionsNotSatisfied)
	case len(cmd.Data) != 15:
		return sw(apdu.SWWrongLength)
	}
	p.sess = nil
	seq := binary.BigEndian.Uint32(cmd.Data)
	var dt [7]byte
	copy(dt[:], cmd.Data[4:11])
	var mac1 [4]byte
	copy(mac1[:], cmd.Data[11:15])
	sk, err := PurchaseSessionKey(p.alg, p.st.DPK, s.random, s.atc, seq)
	if err != nil {
		return sw(apdu.SWExecutionError)
	}
	want, err := SessionMAC(p.alg, sk, PurchaseMAC1Data(s.amount, s.kind, s.terminal, dt))
	if err != nil || !Equal4(want, mac1) {
		return sw(apdu.SWPurseMACInvalid)
	}
	newBal := p.st.Balance - int64(s.amount)
	if newBal < -p.st.Overdraft {
		return sw(apdu.SWPurseInsufficientFunds)
	}
	tac, err := TAC(p.alg, p.st.DTK, PurchaseTACData(s.amount, s.kind, s.terminal, seq, dt, s.atc, int32(newBal)))
	if err != nil {
		return sw(apdu.SWExecutionError)
	}
	mac2, err := SessionMAC(p.alg, sk, binary.BigEndian.AppendUint32(nil, s.amount))
	if err != nil {
		return sw(apdu.SWExecutionError)
	}
	old := p.snapshot()
	p.st.Balance = newBal
	p.st.OfflineATC = s.atc + 1
	p.addLog(LogRecord{ATC: s.atc, Overdraft: uint32(p.st.Overdraft), Amount: s.amount, Type: s.kind, Terminal: s.terminal, DateTime: dt})
	if s.trip != nil {
		p.st.Trip = s.trip
	}
	p.st.LastOffline = &proof{Type: s.kind, ATC: s.atc, TAC: tac, MAC2: mac2}
	if !p.save(old) {
		return sw(SWMemory)
	}
	return ok(append(tac[:], mac2[:]...))
}

func (p *Purse) addLog(r LogRecord) {
	p.st.Log = append([][]byte{r.Marshal()}, p.st.Log...)
	if len(p.st.Log) > LogRecords {
		p.st.Log = p.st.Log[:LogRecords]
	}
}

// credit answers CREDIT FOR LOAD (80 52 00 00), data date(4) || time(3)
// || MAC2(4), with the TAC(4).
func (p *Purse) credit(cmd apdu.Command) apdu.Response {
	s := p.sess
	switch {
	case cmd.CLA != 0x80:
		return sw(apdu.SWCLANotSupported)
	case cmd.P1 != 0x00 || cmd.P2 != 0x00:
		return sw(apdu.SWWrongP1P2Data)
	case s == nil || s.kind != TypeLoad:
		return sw(apdu.SWConditionsNotSatisfied)
	case len(cmd.Data) != 11:
		return sw(apdu.SWWrongLength)
	}
	p.sess = nil
	var dt [7]byte
	copy(dt[:], cmd.Data[:7])
	var mac2 [4]byte
	copy(mac2[:], cmd.Data[7:11])
	want, err := SessionMAC(p.alg, s.seslk, LoadMAC2Data(s.amount, s.terminal, dt))
	if err != nil || !Equal4(want, mac2) {
		return sw(apdu.SWPurseMACInvalid)
	}
	newBal := p.st.Balance + int64(s.amount)
	if newBal > p.st.Cap {
		return sw(apdu.SWWrongData)
	}
	tac, err := TAC(p.alg, p.st.DTK, LoadTACData(int32(newBal), s.atc, s.amount, s.terminal, dt))
	if err != nil {
		return sw(apdu.SWExecutionError)
	}
	old := p.snapshot()
	p.st.Balance = newBal
	p.st.OnlineATC = s.atc + 1
	p.addLog(LogRecord{ATC: s.atc, Overdraft: uint32(p.st.Overdraft), Amount: s.amount, Type: TypeLoad, Terminal: s.terminal, DateTime: dt})
	p.st.LastOnline = &proof{Type: TypeLoad, ATC: s.atc, TAC: tac}
	if !p.save(old) {
		return sw(SWMemory)
	}
	return ok(tac[:])
}

// transactionProof answers GET TRANSACTION PROOF (80 5A 00 type), data
// the counter of the transaction (2), with TAC(4) || MAC2(4) (MAC2 is zero
// for a load).
func (p *Purse) transactionProof(cmd apdu.Command) apdu.Response {
	switch {
	case cmd.CLA != 0x80:
		return sw(apdu.SWCLANotSupported)
	case cmd.P1 != 0x00 || (cmd.P2 != TypeLoad && cmd.P2 != TypePurchase && cmd.P2 != TypeCAPP):
		return sw(apdu.SWWrongP1P2Data)
	case len(cmd.Data) != 2:
		return sw(apdu.SWWrongLength)
	}
	atc := binary.BigEndian.Uint16(cmd.Data)
	pr := p.st.LastOffline
	if cmd.P2 == TypeLoad {
		pr = p.st.LastOnline
	}
	if pr == nil || pr.ATC != atc || pr.Type != cmd.P2 {
		return sw(SWNoProof)
	}
	return ok(append(pr.TAC[:], pr.MAC2[:]...))
}

// block answers APPLICATION BLOCK (84 1E 00 P2 04 MAC), after GET
// CHALLENGE, with the MAC of MaintenanceMAC.
func (p *Purse) block(cmd apdu.Command) apdu.Response {
	ch := p.challenge
	p.challenge = nil
	switch {
	case cmd.CLA != 0x84:
		return sw(apdu.SWCLANotSupported)
	case cmd.P1 != 0x00 || (cmd.P2 != 0x00 && cmd.P2 != 0x01):
		return sw(apdu.SWWrongP1P2Data)
	case len(cmd.Data) != 4:
		return sw(apdu.SWWrongLength)
	case ch == nil:
		return sw(apdu.SWConditionsNotSatisfied)
	}
	want, err := MaintenanceMAC(p.alg, p.st.DAMK, *ch, cmd.P2)
	var got [4]byte
	copy(got[:], cmd.Data)
	if err != nil || !Equal4(want, got) {
		return sw(SWBadBlockMAC)
	}
	old := p.snapshot()
	p.st.Blocked = true
	if !p.save(old) {
		return sw(SWMemory)
	}
	return sw(apdu.SWSuccess)
}

// Info is what the phone's wallet app shows of a purse.
type Info struct {
	City       string
	Number     CardNumber
	Balance    int64
	OnlineATC  uint16
	OfflineATC uint16
	Overdraft  int64
	Blocked    bool
	Closed     bool
	Express    bool
	Public     Public
	Trip       Trip
	Log        []LogRecord
}

// Info returns the purse's state as the wallet app shows it. It fails
// with fault.Invalid if a file is damaged.
func (p *Purse) Info() (Info, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n, err := ParseCardNumber(p.st.Number)
	if err != nil {
		return Info{}, err
	}
	in := Info{City: p.st.City, Number: n, Balance: p.st.Balance, OnlineATC: p.st.OnlineATC, OfflineATC: p.st.OfflineATC,
		Overdraft: p.st.Overdraft, Blocked: p.st.Blocked, Closed: p.st.Closed, Express: !p.st.ExpressOff}
	if in.Public, err = ParsePublic(p.st.Public); err != nil {
		return Info{}, err
	}
	if in.Trip, err = ParseTrip(p.st.Trip); err != nil {
		return Info{}, err
	}
	for _, b := range p.st.Log {
		r, err := ParseLogRecord(b)
		if err != nil {
			return Info{}, err
		}
		in.Log = append(in.Log, r)
	}
	return in, nil
}

// SetExpress turns express mode on or off for this card and saves it. It
// fails with fault.Unavailable "se_store" if it cannot be saved.
func (p *Purse) SetExpress(on bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.snapshot()
	p.st.ExpressOff = !on
	if !p.save(old) {
		return fault.E(fault.Unavailable, "se_store", "could not save the transit card")
	}
	return nil
}

// Closure is the purse's last word before it leaves the phone (refund or
// move): its balance and counters, signed with its TAC key over the
// operator's challenge.
type Closure struct {
	Number     CardNumber
	Balance    int64
	OnlineATC  uint16
	OfflineATC uint16
	MAC        [4]byte
}

// Close closes the purse for good (it answers SELECT with 6283 from then
// on) and returns its closure over the operator's challenge. It is the
// wallet app's command inside the phone, never an NFC one. Closing a
// closed purse returns the same balance and counters under the new
// challenge, so a lost answer can be asked for again. It fails with
// fault.Unavailable "se_store" if the purse cannot be saved.
func (p *Purse) Close(challenge [8]byte) (Closure, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sess = nil
	n, err := ParseCardNumber(p.st.Number)
	if err != nil {
		return Closure{}, err
	}
	if !p.st.Closed {
		old := p.snapshot()
		p.st.Closed = true
		if !p.save(old) {
			return Closure{}, fault.E(fault.Unavailable, "se_store", "could not save the transit card")
		}
	}
	c := Closure{Number: n, Balance: p.st.Balance, OnlineATC: p.st.OnlineATC, OfflineATC: p.st.OfflineATC}
	c.MAC, err = TAC(p.alg, p.st.DTK, CloseData(challenge, n, int32(c.Balance), c.OnlineATC, c.OfflineATC))
	if err != nil {
		return Closure{}, fault.Wrap(err, fault.Internal, "se_crypto", "sign the closure")
	}
	return c, nil
}

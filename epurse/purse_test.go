package epurse_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/apdu"
	"github.com/tapwallet/tapwallet/applet"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/epurse/epursetest"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPublishedVector checks the session key, MAC1 and MAC2 against the
// worked PBOC purse purchase example published at
// https://www.cnblogs.com/ttss/p/4280430.html (purchase key
// 11223344556677888877665544332211, random 11223344, offline counter 0000,
// terminal sequence ...0001, amount 00001000, terminal 001122334455,
// 2012-02-29 13:51:00).
func TestPublishedVector(t *testing.T) {
	dpk := unhex(t, "11223344556677888877665544332211")
	sk, err := epurse.PurchaseSessionKey(emv.TDES, dpk, [4]byte{0x11, 0x22, 0x33, 0x44}, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hex.EncodeToString(sk), "003238abc57659dd"; got != want {
		t.Errorf("session key: got %s, want %s", got, want)
	}
	term := [6]byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}
	dt := [7]byte{0x20, 0x12, 0x02, 0x29, 0x13, 0x51, 0x00}
	m1, err := epurse.SessionMAC(emv.TDES, sk, epurse.PurchaseMAC1Data(0x1000, epurse.TypePurchase, term, dt))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hex.EncodeToString(m1[:]), "f15cab75"; got != want {
		t.Errorf("MAC1: got %s, want %s", got, want)
	}
	m2, err := epurse.SessionMAC(emv.TDES, sk, []byte{0, 0, 0x10, 0})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hex.EncodeToString(m2[:]), "56988a13"; got != want {
		t.Errorf("MAC2: got %s, want %s", got, want)
	}
}

// terminal plays the gate's side of the purse protocol with the test
// master keys.
type terminal struct {
	t    *testing.T
	p    *epurse.Purse
	alg  emv.Alg
	mk   epurse.MasterKeys
	no   epurse.CardNumber
	term [6]byte
	seq  uint32
	at   time.Time
}

func newTerminal(t *testing.T, p *epurse.Purse, city string) *terminal {
	info, err := p.Info()
	if err != nil {
		t.Fatal(err)
	}
	alg := emv.TDES
	if city == "shenzhen" || city == "wuhan" {
		alg = emv.SM4
	}
	return &terminal{t: t, p: p, alg: alg, mk: epursetest.MasterKeys(city), no: info.Number,
		term: epurse.TerminalNumber(2, 113, 7), seq: 41, at: time.Date(2016, 4, 6, 8, 30, 0, 0, epurse.China)}
}

func (tm *terminal) send(c apdu.Command) apdu.Response {
	tm.t.Helper()
	var r apdu.Response
	if c.INS == apdu.InsSelect {
		r = tm.p.Select(c.Data, false)
	} else {
		r = tm.p.Process(c)
	}
	return r
}

func initCmd(p1 byte, amount uint32, term [6]byte) apdu.Command {
	d := []byte{0x01}
	d = binary.BigEndian.AppendUint32(d, amount)
	d = append(d, term[:]...)
	ne := 15
	if p1 == 0 {
		ne = 16
	}
	return apdu.Command{CLA: 0x80, INS: apdu.InsInitializeTransaction, P1: p1, P2: 0x02, Data: d, Ne: ne}
}

type purchase struct {
	balance int32
	atc     uint16
	random  [4]byte
	tac     [4]byte
	mac2    [4]byte
	sw      apdu.StatusWord
}

// purchase runs INITIALIZE (CAPP if trip != nil), UPDATE CAPP DATA CACHE
// and DEBIT; badMAC1 corrupts MAC1.
func (tm *terminal) purchase(amount uint32, trip []byte, badMAC1 bool) purchase {
	tm.t.Helper()
	p1 := byte(0x01)
	typ := epurse.TypePurchase
	if trip != nil {
		p1, typ = 0x03, epurse.TypeCAPP
	}
	r := tm.send(initCmd(p1, amount, tm.term))
	if r.SW != apdu.SWSuccess {
		return purchase{sw: r.SW}
	}
	if len(r.Data) != 15 {
		tm.t.Fatalf("INITIALIZE answer: got %d bytes, want 15", len(r.Data))
	}
	var pr purchase
	pr.balance = int32(binary.BigEndian.Uint32(r.Data))
	pr.atc = binary.BigEndian.Uint16(r.Data[4:])
	copy(pr.random[:], r.Data[11:15])
	if got := epurse.AlgOf(r.Data[10]); got != tm.alg {
		tm.t.Fatalf("algorithm: got %v, want %v", got, tm.alg)
	}
	if trip != nil {
		r = tm.send(apdu.Command{CLA: 0x80, INS: 0xDC, P1: 0x01, P2: epurse.SFITrip << 3, Data: trip})
		if r.SW != apdu.SWSuccess {
			return purchase{sw: r.SW}
		}
	}
	keys, err := tm.mk.Card(tm.alg, tm.no)
	if err != nil {
		tm.t.Fatal(err)
	}
	tm.seq++
	sk, err := epurse.PurchaseSessionKey(tm.alg, keys.DPK.Reveal(), pr.random, pr.atc, tm.seq)
	if err != nil {
		tm.t.Fatal(err)
	}
	dt := epurse.DateTime(tm.at)
	m1, _ := epurse.SessionMAC(tm.alg, sk, epurse.PurchaseMAC1Data(amount, typ, tm.term, dt))
	if badMAC1 {
		m1[0] ^= 1
	}
	d := binary.BigEndian.AppendUint32(nil, tm.seq)
	d = append(d, dt[:]...)
	d = append(d, m1[:]...)
	r = tm.send(apdu.Command{CLA: 0x80, INS: apdu.InsDebitForPurchase, P1: 0x01, P2: 0x00, Data: d, Ne: 8})
	pr.sw = r.SW
	if r.SW != apdu.SWSuccess {
		return pr
	}
	copy(pr.tac[:], r.Data[:4])
	copy(pr.mac2[:], r.Data[4:8])
	wantMAC2, _ := epurse.SessionMAC(tm.alg, sk, binary.BigEndian.AppendUint32(nil, amount))
	if !epurse.Equal4(wantMAC2, pr.mac2) {
		tm.t.Errorf("MAC2 does not verify")
	}
	wantTAC, _ := epurse.TAC(tm.alg, keys.DTK.Reveal(), epurse.PurchaseTACData(amount, typ, tm.term, tm.seq, dt, pr.atc, pr.balance-int32(amount)))
	if !epurse.Equal4(wantTAC, pr.tac) {
		tm.t.Errorf("TAC does not verify")
	}
	return pr
}

func balance(t *testing.T, p *epurse.Purse) int64 {
	t.Helper()
	r := p.Process(apdu.Command{CLA: 0x80, INS: apdu.InsGetBalance, P2: 0x02, Ne: 4})
	if r.SW != apdu.SWSuccess || len(r.Data) != 4 {
		t.Fatalf("GET BALANCE: got %v", r)
	}
	return int64(int32(binary.BigEndian.Uint32(r.Data)))
}

func TestPurchase(t *testing.T) {
	for _, city := range []string{"shanghai", "shenzhen"} { // TDES and SM4
		t.Run(city, func(t *testing.T) {
			p, _ := epursetest.Purse(t, city, 1, 5000)
			tm := newTerminal(t, p, city)
			if r := p.Select(p.AIDs()[0], false); r.SW != apdu.SWSuccess {
				t.Fatalf("SELECT: got %v, want 9000", r.SW)
			}
			pr := tm.purchase(300, nil, false)
			if pr.sw != apdu.SWSuccess {
				t.Fatalf("purchase: got %v, want 9000", pr.sw)
			}
			if got := balance(t, p); got != 4700 {
				t.Errorf("balance: got %d, want 4700", got)
			}
			pr2 := tm.purchase(0, epurse.Trip{State: epurse.TripInside, Line: 2, Station: 113}.Marshal(), false)
			if pr2.sw != apdu.SWSuccess || pr2.atc != pr.atc+1 {
				t.Fatalf("CAPP purchase: got %v at counter %d, want 9000 at %d", pr2.sw, pr2.atc, pr.atc+1)
			}
			info, _ := p.Info()
			if info.Trip.State != epurse.TripInside || info.Trip.Station != 113 {
				t.Errorf("trip record: got %+v, want inside at 113", info.Trip)
			}
			if len(info.Log) != 2 || info.Log[0].Type != epurse.TypeCAPP || info.Log[1].Amount != 300 {
				t.Errorf("log: got %+v, want the CAPP record first, then the 300 fen purchase", info.Log)
			}
			// The proof of the last debit, for a tap pulled away.
			r := p.Process(apdu.Command{CLA: 0x80, INS: apdu.InsGetTransactionProof, P2: epurse.TypeCAPP, Data: []byte{0, byte(pr2.atc)}, Ne: 8})
			if r.SW != apdu.SWSuccess || !bytes.Equal(r.Data, append(pr2.tac[:], pr2.mac2[:]...)) {
				t.Errorf("GET TRANSACTION PROOF: got %v, want the TAC and MAC2 of the debit", r)
			}
			r = p.Process(apdu.Command{CLA: 0x80, INS: apdu.InsGetTransactionProof, P2: epurse.TypeCAPP, Data: []byte{0, byte(pr.atc)}, Ne: 8})
			if r.SW != epurse.SWNoProof {
				t.Errorf("proof of an older debit: got %v, want 9406", r.SW)
			}
		})
	}
}

func TestPurchaseRefused(t *testing.T) {
	tests := []struct {
		name     string
		balance  int64
		amount   uint32
		badMAC   bool
		wantSW   apdu.StatusWord
		wantLeft int64
	}{
		{"bad MAC1", 1000, 300, true, apdu.SWPurseMACInvalid, 1000},
		{"insufficient funds", 200, 300, false, apdu.SWPurseInsufficientFunds, 200},
		{"overdraft within limit", 200, 600, false, apdu.SWSuccess, -400},
		{"beyond the overdraft", 200, 701, false, apdu.SWPurseInsufficientFunds, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			city := "beijing" // no overdraft
			if tt.name == "overdraft within limit" || tt.name == "beyond the overdraft" {
				city = "shanghai" // ¥5 overdraft
			}
			p, _ := epursetest.Purse(t, city, 2, tt.balance)
			tm := newTerminal(t, p, city)
			p.Select(p.AIDs()[0], false)
			if got := tm.purchase(tt.amount, nil, tt.badMAC).sw; got != tt.wantSW {
				t.Errorf("got %v, want %v", got, tt.wantSW)
			}
			if got := balance(t, p); got != tt.wantLeft {
				t.Errorf("balance: got %d, want %d", got, tt.wantLeft)
			}
		})
	}
}

// TestAtomic checks that a debit whose save fails leaves neither the
// balance nor the trip record changed.
func TestAtomic(t *testing.T) {
	p, st := epursetest.Purse(t, "beijing", 3, 1000)
	tm := newTerminal(t, p, "beijing")
	st.Fail = true
	pr := tm.purchase(300, epurse.Trip{State: epurse.TripInside, Station: 112}.Marshal(), false)
	if pr.sw != epurse.SWMemory {
		t.Fatalf("got %v, want 6581", pr.sw)
	}
	st.Fail = false
	info, _ := p.Info()
	if info.Balance != 1000 || info.Trip.State != epurse.TripNone || info.OfflineATC != 0 || len(info.Log) != 0 {
		t.Errorf("after a failed save: got balance %d, trip %+v, counter %d, %d log records; want nothing changed",
			info.Balance, info.Trip, info.OfflineATC, len(info.Log))
	}
	again, err := epurse.Open(st, "beijing")
	if err != nil {
		t.Fatal(err)
	}
	if got := balance(t, again); got != 1000 {
		t.Errorf("reopened balance: got %d, want 1000", got)
	}
}

// TestLoad runs a signed load as the operator's host would check it.
func TestLoad(t *testing.T) {
	p, st := epursetest.Purse(t, "wuhan", 4, 100)
	tm := newTerminal(t, p, "wuhan")
	keys, _ := tm.mk.Card(tm.alg, tm.no)
	term := epurse.TerminalNumber(0, 0, 1)
	r := p.Process(initCmd(0x00, 5000, term))
	if r.SW != apdu.SWSuccess || len(r.Data) != 16 {
		t.Fatalf("INITIALIZE FOR LOAD: got %v", r)
	}
	bal := int32(binary.BigEndian.Uint32(r.Data))
	atc := binary.BigEndian.Uint16(r.Data[4:])
	var rnd, mac1 [4]byte
	copy(rnd[:], r.Data[8:12])
	copy(mac1[:], r.Data[12:16])
	sk, _ := epurse.LoadSessionKey(tm.alg, keys.DLK.Reveal(), rnd, atc)
	want, _ := epurse.SessionMAC(tm.alg, sk, epurse.LoadMAC1Data(bal, 5000, term))
	if !epurse.Equal4(want, mac1) {
		t.Fatalf("the host cannot verify MAC1")
	}
	dt := epurse.DateTime(tm.at)
	mac2, _ := epurse.SessionMAC(tm.alg, sk, epurse.LoadMAC2Data(5000, term, dt))
	bad := mac2
	bad[3] ^= 0xFF
	credit := func(m [4]byte) apdu.Response {
		return p.Process(apdu.Command{CLA: 0x80, INS: apdu.InsCreditForLoad, Data: append(dt[:], m[:]...), Ne: 4})
	}
	if r := credit(bad); r.SW != apdu.SWPurseMACInvalid {
		t.Errorf("CREDIT with a bad MAC2: got %v, want 9302", r.SW)
	}
	if r := credit(mac2); r.SW != apdu.SWConditionsNotSatisfied {
		t.Errorf("CREDIT after the session ended: got %v, want 6985", r.SW)
	}
	// A new session with a new random: the old MAC2 is worthless.
	r = p.Process(initCmd(0x00, 5000, term))
	copy(rnd[:], r.Data[8:12])
	sk, _ = epurse.LoadSessionKey(tm.alg, keys.DLK.Reveal(), rnd, atc)
	mac2, _ = epurse.SessionMAC(tm.alg, sk, epurse.LoadMAC2Data(5000, term, dt))
	r = credit(mac2)
	if r.SW != apdu.SWSuccess {
		t.Fatalf("CREDIT FOR LOAD: got %v, want 9000", r.SW)
	}
	wantTAC, _ := epurse.TAC(tm.alg, keys.DTK.Reveal(), epurse.LoadTACData(5100, atc, 5000, term, dt))
	var tac [4]byte
	copy(tac[:], r.Data)
	if !epurse.Equal4(wantTAC, tac) {
		t.Errorf("load TAC does not verify")
	}
	again, _ := epurse.Open(st, "wuhan")
	info, _ := again.Info()
	if info.Balance != 5100 || info.OnlineATC != atc+1 || info.OfflineATC != 0 {
		t.Errorf("after the load: got balance %d, online %d, offline %d; want 5100, %d, 0", info.Balance, info.OnlineATC, info.OfflineATC, atc+1)
	}
	if r := p.Process(apdu.Command{CLA: 0x80, INS: apdu.InsGetTransactionProof, P2: epurse.TypeLoad, Data: []byte{0, byte(atc)}, Ne: 8}); r.SW != apdu.SWSuccess || !bytes.Equal(r.Data[:4], tac[:]) {
		t.Errorf("proof of the load: got %v, want its TAC", r)
	}
	// Over the ¥1,000 cap.
	if r := p.Process(initCmd(0x00, 95000, term)); r.SW != apdu.SWWrongData {
		t.Errorf("a load over the cap: got %v, want 6A80", r.SW)
	}
}

func TestBlockAndExpress(t *testing.T) {
	p, st := epursetest.Purse(t, "guangzhou", 5, 1000)
	tm := newTerminal(t, p, "guangzhou")
	keys, _ := tm.mk.Card(tm.alg, tm.no)
	aid := p.AIDs()[0]
	if r := p.Process(apdu.Command{CLA: 0x84, INS: apdu.InsApplicationBlock, Data: []byte{1, 2, 3, 4}}); r.SW != apdu.SWConditionsNotSatisfied {
		t.Errorf("BLOCK without a challenge: got %v, want 6985", r.SW)
	}
	block := func(corrupt bool) apdu.StatusWord {
		r := p.Process(apdu.Command{INS: apdu.InsGetChallenge, Ne: 4})
		var ch [4]byte
		copy(ch[:], r.Data)
		m, _ := epurse.MaintenanceMAC(tm.alg, keys.DAMK.Reveal(), ch, 0x00)
		if corrupt {
			m[0] ^= 1
		}
		return p.Process(apdu.Command{CLA: 0x84, INS: apdu.InsApplicationBlock, Data: m[:]}).SW
	}
	if got := block(true); got != epurse.SWBadBlockMAC {
		t.Errorf("BLOCK with a bad MAC: got %v, want 6988", got)
	}
	if got := block(false); got != apdu.SWSuccess {
		t.Fatalf("BLOCK: got %v, want 9000", got)
	}
	if r := p.Select(aid, false); r.SW != epurse.SWBlocked || len(r.Data) == 0 {
		t.Errorf("SELECT of a blocked card: got %v, want 6283 with the FCI", r)
	}
	again, _ := epurse.Open(st, "guangzhou")
	if r := again.Select(aid, false); r.SW != epurse.SWBlocked {
		t.Errorf("SELECT of a blocked card after a restart: got %v, want 6283", r.SW)
	}

	q, _ := epursetest.Purse(t, "guangzhou", 6, 1000)
	locked := true
	q.Locked = func() bool { return locked }
	d := applet.NewDispatcher(q)
	sel := apdu.Select(q.AIDs()[0])
	if r := d.Transmit(sel); r.SW != apdu.SWSuccess {
		t.Errorf("express on, locked: got %v, want 9000", r.SW)
	}
	if err := q.SetExpress(false); err != nil {
		t.Fatal(err)
	}
	if r := d.Transmit(sel); r.SW != apdu.SWConditionsNotSatisfied {
		t.Errorf("express off, locked: got %v, want 6985", r.SW)
	}
	locked = false
	if r := d.Transmit(sel); r.SW != apdu.SWSuccess {
		t.Errorf("express off, unlocked: got %v, want 9000", r.SW)
	}
}

// TestBadCommands: every bad command gets its status word.
func TestBadCommands(t *testing.T) {
	p, _ := epursetest.Purse(t, "chongqing", 7, 1000)
	term := epurse.TerminalNumber(1, 101, 1)
	goodInit := initCmd(0x01, 100, term)
	tests := []struct {
		name string
		cmd  apdu.Command
		want apdu.StatusWord
	}{
		{"unknown instruction", apdu.Command{CLA: 0x80, INS: 0x99}, apdu.SWINSNotSupported},
		{"GET BALANCE wrong class", apdu.Command{CLA: 0x00, INS: apdu.InsGetBalance, P2: 2, Ne: 4}, apdu.SWCLANotSupported},
		{"GET BALANCE wrong P2", apdu.Command{CLA: 0x80, INS: apdu.InsGetBalance, P2: 1, Ne: 4}, apdu.SWWrongP1P2Data},
		{"GET BALANCE wrong Le", apdu.Command{CLA: 0x80, INS: apdu.InsGetBalance, P2: 2, Ne: 2}, apdu.SWWrongLength},
		{"INITIALIZE short", apdu.Command{CLA: 0x80, INS: apdu.InsInitializeTransaction, P1: 1, P2: 2, Data: []byte{1, 0, 0}}, apdu.SWWrongLength},
		{"INITIALIZE key index 2", apdu.Command{CLA: 0x80, INS: apdu.InsInitializeTransaction, P1: 1, P2: 2, Data: append([]byte{2}, goodInit.Data[1:]...)}, apdu.SWPurseKeyIndexUnsupported},
		{"INITIALIZE for unload", apdu.Command{CLA: 0x80, INS: apdu.InsInitializeTransaction, P1: 5, P2: 2, Data: goodInit.Data}, apdu.SWWrongP1P2Data},
		{"DEBIT without INITIALIZE", apdu.Command{CLA: 0x80, INS: apdu.InsDebitForPurchase, P1: 1, Data: make([]byte, 15)}, apdu.SWConditionsNotSatisfied},
		{"CREDIT without INITIALIZE", apdu.Command{CLA: 0x80, INS: apdu.InsCreditForLoad, Data: make([]byte, 11)}, apdu.SWConditionsNotSatisfied},
		{"UPDATE CAPP outside a CAPP purchase", apdu.Command{CLA: 0x80, INS: 0xDC, P1: 1, P2: 0xB8, Data: make([]byte, 48)}, apdu.SWConditionsNotSatisfied},
		{"READ RECORD of an empty log", apdu.ReadRecord(epurse.SFILog, 1), apdu.SWRecordNotFound},
		{"READ RECORD trip record 2", apdu.ReadRecord(epurse.SFITrip, 2), apdu.SWRecordNotFound},
		{"READ RECORD unknown file", apdu.ReadRecord(3, 1), apdu.SWFileNotFound},
		{"READ RECORD record 0", apdu.Command{INS: apdu.InsReadRecord, P1: 0, P2: 0xC4}, apdu.SWWrongP1P2Data},
		{"READ BINARY unknown file", apdu.Command{INS: epurse.InsReadBinary, P1: 0x81}, apdu.SWFileNotFound},
		{"READ BINARY past the end", apdu.Command{INS: epurse.InsReadBinary, P1: 0x95, P2: 40}, apdu.SWWrongP1P2},
		{"READ BINARY without SFI", apdu.Command{INS: epurse.InsReadBinary, P1: 0x00}, apdu.SWNoCurrentEF},
		{"GET TRANSACTION PROOF of nothing", apdu.Command{CLA: 0x80, INS: apdu.InsGetTransactionProof, P2: 6, Data: []byte{0, 0}}, epurse.SWNoProof},
		{"GET TRANSACTION PROOF bad type", apdu.Command{CLA: 0x80, INS: apdu.InsGetTransactionProof, P2: 7, Data: []byte{0, 0}}, apdu.SWWrongP1P2Data},
		{"GET CHALLENGE of 8", apdu.Command{INS: apdu.InsGetChallenge, Ne: 8}, apdu.SWWrongLength},
		{"APPLICATION BLOCK wrong class", apdu.Command{CLA: 0x80, INS: apdu.InsApplicationBlock, Data: make([]byte, 4)}, apdu.SWCLANotSupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Process(tt.cmd).SW; got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	// Reads that work.
	if r := p.Process(apdu.Command{INS: epurse.InsReadBinary, P1: 0x95, Ne: 256}); r.SW != apdu.SWSuccess || len(r.Data) != epurse.PublicSize {
		t.Errorf("READ BINARY public info: got %v", r)
	}
	if r := p.Process(apdu.ReadRecord(epurse.SFITrip, 1)); r.SW != apdu.SWSuccess || len(r.Data) != epurse.TripSize {
		t.Errorf("READ RECORD trip: got %v", r)
	}
	if r := p.Select([]byte{0xA0, 0, 0, 3, 0x33}, false); r.SW != apdu.SWFileNotFound {
		t.Errorf("SELECT another AID: got %v, want 6A82", r.SW)
	}
}

func TestClose(t *testing.T) {
	p, _ := epursetest.Purse(t, "beijing", 8, 1234)
	tm := newTerminal(t, p, "beijing")
	keys, _ := tm.mk.Card(tm.alg, tm.no)
	ch := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	c, err := p.Close(ch)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := epurse.TAC(tm.alg, keys.DTK.Reveal(), epurse.CloseData(ch, tm.no, 1234, 0, 0))
	if c.Balance != 1234 || !epurse.Equal4(want, c.MAC) {
		t.Errorf("closure: got balance %d, MAC ok %v; want 1234, true", c.Balance, epurse.Equal4(want, c.MAC))
	}
	if r := p.Select(p.AIDs()[0], false); r.SW != epurse.SWBlocked {
		t.Errorf("SELECT of a closed card: got %v, want 6283", r.SW)
	}
	if pr := tm.purchase(100, nil, false); pr.sw != apdu.SWConditionsNotSatisfied {
		t.Errorf("a purchase on a closed card: got %v, want 6985", pr.sw)
	}
}

func TestFiles(t *testing.T) {
	at := time.Date(2016, 4, 6, 23, 59, 58, 0, epurse.China)
	tr := epurse.Trip{State: epurse.TripInside, Mode: 1, Line: 2, Station: 113, EntryAt: at, Terminal: epurse.TerminalNumber(2, 113, 3),
		Month: 201604, MonthSpend: 12345, LastMode: 2, LastAt: at.Add(-time.Hour), LastFare: 200}
	got, err := epurse.ParseTrip(tr.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if !got.EntryAt.Equal(tr.EntryAt) || !got.LastAt.Equal(tr.LastAt) {
		t.Errorf("trip times: got %v, %v; want %v, %v", got.EntryAt, got.LastAt, tr.EntryAt, tr.LastAt)
	}
	got.EntryAt, got.LastAt, tr.EntryAt, tr.LastAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if got != tr {
		t.Errorf("trip round trip: got %+v, want %+v", got, tr)
	}
	if _, err := epurse.ParseTrip(append([]byte{1, 1, 1}, make([]byte, 45)...)); err != nil {
		t.Errorf("a record with zero times: got %v, want nil", err)
	}
	bad := tr.Marshal()
	bad[20] = 0xAB
	if _, err := epurse.ParseTrip(bad); err == nil {
		t.Errorf("a non-BCD month: got nil error, want bad_trip_record")
	}
	if n, err := epurse.ParseCardNumber("0021010000000042"); err != nil || n.String() != "0021010000000042" {
		t.Errorf("card number: got %v, %v", n, err)
	}
	if _, err := epurse.ParseCardNumber("00210100000000x2"); err == nil {
		t.Errorf("a card number with a letter: got nil error")
	}
}

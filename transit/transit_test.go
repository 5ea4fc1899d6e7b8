package transit_test

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/apdu"
	"github.com/tapwallet/tapwallet/applet"
	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/fare"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/gate"
	"github.com/tapwallet/tapwallet/keystore"
	"github.com/tapwallet/tapwallet/sam"
	"github.com/tapwallet/tapwallet/se"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
	"github.com/tapwallet/tapwallet/transit"
	transitsql "github.com/tapwallet/tapwallet/transit/sqlstore"
)

// world is an operator's host on a real database, phones with secure
// elements, and gates with SAMs loaded from the operator's key store.
type world struct {
	t     tb
	ctx   context.Context
	db    *sqldb.DB
	keys  *keystore.File
	svc   *transit.Service
	now   time.Time
	gates map[string]*gate.Gate
}

// tb is what the world needs of a test (testing.TB, or a rapid run).
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	TempDir() string
	Cleanup(func())
}

// eachWing runs fn on the transit operators' own wing on SQLite and, with
// TAPWALLET_TEST_POSTGRES, on PostgreSQL.
func eachWing(t *testing.T, fn func(t *testing.T, db *sqldb.DB)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, openWing(t, "", t.TempDir())) })
	if os.Getenv("TAPWALLET_TEST_POSTGRES") != "" {
		t.Run("postgres", func(t *testing.T) { fn(t, openWing(t, sqldbtest.PostgresDSN(t), "")) })
	}
}

// openWing opens the transit wing (transit/sqlstore) on dsn or in dir.
func openWing(t tb, dsn, dir string) *sqldb.DB {
	t.Helper()
	db, err := sqldb.OpenWing(context.Background(), dsn, dir, transitsql.Wing)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// newWorld builds the world on db, a database of the transit wing.
func newWorld(t tb, db *sqldb.DB) *world {
	t.Helper()
	keys, err := keystore.OpenFile(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: context.Background(), db: db, keys: keys, now: time.Date(2016, 4, 6, 8, 0, 0, 0, epurse.China), gates: map[string]*gate.Gate{}}
	db.Now = func() time.Time { return w.now }
	w.svc = transit.New(transitsql.New(db), keys, fare.Default(), &transit.CardOnFile{}, nil)
	return w
}

type phone struct {
	ph    transit.Phone
	el    *se.Element
	purse *epurse.Purse
	card  string
	city  string
}

func (w *world) phone(id, account string) *phone {
	w.t.Helper()
	el, err := se.Open(filepath.Join(w.t.TempDir(), "se.json"))
	if err != nil {
		w.t.Fatal(err)
	}
	return &phone{ph: transit.Phone{ID: id, AccountID: account, PublicKey: el.PublicKey()}, el: el}
}

// issue issues a card and installs it in the phone's secure element.
func (w *world) issue(p *phone, city, ref string) {
	w.t.Helper()
	is, err := w.svc.Issue(w.ctx, p.ph, city, "6288010000001239", ref)
	if err != nil {
		w.t.Fatalf("issue: %v", err)
	}
	w.install(p, city, is.Card.Number, is.Sealed)
}

func (w *world) install(p *phone, city, number string, sealed []byte) {
	w.t.Helper()
	if err := p.el.PersonaliseApplet(epurse.AppletName(city), sealed, epurse.AAD(city, number), epurse.BuildJSON); err != nil {
		w.t.Fatalf("personalise: %v", err)
	}
	purse, err := epurse.Open(p.el, city)
	if err != nil {
		w.t.Fatal(err)
	}
	p.purse, p.card, p.city = purse, number, city
}

func (w *world) initLoad(p *phone, amount int64) transit.InitLoad {
	w.t.Helper()
	d := []byte{1}
	d = binary.BigEndian.AppendUint32(d, uint32(amount))
	term := w.svc.LoadTerminal
	d = append(d, term[:]...)
	r := p.purse.Process(apdu.Command{CLA: 0x80, INS: 0x50, P1: 0, P2: 2, Data: d, Ne: 16})
	if r.SW != apdu.SWSuccess {
		w.t.Fatalf("INITIALIZE FOR LOAD: got %v", r.SW)
	}
	in, err := transit.ParseInitLoad(r.Data)
	if err != nil {
		w.t.Fatal(err)
	}
	return in
}

func (w *world) credit(p *phone, mac2 [4]byte, dt [7]byte) ([4]byte, apdu.StatusWord) {
	r := p.purse.Process(apdu.Command{CLA: 0x80, INS: 0x52, Data: append(dt[:], mac2[:]...), Ne: 4})
	var tac [4]byte
	copy(tac[:], r.Data)
	return tac, r.SW
}

// load runs a whole signed load: pay, INITIALIZE, MAC2, CREDIT, confirm.
func (w *world) load(p *phone, amount int64, ref string) {
	w.t.Helper()
	l, err := w.svc.StartLoad(w.ctx, p.ph, p.card, amount, "6288010000001239", ref)
	if err != nil {
		w.t.Fatalf("start load: %v", err)
	}
	mac2, dt, err := w.svc.SignLoad(w.ctx, p.ph, l.ID, w.initLoad(p, amount))
	if err != nil {
		w.t.Fatalf("sign load: %v", err)
	}
	tac, sw := w.credit(p, mac2, dt)
	if sw != apdu.SWSuccess {
		w.t.Fatalf("CREDIT FOR LOAD: got %v", sw)
	}
	if _, err := w.svc.ConfirmLoad(w.ctx, p.ph, l.ID, tac); err != nil {
		w.t.Fatalf("confirm load: %v", err)
	}
}

// gate returns (making it once) a gate at a station of a line.
func (w *world) gate(city, line, station string) *gate.Gate {
	w.t.Helper()
	key := city + "/" + line + "/" + station
	if g := w.gates[key]; g != nil {
		return g
	}
	c, _ := fare.Default().City(city)
	l, err := c.Line(line)
	if err != nil {
		w.t.Fatal(err)
	}
	s, err := l.Station(station)
	if err != nil {
		w.t.Fatal(err)
	}
	j, err := gate.OpenJournal(w.t.TempDir())
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { j.Close() })
	mk, err := transit.MasterKeys(w.keys, city)
	if err != nil {
		w.t.Fatal(err)
	}
	sm, err := sam.New(epurse.Alg(c), mk, gate.TerminalOf(l, s, 1), j)
	if err != nil {
		w.t.Fatal(err)
	}
	g, err := gate.New(gate.Config{City: c, Line: l, Station: s, Device: 1, SAM: sm, Journal: j, Now: func() time.Time { return w.now }})
	if err != nil {
		w.t.Fatal(err)
	}
	w.gates[key] = g
	return g
}

func (w *world) tap(p *phone, g *gate.Gate) gate.Outcome {
	w.t.Helper()
	o, err := g.Tap(w.ctx, gate.Direct(applet.NewDispatcher(p.purse)))
	if err != nil {
		w.t.Fatal(err)
	}
	return o
}

// file makes a clearing file of a gate's unsent records.
func (w *world) file(g *gate.Gate, id string) transit.File {
	_, recs := g.Config().Journal.Unsent(0)
	return transit.File{ID: id, City: g.Config().City.ID, Terminal: g.Config().SAM.Terminal(), Created: w.now, Records: recs}
}

func (w *world) clear(f transit.File) transit.Receipt {
	w.t.Helper()
	b, err := f.Marshal()
	if err != nil {
		w.t.Fatal(err)
	}
	rc, err := w.svc.Clear(w.ctx, b)
	if err != nil {
		w.t.Fatalf("clear: %v", err)
	}
	return rc
}

func (w *world) card(number string) transit.Card {
	w.t.Helper()
	var c transit.Card
	err := w.svc.Store.InTx(w.ctx, func(tx transit.Tx) error {
		var err error
		c, err = tx.Card(number)
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

// checkFloat checks that no money appeared or vanished: the float equals
// the cleared balances plus the pending loads.
func (w *world) checkFloat(city string) {
	w.t.Helper()
	f, err := w.svc.Float(w.ctx, city)
	if err != nil {
		w.t.Fatal(err)
	}
	bal, pend, err := w.svc.Owed(w.ctx, city)
	if err != nil {
		w.t.Fatal(err)
	}
	if f != bal+pend {
		w.t.Fatalf("float %d, want cleared balances %d + pending loads %d = %d", f, bal, pend, bal+pend)
	}
}

func TestRideAndClear(t *testing.T) {
	eachWing(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t, db)
		p := w.phone("ph1", "acc1")
		w.issue(p, "shanghai", "issue-1")
		w.load(p, 5000, "load-1")
		if c := w.card(p.card); c.Balance != 5000 || c.OnlineATC != 1 {
			t.Fatalf("after the load: got balance %d, online counter %d; want 5000, 1", c.Balance, c.OnlineATC)
		}
		in, out := w.gate("shanghai", "L2", "peoples-square"), w.gate("shanghai", "L2", "century-avenue")
		if o := w.tap(p, in); o.Result != gate.Entered {
			t.Fatalf("entry: got %s (%s)", o.Result, o.Message)
		}
		w.now = w.now.Add(20 * time.Minute)
		if o := w.tap(p, out); o.Result != gate.Exited || o.Charged != 300 {
			t.Fatalf("exit: got %s charged %d, want exited 300", o.Result, o.Charged)
		}
		rc := w.clear(w.file(in, "in-1"))
		if rc.Accepted != 1 || rc.Amount != 0 || rc.Gaps != 0 {
			t.Errorf("entry gate's file: got %+v, want 1 accepted, 0 fen, no gaps", rc)
		}
		rc = w.clear(w.file(out, "out-1"))
		if rc.Accepted != 1 || rc.Amount != 300 || rc.Forged+rc.Replayed+rc.Grey+rc.Gaps != 0 {
			t.Errorf("exit gate's file: got %+v, want 1 accepted for 300 fen and nothing flagged", rc)
		}
		if c := w.card(p.card); c.Balance != 4700 || c.ClearedATC != 1 {
			t.Errorf("cleared: got balance %d, counter %d; want 4700, 1", c.Balance, c.ClearedATC)
		}
		again := w.clear(w.file(out, "out-1"))
		if !again.Again || again.Accepted != 1 {
			t.Errorf("the same file again: got %+v, want the first receipt marked again", again)
		}
		w.checkFloat("shanghai")
		day := w.now.In(epurse.China).Format("2006-01-02")
		st, err := w.svc.Settle(w.ctx, "shanghai", day)
		if err != nil {
			t.Fatal(err)
		}
		if st.Rides != 1 || st.RideFen != 300 || st.LoadFen != 5000 || st.Fees != 500 || st.DepositsIn != 2000 || st.Float != 4700 || st.Balances != 4700 {
			t.Errorf("settlement: got %+v", st)
		}
	})
}

// TestCaught: a forged record, a replayed one, an exact duplicate, a
// counter that jumps and a grey record are each caught.
func TestCaught(t *testing.T) {
	eachWing(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t, db)
		p := w.phone("ph1", "acc1")
		w.issue(p, "beijing", "issue-1")
		w.load(p, 10000, "load-1")
		g := w.gate("beijing", "B1", "b1-laoshan") // flat ¥1 bus
		for i := 0; i < 4; i++ {
			w.now = w.now.Add(3 * time.Minute)
			if o := w.tap(p, g); o.Result != gate.Boarded {
				t.Fatalf("ride %d: got %s", i, o.Result)
			}
		}
		f := w.file(g, "bus-1")
		if len(f.Records) != 4 {
			t.Fatalf("got %d records, want 4", len(f.Records))
		}
		// Clear rides 0 and 1; hold back 2 (the counter will jump to 3).
		first := f
		first.Records = f.Records[:2]
		if rc := w.clear(first); rc.Accepted != 2 {
			t.Fatalf("first file: got %+v", rc)
		}

		forged := f.Records[3]
		forged.Amount = 1 // the gate (or someone) lowered the fare
		replay := f.Records[1]
		replay.Amount, replay.BalanceAfter = 50, replay.BalanceAfter+50
		replay.TAC[0] ^= 0xFF
		dup := f.Records[0]
		grey := f.Records[3]
		grey.Status, grey.TAC, grey.MAC2, grey.ATC = transit.StatusGrey, [4]byte{}, [4]byte{}, 7
		bad := transit.File{ID: "bus-2", City: "beijing", Terminal: f.Terminal, Created: w.now,
			Records: []transit.Record{forged, replay, dup, f.Records[3], grey}}
		rc := w.clear(bad)
		want := transit.Receipt{FileID: "bus-2", City: "beijing", Records: 5, Accepted: 1, Amount: 100, Duplicates: 1, Replayed: 0, Forged: 2, Grey: 1, Gaps: 1}
		// The altered replay fails its TAC: it is caught as forged before
		// it can be compared; a well-formed replay (same counter, valid TAC
		// of another transaction) is caught below.
		if !reflect.DeepEqual(rc, want) {
			t.Errorf("got %+v\nwant %+v", rc, want)
		}
		ex, err := w.svc.Exceptions(w.ctx, "beijing", 100)
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int{}
		for _, e := range ex {
			kinds[e.Kind]++
		}
		if kinds[transit.ExForged] != 2 || kinds[transit.ExGrey] != 1 || kinds[transit.ExGap] == 0 {
			t.Errorf("exceptions: got %v, want 2 forged, 1 grey, gaps", kinds)
		}
		if c := w.card(p.card); c.Balance != 10000-300 {
			t.Errorf("cleared balance: got %d, want %d (rides 0, 1, 3)", c.Balance, 10000-300)
		}
		// Ride 2 arrives late: the gap closes, the balance catches up.
		late := transit.File{ID: "bus-3", City: "beijing", Terminal: f.Terminal, Created: w.now, Records: []transit.Record{f.Records[2]}}
		if rc := w.clear(late); rc.Accepted != 1 || rc.Gaps != 0 {
			t.Errorf("late record: got %+v, want accepted and the gap closed", rc)
		}
		// A valid record of one card under another card's counter slot:
		// same card and counter as a cleared record, different TAC.
		w.now = w.now.Add(time.Minute)
		other := w.phone("ph2", "acc2")
		w.issue(other, "beijing", "issue-2")
		w.load(other, 1000, "load-2")
		w.tap(other, g)
		_, recs := g.Config().Journal.Unsent(0)
		r := recs[len(recs)-1]
		r.Card = p.card // stolen record replayed against the first card
		if rc := w.clear(transit.File{ID: "bus-4", City: "beijing", Terminal: f.Terminal, Created: w.now, Records: []transit.Record{r}}); rc.Forged != 1 {
			t.Errorf("another card's record: got %+v, want forged", rc)
		}
		w.checkFloat("beijing")
	})
}

func TestReplayedRecord(t *testing.T) {
	eachWing(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t, db)
		p := w.phone("ph1", "acc1")
		w.issue(p, "guangzhou", "issue-1")
		w.load(p, 2000, "load-1")
		g := w.gate("guangzhou", "B2", "b2-tianhe")
		w.tap(p, g)
		f := w.file(g, "f1")
		w.clear(f)
		// The card is restored to an old state (a cloned purse) and rides
		// again: a valid TAC under a counter already cleared.
		f2 := f
		f2.ID = "f2"
		f2.Records = append([]transit.Record(nil), f.Records...)
		f2.Records[0].Seq++
		// Recompute its TAC as the cloned card would.
		c, _ := fare.Default().City("guangzhou")
		mk, _ := transit.MasterKeys(w.keys, "guangzhou")
		n, _ := epurse.ParseCardNumber(p.card)
		k, _ := mk.Card(epurse.Alg(c), n)
		r := f2.Records[0]
		f2.Records[0].TAC, _ = epurse.TAC(epurse.Alg(c), k.DTK.Reveal(), epurse.PurchaseTACData(uint32(r.Amount), r.Type, f2.Terminal, r.Seq, r.DateTime, r.ATC, int32(r.BalanceAfter)))
		rc := w.clear(f2)
		if rc.Replayed != 1 || rc.Accepted != 0 {
			t.Errorf("got %+v, want 1 replayed, none accepted", rc)
		}
		if got := w.card(p.card).Balance; got != 1800 {
			t.Errorf("balance: got %d, want 1800 (charged once)", got)
		}
	})
}

// TestLoadRecovery: a load that paid but did not reach the card is
// completed from the card's proof, or refunded against its fresh MAC1.
func TestLoadRecovery(t *testing.T) {
	eachWing(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t, db)
		p := w.phone("ph1", "acc1")
		w.issue(p, "chongqing", "issue-1")

		// Paid, signed, credited on the card, but the confirm never arrived:
		// the card's proof completes it.
		l, err := w.svc.StartLoad(w.ctx, p.ph, p.card, 3000, "tok", "load-1")
		if err != nil {
			t.Fatal(err)
		}
		in := w.initLoad(p, 3000)
		mac2, dt, err := w.svc.SignLoad(w.ctx, p.ph, l.ID, in)
		if err != nil {
			t.Fatal(err)
		}
		if _, sw := w.credit(p, mac2, dt); sw != apdu.SWSuccess {
			t.Fatalf("credit: %v", sw)
		}
		if _, err := w.svc.RefundLoad(w.ctx, p.ph, l.ID, ptr(w.initLoad(p, 3000))); !fault.Has(err, fault.Conflict, "load_reached_card") {
			t.Errorf("refund of a load that reached the card: got %v, want load_reached_card", err)
		}
		r := p.purse.Process(apdu.Command{CLA: 0x80, INS: 0x5A, P2: epurse.TypeLoad, Data: []byte{0, byte(in.OnlineATC)}, Ne: 8})
		var tac [4]byte
		copy(tac[:], r.Data)
		if _, err := w.svc.ConfirmLoad(w.ctx, p.ph, l.ID, tac); err != nil {
			t.Fatalf("confirm from the proof: %v", err)
		}

		// Paid and signed, but the card never got MAC2: refunded against the
		// card's fresh MAC1; the old MAC2 is dead.
		l2, err := w.svc.StartLoad(w.ctx, p.ph, p.card, 2000, "tok", "load-2")
		if err != nil {
			t.Fatal(err)
		}
		mac2, dt, err = w.svc.SignLoad(w.ctx, p.ph, l2.ID, w.initLoad(p, 2000))
		if err != nil {
			t.Fatal(err)
		}
		fresh := w.initLoad(p, 2000)
		got, err := w.svc.RefundLoad(w.ctx, p.ph, l2.ID, &fresh)
		if err != nil || got.State != transit.LoadRefunded {
			t.Fatalf("refund: got %v, %v; want refunded", got.State, err)
		}
		if _, sw := w.credit(p, mac2, dt); sw == apdu.SWSuccess {
			t.Errorf("the old MAC2 after the refund: got 9000, want refused")
		}
		if _, _, err := w.svc.SignLoad(w.ctx, p.ph, l2.ID, w.initLoad(p, 2000)); !fault.Has(err, fault.Conflict, "load_state") {
			t.Errorf("signing a refunded load: got %v, want load_state", err)
		}
		// A forged MAC1.
		l3, _ := w.svc.StartLoad(w.ctx, p.ph, p.card, 100, "tok", "load-3")
		bad := w.initLoad(p, 100)
		bad.MAC1[0] ^= 1
		if _, _, err := w.svc.SignLoad(w.ctx, p.ph, l3.ID, bad); !fault.Has(err, fault.Forbidden, "bad_mac1") {
			t.Errorf("forged MAC1: got %v, want bad_mac1", err)
		}
		info, _ := p.purse.Info()
		if c := w.card(p.card); c.Balance != 3000 || info.Balance != 3000 {
			t.Errorf("balances: operator %d, card %d; want 3000 and 3000", c.Balance, info.Balance)
		}
		w.checkFloat("chongqing")
	})
}

func ptr[T any](v T) *T { return &v }

// TestRefundWaitsForClearing: a card's refund waits until its last
// offline rides have cleared.
func TestRefundWaitsForClearing(t *testing.T) {
	eachWing(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t, db)
		p := w.phone("ph1", "acc1")
		w.issue(p, "wuhan", "issue-1")
		w.load(p, 2000, "load-1")
		g := w.gate("wuhan", "B1", "b1-hankou")
		w.tap(p, g)
		ch, err := w.svc.StartClose(w.ctx, p.ph, p.card)
		if err != nil {
			t.Fatal(err)
		}
		cl, err := p.purse.Close(ch)
		if err != nil {
			t.Fatal(err)
		}
		res, err := w.svc.Refund(w.ctx, p.ph, p.card, cl)
		if err != nil {
			t.Fatal(err)
		}
		if res.Refunded || res.Waiting != 1 || res.Amount != 1850+2500 {
			t.Errorf("refund before clearing: got %+v, want waiting for 1 ride, 43.50 to pay", res)
		}
		if o := w.tap(p, g); o.Result != gate.Blocked {
			t.Errorf("a closed card at a gate: got %s, want blocked", o.Result)
		}
		w.clear(w.file(g, "f1"))
		c := w.card(p.card)
		if c.State != transit.CardRefunded || c.Balance != 0 {
			t.Errorf("after clearing: got state %s, balance %d; want refunded, 0", c.State, c.Balance)
		}
		hl, _ := w.svc.HotList(w.ctx, "wuhan")
		if len(hl.Cards) != 1 || hl.Version != 1 {
			t.Errorf("hot list: got %+v, want the card at version 1", hl)
		}
		w.checkFloat("wuhan")
	})
}

// TestMove: the card moves to a new phone with its balance; the old copy
// is dead before the new one exists.
func TestMove(t *testing.T) {
	eachWing(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t, db)
		old := w.phone("ph1", "acc1")
		w.issue(old, "shenzhen", "issue-1")
		w.load(old, 4000, "load-1")
		w.tap(old, w.gate("shenzhen", "L1", "luohu"))
		newp := w.phone("ph2", "acc1")
		ch, _ := w.svc.StartClose(w.ctx, old.ph, old.card)
		cl, err := old.purse.Close(ch)
		if err != nil {
			t.Fatal(err)
		}
		if o := w.tap(old, w.gate("shenzhen", "L1", "shopping-park")); o.Result != gate.Blocked {
			t.Errorf("the old copy at a gate: got %s, want blocked", o.Result)
		}
		info, _ := old.purse.Info()
		m, err := w.svc.Move(w.ctx, old.ph, newp.ph, old.card, cl, epurse.Trip{}.Marshal(), nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = info
		w.install(newp, "shenzhen", m.Card.Number, m.Sealed)
		if err := w.svc.ConfirmMove(w.ctx, newp.ph, m.Card.Number); err != nil {
			t.Fatal(err)
		}
		ni, _ := newp.purse.Info()
		if ni.Balance != 4000 || ni.OfflineATC != 1 || ni.OnlineATC != 1 {
			t.Errorf("moved card: got balance %d, counters %d/%d; want 4000, 1/1", ni.Balance, ni.OfflineATC, ni.OnlineATC)
		}
		if _, err := w.svc.Move(w.ctx, newp.ph, old.ph, old.card, cl, nil, nil); err == nil {
			t.Errorf("moving back with the old closure: got nil error, want refused")
		}
		if o := w.tap(newp, w.gate("shenzhen", "L1", "shopping-park")); o.Result != gate.Entered {
			t.Errorf("the new copy at a gate: got %s (%s), want entered", o.Result, o.Message)
		}
		w.load(newp, 1000, "load-2")
		if c := w.card(old.card); c.PhoneID != "ph2" || c.Balance != 5000 {
			t.Errorf("operator: got phone %s balance %d, want ph2, 5000", c.PhoneID, c.Balance)
		}
		w.checkFloat("shenzhen")
	})
}

func TestIssueRules(t *testing.T) {
	eachWing(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t, db)
		p := w.phone("ph1", "acc1")
		a, err := w.svc.Issue(w.ctx, p.ph, "beijing", "tok", "r1")
		if err != nil {
			t.Fatal(err)
		}
		b, err := w.svc.Issue(w.ctx, p.ph, "beijing", "tok", "r1")
		if err != nil || b.Card.Number != a.Card.Number {
			t.Errorf("the same request again: got %v, %v; want the same card", b.Card.Number, err)
		}
		if _, err := w.svc.Issue(w.ctx, p.ph, "beijing", "tok", "r2"); !fault.Has(err, fault.Conflict, "transit_card_exists") {
			t.Errorf("a second Beijing card: got %v, want transit_card_exists", err)
		}
		if _, err := w.svc.Issue(w.ctx, p.ph, "atlantis", "tok", "r3"); !fault.Has(err, fault.NotFound, "unknown_city") {
			t.Errorf("unknown city: got %v, want unknown_city", err)
		}
		other := w.phone("ph9", "acc9")
		if err := other.el.PersonaliseApplet("transit-beijing", a.Sealed, epurse.AAD("beijing", a.Card.Number), epurse.BuildJSON); err == nil {
			t.Errorf("another phone opening the personalisation: got nil error, want refused")
		}
		if len(hex.EncodeToString(a.AID)) != 16 || a.Card.Number[:4] != "0010" {
			t.Errorf("card: got AID %x, number %s", a.AID, a.Card.Number)
		}
		ft, err := w.svc.FareTable("beijing")
		if err != nil || ft.Version != 1 || len(ft.Rules) == 0 {
			t.Errorf("fare table: got %+v, %v", ft.Version, err)
		}
		_ = fmt.Sprint
	})
}

// TestConcurrentClearing: gates upload at the same time files with rides
// of the same cards; every ride is charged once and the float holds.
func TestConcurrentClearing(t *testing.T) {
	eachWing(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t, db)
		var phones []*phone
		for i := 0; i < 3; i++ {
			p := w.phone(fmt.Sprintf("ph%d", i), fmt.Sprintf("acc%d", i))
			w.issue(p, "chongqing", fmt.Sprintf("issue-%d", i))
			w.load(p, 5000, fmt.Sprintf("load-%d", i))
			phones = append(phones, p)
		}
		gates := []*gate.Gate{w.gate("chongqing", "B401", "b401-jiefangbei"), w.gate("chongqing", "B401", "b401-hongyadong")}
		for round := 0; round < 4; round++ {
			for _, p := range phones {
				w.now = w.now.Add(time.Minute)
				w.tap(p, gates[round%2])
			}
		}
		errs := make(chan error, len(gates))
		for i, g := range gates {
			f := w.file(g, fmt.Sprintf("g%d", i))
			b, err := f.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				_, err := w.svc.Clear(w.ctx, b)
				errs <- err
			}()
		}
		for range gates {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range phones {
			if c := w.card(p.card); c.Balance != 5000-4*200 {
				t.Errorf("card %s: got cleared balance %d, want %d", p.card, c.Balance, 5000-4*200)
			}
		}
		w.checkFloat("chongqing")
	})
}

package gate_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/applet"
	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/epurse/epursetest"
	"github.com/tapwallet/tapwallet/fare"
	"github.com/tapwallet/tapwallet/gate"
	"github.com/tapwallet/tapwallet/nfc"
	"github.com/tapwallet/tapwallet/sam"
	"github.com/tapwallet/tapwallet/transit"
)

// clock is a settable clock for the gates of a test.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// station makes a gate at a station of a line, with a SAM from the test
// master keys and a journal in dir (a new folder if "").
func station(t testing.TB, clk *clock, city, line, st string, dir gate.Direction, journalDir string) *gate.Gate {
	t.Helper()
	c, err := fare.Default().City(city)
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.Line(line)
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Station(st)
	if err != nil {
		t.Fatal(err)
	}
	if journalDir == "" {
		journalDir = t.TempDir()
	}
	j, err := gate.OpenJournal(journalDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	sm, err := sam.New(epurse.Alg(c), epursetest.MasterKeys(city), gate.TerminalOf(l, s, 1), j)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gate.New(gate.Config{City: c, Line: l, Station: s, Direction: dir, Device: 1, SAM: sm, Journal: j, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func tap(t *testing.T, g *gate.Gate, card nfc.Card) gate.Outcome {
	t.Helper()
	o, err := g.Tap(context.Background(), gate.Direct(card))
	if err != nil {
		t.Fatalf("tap: %v", err)
	}
	return o
}

func want(t *testing.T, o gate.Outcome, r gate.Result, charged, balance int64) {
	t.Helper()
	if o.Result != r || o.Charged != charged || (r.Opens() && o.Balance != balance) {
		t.Errorf("got %s charged %d balance %d (%q), want %s charged %d balance %d", o.Result, o.Charged, o.Balance, o.Message, r, charged, balance)
	}
}

var morning = time.Date(2016, 4, 6, 8, 30, 0, 0, epurse.China)

// TestShanghaiJourney: metro in and out, then a bus with the transfer
// discount, a double tap, and the records the gates keep.
func TestShanghaiJourney(t *testing.T) {
	clk := &clock{morning}
	in := station(t, clk, "shanghai", "L2", "peoples-square", gate.Auto, "")
	out := station(t, clk, "shanghai", "L2", "century-avenue", gate.Auto, "")
	bus := station(t, clk, "shanghai", "B71", "b71-bund", gate.Auto, "")
	p, _ := epursetest.Purse(t, "shanghai", 1, 5000)
	phone := applet.NewDispatcher(p)

	o := tap(t, in, phone)
	want(t, o, gate.Entered, 0, 5000)
	if o.Exchanges != 5 || o.Air <= 0 || o.Air > 100*time.Millisecond {
		t.Errorf("entry: got %d exchanges and %v air time, want 5 and a few ms", o.Exchanges, o.Air)
	}
	clk.t = clk.t.Add(30 * time.Second)
	want(t, tap(t, in, phone), gate.DoubleTap, 0, 0)
	clk.t = clk.t.Add(20 * time.Minute)
	o = tap(t, out, phone)
	want(t, o, gate.Exited, 300, 4700) // 5.4 km
	if o.Entry != "People's Square" || o.Fare.Metres != 5400 {
		t.Errorf("exit: got entry %q, %d m; want People's Square, 5400 m", o.Entry, o.Fare.Metres)
	}
	clk.t = clk.t.Add(10 * time.Minute)
	o = tap(t, bus, phone)
	want(t, o, gate.Boarded, 100, 4600)
	if o.Fare.TransferOff != 100 {
		t.Errorf("bus after metro: got transfer discount %d, want 100", o.Fare.TransferOff)
	}
	info, _ := p.Info()
	if info.OfflineATC != 3 || info.Balance != 4600 {
		t.Errorf("card: got counter %d, balance %d; want 3, 4600", info.OfflineATC, info.Balance)
	}
	ids, recs := out.Config().Journal.Unsent(0)
	if len(ids) != 1 || recs[0].Status != transit.StatusFinal || recs[0].Amount != 300 || recs[0].EntryStation != 113 || recs[0].ATC != 1 {
		t.Errorf("exit gate's records: got %+v, want one final 300 fen record from station 113 at counter 1", recs)
	}
}

func TestOutcomes(t *testing.T) {
	tests := []struct {
		name    string
		city    string
		balance int64
		prepare func(t *testing.T, clk *clock, phone nfc.Card) // taps before
		gate    func(t *testing.T, clk *clock) *gate.Gate
		want    gate.Result
		charged int64
		after   int64
	}{
		{name: "entry gate, card already inside", city: "beijing", balance: 2000,
			prepare: func(t *testing.T, clk *clock, ph nfc.Card) {
				tap(t, station(t, clk, "beijing", "L1", "xidan", gate.In, ""), ph)
				clk.t = clk.t.Add(10 * time.Minute)
			},
			gate: func(t *testing.T, clk *clock) *gate.Gate {
				return station(t, clk, "beijing", "L1", "guomao", gate.In, "")
			},
			want: gate.AlreadyInside},
		{name: "exit gate, no entry", city: "beijing", balance: 2000,
			gate: func(t *testing.T, clk *clock) *gate.Gate {
				return station(t, clk, "beijing", "L1", "guomao", gate.Out, "")
			},
			want: gate.NoEntry},
		{name: "entry with too little balance", city: "beijing", balance: 299,
			gate: func(t *testing.T, clk *clock) *gate.Gate {
				return station(t, clk, "beijing", "L1", "guomao", gate.Auto, "")
			},
			want: gate.LowBalance},
		{name: "card of another city", city: "wuhan", balance: 2000,
			gate: func(t *testing.T, clk *clock) *gate.Gate {
				return station(t, clk, "beijing", "L1", "guomao", gate.Auto, "")
			},
			want: gate.NotAccepted},
		{name: "bus charged at tap-off, short balance within the overdraft", city: "shenzhen", balance: 300,
			prepare: func(t *testing.T, clk *clock, ph nfc.Card) {
				if o := tap(t, station(t, clk, "shenzhen", "M299", "m299-futian", gate.Auto, ""), ph); o.Result != gate.TappedOn {
					t.Fatalf("tap on: got %s (%s)", o.Result, o.Message)
				}
				clk.t = clk.t.Add(50 * time.Minute)
			},
			gate: func(t *testing.T, clk *clock) *gate.Gate {
				return station(t, clk, "shenzhen", "M299", "m299-guangming", gate.Auto, "")
			},
			want: gate.TappedOff, charged: 450, after: -150},
		{name: "metro exit beyond the overdraft", city: "shenzhen", balance: 200,
			prepare: func(t *testing.T, clk *clock, ph nfc.Card) {
				tap(t, station(t, clk, "shenzhen", "L1", "luohu", gate.Auto, ""), ph)
				clk.t = clk.t.Add(50 * time.Minute)
			},
			gate: func(t *testing.T, clk *clock) *gate.Gate {
				return station(t, clk, "shenzhen", "L1", "airport-east", gate.Auto, "")
			},
			want: gate.LowBalance},
		{name: "flat bus fare needs the whole fare", city: "shanghai", balance: 150,
			gate: func(t *testing.T, clk *clock) *gate.Gate {
				return station(t, clk, "shanghai", "B71", "b71-bund", gate.Auto, "")
			},
			want: gate.LowBalance},
		{name: "stale journey closed at the next entry", city: "beijing", balance: 2000,
			prepare: func(t *testing.T, clk *clock, ph nfc.Card) {
				tap(t, station(t, clk, "beijing", "L1", "xidan", gate.Auto, ""), ph)
				clk.t = clk.t.Add(5 * time.Hour)
			},
			gate: func(t *testing.T, clk *clock) *gate.Gate {
				return station(t, clk, "beijing", "L1", "guomao", gate.Auto, "")
			},
			want: gate.Entered, charged: 700, after: 1300}, // the highest fare of the sample network
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &clock{morning}
			p, _ := epursetest.Purse(t, tt.city, 2, tt.balance)
			ph := applet.NewDispatcher(p)
			if tt.prepare != nil {
				tt.prepare(t, clk, ph)
			}
			o := tap(t, tt.gate(t, clk), ph)
			want(t, o, tt.want, tt.charged, tt.after)
			if tt.want.Opens() != o.Result.Opens() {
				t.Errorf("gate opens: got %v, want %v", o.Result.Opens(), tt.want.Opens())
			}
		})
	}
}

func TestHotListAndExpress(t *testing.T) {
	clk := &clock{morning}
	g := station(t, clk, "guangzhou", "L1", "xilang", gate.Auto, "")
	p, _ := epursetest.Purse(t, "guangzhou", 3, 2000)
	info, _ := p.Info()
	ph := applet.NewDispatcher(p)

	locked := true
	p.Locked = func() bool { return locked }
	if err := p.SetExpress(false); err != nil {
		t.Fatal(err)
	}
	want(t, tap(t, g, ph), gate.ExpressOff, 0, 0)
	locked = false
	want(t, tap(t, g, ph), gate.Entered, 0, 2000)

	hot := gate.NewHotList(7, []string{info.Number.String()})
	cfg := g.Config()
	cfg.HotList = hot
	blocker, err := gate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want(t, tap(t, blocker, ph), gate.HotListed, 0, 0)
	// Blocked on the card itself now: any gate refuses it, list or not.
	want(t, tap(t, g, ph), gate.Blocked, 0, 0)
}

// dropLink passes commands to the card but loses the answer to (or the
// command itself, when before is set) the first command with INS ins.
type dropLink struct {
	card    nfc.Card
	ins     byte
	before  bool
	dropped bool
}

func (d *dropLink) Exchange(ctx context.Context, cmd []byte) (nfc.Exchange, error) {
	if !d.dropped && len(cmd) > 1 && cmd[1] == d.ins {
		d.dropped = true
		if !d.before {
			d.card.Process(cmd)
		}
		return nfc.Exchange{}, errors.New("link dropped")
	}
	return gate.Direct(d.card).Exchange(ctx, cmd)
}

// TestPulledAway: a tap pulled away after the card debited is recovered
// at the next tap without charging again; one pulled away before the
// debit reached the card is charged once at the next tap.
func TestPulledAway(t *testing.T) {
	for _, before := range []bool{false, true} {
		name := "after the debit"
		if before {
			name = "before the debit"
		}
		t.Run(name, func(t *testing.T) {
			clk, p, ph, again := pulledAway(t, before)
			clk.t = clk.t.Add(5 * time.Second)
			o := tap(t, again, ph)
			if before {
				want(t, o, gate.Exited, 500, 2500)
			} else {
				want(t, o, gate.AlreadyPaid, 500, 2500)
			}
			info, _ := p.Info()
			if info.Balance != 2500 || info.OfflineATC != 2 {
				t.Errorf("card: got balance %d, counter %d; want 2500, 2 (charged once)", info.Balance, info.OfflineATC)
			}
			ids, recs := again.Config().Journal.Unsent(0)
			if len(ids) != 1 || recs[0].Status != transit.StatusFinal || recs[0].TAC == ([4]byte{}) || len(again.Config().Journal.Pending()) != 0 {
				t.Errorf("journal: got %d records %+v and %d pending, want one final record with a TAC", len(ids), recs, len(again.Config().Journal.Pending()))
			}
		})
	}
}

func TestJournalSequence(t *testing.T) {
	dir := t.TempDir()
	j, err := gate.OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := j.Next()
	b, _ := j.Next()
	j.Close()
	j, err = gate.OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	c, _ := j.Next()
	if a != 1 || b != 2 || c <= b {
		t.Errorf("sequence across a restart: got %d, %d, %d; want 1, 2, then more than 2", a, b, c)
	}
}

package platform_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/applet"
	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/fare"
	"github.com/tapwallet/tapwallet/gate"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/risk"
	"github.com/tapwallet/tapwallet/sam"
	"github.com/tapwallet/tapwallet/transit"
)

// TestTransitClearingRisk: one phone holds a Beijing and a Shanghai
// transit card. Its Beijing bus ride at T, its Shanghai bus ride at T+3 h
// (356 km/h: a fast train — the near miss) and its Beijing bus ride at
// T+3 h 10 min (1,068 km in 10 minutes) are cleared by their gates over
// the operator API: every ride's decision is kept at transit_clearing
// with the default rule set's version; the last one is reviewed
// (impossible travel, two cities), stays charged, is flagged for the
// operator and opens a "was this you?" case its holder sees — and nobody
// else — while the near miss is approved and flagged nowhere.
func TestTransitClearingRisk(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	ph := e.newPhone(t, "gao@example.com")
	if _, err := ph.AddCard(ctx, refundPAN, "1230", "123"); err != nil {
		t.Fatal(err)
	}
	if err := ph.EnrollFinger(phone.DefaultFinger); err != nil {
		t.Fatal(err)
	}
	// Each card is bought from its city's operator, in-app (MCC 4111): no
	// sighting of the phone and no travel, so the second purchase, a minute
	// after the first, is not impossible travel (risk.Auth.AtTerminal).
	numbers := map[string]string{}
	for _, city := range []string{"beijing", "shanghai"} {
		if err := ph.VerifyFinger(phone.DefaultFinger); err != nil {
			t.Fatal(err)
		}
		c, err := ph.TransitAdd(ctx, city, "")
		if err != nil {
			t.Fatalf("%s card: %v (logs: %s)", city, err, e.logs)
		}
		numbers[city] = c.Number
		if err := ph.VerifyFinger(phone.DefaultFinger); err != nil {
			t.Fatal(err)
		}
		if _, err := ph.TransitTopUp(ctx, city, 5000, ""); err != nil {
			t.Fatalf("%s top-up: %v", city, err)
		}
	}
	if err := e.p.Risk().Use(risk.Default()); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-24 * time.Hour).Truncate(time.Second) // far from the top-ups' payment taps
	newGate := func(cityID, line, station string) *gate.Gate {
		city, _ := fare.Default().City(cityID)
		l, err := city.Line(line)
		if err != nil {
			t.Fatal(err)
		}
		s, err := l.Station(station)
		if err != nil {
			t.Fatal(err)
		}
		j, err := gate.OpenJournal(filepath.Join(t.TempDir(), "gate"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { j.Close() })
		mk, err := transit.GateKeys(e.p.Keys, cityID)
		if err != nil {
			t.Fatal(err)
		}
		sm, err := sam.New(epurse.Alg(city), mk, gate.TerminalOf(l, s, 1), j)
		if err != nil {
			t.Fatal(err)
		}
		g, err := gate.New(gate.Config{City: city, Line: l, Station: s, Device: 1, SAM: sm, Journal: j, Now: func() time.Time { return at }})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	ride := func(g *gate.Gate, when time.Time) transit.Receipt {
		t.Helper()
		at = when
		if err := ph.VerifyFinger(phone.DefaultFinger); err != nil {
			t.Fatal(err)
		}
		applets, err := ph.TransitApplets()
		if err != nil {
			t.Fatal(err)
		}
		o, err := g.Tap(ctx, gate.Direct(applet.NewDispatcher(applets...)))
		if err != nil || o.Result != gate.Boarded {
			t.Fatalf("tap at %s: %s (%s), %v", g.Config().Station.Name, o.Result, o.Message, err)
		}
		_, rcs, err := g.Upload(ctx, &gate.Operator{URL: e.p.URL, City: g.Config().City.ID}, 100)
		if err != nil || len(rcs) != 1 || rcs[0].Accepted != 1 {
			t.Fatalf("upload: %+v, %v", rcs, err)
		}
		return rcs[0]
	}
	t0 := at
	for i, rc := range []transit.Receipt{
		ride(newGate("beijing", "B1", "b1-laoshan"), t0),
		ride(newGate("shanghai", "B71", "b71-bund"), t0.Add(3*time.Hour)),
		ride(newGate("beijing", "B1", "b1-xidan"), t0.Add(3*time.Hour+10*time.Minute)),
	} {
		// The clearing's answer lists the rides the check reviewed: the third.
		if flagged := len(rc.RiskFlags) > 0; flagged != (i == 2) || flagged && !slices.Contains(rc.RiskFlags[0].Rules, "transit.impossible_travel") {
			t.Errorf("ride %d's clearing receipt: risk flags %+v", i+1, rc.RiskFlags)
		}
	}

	decision := func(city string, atc int) risk.Decision {
		t.Helper()
		id := fmt.Sprintf("%s|%s|%d", city, risk.TransitCardRef(numbers[city]), atc)
		d, err := e.p.RiskDecisions().DecisionOf(ctx, risk.PointTransit, id)
		if err != nil {
			t.Fatalf("no decision kept for %s ride %d: %v (logs: %s)", city, atc, err, e.logs)
		}
		if d.Version != risk.Default().Version || strings.Contains(string(d.JSON()), numbers[city]) {
			t.Fatalf("decision %s: want version %d, no card number", d.JSON(), risk.Default().Version)
		}
		return d
	}
	// Each card's offline counter: its first ride is 0.
	if d := decision("beijing", 0); d.Outcome != risk.Approve {
		t.Errorf("the first Beijing ride: %s, want approve", d)
	}
	if d := decision("shanghai", 0); d.Outcome != risk.Approve || len(d.Reasons) != 0 {
		t.Errorf("Shanghai 3 h after Beijing (a fast train): %s, want approve", d)
	}
	d := decision("beijing", 1)
	if d.Outcome != risk.Review || !slices.Contains(d.Reasons, "transit.impossible_travel") || !slices.Contains(d.Reasons, "transit.two_cities") {
		t.Fatalf("Beijing 10 min after Shanghai: %s, want a review for impossible travel and two cities", d)
	}

	flagged := func(city string) []transit.Exception {
		ex, err := e.p.Transit.Exceptions(ctx, city, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []transit.Exception
		for _, x := range ex {
			if x.Kind == transit.ExRisk {
				out = append(out, x)
			}
		}
		return out
	}
	if f := flagged("beijing"); len(f) != 1 || f[0].Card != numbers["beijing"] || f[0].ATC != 1 ||
		!strings.Contains(f[0].Detail, fmt.Sprintf("risk v%d score", risk.Default().Version)) || !strings.Contains(f[0].Detail, "case opened") {
		t.Fatalf("Beijing's risk flags: %+v", f)
	}
	if f := flagged("shanghai"); len(f) != 0 {
		t.Fatalf("Shanghai's risk flags: %+v, want none", f)
	}
	if cards, err := e.p.Transit.CardsOfPhone(ctx, ph.Profile.PhoneID); err != nil || len(cards) != 2 {
		t.Fatalf("cards %+v, %v", cards, err)
	} else {
		for _, c := range cards {
			if c.City == "beijing" && c.Balance != 5000-2*100 {
				t.Errorf("Beijing balance %d: the reviewed ride stays charged (4800)", c.Balance)
			}
		}
	}

	alerts, err := ph.Alerts(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || alerts[0].ID != "transit_clearing:"+d.ID || alerts[0].Version != d.Version ||
		!slices.Contains(alerts[0].Rules, "transit.impossible_travel") || !strings.Contains(alerts[0].Summary, "Beijing") ||
		strings.Contains(alerts[0].Summary, numbers["beijing"]) {
		t.Fatalf("the holder's alerts: %+v, want the Beijing ride's case", alerts)
	}
	other := e.newPhone(t, "someone-else@example.com")
	if a, err := other.Alerts(ctx, false); err != nil || len(a) != 0 {
		t.Fatalf("another account's alerts: %+v, %v; want none", a, err)
	}
	if _, err := other.AnswerAlert(ctx, alerts[0].ID, false); code(err) != "risk_no_case" {
		t.Fatalf("another account answering the case: %v, want risk_no_case", err)
	}

	// "That was not me": the Beijing transit card goes on Beijing's hot
	// list (not the bank card that paid for it); Shanghai's stays usable.
	ans, err := ph.AnswerAlert(ctx, alerts[0].ID, false)
	if err != nil || ans.Blocked != numbers["beijing"][len(numbers["beijing"])-4:] || ans.Suspended != "" {
		t.Fatalf("answering no: %+v, %v; want the Beijing transit card blocked, no bank card suspended", ans, err)
	}
	for city, want := range map[string]bool{"beijing": true, "shanghai": false} {
		hl, err := e.p.Transit.HotList(ctx, city)
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(hl.Cards, numbers[city]); got != want {
			t.Errorf("%s's hot list holds the card: %v, want %v", city, got, want)
		}
	}
}

package gate_test

import (
	"context"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/apdu"
	"github.com/tapwallet/tapwallet/applet"
	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/epurse/epursetest"
	"github.com/tapwallet/tapwallet/gate"
	"github.com/tapwallet/tapwallet/transit"
)

// pulledAway enters a Wuhan card at jinyintan, pulls it away at the
// optics-valley-square exit 40 minutes later when the gate sends the
// DEBIT (before: the card never gets it; else: the card debits, the gate
// never hears), and restarts that gate on its journal, which carries the
// pending record: the clock, the card and the restarted gate.
func pulledAway(t *testing.T, before bool) (*clock, *epurse.Purse, *applet.Dispatcher, *gate.Gate) {
	t.Helper()
	clk := &clock{morning}
	dir := t.TempDir()
	in := station(t, clk, "wuhan", "L2", "jinyintan", gate.Auto, "")
	out := station(t, clk, "wuhan", "L2", "optics-valley-square", gate.Auto, dir)
	p, _ := epursetest.Purse(t, "wuhan", 4, 3000)
	ph := applet.NewDispatcher(p)
	want(t, tap(t, in, ph), gate.Entered, 0, 3000)
	clk.t = clk.t.Add(40 * time.Minute)
	o, err := out.Tap(context.Background(), &dropLink{card: ph, ins: apdu.InsDebitForPurchase, before: before})
	if err != nil || o.Result != gate.PulledAway || o.Result.Opens() {
		t.Fatalf("pulled away: got %s, %v; want pulled_away and a shut gate", o.Result, err)
	}
	if n := len(out.Config().Journal.Pending()); n != 1 {
		t.Fatalf("pending records after the pull: got %d, want 1", n)
	}
	out.Config().Journal.Close()
	return clk, p, ph, station(t, clk, "wuhan", "L2", "optics-valley-square", gate.Auto, dir)
}

// TestStalePendingIsSettledNotAlreadyPaid: a debit the card made whose
// final entry the gate never wrote (a tap pulled away after the debit, or
// a power cut before the final entry's sync) is settled when the card
// comes back; within DoubleTapWithin that is the same person retrying
// ("Already paid"), hours later it is a new journey: the old record is
// finalised with its proof and the tap is served as any other.
func TestStalePendingIsSettledNotAlreadyPaid(t *testing.T) {
	clk, p, ph, again := pulledAway(t, false)
	clk.t = clk.t.Add(3 * time.Hour)
	// The card is outside (the exit's trip record went with its debit):
	// at this Auto gate it is a new entry, charged as entries are.
	want(t, tap(t, again, ph), gate.Entered, 0, 2500)
	info, _ := p.Info()
	if info.Balance != 2500 || info.OfflineATC != 3 {
		t.Errorf("card: got balance %d, counter %d; want 2500, 3 (the exit charged once, the new entry nothing)", info.Balance, info.OfflineATC)
	}
	ids, recs := again.Config().Journal.Unsent(0)
	final := 0
	for _, r := range recs {
		if r.Status == transit.StatusFinal && r.TAC != ([4]byte{}) && r.Amount == 500 {
			final++
		}
	}
	if final != 1 || len(again.Config().Journal.Pending()) != 0 {
		t.Errorf("journal: %d records %+v, %d pending; want the old exit's record final with its TAC and none pending", len(ids), recs, len(again.Config().Journal.Pending()))
	}
}

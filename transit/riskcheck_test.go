package transit_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/gate"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/transit"
)

// fakeChecker is a risk check that reviews the rides flag picks.
type fakeChecker struct {
	calls [][]transit.ClearedRide
	flag  func(r transit.ClearedRide) bool
	err   error
}

func (f *fakeChecker) CheckRides(_ context.Context, rides []transit.ClearedRide) ([]transit.RideFlag, error) {
	f.calls = append(f.calls, rides)
	var out []transit.RideFlag
	for _, r := range rides {
		if f.flag(r) {
			out = append(out, transit.RideFlag{Card: r.Card, ATC: r.ATC, Outcome: "review", Score: 50, Version: 5,
				Rules: []string{"transit.impossible_travel"}, Case: "transit_clearing:x"})
		}
	}
	return out, f.err
}

func (w *world) clearChecked(c transit.Checked, f transit.File) (transit.Receipt, []transit.RideFlag) {
	w.t.Helper()
	b, err := f.Marshal()
	if err != nil {
		w.t.Fatal(err)
	}
	rc, flags, err := c.ClearChecked(w.ctx, b)
	if err != nil {
		w.t.Fatalf("clear: %v", err)
	}
	return rc, flags
}

// TestClearingCheckedAfterwards: once a file's clearing is committed, its
// accepted rides go to the risk check with the card's account, phone and
// funding token, the record's time, place and amount, and a summary that
// names no card number; a reviewed ride is flagged (an exception of kind
// risk_review) and stands charged; a file cleared again is not checked
// again; a failed check leaves the rides cleared.
func TestClearingCheckedAfterwards(t *testing.T) {
	eachWing(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t, db)
		p := w.phone("ph1", "acc1")
		w.issue(p, "shanghai", "issue-1")
		w.load(p, 5000, "load-1")
		in, out := w.gate("shanghai", "L2", "peoples-square"), w.gate("shanghai", "L2", "century-avenue")
		entered := w.now
		if o := w.tap(p, in); o.Result != gate.Entered {
			t.Fatalf("entry: got %s (%s)", o.Result, o.Message)
		}
		w.now = w.now.Add(20 * time.Minute)
		if o := w.tap(p, out); o.Result != gate.Exited {
			t.Fatalf("exit: got %s (%s)", o.Result, o.Message)
		}
		chk := &fakeChecker{flag: func(r transit.ClearedRide) bool { return r.Station == 214 }}
		c := transit.Checked{Service: w.svc, Risk: chk}
		if rc, flags := w.clearChecked(c, w.file(in, "in-1")); rc.Accepted != 1 || len(flags) != 0 {
			t.Fatalf("entry file: %+v, flags %+v", rc, flags)
		}
		r := chk.calls[0][0]
		if r.Card != p.card || r.City != "shanghai" || r.AccountID != "acc1" || r.PhoneID != "ph1" || r.Token != "6288010000001239" ||
			!r.At.Equal(entered.Truncate(time.Second)) || r.At.Location() != time.UTC || r.Line != 2 || r.Station != 113 || r.Amount != 0 || r.FileID != "in-1" {
			t.Fatalf("the checked ride: %+v", r)
		}
		if !strings.Contains(r.Summary, "Shanghai") || !strings.Contains(r.Summary, "People's Square") || strings.Contains(r.Summary, p.card) {
			t.Fatalf("summary %q: want the city and station, no card number", r.Summary)
		}
		rc, flags := w.clearChecked(c, w.file(out, "out-1"))
		if rc.Accepted != 1 || rc.Amount != 300 || len(flags) != 1 || flags[0].Card != p.card {
			t.Fatalf("exit file: %+v, flags %+v: want the exit charged and flagged", rc, flags)
		}
		ex, err := w.svc.Exceptions(w.ctx, "shanghai", 100)
		if err != nil {
			t.Fatal(err)
		}
		var risky []transit.Exception
		for _, e := range ex {
			if e.Kind == transit.ExRisk {
				risky = append(risky, e)
			}
		}
		if len(risky) != 1 || risky[0].Card != p.card || risky[0].ATC != flags[0].ATC || risky[0].FileID != "out-1" ||
			risky[0].Detail != "risk v5 score 50: transit.impossible_travel (case opened for the card holder)" {
			t.Fatalf("risk exceptions %+v: want the exit flagged", risky)
		}
		if cd := w.card(p.card); cd.Balance != 4700 {
			t.Fatalf("balance %d: the flagged ride stands charged (4700)", cd.Balance)
		}
		if again, _ := w.clearChecked(c, w.file(out, "out-1")); !again.Again || len(chk.calls) != 2 {
			t.Fatalf("the same file again: %+v, %d checks; want its first receipt, not checked again", again, len(chk.calls))
		}

		chk.err = errors.New("the risk wing is down")
		w.now = w.now.Add(time.Hour)
		if o := w.tap(p, in); o.Result != gate.Entered {
			t.Fatalf("entry: got %s", o.Result)
		}
		if rc, _ := w.clearChecked(c, w.file(in, "in-2")); rc.Accepted != 1 || len(chk.calls) != 3 {
			t.Fatalf("with the check failing: %+v, %d checks; want the ride cleared", rc, len(chk.calls))
		}
		w.now = w.now.Add(20 * time.Minute)
		if o := w.tap(p, out); o.Result != gate.Exited {
			t.Fatalf("exit: got %s", o.Result)
		}
		if rc := w.clear(w.file(out, "out-2")); rc.Accepted != 1 || len(chk.calls) != 3 {
			t.Fatalf("Service.Clear checks nothing: %+v, %d checks", rc, len(chk.calls))
		}
	})
}

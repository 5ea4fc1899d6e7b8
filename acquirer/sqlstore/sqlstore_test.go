package sqlstore_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/acquirer"
	"github.com/tapwallet/tapwallet/acquirer/sqlstore"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// each runs fn on the acquirer's wing on SQLite and, with
// TAPWALLET_TEST_POSTGRES, PostgreSQL; open opens the same wing again (as
// another process, or after a restart).
func each(t *testing.T, fn func(t *testing.T, open func() *sqlstore.Store)) {
	run := func(t *testing.T, dsn, dir string) {
		fn(t, func() *sqlstore.Store {
			s, err := sqlstore.Open(context.Background(), dsn, dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	}
	t.Run("sqlite", func(t *testing.T) { run(t, "", t.TempDir()) })
	if os.Getenv("TAPWALLET_TEST_POSTGRES") != "" {
		t.Run("postgres", func(t *testing.T) { run(t, sqldbtest.PostgresDSN(t), "") })
	}
}

// TestCounters: a terminal's numbers continue across opens and stay
// unique when two stores on one database take them at once; each
// terminal has its own.
func TestCounters(t *testing.T) {
	each(t, func(t *testing.T, open func() *sqlstore.Store) {
		ctx := context.Background()
		at := time.Date(2026, 3, 14, 17, 26, 53, 0, time.Local)
		a, b := open(), open()
		if stan, rrn, err := a.Counters("TR000021").Next(ctx, at, true); err != nil || stan != 1 || rrn != "607317000001" {
			t.Fatalf("first: got %v %q %v, want 000001 607317000001", stan, rrn, err)
		}
		var mu sync.Mutex
		seen := map[iso8583.STAN]bool{}
		var wg sync.WaitGroup
		for _, s := range []*sqlstore.Store{a, b} {
			for g := 0; g < 4; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 10; i++ {
						stan, _, err := s.Counters("TR000021").Next(ctx, at, false)
						mu.Lock()
						if err != nil || seen[stan] {
							t.Errorf("concurrent: got %v %v, want a number nobody else got", stan, err)
						}
						seen[stan] = true
						mu.Unlock()
					}
				}()
			}
		}
		wg.Wait()
		if stan, _, _ := open().Counters("TR000021").Next(ctx, at, false); stan != 82 {
			t.Errorf("after 81 numbers: got %v, want 000082", stan)
		}
		if stan, _, _ := a.Counters("TR000010").Next(ctx, at, false); stan != 1 {
			t.Errorf("another terminal: got %v, want 000001", stan)
		}
	})
}

func charge(ref, terminal, stan string, fen int64) acquirer.Charge {
	return acquirer.Charge{Ref: ref, Token: "6288010000000004", Acquirer: "48021000", Terminal: terminal, STAN: stan,
		Transmission: "0314090000", RRN: "607309" + stan, Merchant: "898000214111001", MerchantName: "SHANGHAI TRANSIT",
		MCC: "4111", Amount: fen, Currency: 156, At: time.UnixMilli(1_773_000_000_000).UTC(), Kind: acquirer.KindSale, ProcessingCode: "000000"}
}

// TestChargesAndRefundPlans: a charge is kept once by reference; a
// refund's parts are planned once (planning again returns them
// unchanged), spread over the charges in order, each with a new STAN of
// its charge's terminal; declined parts give their amount back to the
// charge; a refund of charges unknown plans nothing.
func TestChargesAndRefundPlans(t *testing.T) {
	each(t, func(t *testing.T, open func() *sqlstore.Store) {
		ctx := context.Background()
		s := open()
		if _, err := s.Charge(ctx, "nope"); !errors.Is(err, fault.E(fault.NotFound, acquirer.CodeChargeNotFound, "")) {
			t.Errorf("unknown charge: got %v, want charge_not_found", err)
		}
		for _, c := range []acquirer.Charge{charge("c1", "TR000021", "000001", 300), charge("c2", "TR000021", "000002", 500)} {
			for i := 0; i < 2; i++ {
				if err := s.SaveCharge(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
		}
		got, err := s.Charge(ctx, "c2")
		if err != nil || got != charge("c2", "TR000021", "000002", 500) || got.AuthID() != "TR000021|000002|0314090000" {
			t.Fatalf("charge: got %+v, %v", got, err)
		}
		now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
		parts, err := s.PlanRefund(ctx, "r1", []string{"c2", "c1", "ghost"}, 600, now)
		if err != nil || len(parts) != 2 || parts[0].Message.Amount != 500 || parts[1].Message.Amount != 100 ||
			parts[0].ChargeRef != "c2" || parts[0].Message.STAN != "000001" || parts[1].Message.STAN != "000002" {
			t.Fatalf("plan: got %+v, %v; want 500 of c2 (STAN 000001), 100 of c1 (000002)", parts, err)
		}
		again, err := open().PlanRefund(ctx, "r1", []string{"c1"}, 50, now.Add(time.Hour))
		if err != nil || len(again) != 2 || again[0].Message != parts[0].Message || again[1].Message != parts[1].Message {
			t.Errorf("planned again: got %+v, %v; want the first plan unchanged", again, err)
		}
		if err := s.AnswerRefund(ctx, "r1", 1, "05", ""); err != nil {
			t.Fatal(err)
		}
		if err := s.AnswerRefund(ctx, "r1", 0, "00", "R00001"); err != nil {
			t.Fatal(err)
		}
		// c1's 100 was declined: all its 300 is left; c2 has nothing.
		p2, err := s.PlanRefund(ctx, "r2", []string{"c2", "c1"}, 1000, now)
		if err != nil || len(p2) != 1 || p2[0].ChargeRef != "c1" || p2[0].Message.Amount != 300 {
			t.Errorf("after a decline: got %+v, %v; want 300 of c1", p2, err)
		}
		parts, _ = s.PlanRefund(ctx, "r1", nil, 0, now)
		if parts[0].ResponseCode != "00" || parts[0].AuthCode != "R00001" || parts[1].ResponseCode != "05" {
			t.Errorf("answers: got %+v", parts)
		}
		if p, err := s.PlanRefund(ctx, "r3", []string{"ghost"}, 10, now); err != nil || len(p) != 0 {
			t.Errorf("unknown charges: got %+v, %v; want no parts", p, err)
		}
	})
}

// TestReversalsOwed: a reversal owed is kept (once) across a reopen with
// its tries until it is answered.
func TestReversalsOwed(t *testing.T) {
	each(t, func(t *testing.T, open func() *sqlstore.Store) {
		ctx := context.Background()
		s := open()
		at := time.UnixMilli(1_773_000_000_000)
		for _, r := range []acquirer.Reversal{{ID: "T1|000002|0314090000", Message: []byte("0400 b"), OwedAt: at.Add(time.Second)},
			{ID: "T1|000001|0314085959", Message: []byte("0400 a"), OwedAt: at}, {ID: "T1|000001|0314085959", Message: []byte("other"), OwedAt: at}} {
			if err := s.OweReversal(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.ReversalTried(ctx, "T1|000001|0314085959"); err != nil {
			t.Fatal(err)
		}
		owed, err := open().OwedReversals(ctx, 10)
		if err != nil || len(owed) != 2 || string(owed[0].Message) != "0400 a" || owed[0].Tries != 1 || !owed[0].OwedAt.Equal(at) {
			t.Fatalf("reopened: got %+v, %v; want two owed, the oldest first, tried once", owed, err)
		}
		if err := s.ReversalAnswered(ctx, "T1|000001|0314085959", "00", at); err != nil {
			t.Fatal(err)
		}
		if owed, _ := s.OwedReversals(ctx, 10); len(owed) != 1 || owed[0].ID != "T1|000002|0314090000" {
			t.Errorf("after an answer: got %+v, want the other one owed", owed)
		}
	})
}

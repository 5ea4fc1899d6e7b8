package sqlstore_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/promo/promotest"
	"github.com/tapwallet/tapwallet/promo/sqlstore"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// TestSuite runs the conformance suite of promo.Store on the promo wing on
// SQLite and, with TAPWALLET_TEST_POSTGRES, PostgreSQL, through the plain
// store and through Batch; each open is another connection pool on the
// same wing, as another network process would have.
func TestSuite(t *testing.T) {
	for _, batch := range []bool{false, true} {
		suffix := ""
		if batch {
			suffix = "-batch"
		}
		t.Run("sqlite"+suffix, func(t *testing.T) {
			promotest.Run(t, func(t *testing.T) promotest.Open { return opener(t, "", t.TempDir(), batch) })
		})
		if os.Getenv("TAPWALLET_TEST_POSTGRES") != "" {
			t.Run("postgres"+suffix, func(t *testing.T) {
				promotest.Run(t, func(t *testing.T) promotest.Open { return opener(t, sqldbtest.PostgresDSN(t), "", batch) })
			})
		}
	}
}

// opener opens the wing on dsn/dir, closed when the test ends.
func opener(t *testing.T, dsn, dir string, batch bool) promotest.Open {
	return func() promo.Store {
		s, err := sqlstore.Open(context.Background(), dsn, dir)
		if err != nil {
			t.Fatal(err)
		}
		if batch {
			b := sqlstore.NewBatch(s)
			t.Cleanup(func() { b.Close() })
			return b
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

var (
	at       = promotest.At
	campaign = promotest.Campaign
)

// TestRestore: holds a switch decided and named in its records, given to
// the wing after a stop, are reserved once however often they are given
// (by their ids), a paused campaign takes them (decided while it was
// open), and a hold its budget cannot take is counted refused.
func TestRestore(t *testing.T) {
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Save(ctx, []promo.Campaign{campaign("r", 300, promo.Limits{})}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPaused(ctx, "r", true); err != nil {
		t.Fatal(err)
	}
	hold := func(id string) promo.Hold {
		return promo.Hold{ID: id, Campaign: "r", Card: "card", Amount: 100, At: at, ExpiresAt: at.Add(time.Hour)}
	}
	hs := []promo.Hold{hold("a"), hold("b")}
	for range 2 {
		if refused, err := s.Restore(ctx, hs); err != nil || refused != 0 {
			t.Fatalf("restore: %d refused, %v", refused, err)
		}
	}
	if u, _ := s.Usage(ctx, "r"); u.Reserved != 200 || u.ReservedCount != 2 {
		t.Fatalf("after two restores: %+v, want 200 in 2 holds", u)
	}
	if refused, err := s.Restore(ctx, []promo.Hold{hold("c"), hold("d")}); err != nil || refused != 1 {
		t.Fatalf("over the budget: %d refused, %v; want 1", refused, err)
	}
	if u, _ := s.Usage(ctx, "r"); u.Reserved != 300 {
		t.Fatalf("after the budget: %+v, want 300", u)
	}
}

// TestReserveDecided: a batch of decided holds is stored in one
// transaction — each campaign's total and each card's rows counted once
// per hold, an id given again returned as stored and not counted twice, a
// known id for another amount a conflict — and a batch over the budget
// (the CHECK, the last guard) stores none and fails as a whole.
func TestReserveDecided(t *testing.T) {
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Save(ctx, []promo.Campaign{campaign("d", 500, promo.Limits{})}); err != nil {
		t.Fatal(err)
	}
	hold := func(id, card string, amount int64) promo.Hold {
		return promo.Hold{ID: id, Campaign: "d", Card: card, Amount: amount, At: at, ExpiresAt: at.Add(time.Hour), Decided: true}
	}
	gots, errs, err := s.ReserveDecided(ctx, []promo.Hold{hold("a", "c1", 100), hold("b", "c1", 100), hold("c", "c2", 100)})
	if err != nil || errs[0] != nil || errs[1] != nil || errs[2] != nil || gots[2].Status != promo.HoldPending {
		t.Fatalf("first batch: %v %v %+v", err, errs, gots)
	}
	gots, errs, err = s.ReserveDecided(ctx, []promo.Hold{hold("a", "c1", 100), hold("b", "c1", 90)})
	if err != nil || errs[0] != nil || gots[0].Amount != 100 || !errors.Is(errs[1], promo.ErrHoldConflict) {
		t.Fatalf("again: %v %v %+v", err, errs, gots)
	}
	if u, _ := s.Usage(ctx, "d"); u.Reserved != 300 || u.ReservedCount != 3 {
		t.Fatalf("usage %+v, want 300 in 3 holds", u)
	}
	uses, err := s.CardUses(ctx, "c1")
	if err != nil || len(uses) != 2 || uses[0].Count != 2 || uses[0].Amount != 200 || uses[1].Count != 2 {
		t.Fatalf("card c1's use %+v (%v), want 2 holds, 200, on its day and in all", uses, err)
	}
	if _, _, err := s.ReserveDecided(ctx, []promo.Hold{hold("x", "c3", 100), hold("y", "c3", 150)}); err == nil {
		t.Fatal("a batch over the budget was stored")
	}
	if u, _ := s.Usage(ctx, "d"); u.Reserved != 300 {
		t.Fatalf("after the refused batch: %+v, want 300", u)
	}
	if _, err := s.Hold(ctx, "x"); !errors.Is(err, promo.ErrNoHold) {
		t.Fatalf("a hold of the refused batch is stored: %v", err)
	}
}

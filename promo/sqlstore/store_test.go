package sqlstore_test

import (
	"context"
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

package sqlstore_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/issuer/rewardstest"
	"github.com/tapwallet/tapwallet/issuer/sqlstore"
	"github.com/tapwallet/tapwallet/ledger"
)

// TestRewards runs the rewards suite on the bank's wing: the lots in
// points_lots, each operation in one transaction with its ledger
// transfers (SQLite, and PostgreSQL with TAPWALLET_TEST_POSTGRES).
func TestRewards(t *testing.T) {
	backends(t, func(t *testing.T, dsn, dir string) {
		rewardstest.Run(t, func(t *testing.T, now func() time.Time) (*issuer.Host, ledger.Store) {
			banks, err := bank.Default()
			if err != nil {
				t.Fatal(err)
			}
			s, err := sqlstore.Open(context.Background(), dsn, dir, "icbc")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			s.DB.Now = now
			b, _ := banks.BankByID("icbc")
			h, err := issuer.NewHost(context.Background(), s.HostConfig(issuer.HostConfig{Bank: b, Holders: banks.Holders("icbc"), Secret: []byte("s"), Now: now}))
			if err != nil {
				t.Fatal(err)
			}
			return h, s.Ledger
		})
	})
}

// TestPayWithPointsTwoHosts: two hosts of one bank on one wing (two
// processes) asked at once to pay one purchase with points: one payment,
// one credit, the lots and the ledger agreeing.
func TestPayWithPointsTwoHosts(t *testing.T) {
	backends(t, func(t *testing.T, dsn, dir string) {
		ctx := context.Background()
		banks, err := bank.Default()
		if err != nil {
			t.Fatal(err)
		}
		now := func() time.Time { return rewardstest.T0 }
		var hs []*issuer.Host
		var st *sqlstore.Store
		for range 2 {
			s, err := sqlstore.Open(ctx, dsn, dir, "icbc")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			s.DB.Now = now
			b, _ := banks.BankByID("icbc")
			h, err := issuer.NewHost(ctx, s.HostConfig(issuer.HostConfig{Bank: b, Holders: banks.Holders("icbc"), Secret: []byte("s"), Now: now}))
			if err != nil {
				t.Fatal(err)
			}
			hs, st = append(hs, h), s
		}
		purchase := rewardstest.Cleared(t, hs[0], now, rewardstest.Credit, rewardstest.CreditPAR, "5812", 4000) // credit dining: 240 points
		var wg sync.WaitGroup
		var fresh, credited atomic.Int64
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := hs[i%2].PayWithPoints(ctx, bank.PayWithPoints{Bank: "icbc", PAR: rewardstest.CreditPAR, Purchase: purchase, Points: 200})
				if err != nil || got.Points != 200 || got.Credit != 200 {
					t.Errorf("pay %d: got %+v %v", i, got, err)
					return
				}
				if !got.Again {
					fresh.Add(1)
					credited.Add(got.Credit)
				}
			}()
		}
		wg.Wait()
		if fresh.Load() != 1 || credited.Load() != 200 {
			t.Fatalf("%d of 16 paid, %d credited: want 1 payment of 200", fresh.Load(), credited.Load())
		}
		p, err := hs[1].Points(ctx, rewardstest.CreditPAR)
		if err != nil || p.Balance != 40 {
			t.Fatalf("points left: got %+v %v, want 40", p, err)
		}
		prog := hs[0].Program()
		as, err := st.Ledger.LookupAccounts(ctx, []string{prog.CardAccount(rewardstest.CreditPAR), "points:icbc:redeemed"})
		if err != nil || len(as) != 2 || as[0].CreditsPosted-as[0].DebitsPosted != 40 || as[1].CreditsPosted != 200 {
			t.Fatalf("ledger: got %+v %v, want the card's 40 points and 200 redeemed", as, err)
		}
		tr, err := st.Ledger.LookupTransfer(ctx, "pts:icbc:credit:"+holdOf(t, purchase))
		if err != nil || tr.Amount != 200 {
			t.Fatalf("the money credit: got %+v %v, want 200 once", tr, err)
		}
	})
}

func holdOf(t *testing.T, purchase string) string {
	id, ok := issuer.PurchaseHold("icbc", purchase)
	if !ok {
		t.Fatalf("purchase %q", purchase)
	}
	return id
}

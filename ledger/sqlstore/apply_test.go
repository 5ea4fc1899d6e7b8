package sqlstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/ledger/ledgertest"
	"github.com/tapwallet/tapwallet/ledger/sqlstore"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/sqldb"
)

// openFunded returns the SQL ledger of db (with a test clock) with the
// accounts cust, settle and cash, cust funded with amount from cash.
func openFunded(t *testing.T, db *sqldb.DB, amount int64) (*sqlstore.Store, *ledgertest.Clock) {
	t.Helper()
	s, clock := openLedger(db)
	mustAccounts(t, s, "cust", "settle", "cash")
	mustTransfer(t, s, ledger.Transfer{ID: "fund", DebitAccountID: "cash", CreditAccountID: "cust", Amount: amount, Currency: money.CNY})
	return s, clock
}

// TestApplyHolds writes a batch of 150 holds behind (statements of 64,
// 16, 4 and 2 rows), 20 of them stored before (a record applied before
// the replay) and 12 twice in the batch, the repeats in other statements
// than the first: each hold is stored once, and the accounts hold each
// new one once.
func TestApplyHolds(t *testing.T) {
	each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s, clock := openFunded(t, db, 100_000)
		if _, err := s.CreateAccounts(ctx, []ledger.Account{{ID: "cust2", Currency: money.CNY, Code: ledger.CodeCustomerDebit}}); err != nil {
			t.Fatal(err)
		}
		now := clock.Now().UTC().Truncate(time.Millisecond)
		hold := func(i int) ledger.Transfer {
			t := ledger.Hold(fmt.Sprintf("h%03d", i), []string{"cust", "cust2"}[i%2], "settle", money.Fen(int64(1+i)), time.Hour, "")
			t.Timestamp, t.ExpiresAt, t.Status = now, now.Add(time.Hour), ledger.StatusPending
			return t
		}
		var before []ledger.Transfer
		for i := 100; i < 120; i++ {
			before = append(before, hold(i))
		}
		if err := sqlstore.ApplyHolds(ctx, s, before); err != nil {
			t.Fatal(err)
		}
		var batch []ledger.Transfer
		for i := range 138 {
			batch = append(batch, hold(i))
		}
		for i := range 12 {
			batch = append(batch, hold(i*10)) // again, in the batch's last statements
		}
		if err := sqlstore.ApplyHolds(ctx, s, batch); err != nil {
			t.Fatal(err)
		}
		var want [2]int64
		for i := range 138 {
			want[i%2] += int64(1 + i)
		}
		as, err := s.LookupAccounts(ctx, []string{"cust", "cust2", "settle"})
		if err != nil || len(as) != 3 || as[0].DebitsPending != want[0] || as[1].DebitsPending != want[1] || as[2].CreditsPending != want[0]+want[1] {
			t.Errorf("accounts after the batch: got %+v (%v), want %d and %d held, %d in settle", as, err, want[0], want[1], want[0]+want[1])
		}
		holds, err := s.Transfers(ctx, ledger.Filter{Flags: ledger.Pending})
		if err != nil || len(holds) != 138 {
			t.Fatalf("holds stored: got %d (%v), want 138", len(holds), err)
		}
		for _, h := range holds {
			var i int
			fmt.Sscanf(h.ID, "h%03d", &i)
			if w := hold(i); h != w {
				t.Errorf("hold %s stored as %+v, want %+v", h.ID, h, w)
			}
		}
	})
}

// BenchmarkApplyHolds measures the journaled ledger's write-behind: one
// transaction writing a batch of journaled holds (ids shaped like
// issuer.HoldID, from 2,000 customers to the bank's settlement account)
// to a ledger already holding 20,000 holds, on SQLite. It reports the
// process's CPU (user and system, and user alone) per hold.
func BenchmarkApplyHolds(b *testing.B) {
	for _, size := range []int{8, 40, 400} {
		b.Run(fmt.Sprintf("sqlite/batch%d", size), func(b *testing.B) {
			ctx := context.Background()
			s, clock := openLedger(openSQLite(b))
			const customers, prefill = 2000, 20000
			var accounts []ledger.Account
			for i := range customers {
				accounts = append(accounts, ledger.Account{ID: fmt.Sprintf("acct-%06d", i), Currency: money.CNY, Code: ledger.CodeCustomerDebit})
			}
			accounts = append(accounts, ledger.Account{ID: "settle", Currency: money.CNY, Code: ledger.CodeBankSettlement})
			if _, err := s.CreateAccounts(ctx, accounts); err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			n := 0
			holds := func(k int) []ledger.Transfer {
				now := clock.Now().UTC()
				ts := make([]ledger.Transfer, k)
				for i := range ts {
					n++
					id := fmt.Sprintf("bank-07|12%08d|%06d|TERM%04d", n/7, rng.IntN(1_000_000), rng.IntN(10_000))
					t := ledger.Hold(id, accounts[rng.IntN(customers)].ID, "settle", money.New(1234, money.CNY), ledger.HoldTimeout, "rrn 634012345678")
					t.Timestamp, t.ExpiresAt, t.Status = now, now.Add(t.Timeout), ledger.StatusPending
					ts[i] = t
				}
				return ts
			}
			for range prefill / 500 {
				if err := sqlstore.ApplyHolds(ctx, s, holds(500)); err != nil {
					b.Fatal(err)
				}
			}
			applied := 0
			var cpu, user float64
			for b.Loop() {
				b.StopTimer()
				ts := holds(size)
				b.StartTimer()
				u0, s0 := cpuTime()
				if err := sqlstore.ApplyHolds(ctx, s, ts); err != nil {
					b.Fatal(err)
				}
				u1, s1 := cpuTime()
				cpu += float64((u1 - u0 + s1 - s0).Microseconds())
				user += float64((u1 - u0).Microseconds())
				applied += size
			}
			b.ReportMetric(cpu/float64(applied), "cpu-µs/hold")
			b.ReportMetric(user/float64(applied), "user-µs/hold")
			b.ReportMetric(0, "ns/op")
		})
	}
}

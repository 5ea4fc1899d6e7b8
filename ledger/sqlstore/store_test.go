package sqlstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/ledger/ledgertest"
	"github.com/tapwallet/tapwallet/ledger/sqlstore"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// openLedger returns the SQL ledger of db with db's clock set to a test clock.
func openLedger(db *sqldb.DB) (*sqlstore.Store, *ledgertest.Clock) {
	clock := ledgertest.NewClock()
	db.Now = clock.Now
	return sqlstore.New(db), clock
}

// each runs fn on a fresh ledger wing on SQLite, and on PostgreSQL when
// TAPWALLET_TEST_POSTGRES is set.
func each(t *testing.T, fn func(t *testing.T, db *sqldb.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, openSQLite(t)) })
	if os.Getenv("TAPWALLET_TEST_POSTGRES") != "" {
		t.Run("postgres", func(t *testing.T) { fn(t, openPostgres(t)) })
	}
}

func openSQLite(t testing.TB) *sqldb.DB { return openWing(t, "", t.TempDir()) }

func openPostgres(t testing.TB) *sqldb.DB { return openWing(t, sqldbtest.PostgresDSN(t), "") }

func openWing(t testing.TB, dsn, dir string) *sqldb.DB {
	t.Helper()
	db, err := sqldb.OpenWing(context.Background(), dsn, dir, sqlstore.Wing("issuer_test"))
	if err != nil {
		t.Fatalf("open the ledger wing: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestLedgerRules(t *testing.T) {
	each(t, func(t *testing.T, db *sqldb.DB) {
		s, clock := openLedger(db)
		ledgertest.Run(t, s, clock)
	})
}

func TestLedgerProperty(t *testing.T) {
	each(t, func(t *testing.T, db *sqldb.DB) {
		s, clock := openLedger(db)
		ledgertest.WithChecks(30, func() { ledgertest.Property(t, s, clock) })
	})
}

// TestLedgerConcurrentHolds has 16 goroutines place (and sometimes void)
// holds on one debit account, some of them with the same message ids: the
// holds accepted never exceed the balance, and each shared id takes effect
// at most once.
func TestLedgerConcurrentHolds(t *testing.T) {
	each(t, func(t *testing.T, db *sqldb.DB) {
		s, _ := openLedger(db)
		concurrentHolds(t, s, 100)
	})
}

// concurrentHolds is TestLedgerConcurrentHolds on s; at the end at most
// slack of the balance is left (the last voids release what no hold takes
// again).
func concurrentHolds(t *testing.T, s ledger.Store, slack int64) {
	ctx := context.Background()
	const balance, workers, holds, shared = 10_000, 16, 30, 8
	mustAccounts(t, s, "cust", "settle", "cash")
	mustTransfer(t, s, ledger.Transfer{ID: "fund", DebitAccountID: "cash", CreditAccountID: "cust", Amount: balance, Currency: money.CNY})

	var mu sync.Mutex
	held := int64(0)             // accepted holds minus voided ones
	sharedOK := map[string]int{} // shared id → OK results
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range holds {
				id := fmt.Sprintf("w%d-h%d", w, i)
				amount := int64(1 + rng.IntN(100))
				if i < shared {
					id, amount = fmt.Sprintf("shared-%d", i), 50
				}
				r, err := s.CreateTransfer(ctx, ledger.Hold(id, "cust", "settle", money.Fen(amount), ledger.HoldTimeout, ""))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				switch {
				case r == ledger.OK:
					held += amount
					if i < shared {
						sharedOK[id]++
					}
				case r == ledger.Exists && i < shared, r == ledger.ExceedsCredits:
				default:
					errs <- fmt.Errorf("hold %s: got %s, want ok, exists or exceeds_credits", id, r)
				}
				mu.Unlock()
				if r == ledger.OK && i >= shared && i%4 == 0 {
					v, err := s.CreateTransfer(ctx, ledger.Void("void-"+id, id, ""))
					if err != nil || v != ledger.OK {
						errs <- fmt.Errorf("void %s: got %s (%v), want ok", id, v, err)
						return
					}
					mu.Lock()
					held -= amount
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	as, err := s.LookupAccounts(ctx, []string{"cust", "settle"})
	if err != nil || len(as) != 2 {
		t.Fatalf("lookup: got %v (%v), want two accounts", as, err)
	}
	cust, settle := as[0], as[1]
	if cust.DebitsPending > balance {
		t.Errorf("holds: got %d, want at most the balance %d", cust.DebitsPending, balance)
	}
	if cust.DebitsPending != held || settle.CreditsPending != held {
		t.Errorf("pending: got debits %d and credits %d, want %d (the holds accepted and not voided)", cust.DebitsPending, settle.CreditsPending, held)
	}
	if cust.DebitsPosted != 0 || cust.CreditsPosted != balance {
		t.Errorf("posted: got debits %d credits %d, want 0 and %d", cust.DebitsPosted, cust.CreditsPosted, balance)
	}
	if held < balance-slack {
		t.Errorf("holds: got %d, want the balance %d nearly used up (demand was far above it)", held, balance)
	}
	for id, n := range sharedOK {
		if n > 1 {
			t.Errorf("shared hold %s: got %d successes, want at most 1", id, n)
		}
	}
}

// TestLedgerConcurrentResolve has 16 goroutines race to post or void the
// same holds, each with its own message ids: every hold resolves exactly
// once, and the accounts end as the winners say.
func TestLedgerConcurrentResolve(t *testing.T) {
	each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s, _ := openLedger(db)
		const workers, holds, amount = 16, 20, 100
		mustAccounts(t, s, "cust", "settle", "cash")
		mustTransfer(t, s, ledger.Transfer{ID: "fund", DebitAccountID: "cash", CreditAccountID: "cust", Amount: holds * amount, Currency: money.CNY})
		for i := range holds {
			mustTransfer(t, s, ledger.Hold(fmt.Sprintf("h%d", i), "cust", "settle", money.Fen(amount), 0, ""))
		}
		var mu sync.Mutex
		wins := map[string][]string{} // hold → the transfers that resolved it
		posted := int64(0)
		var wg sync.WaitGroup
		errs := make(chan error, workers*holds)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range holds {
					i := (k + w) % holds // start at different holds
					hold := fmt.Sprintf("h%d", i)
					tr := ledger.Post(fmt.Sprintf("w%d-post-%d", w, i), hold, int64(10+w), "")
					if w%2 == 1 {
						tr = ledger.Void(fmt.Sprintf("w%d-void-%d", w, i), hold, "")
					}
					r, err := s.CreateTransfer(ctx, tr)
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					switch r {
					case ledger.OK:
						wins[hold] = append(wins[hold], tr.ID)
						if tr.Flags&ledger.PostPending != 0 {
							posted += tr.Amount
						}
					case ledger.PendingTransferAlreadyPosted, ledger.PendingTransferAlreadyVoided:
					default:
						errs <- fmt.Errorf("%s: got %s, want ok or already resolved", tr.ID, r)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for i := range holds {
			hold := fmt.Sprintf("h%d", i)
			if len(wins[hold]) != 1 {
				t.Errorf("%s: got resolved by %v, want exactly once", hold, wins[hold])
			}
		}
		as, err := s.LookupAccounts(ctx, []string{"cust", "settle"})
		if err != nil || len(as) != 2 {
			t.Fatalf("lookup: got %v (%v), want two accounts", as, err)
		}
		bal := func(a ledger.Account) ledgertest.Bal {
			return ledgertest.Bal{a.DebitsPending, a.DebitsPosted, a.CreditsPending, a.CreditsPosted}
		}
		if got, want := bal(as[0]), (ledgertest.Bal{0, posted, 0, holds * amount}); got != want {
			t.Errorf("cust: got %v, want %v", got, want)
		}
		if got, want := bal(as[1]), (ledgertest.Bal{0, 0, 0, posted}); got != want {
			t.Errorf("settle: got %v, want %v", got, want)
		}
	})
}

// TestLedgerSchemaChecks shows the tables refuse what the rules never do.
func TestLedgerSchemaChecks(t *testing.T) {
	each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s, _ := openLedger(db)
		mustAccounts(t, s, "cust", "settle", "cash")
		cases := []struct {
			name string
			q    string
		}{
			{"negative total", "UPDATE ledger_accounts SET debits_posted = -1 WHERE id = 'settle'"},
			{"debits over credits", "UPDATE ledger_accounts SET debits_posted = 1 WHERE id = 'cust'"},
			{"zero amount", "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, created_at) VALUES ('z', 'cash', 'cust', 0, 156, 1)"},
			{"same account", "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, created_at) VALUES ('z', 'cash', 'cash', 1, 156, 1)"},
			{"unknown hold state", "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, flags, created_at, status) VALUES ('z', 'cash', 'cust', 1, 156, 2, 1, 'lost')"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				err := db.InTx(ctx, func(tx *sqldb.Tx) error {
					_, err := tx.Exec(ctx, tc.q)
					return err
				})
				if !sqldb.IsCheckViolation(err) {
					t.Fatalf("got %v, want a check violation", err)
				}
			})
		}
	})
}

func mustAccounts(t testing.TB, s ledger.Store, cust, settle, cash string) {
	t.Helper()
	rs, err := s.CreateAccounts(context.Background(), []ledger.Account{
		{ID: cust, Currency: money.CNY, Code: ledger.CodeCustomerDebit, Flags: ledger.DebitsMustNotExceedCredits},
		{ID: settle, Currency: money.CNY, Code: ledger.CodeBankSettlement},
		{ID: cash, Currency: money.CNY, Code: ledger.CodeBankCash},
	})
	if err != nil || fmt.Sprint(rs) != "[ok ok ok]" {
		t.Fatalf("create accounts: got %v (%v), want all ok", rs, err)
	}
}

func mustTransfer(t testing.TB, s ledger.Store, tr ledger.Transfer) {
	t.Helper()
	r, err := s.CreateTransfer(context.Background(), tr)
	if err != nil || r != ledger.OK {
		t.Fatalf("transfer %s: got %s (%v), want ok", tr.ID, r, err)
	}
}

// BenchmarkCreateTransfer measures card payments (a customer's debit account
// to the bank's settlement account) on SQLite, and on PostgreSQL when
// TAPWALLET_TEST_POSTGRES is set, one transaction per transfer and 64
// transfers per transaction, from one goroutine, and reports transfers per
// second.
func BenchmarkCreateTransfer(b *testing.B) {
	type backend struct {
		name string
		open func(testing.TB) *sqldb.DB
	}
	backends := []backend{{"sqlite", openSQLite}}
	if os.Getenv("TAPWALLET_TEST_POSTGRES") != "" {
		backends = append(backends, backend{"postgres", openPostgres})
	}
	for _, backend := range backends {
		for _, size := range []int{1, 64} {
			name := "single"
			if size > 1 {
				name = fmt.Sprintf("batch%d", size)
			}
			b.Run(backend.name+"/"+name, func(b *testing.B) { benchmarkCreateTransfer(b, backend.open(b), size) })
		}
	}
}

func benchmarkCreateTransfer(b *testing.B, db *sqldb.DB, size int) {
	ctx := context.Background()
	s := sqlstore.New(db)
	const customers = 100
	var accounts []ledger.Account
	for i := range customers {
		accounts = append(accounts, ledger.Account{ID: fmt.Sprintf("cust%03d", i), Currency: money.CNY, Code: ledger.CodeCustomerDebit, Flags: ledger.DebitsMustNotExceedCredits})
	}
	accounts = append(accounts, ledger.Account{ID: "settle", Currency: money.CNY, Code: ledger.CodeBankSettlement},
		ledger.Account{ID: "cash", Currency: money.CNY, Code: ledger.CodeBankCash})
	if _, err := s.CreateAccounts(ctx, accounts); err != nil {
		b.Fatal(err)
	}
	for i := range customers {
		mustTransfer(b, s, ledger.Transfer{ID: fmt.Sprintf("fund%d", i), DebitAccountID: "cash", CreditAccountID: accounts[i].ID, Amount: 1 << 50, Currency: money.CNY})
	}
	batch := make([]ledger.Transfer, size)
	n := 0
	for b.Loop() {
		for k := range batch {
			batch[k] = ledger.Transfer{ID: fmt.Sprintf("pay%d", n), DebitAccountID: accounts[n%customers].ID, CreditAccountID: "settle", Amount: 1234, Currency: money.CNY, UserData: "rrn"}
			n++
		}
		rs, err := s.CreateTransfers(ctx, batch)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range rs {
			if r != ledger.OK {
				b.Fatalf("got %s, want ok", r)
			}
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "transfers/s")
}

// BenchmarkHold measures what an issuer host's authorization costs the
// ledger: batches of 1, 4 and 16 card holds (pending transfers with a
// timeout, ids shaped like issuer.HoldID, from 2,000 customers to the bank's
// settlement account), each batch one durable transaction, on a ledger
// already holding 20,000 holds, on SQLite (and PostgreSQL when
// TAPWALLET_TEST_POSTGRES is set). It reports µs of wall time and of the
// process's CPU (user and system, and user alone) per hold.
func BenchmarkHold(b *testing.B) {
	type backend struct {
		name string
		open func(testing.TB) *sqldb.DB
	}
	backends := []backend{{"sqlite", openSQLite}}
	if os.Getenv("TAPWALLET_TEST_POSTGRES") != "" {
		backends = append(backends, backend{"postgres", openPostgres})
	}
	for _, backend := range backends {
		for _, size := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("%s/batch%d", backend.name, size), func(b *testing.B) { benchmarkHold(b, backend.open(b), size, nil) })
		}
	}
}

// benchmarkHold places the holds on the SQL ledger of db, or on the
// ledger over it that journaled returns (the setup before, on SQL).
func benchmarkHold(b *testing.B, db *sqldb.DB, size int, journaled func(*sqlstore.Store) ledger.Store) {
	ctx := context.Background()
	sq := sqlstore.New(db)
	var s ledger.Store = sq
	const customers, prefill = 2000, 20000
	var accounts []ledger.Account
	for i := range customers {
		accounts = append(accounts, ledger.Account{ID: fmt.Sprintf("acct-%06d", i), Currency: money.CNY, Code: ledger.CodeCustomerDebit, Flags: ledger.DebitsMustNotExceedCredits})
	}
	accounts = append(accounts, ledger.Account{ID: "settle", Currency: money.CNY, Code: ledger.CodeBankSettlement},
		ledger.Account{ID: "cash", Currency: money.CNY, Code: ledger.CodeBankCash})
	if _, err := s.CreateAccounts(ctx, accounts); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	n := 0
	hold := func() ledger.Transfer {
		n++
		id := fmt.Sprintf("bank-07|12%08d|%06d|TERM%04d", n/7, rng.IntN(1_000_000), rng.IntN(10_000))
		return ledger.Hold(id, accounts[rng.IntN(customers)].ID, "settle", money.New(1234, money.CNY), ledger.HoldTimeout, "rrn 634012345678")
	}
	apply := func(ts []ledger.Transfer) {
		rs, err := s.CreateTransfers(ctx, ts)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range rs {
			if r != ledger.OK {
				b.Fatalf("got %s, want ok", r)
			}
		}
	}
	var ts []ledger.Transfer
	for i := range customers {
		ts = append(ts, ledger.Transfer{ID: fmt.Sprintf("fund%d", i), DebitAccountID: "cash", CreditAccountID: accounts[i].ID, Amount: 1 << 50, Currency: money.CNY})
		if len(ts) == 500 {
			apply(ts)
			ts = ts[:0]
		}
	}
	for range prefill {
		ts = append(ts, hold())
		if len(ts) == 500 {
			apply(ts)
			ts = ts[:0]
		}
	}
	if journaled != nil {
		s = journaled(sq)
	}
	batch := make([]ledger.Transfer, size)
	user0, sys0 := cpuTime()
	holds := 0
	for b.Loop() {
		for k := range batch {
			batch[k] = hold()
		}
		apply(batch)
		holds += size
	}
	if journaled != nil {
		// The write-behind's CPU counts: wait for it to apply every hold.
		if _, err := s.Transfers(ctx, ledger.Filter{Limit: 1}); err != nil {
			b.Fatal(err)
		}
	}
	user, sys := cpuTime()
	user, sys = user-user0, sys-sys0
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(holds), "µs/hold")
	b.ReportMetric(float64((user+sys).Microseconds())/float64(holds), "cpu-µs/hold")
	b.ReportMetric(float64(user.Microseconds())/float64(holds), "user-µs/hold")
	b.ReportMetric(0, "ns/op")
}

// cpuTime returns the process's user and system CPU time so far. The
// user time is the steadier figure on a shared machine: the system time
// of the log's writes and syncs moves with the other processes' I/O.
func cpuTime() (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

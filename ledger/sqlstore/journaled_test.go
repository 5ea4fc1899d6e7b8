package sqlstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/journal"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/ledger/ledgertest"
	"github.com/tapwallet/tapwallet/ledger/sqlstore"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/sqldb"
)

// openJournaled returns the journaled ledger over db (its journal in a
// fresh folder) with db's clock set to a test clock; the test closes it.
func openJournaled(t testing.TB, db *sqldb.DB) (*sqlstore.Journaled, *ledgertest.Clock, string) {
	t.Helper()
	s, clock := openLedger(db)
	path := filepath.Join(t.TempDir(), "issuer_test.journal")
	j, err := sqlstore.OpenJournaled(context.Background(), s, path, journal.Options{})
	if err != nil {
		t.Fatalf("open the journaled ledger: %v", err)
	}
	t.Cleanup(func() { j.Close() })
	return j, clock, path
}

func TestJournaledRules(t *testing.T) {
	each(t, func(t *testing.T, db *sqldb.DB) {
		j, clock, _ := openJournaled(t, db)
		ledgertest.Run(t, j, clock)
	})
}

func TestJournaledProperty(t *testing.T) {
	each(t, func(t *testing.T, db *sqldb.DB) {
		j, clock, _ := openJournaled(t, db)
		ledgertest.WithChecks(30, func() { ledgertest.Property(t, j, clock) })
	})
}

// TestJournaledConcurrentHolds is TestLedgerConcurrentHolds on the
// journaled ledger (holds in memory and on the journal, voids alone on
// SQL), then SQL after the write-behind: the same totals as memory, every
// hold accepted once in ledger_transfers.
func TestJournaledConcurrentHolds(t *testing.T) {
	each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		j, _, _ := openJournaled(t, db)
		concurrentHolds(t, j, 500) // the voids run alone: more of them end a worker's run
		mem, err := j.LookupAccounts(ctx, []string{"cust", "settle"})
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		sq := sqlstore.New(db)
		inSQL, err := sq.LookupAccounts(ctx, []string{"cust", "settle"})
		if err != nil || !reflect.DeepEqual(mem, inSQL) {
			t.Errorf("after the write-behind: SQL has %+v (%v), memory had %+v", inSQL, err, mem)
		}
		holds, err := sq.Transfers(ctx, ledger.Filter{AccountID: "cust", Flags: ledger.Pending})
		if err != nil {
			t.Fatal(err)
		}
		var pending int64
		for _, h := range holds {
			if h.Status == ledger.StatusPending {
				pending += h.Amount
			}
		}
		if pending != inSQL[0].DebitsPending {
			t.Errorf("SQL: the pending holds add up to %d, the account holds %d", pending, inSQL[0].DebitsPending)
		}
	})
}

// TestJournaledNearBalance has 32 goroutines place holds of one account
// near its balance, each id twice (a retransmission) from two goroutines
// at once: the account is never overdrawn, each id is accepted once and
// answered alike to both, and SQL after the write-behind holds exactly the
// holds accepted, with the same totals.
func TestJournaledNearBalance(t *testing.T) {
	each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		j, _, _ := openJournaled(t, db)
		const balance, workers, per = 5_000, 32, 40
		mustAccounts(t, j, "cust", "settle", "cash")
		mustTransfer(t, j, ledger.Transfer{ID: "fund", DebitAccountID: "cash", CreditAccountID: "cust", Amount: balance, Currency: money.CNY})
		type answer struct {
			amount int64
			r      ledger.Result
		}
		var mu sync.Mutex
		answers := map[string][]answer{}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(w/2), 7)) // two goroutines send the same holds
				for i := range per {
					id := fmt.Sprintf("h%d-%d", w/2, i)
					amount := int64(1 + rng.IntN(40))
					r, err := j.CreateTransfer(ctx, ledger.Hold(id, "cust", "settle", money.Fen(amount), time.Hour, "rrn"))
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					answers[id] = append(answers[id], answer{amount, r})
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		var accepted int64
		okIDs := map[string]int64{}
		for id, as := range answers {
			oks := 0
			for _, a := range as {
				switch a.r {
				case ledger.OK:
					oks++
				case ledger.Exists, ledger.ExceedsCredits:
				default:
					t.Errorf("hold %s: got %s", id, a.r)
				}
			}
			if oks > 1 {
				t.Errorf("hold %s accepted %d times", id, oks)
			}
			if oks == 1 {
				accepted += as[0].amount
				okIDs[id] = as[0].amount
				for _, a := range as {
					if a.r != ledger.OK && a.r != ledger.Exists {
						t.Errorf("hold %s: accepted once, refused its retransmission with %s", id, a.r)
					}
				}
			}
		}
		if accepted > balance || accepted < balance-40 {
			t.Errorf("accepted %d, want at most the balance %d and nearly all of it", accepted, balance)
		}
		mem, err := j.LookupAccounts(ctx, []string{"cust"})
		if err != nil || len(mem) != 1 || mem[0].DebitsPending != accepted {
			t.Errorf("memory: got %+v (%v), want %d held", mem, err, accepted)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		sq := sqlstore.New(db)
		inSQL, err := sq.LookupAccounts(ctx, []string{"cust"})
		if err != nil || !reflect.DeepEqual(mem, inSQL) {
			t.Errorf("SQL after the write-behind: got %+v (%v), want %+v", inSQL, err, mem)
		}
		holds, err := sq.Transfers(ctx, ledger.Filter{Flags: ledger.Pending})
		if err != nil {
			t.Fatal(err)
		}
		if len(holds) != len(okIDs) {
			t.Errorf("SQL holds %d holds, want the %d accepted", len(holds), len(okIDs))
		}
		for _, h := range holds {
			if okIDs[h.ID] != h.Amount {
				t.Errorf("SQL hold %s of %d, accepted %d", h.ID, h.Amount, okIDs[h.ID])
			}
		}
	})
}

// TestJournaledReplay writes holds on a journal as a store that stopped
// before its write-behind would have, one of them twice and one already in
// SQL: opening the ledger applies each once, with the accounts' totals,
// and leaves the journal empty.
func TestJournaledReplay(t *testing.T) {
	each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		sq, clock := openLedger(db)
		mustAccounts(t, sq, "cust", "settle", "cash")
		mustTransfer(t, sq, ledger.Transfer{ID: "fund", DebitAccountID: "cash", CreditAccountID: "cust", Amount: 1000, Currency: money.CNY})
		mustTransfer(t, sq, ledger.Hold("h0", "cust", "settle", money.Fen(100), time.Hour, "rrn 0"))
		now := clock.Now().UTC().Truncate(time.Millisecond)
		h := func(id string, amount int64) ledger.Transfer {
			t := ledger.Hold(id, "cust", "settle", money.Fen(amount), time.Hour, "rrn "+id)
			t.Timestamp, t.ExpiresAt, t.Status = now, now.Add(time.Hour), ledger.StatusPending
			return t
		}
		path := filepath.Join(t.TempDir(), "issuer_test.journal")
		l, err := journal.Open(path, journal.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range [][]ledger.Transfer{{h("h1", 10), h("h2", 20)}, {h("h0", 100)}, {h("h1", 10)}, {h("h3", 30)}} {
			if _, err := l.Append(ctx, sqlstore.EncodeHolds(rec)); err != nil {
				t.Fatal(err)
			}
		}
		l.Close()
		j, err := sqlstore.OpenJournaled(ctx, sq, path, journal.Options{})
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		as, err := sq.LookupAccounts(ctx, []string{"cust", "settle"})
		if err != nil || as[0].DebitsPending != 160 || as[1].CreditsPending != 160 {
			t.Errorf("after the replay: got %+v (%v), want 160 held", as, err)
		}
		for _, id := range []string{"h1", "h2", "h3"} {
			got, err := sq.LookupTransfer(ctx, id)
			if err != nil || got.Status != ledger.StatusPending || !got.ExpiresAt.Equal(now.Add(time.Hour)) || got.UserData != "rrn "+id {
				t.Errorf("hold %s after the replay: got %+v (%v)", id, got, err)
			}
		}
		// A retransmission after the restart finds the hold in SQL.
		if r, err := j.CreateTransfer(ctx, ledger.Hold("h2", "cust", "settle", money.Fen(20), time.Hour, "rrn h2")); err != nil || r != ledger.Exists {
			t.Errorf("retransmitted hold: got %s (%v), want exists", r, err)
		}
		if r, err := j.CreateTransfer(ctx, ledger.Hold("h2", "cust", "settle", money.Fen(21), time.Hour, "rrn h2")); err != nil || r != ledger.ExistsWithDifferentFields {
			t.Errorf("hold reusing an id: got %s (%v), want exists_with_different_fields", r, err)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		segs, _ := filepath.Glob(path + ".*")
		for _, s := range segs {
			if fi, err := os.Stat(s); err == nil && filepath.Ext(s) != ".lock" && fi.Size() != 0 {
				t.Errorf("journal segment %s holds %d bytes after a clean close, want none", s, fi.Size())
			}
		}
		// Opening again replays nothing more.
		j, err = sqlstore.OpenJournaled(ctx, sq, path, journal.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		if as, _ := j.LookupAccounts(ctx, []string{"cust"}); len(as) != 1 || as[0].DebitsPending != 160 {
			t.Errorf("after a second open: got %+v, want 160 held", as)
		}
	})
}

// TestReplayLeft has the SQL path open a wing whose journaled store
// stopped with holds in its journal: they are applied first; and while a
// journaled store has the journal open, the SQL path is refused.
func TestReplayLeft(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	sq, clock := openLedger(db)
	path := filepath.Join(t.TempDir(), "issuer_test.journal")
	if err := sqlstore.ReplayLeft(ctx, sq, path); err != nil {
		t.Fatalf("no journal: got %v, want nil", err)
	}
	mustAccounts(t, sq, "cust", "settle", "cash")
	mustTransfer(t, sq, ledger.Transfer{ID: "fund", DebitAccountID: "cash", CreditAccountID: "cust", Amount: 100, Currency: money.CNY})
	now := clock.Now().UTC().Truncate(time.Millisecond)
	h := ledger.Hold("left", "cust", "settle", money.Fen(70), 0, "")
	h.Timestamp, h.Status = now, ledger.StatusPending
	l, err := journal.Open(path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, sqlstore.EncodeHolds([]ledger.Transfer{h})); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if err := sqlstore.ReplayLeft(ctx, sq, path); err != nil {
		t.Fatalf("replay left: %v", err)
	}
	if r, err := sq.CreateTransfer(ctx, ledger.Hold("more", "cust", "settle", money.Fen(31), 0, "")); err != nil || r != ledger.ExceedsCredits {
		t.Errorf("a hold over what the left hold leaves: got %s (%v), want exceeds_credits", r, err)
	}
	j, err := sqlstore.OpenJournaled(ctx, sq, path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := sqlstore.ReplayLeft(ctx, sq, path); fault.CodeOf(err) != "ledger_store_busy" {
		t.Errorf("the SQL path beside an open journaled store: got %v, want ledger_store_busy", err)
	}
}

// TestJournaledAloneSeesHolds has a void follow its hold at once: the void
// runs on SQL after the write-behind applied the hold, and a hold after it
// sees the released balance (memory read again).
func TestJournaledAloneSeesHolds(t *testing.T) {
	each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		j, _, _ := openJournaled(t, db)
		mustAccounts(t, j, "cust", "settle", "cash")
		mustTransfer(t, j, ledger.Transfer{ID: "fund", DebitAccountID: "cash", CreditAccountID: "cust", Amount: 100, Currency: money.CNY})
		mustTransfer(t, j, ledger.Hold("a", "cust", "settle", money.Fen(100), time.Hour, ""))
		if r, err := j.CreateTransfer(ctx, ledger.Hold("b", "cust", "settle", money.Fen(1), time.Hour, "")); err != nil || r != ledger.ExceedsCredits {
			t.Fatalf("hold over the balance: got %s (%v), want exceeds_credits", r, err)
		}
		if got, err := j.LookupTransfer(ctx, "a"); err != nil || got.Status != ledger.StatusPending || got.Amount != 100 {
			t.Errorf("lookup of a journaled hold: got %+v (%v)", got, err)
		}
		mustTransfer(t, j, ledger.Void("void-a", "a", ""))
		mustTransfer(t, j, ledger.Hold("b", "cust", "settle", money.Fen(100), time.Hour, ""))
		mustTransfer(t, j, ledger.Post("post-b", "b", 60, ""))
		as, err := j.LookupAccounts(ctx, []string{"cust"})
		if err != nil || as[0].DebitsPending != 0 || as[0].DebitsPosted != 60 {
			t.Errorf("after void, hold, post: got %+v (%v), want 60 posted, none held", as, err)
		}
		if r, err := j.CreateTransfer(ctx, ledger.Hold("c", "cust", "settle", money.Fen(41), time.Hour, "")); err != nil || r != ledger.ExceedsCredits {
			t.Errorf("hold over what is left: got %s (%v), want exceeds_credits", r, err)
		}
		mustTransfer(t, j, ledger.Hold("c", "cust", "settle", money.Fen(40), time.Hour, ""))
		// A batch that repeats a hold: the second finds the first.
		mustTransfer(t, j, ledger.Transfer{ID: "fund2", DebitAccountID: "cash", CreditAccountID: "cust", Amount: 1, Currency: money.CNY})
		d := ledger.Hold("d", "cust", "settle", money.Fen(1), time.Hour, "")
		rs, err := j.CreateTransfers(ctx, []ledger.Transfer{d, d})
		if err != nil || fmt.Sprint(rs) != "[ok exists]" {
			t.Errorf("a batch holding a hold twice: got %v (%v), want [ok exists]", rs, err)
		}
	})
}

// TestHoldsRecord checks that a record of holds decodes to what was
// encoded and that damage is refused, never a panic.
func TestHoldsRecord(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_123).UTC()
	in := []ledger.Transfer{
		{ID: "bank|1|2|T", DebitAccountID: "acct", CreditAccountID: "settle", Amount: 1234, Currency: money.CNY, Flags: ledger.Pending,
			Timeout: time.Hour, UserData: "rrn 1", Timestamp: at, ExpiresAt: at.Add(time.Hour), Status: ledger.StatusPending},
		{ID: "x", DebitAccountID: "a", CreditAccountID: "b", Amount: 1, Currency: money.Currency(840), Flags: ledger.Pending, Timestamp: at, Status: ledger.StatusPending},
	}
	b := sqlstore.EncodeHolds(in)
	out, err := sqlstore.DecodeHolds(b)
	if err != nil || !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: got %+v (%v), want %+v", out, err, in)
	}
	for n := range len(b) {
		if _, err := sqlstore.DecodeHolds(b[:n]); err == nil {
			t.Errorf("a record cut to %d of %d bytes decoded", n, len(b))
		}
	}
	if _, err := sqlstore.DecodeHolds(append(b, 0)); err == nil {
		t.Error("a record with a byte too many decoded")
	}
}

// BenchmarkJournaledHold is BenchmarkHold on the journaled ledger: each
// batch decided in memory and appended as one record (one fdatasync), the
// write-behind's CPU included (the benchmark waits for it at the end);
// nofilter reads SQL for every new hold's id, as the ledger did before its
// filter of ids.
func BenchmarkJournaledHold(b *testing.B) {
	for _, size := range []int{1, 4, 16} {
		for _, filter := range []bool{true, false} {
			name := fmt.Sprintf("sqlite/batch%d", size)
			if !filter {
				name += "/nofilter"
			}
			b.Run(name, func(b *testing.B) {
				dir := b.TempDir()
				benchmarkHold(b, openWing(b, "", dir), size, func(s *sqlstore.Store) ledger.Store {
					j, err := sqlstore.OpenJournaled(context.Background(), s, filepath.Join(dir, "bench.journal"), journal.Options{})
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { j.Close() })
					if !filter {
						sqlstore.WithoutIDFilter(j)
					}
					return j
				})
			})
		}
	}
}

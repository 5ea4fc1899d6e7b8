package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/journal"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/ledger/sqlstore"
	"github.com/tapwallet/tapwallet/money"
)

// TestSharedJournal has a bank's holds move onto the process's shared
// journal: the holds a per-party journal left are applied when the
// Journaled opens its stream (and the per-party files go); holds written
// without waiting (DeferHolds) are in SQL after a clean stop; holds left
// in the stream by a stop before the write-behind are applied by the SQL
// path (ReplayLeftShared), which is refused while the shared file is
// open elsewhere.
func TestSharedJournal(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	sq, clock := openLedger(db)
	mustAccounts(t, sq, "cust", "settle", "cash")
	mustTransfer(t, sq, ledger.Transfer{ID: "fund", DebitAccountID: "cash", CreditAccountID: "cust", Amount: 1000, Currency: money.CNY})
	now := clock.Now().UTC().Truncate(time.Millisecond)
	hold := func(id string, amount int64) ledger.Transfer {
		h := ledger.Hold(id, "cust", "settle", money.Fen(amount), 0, "")
		h.Timestamp, h.Status = now, ledger.StatusPending
		return h
	}
	held := func(want int64) {
		t.Helper()
		as, err := sq.LookupAccounts(ctx, []string{"cust"})
		if err != nil || len(as) != 1 || as[0].DebitsPending != want {
			t.Fatalf("held %+v (%v), want %d", as, err, want)
		}
	}
	dir := t.TempDir()
	path, shared := filepath.Join(dir, "issuer_test.journal"), filepath.Join(dir, "tapwallet.journal")
	// A per-party journal, as a version before the shared file left it.
	l, err := journal.Open(path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, sqlstore.EncodeHolds([]ledger.Transfer{hold("old", 10)})); err != nil {
		t.Fatal(err)
	}
	l.Close()

	sh, err := journal.OpenShared(shared, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	j, err := sqlstore.OpenJournaled(ctx, sq, path, journal.Options{Shared: sh})
	if err != nil {
		t.Fatal(err)
	}
	held(10)
	if m, _ := filepath.Glob(path + ".*"); len(m) != 0 {
		t.Fatalf("the per-party journal's files after its holds were applied: %v", m)
	}
	j.DeferHolds()
	if r, err := j.CreateTransfer(ctx, ledger.Hold("deferred", "cust", "settle", money.Fen(20), 0, "")); err != nil || r != ledger.OK {
		t.Fatalf("a hold written without waiting: %s %v", r, err)
	}
	if err := sqlstore.ReplayLeftShared(ctx, sq, shared, path); fault.CodeOf(err) != "ledger_store_busy" {
		t.Fatalf("the SQL path while the shared file is open: %v, want ledger_store_busy", err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	held(30)

	// A stop before the write-behind: the hold is in the stream only.
	s, err := journal.Open(path, journal.Options{Shared: sh})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, sqlstore.EncodeHolds([]ledger.Transfer{hold("left", 40)})); err != nil {
		t.Fatal(err)
	}
	if err := sh.Close(); err != nil {
		t.Fatal(err)
	}
	held(30)
	if err := sqlstore.ReplayLeftShared(ctx, sq, shared, path); err != nil {
		t.Fatal(err)
	}
	held(70)
	if err := sqlstore.ReplayLeftShared(ctx, sq, shared, path); err != nil {
		t.Fatal(err)
	}
	held(70) // again: nothing more (the stream's holds are marked done, and a hold stored is skipped)
}

package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/journal"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/ledger/sqlstore"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/sqldb"
)

// TestJournaledIDsOfEveryPath: a hold reusing the id of a transfer that
// any path wrote to ledger_transfers is refused (exists_with_different_
// fields) or found (exists), never placed a second time — whether the id
// came before the open (a store on SQL, or a journal replayed), from a
// hold already written behind, from a transfer or a void run alone on
// SQL, or from a transaction of the wing run alone (as issuer/sqlstore's
// points write theirs). The journaled ledger reads SQL for an id only
// when its filter of ids says the id may be there: each of these paths
// must put its ids in the filter.
func TestJournaledIDsOfEveryPath(t *testing.T) {
	each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		sq, clock := openFunded(t, db, 10_000)
		mustTransfer(t, sq, ledger.Transfer{ID: "before-open", DebitAccountID: "cash", CreditAccountID: "cust", Amount: 1, Currency: money.CNY})
		// A journal a store left: the replay at open writes its hold.
		path := filepath.Join(t.TempDir(), "issuer_test.journal")
		l, err := journal.Open(path, journal.Options{})
		if err != nil {
			t.Fatal(err)
		}
		now := clock.Now().UTC().Truncate(time.Millisecond)
		left := ledger.Hold("replayed", "cust", "settle", money.Fen(5), time.Hour, "")
		left.Timestamp, left.ExpiresAt, left.Status = now, now.Add(time.Hour), ledger.StatusPending
		if _, err := l.Append(ctx, sqlstore.EncodeHolds([]ledger.Transfer{left})); err != nil {
			t.Fatal(err)
		}
		l.Close()
		j, err := sqlstore.OpenJournaled(ctx, sq, path, journal.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()

		// A hold written behind: Transfers waits for the write-behind, which
		// drops the hold from memory once it is in SQL.
		mustTransfer(t, j, ledger.Hold("behind", "cust", "settle", money.Fen(7), time.Hour, ""))
		if _, err := j.Transfers(ctx, ledger.Filter{Limit: 1}); err != nil {
			t.Fatal(err)
		}
		// Alone on SQL: a transfer, a void (of a hold of its own).
		mustTransfer(t, j, ledger.Transfer{ID: "alone", DebitAccountID: "cash", CreditAccountID: "cust", Amount: 2, Currency: money.CNY})
		mustTransfer(t, j, ledger.Hold("voided", "cust", "settle", money.Fen(3), time.Hour, ""))
		mustTransfer(t, j, ledger.Void("void", "voided", ""))
		// A transaction of the wing alone, as the points' lots write theirs.
		err = j.Alone(ctx, func(ctx context.Context) error {
			return db.InTx(ctx, func(tx *sqldb.Tx) error {
				rs, err := sqlstore.CreateTransfersInTx(ctx, tx, []ledger.Transfer{{ID: "in-tx", DebitAccountID: "cash", CreditAccountID: "cust", Amount: 4, Currency: money.CNY}})
				if err == nil && rs[0] != ledger.OK {
					t.Errorf("the transfer in the wing's transaction: got %s, want ok", rs[0])
				}
				return err
			})
		})
		if err != nil {
			t.Fatal(err)
		}

		before, err := j.LookupAccounts(ctx, []string{"cust"})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			id     string
			amount int64
			want   ledger.Result
		}{
			{"before-open", 1, ledger.ExistsWithDifferentFields},
			{"replayed", 5, ledger.Exists},
			{"behind", 7, ledger.Exists},
			{"alone", 2, ledger.ExistsWithDifferentFields},
			{"void", 3, ledger.ExistsWithDifferentFields},
			{"in-tx", 4, ledger.ExistsWithDifferentFields},
		} {
			r, err := j.CreateTransfer(ctx, ledger.Hold(c.id, "cust", "settle", money.Fen(c.amount), time.Hour, ""))
			if err != nil || r != c.want {
				t.Errorf("a hold with the id of %q: got %s (%v), want %s", c.id, r, err, c.want)
			}
		}
		after, err := j.LookupAccounts(ctx, []string{"cust"})
		if err != nil || after[0] != before[0] {
			t.Errorf("the customer's account after the repeated ids: got %+v (%v), want %+v (nothing more held)", after, err, before)
		}
	})
}

package sqlstore_test

import (
	"context"
	"io/fs"
	"os"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/ledger/sqlstore"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// TestMigrationKeepsHolds opens a ledger kept under the first schema (a
// hold's state in ledger_pending) with the migrations of today: every
// transfer and every hold's state and resolution time are still there, the
// open hold still expires and the posted one cannot be posted again.
func TestMigrationKeepsHolds(t *testing.T) {
	type place struct{ dsn, dir string }
	places := map[string]func(t *testing.T) place{
		"sqlite": func(t *testing.T) place { return place{"", t.TempDir()} },
	}
	if os.Getenv("TAPWALLET_TEST_POSTGRES") != "" {
		places["postgres"] = func(t *testing.T) place { return place{sqldbtest.PostgresDSN(t), ""} }
	}
	for name, at := range places {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			pl := at(t)
			first, err := fs.Sub(sqlstore.Migrations, "migrations")
			if err != nil {
				t.Fatal(err)
			}
			body, err := fs.ReadFile(first, "001_ledger.sql")
			if err != nil {
				t.Fatal(err)
			}
			old, err := sqldb.OpenWing(ctx, pl.dsn, pl.dir, sqldb.Wing{Name: "issuer_old",
				Migrations: fstest.MapFS{"migrations/001_ledger.sql": {Data: body}}, Dir: "migrations"})
			if err != nil {
				t.Fatalf("open under the first schema: %v", err)
			}
			err = old.InTx(ctx, func(tx *sqldb.Tx) error {
				for _, q := range []string{
					"INSERT INTO ledger_accounts (id, currency, code, flags, debits_pending, debits_posted, credits_pending, credits_posted, created_at) VALUES ('cust', 156, 'customer_debit', 1, 300, 200, 0, 1000, 1)",
					"INSERT INTO ledger_accounts (id, currency, code, flags, debits_pending, debits_posted, credits_pending, credits_posted, created_at) VALUES ('settle', 156, 'bank_settlement', 0, 0, 0, 300, 200, 1)",
					"INSERT INTO ledger_accounts (id, currency, code, flags, debits_pending, debits_posted, credits_pending, credits_posted, created_at) VALUES ('cash', 156, 'bank_cash', 0, 0, 1000, 0, 0, 1)",
					"INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, created_at) VALUES ('fund', 'cash', 'cust', 1000, 156, 1000)",
					"INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, flags, timeout_ms, expires_at, created_at) VALUES ('h1', 'cust', 'settle', 200, 156, 2, 60000, 62000, 2000)",
					"INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, flags, timeout_ms, expires_at, created_at) VALUES ('h2', 'cust', 'settle', 300, 156, 2, 60000, 63000, 3000)",
					"INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, flags, pending_id, created_at) VALUES ('p1', 'cust', 'settle', 200, 156, 4, 'h1', 4000)",
					"INSERT INTO ledger_pending (id, status, expires_at, created_at, resolved_at) VALUES ('h1', 'posted', 62000, 2000, 4000)",
					"INSERT INTO ledger_pending (id, status, expires_at, created_at) VALUES ('h2', 'pending', 63000, 3000)",
				} {
					if _, err := tx.Exec(ctx, q); err != nil {
						return err
					}
				}
				return nil
			})
			old.Close()
			if err != nil {
				t.Fatalf("fill the first schema: %v", err)
			}

			db, err := sqldb.OpenWing(ctx, pl.dsn, pl.dir, sqlstore.Wing("issuer_old"))
			if err != nil {
				t.Fatalf("migrate: %v", err)
			}
			defer db.Close()
			var left int
			if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM ledger_transfers WHERE status = 'posted' AND resolved_at = 4000").Scan(&left); err != nil || left != 1 {
				t.Fatalf("posted holds with their resolution time: %d (%v), want 1", left, err)
			}
			s := sqlstore.New(db)
			for id, want := range map[string]ledger.PendingStatus{"fund": "", "h1": ledger.StatusPosted, "h2": ledger.StatusPending, "p1": ""} {
				tr, err := s.LookupTransfer(ctx, id)
				if err != nil || tr.Status != want {
					t.Errorf("%s: status %q (%v), want %q", id, tr.Status, err, want)
				}
			}
			if r, err := s.CreateTransfer(ctx, ledger.Post("p2", "h1", 0, "")); err != nil || r != ledger.PendingTransferAlreadyPosted {
				t.Errorf("post h1 again: %s (%v), want %s", r, err, ledger.PendingTransferAlreadyPosted)
			}
			n, err := s.ExpirePending(ctx, time.UnixMilli(63000))
			if err != nil || n != 1 {
				t.Fatalf("expire: %d (%v), want 1 (h2)", n, err)
			}
			tr, err := s.LookupTransfer(ctx, "h2")
			if err != nil || tr.Status != ledger.StatusExpired {
				t.Errorf("h2 after the sweep: %q (%v), want expired", tr.Status, err)
			}
			as, err := s.LookupAccounts(ctx, []string{"cust"})
			if err != nil || len(as) != 1 || as[0].DebitsPending != 0 || as[0].DebitsPosted != 200 {
				t.Errorf("cust after the sweep: %+v (%v), want nothing pending, 200 posted", as, err)
			}
		})
	}
}

package sqlstore_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"strings"
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
	fromOldSchema(t, []string{"001_ledger.sql"}, []string{
		"INSERT INTO ledger_accounts (id, currency, code, flags, debits_pending, debits_posted, credits_pending, credits_posted, created_at) VALUES ('cust', 156, 'customer_debit', 1, 300, 200, 0, 1000, 1)",
		"INSERT INTO ledger_accounts (id, currency, code, flags, debits_pending, debits_posted, credits_pending, credits_posted, created_at) VALUES ('settle', 156, 'bank_settlement', 0, 0, 0, 300, 200, 1)",
		"INSERT INTO ledger_accounts (id, currency, code, flags, debits_pending, debits_posted, credits_pending, credits_posted, created_at) VALUES ('cash', 156, 'bank_cash', 0, 0, 1000, 0, 0, 1)",
		"INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, created_at) VALUES ('fund', 'cash', 'cust', 1000, 156, 1000)",
		"INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, flags, timeout_ms, expires_at, created_at) VALUES ('h1', 'cust', 'settle', 200, 156, 2, 60000, 62000, 2000)",
		"INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, flags, timeout_ms, expires_at, created_at) VALUES ('h2', 'cust', 'settle', 300, 156, 2, 60000, 63000, 3000)",
		"INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, flags, pending_id, created_at) VALUES ('p1', 'cust', 'settle', 200, 156, 4, 'h1', 4000)",
		"INSERT INTO ledger_pending (id, status, expires_at, created_at, resolved_at) VALUES ('h1', 'posted', 62000, 2000, 4000)",
		"INSERT INTO ledger_pending (id, status, expires_at, created_at) VALUES ('h2', 'pending', 63000, 3000)",
	}, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
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

// TestMigrationRebuildsTransfers opens a ledger kept under 006's schema
// with the migrations of today (007 makes ledger_transfers again, with
// the same rules written cheaper): every transfer comes over with every
// column as it was, and the table still refuses what it refused — an
// unknown state, a hold posted twice, an account it does not have, the
// same account on both sides.
func TestMigrationRebuildsTransfers(t *testing.T) {
	const cols = "id, debit_account_id, credit_account_id, amount, currency, flags, pending_id, timeout_ms, expires_at, user_data, created_at, status, resolved_at"
	rows := []string{
		"('fund', 'cash', 'cust', 1000, 156, 0, '', 0, 0, 'opening', 1000, '', 0)",
		"('h1', 'cust', 'settle', 200, 156, 2, '', 60000, 62000, 'rrn 1', 2000, 'posted', 4000)",
		"('h2', 'cust', 'settle', 300, 156, 2, '', 60000, 63000, '', 3000, 'pending', 0)",
		"('h3', 'cust', 'settle', 50, 156, 2, '', 0, 0, '', 3500, 'pending', 0)",
		"('h4', 'cust', 'settle', 70, 156, 2, '', 60000, 64000, '', 3600, 'voided', 3700)",
		"('h5', 'cust', 'settle', 80, 156, 2, '', 1000, 4600, '', 3600, 'expired', 4600)",
		"('p1', 'cust', 'settle', 200, 156, 4, 'h1', 0, 0, '', 4000, '', 0)",
		"('v4', 'cust', 'settle', 70, 156, 8, 'h4', 0, 0, '', 3700, '', 0)",
	}
	fromOldSchema(t, []string{"001_ledger.sql", "004_ledger_pending_in_transfers.sql", "005_ledger_no_time_index.sql", "006_ledger_settlement_indexes.sql"}, []string{
		"INSERT INTO ledger_accounts (id, currency, code, debits_pending, credits_pending, created_at) VALUES ('cust', 156, 'customer_debit', 350, 0, 1), ('settle', 156, 'bank_settlement', 0, 350, 1), ('cash', 156, 'bank_cash', 0, 0, 1)",
		"INSERT INTO ledger_transfers (" + cols + ") VALUES " + strings.Join(rows, ", "),
	}, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		var got []string
		err := func() error {
			rs, err := db.Query(ctx, "SELECT "+cols+" FROM ledger_transfers ORDER BY id")
			if err != nil {
				return err
			}
			defer rs.Close()
			for rs.Next() {
				var id, debit, credit, pending, user, status string
				var amount, currency, flags, timeout, expires, created, resolved int64
				if err := rs.Scan(&id, &debit, &credit, &amount, &currency, &flags, &pending, &timeout, &expires, &user, &created, &status, &resolved); err != nil {
					return err
				}
				got = append(got, fmt.Sprintf("('%s', '%s', '%s', %d, %d, %d, '%s', %d, %d, '%s', %d, '%s', %d)",
					id, debit, credit, amount, currency, flags, pending, timeout, expires, user, created, status, resolved))
			}
			return rs.Err()
		}()
		if err != nil || strings.Join(got, "\n") != strings.Join(rows, "\n") {
			t.Fatalf("transfers after the migration (%v):\n%s\nwant:\n%s", err, strings.Join(got, "\n"), strings.Join(rows, "\n"))
		}
		for what, q := range map[string]string{
			"an unknown state":       "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, created_at, status) VALUES ('x1', 'cust', 'settle', 1, 156, 5000, 'bogus')",
			"a hold posted twice":    "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, flags, pending_id, created_at) VALUES ('x2', 'cust', 'settle', 200, 156, 4, 'h1', 5000)",
			"an unknown account":     "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, created_at) VALUES ('x3', 'nobody', 'settle', 1, 156, 5000)",
			"one account both sides": "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, created_at) VALUES ('x4', 'cust', 'cust', 1, 156, 5000)",
			"an amount of zero":      "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, created_at) VALUES ('x5', 'cust', 'settle', 0, 156, 5000)",
			"an id twice":            "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, created_at) VALUES ('h2', 'cust', 'settle', 1, 156, 5000)",
		} {
			if _, err := db.SQL().ExecContext(ctx, q); err == nil {
				t.Errorf("%s: stored after the migration", what)
			}
		}
		// The expiry sweep still finds the open hold with a timeout.
		n, err := sqlstore.New(db).ExpirePending(ctx, time.UnixMilli(63000))
		if err != nil || n != 1 {
			t.Errorf("expire: %d (%v), want 1 (h2)", n, err)
		}
	})
}

// fromOldSchema makes, on SQLite and (with TAPWALLET_TEST_POSTGRES) on
// PostgreSQL, a ledger wing under the migrations named (an older schema),
// runs fill in it, then opens it with today's migrations and gives it to
// check.
func fromOldSchema(t *testing.T, migrations, fill []string, check func(t *testing.T, db *sqldb.DB)) {
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
			sub, err := fs.Sub(sqlstore.Migrations, "migrations")
			if err != nil {
				t.Fatal(err)
			}
			before := fstest.MapFS{}
			for _, f := range migrations {
				body, err := fs.ReadFile(sub, f)
				if err != nil {
					t.Fatal(err)
				}
				before["migrations/"+f] = &fstest.MapFile{Data: body}
			}
			old, err := sqldb.OpenWing(ctx, pl.dsn, pl.dir, sqldb.Wing{Name: "issuer_old", Migrations: before, Dir: "migrations"})
			if err != nil {
				t.Fatalf("open under the older schema: %v", err)
			}
			err = old.InTx(ctx, func(tx *sqldb.Tx) error {
				for _, q := range fill {
					if _, err := tx.Exec(ctx, q); err != nil {
						return err
					}
				}
				return nil
			})
			old.Close()
			if err != nil {
				t.Fatalf("fill the older schema: %v", err)
			}
			db, err := sqldb.OpenWing(ctx, pl.dsn, pl.dir, sqlstore.Wing("issuer_old"))
			if err != nil {
				t.Fatalf("migrate: %v", err)
			}
			defer db.Close()
			check(t, db)
		})
	}
}

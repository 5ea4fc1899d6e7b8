package sqldb_test

import (
	"context"
	"testing"

	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

func TestMigrateAndTx(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		var n int
		if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n < 2 {
			t.Fatalf("got %d migrations applied, want at least 2", n)
		}
		// A failed transaction leaves nothing behind.
		err := db.InTx(ctx, func(tx *sqldb.Tx) error {
			if _, err := tx.Exec(ctx, "INSERT INTO accounts (id, email, password_hash, created_at) VALUES (?, ?, ?, ?)", "a1", "a@x", "h", 1); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO accounts (id, email, password_hash, created_at) VALUES (?, ?, ?, ?)", "a2", "a@x", "h", 1)
			return err
		})
		if !sqldb.IsUniqueViolation(err) {
			t.Fatalf("got %v, want a unique violation", err)
		}
		if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM accounts").Scan(&n); err != nil || n != 0 {
			t.Fatalf("got %d accounts (err %v), want 0 after rollback", n, err)
		}
	})
}

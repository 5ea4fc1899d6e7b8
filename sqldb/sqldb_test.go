package sqldb_test

import (
	"context"
	"os"
	"testing"

	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// The test wings of sqldb/testdata: alpha (things, two migrations) and
// beta (others, secrets).
var (
	alpha = sqldb.Wing{Name: "alpha", Migrations: os.DirFS("testdata"), Dir: "wing_a"}
	beta  = sqldb.Wing{Name: "beta", Migrations: os.DirFS("testdata"), Dir: "wing_b"}
)

// openAt opens w at pl, closed when the test ends.
func openAt(t testing.TB, pl sqldb.Place, w sqldb.Wing) *sqldb.DB {
	t.Helper()
	db, err := pl.Open(context.Background(), w)
	if err != nil {
		t.Fatalf("open wing %s: %v", w.Name, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMigrateAndTx(t *testing.T) {
	sqldbtest.EachPlace(t, func(t *testing.T, pl sqldb.Place) {
		ctx := context.Background()
		db := openAt(t, pl, alpha)
		var n int
		if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Fatalf("got %d migrations applied, want the wing's 2", n)
		}
		// A failed transaction leaves nothing behind.
		err := db.InTx(ctx, func(tx *sqldb.Tx) error {
			if _, err := tx.Exec(ctx, "INSERT INTO things (id, n) VALUES (?, ?)", "a1", 1); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO things (id, n) VALUES (?, ?)", "a1", 2)
			return err
		})
		if !sqldb.IsUniqueViolation(err) {
			t.Fatalf("got %v, want a unique violation", err)
		}
		if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM things").Scan(&n); err != nil || n != 0 {
			t.Fatalf("got %d things (err %v), want 0 after rollback", n, err)
		}
	})
}

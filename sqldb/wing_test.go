package sqldb_test

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// wingDSNs returns the backends a wing test runs on: a data folder for
// SQLite, and a fresh schema prefix on PostgreSQL when
// TAPWALLET_TEST_POSTGRES is set.
func eachWingBackend(t *testing.T, fn func(t *testing.T, dsn, dir string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, "", t.TempDir()) })
	if os.Getenv("TAPWALLET_TEST_POSTGRES") != "" {
		t.Run("postgres", func(t *testing.T) { fn(t, sqldbtest.PostgresDSN(t), "") })
	}
}

func TestWingsAreApart(t *testing.T) {
	eachWingBackend(t, func(t *testing.T, dsn, dir string) {
		ctx := context.Background()
		a, err := sqldb.OpenWing(ctx, dsn, dir, sqldb.Wing{Name: "alpha", Migrations: os.DirFS("testdata"), Dir: "wing_a"})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := sqldb.OpenWing(ctx, dsn, dir, sqldb.Wing{Name: "beta", Migrations: os.DirFS("testdata"), Dir: "wing_b"})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if err := a.InTx(ctx, func(tx *sqldb.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO things (id, n, note) VALUES (?, ?, ?)", "x", 1, "both migrations ran")
			return err
		}); err != nil {
			t.Fatalf("insert into alpha's own table: %v", err)
		}
		var n int
		if err := b.QueryRow(ctx, "SELECT count(*) FROM things").Scan(&n); err == nil {
			t.Fatalf("beta reads alpha's table things (count %d): wings must not see each other's tables", n)
		}
		if err := a.QueryRow(ctx, "SELECT count(*) FROM others").Scan(&n); err == nil {
			t.Fatalf("alpha reads beta's table others (count %d)", n)
		}
	})
}

func TestWingMigratesOnceUnderConcurrency(t *testing.T) {
	eachWingBackend(t, func(t *testing.T, dsn, dir string) {
		ctx := context.Background()
		const procs = 6
		var wg sync.WaitGroup
		errs := make(chan error, procs)
		dbs := make(chan *sqldb.DB, procs)
		for i := 0; i < procs; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db, err := sqldb.OpenWing(ctx, dsn, dir, sqldb.Wing{Name: "alpha", Migrations: os.DirFS("testdata"), Dir: "wing_a"})
				if err != nil {
					errs <- err
					return
				}
				dbs <- db
			}()
		}
		wg.Wait()
		close(errs)
		close(dbs)
		for err := range errs {
			t.Errorf("open: %v", err)
		}
		var opened []*sqldb.DB
		for db := range dbs {
			opened = append(opened, db)
			t.Cleanup(func() { db.Close() })
		}
		if len(opened) == 0 {
			t.Fatal("no wing opened")
		}
		first := opened[0]
		var applied int
		if err := first.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&applied); err != nil {
			t.Fatal(err)
		}
		if applied != 2 {
			t.Fatalf("schema_migrations holds %d rows, want 2 (each migration once)", applied)
		}
		var held int
		if err := first.QueryRow(ctx, "SELECT count(*) FROM schema_lock").Scan(&held); err != nil {
			t.Fatal(err)
		}
		if held != 0 {
			t.Fatalf("schema_lock holds %d leases after every migration ended, want 0", held)
		}
	})
}

func TestWingRefusesBadName(t *testing.T) {
	_, err := sqldb.OpenWing(context.Background(), "", t.TempDir(), sqldb.Wing{Name: "Robert'); DROP", Migrations: os.DirFS("testdata"), Dir: "wing_a"})
	if err == nil {
		t.Fatal("a wing name with quotes and spaces was accepted")
	}
}

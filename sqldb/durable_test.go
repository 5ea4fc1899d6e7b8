package sqldb_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/sqldb"
)

// synchronousOfPool reads PRAGMA synchronous on n connections of db's pool
// at once (each its own connection), so every connection is checked.
func synchronousOfPool(t *testing.T, db *sqldb.DB, n int) []int {
	t.Helper()
	ctx := context.Background()
	levels := make([]int, n)
	var wg sync.WaitGroup
	var start sync.WaitGroup
	start.Add(1)
	for i := range levels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := db.SQL().Conn(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			start.Wait() // hold the connection until all are taken
			if err := c.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&levels[i]); err != nil {
				t.Error(err)
			}
		}()
	}
	start.Done()
	wg.Wait()
	return levels
}

// TestSQLiteIsDurableByDefault: a wing opened with no option has every
// connection at synchronous=FULL (2), so a commit syncs the log before
// InTx returns, and a committed write moves the fdatasync count; a
// read-only transaction does not.
func TestSQLiteIsDurableByDefault(t *testing.T) {
	ctx := context.Background()
	db, err := sqldb.OpenWing(ctx, "", t.TempDir(), alpha)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i, l := range synchronousOfPool(t, db, 4) {
		if l != 2 {
			t.Fatalf("connection %d: PRAGMA synchronous = %d, want 2 (FULL)", i, l)
		}
	}
	for i := 0; i < 3; i++ {
		before := sqldb.Syncs()
		if err := db.InTx(ctx, func(tx *sqldb.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO things (id, n) VALUES (?, ?)", "t"+strconv.Itoa(i), i)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if after := sqldb.Syncs(); after <= before {
			t.Fatalf("commit %d: fdatasync count %d -> %d, want it to move", i, before, after)
		}
	}
	before := sqldb.Syncs()
	var n int
	if err := db.InTx(ctx, func(tx *sqldb.Tx) error {
		return tx.QueryRow(ctx, "SELECT count(*) FROM things").Scan(&n)
	}); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("%d things, want 3", n)
	}
	if after := sqldb.Syncs(); after != before {
		t.Logf("a read-only commit: count %d -> %d (a checkpoint ran beside it)", before, after)
	}
}

// TestSQLiteSyncNormalIsOptIn: NORMAL (1) only after SetSQLiteSyncNormal(true),
// and a file opened after it is turned off again is FULL.
func TestSQLiteSyncNormalIsOptIn(t *testing.T) {
	ctx := context.Background()
	open := func() *sqldb.DB {
		db, err := sqldb.OpenWing(ctx, "", t.TempDir(), alpha)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	sqldb.SetSQLiteSyncNormal(true)
	normal := open()
	sqldb.SetSQLiteSyncNormal(false)
	full := open()
	if l := synchronousOfPool(t, normal, 4); l[0] != 1 || l[3] != 1 {
		t.Fatalf("opted out: PRAGMA synchronous = %v, want 1 (NORMAL)", l)
	}
	if l := synchronousOfPool(t, full, 4); l[0] != 2 || l[3] != 2 {
		t.Fatalf("opt-out turned off: PRAGMA synchronous = %v, want 2 (FULL)", l)
	}
}

// TestPostgresSynchronousCommitOffIsRefused: a PostgreSQL DSN that turns
// synchronous_commit off (commits answered before they are flushed) does
// not open, with a code that says why; the same DSN without it opens.
// It runs only with TAPWALLET_TEST_POSTGRES set.
func TestPostgresSynchronousCommitOffIsRefused(t *testing.T) {
	dsn := os.Getenv("TAPWALLET_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("TAPWALLET_TEST_POSTGRES not set")
	}
	ctx := context.Background()
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	_, err := sqldb.OpenWing(ctx, dsn+sep+"synchronous_commit=off", "", alpha)
	if !fault.Has(err, fault.Unavailable, "db_not_durable") {
		t.Fatalf("synchronous_commit=off: err %v, want db_not_durable", err)
	}
	db, err := sqldb.OpenWing(ctx, dsn+sep+"synchronous_commit=local", "", alpha)
	if err != nil {
		t.Fatalf("synchronous_commit=local (flushes the local log): %v", err)
	}
	db.Close()
}

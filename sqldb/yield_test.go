package sqldb_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/tapwallet/tapwallet/sqldb"
)

// TestTxStatementsYield: each statement of a transaction lets the
// goroutines waiting to run go first. On one core, a goroutine made
// runnable before a statement has run when the statement returns — by
// Tx.Exec and by a statement of Tx.Stmt — so that a write-behind's long
// batch does not keep a core from the authorizations for the ~10 ms
// Go's scheduler lets a goroutine run before it preempts it.
func TestTxStatementsYield(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ctx := context.Background()
	db := openAt(t, sqldb.Place{Dir: t.TempDir()}, alpha)
	err := db.InTx(ctx, func(tx *sqldb.Tx) error {
		for i := range 3 {
			var ran atomic.Bool
			go ran.Store(true) // runnable; this goroutine holds the one core
			if _, err := tx.Exec(ctx, "INSERT INTO things (id, n) VALUES (?, ?)", fmt.Sprint("e", i), i); err != nil {
				return err
			}
			if !ran.Load() {
				t.Errorf("Exec %d: the goroutine waiting to run did not run", i)
			}
			ran.Store(false)
			go ran.Store(true)
			st, err := tx.Stmt(ctx, "INSERT INTO things (id, n) VALUES (?, ?)")
			if err != nil {
				return err
			}
			if _, err := st.ExecContext(ctx, fmt.Sprint("s", i), i); err != nil {
				return err
			}
			if !ran.Load() {
				t.Errorf("Stmt %d: the goroutine waiting to run did not run", i)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

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
// goroutines waiting to run go first — by Tx.Exec and by a statement of
// Tx.Stmt — so that a write-behind's long batch does not keep a core from
// the authorizations for the ~10 ms Go's scheduler lets a goroutine run
// before it preempts it. On one core, a goroutine that runs whenever it
// can runs between most of 80 statements (the scheduler takes from its
// global queue first one time in 61, so not between every one); without
// the yield, not at all (80 statements are a few ms, no preemption).
func TestTxStatementsYield(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ctx := context.Background()
	db := openAt(t, sqldb.Place{Dir: t.TempDir()}, alpha)
	var runs atomic.Int64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			runs.Add(1)
			runtime.Gosched()
		}
	}()
	const n = 40
	var during int64
	err := db.InTx(ctx, func(tx *sqldb.Tx) error {
		from := runs.Load()
		for i := range n {
			if _, err := tx.Exec(ctx, "INSERT INTO things (id, n) VALUES (?, ?)", fmt.Sprint("e", i), i); err != nil {
				return err
			}
			st, err := tx.Stmt(ctx, "INSERT INTO things (id, n) VALUES (?, ?)")
			if err != nil {
				return err
			}
			if _, err := st.ExecContext(ctx, fmt.Sprint("s", i), i); err != nil {
				return err
			}
		}
		during = runs.Load() - from
		return nil
	})
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if during < n {
		t.Fatalf("the goroutine waiting to run ran %d times during %d statements, want at least %d", during, 2*n, n)
	}
	t.Logf("the goroutine waiting to run ran %d times during %d statements", during, 2*n)
}

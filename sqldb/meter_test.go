package sqldb_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/sqldb"
)

type countingMeter struct {
	mu      sync.Mutex
	batches int
	calls   int
	took    time.Duration
}

func (m *countingMeter) Batch(size int, took time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.batches++
	m.calls += size
	m.took += took
}

// TestBatchMeterSeesEveryCall: a meter set on a database is told of each
// batch its batchers run, and the sizes add up to the calls made; without
// a meter nothing is told.
func TestBatchMeterSeesEveryCall(t *testing.T) {
	eachWingBackend(t, func(t *testing.T, dsn, dir string) {
		ctx := context.Background()
		db, err := sqldb.OpenWing(ctx, dsn, dir, sqldb.Wing{Name: "alpha", Migrations: os.DirFS("testdata"), Dir: "wing_a"})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		b := sqldb.NewBatcher(db.BatchWorkers(), 50, sqldb.Serialized(db, func(ctx context.Context, in []int) ([]int, error) {
			time.Sleep(time.Millisecond) // let callers queue up behind the first
			return in, nil
		}))
		defer b.Close()
		do := func(n int) {
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if got, err := b.Do(ctx, i); err != nil || got != i {
						t.Errorf("Do(%d) = %d, %v", i, got, err)
					}
				}()
			}
			wg.Wait()
		}
		do(10) // no meter yet
		m := &countingMeter{}
		db.SetBatchMeter(m)
		do(200)
		m.mu.Lock()
		if m.calls != 200 {
			t.Errorf("meter counted %d calls in %d batches, want 200", m.calls, m.batches)
		}
		if m.batches < 1 || m.batches > 200 || m.took <= 0 {
			t.Errorf("meter: %d batches taking %v", m.batches, m.took)
		}
		m.mu.Unlock()
		db.SetBatchMeter(nil)
		do(5)
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.calls != 200 {
			t.Errorf("after SetBatchMeter(nil) the meter counted %d calls, want still 200", m.calls)
		}
	})
}

package sqldb_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/sqldb"
)

// TestGatedBatchers: two batchers sharing a gate of one never run batches
// at the same time, and the calls a batcher gets while the other holds
// the gate go in one batch after it, each with its own result; alone, a
// gated batcher does not wait.
func TestGatedBatchers(t *testing.T) {
	ctx := context.Background()
	gate := sqldb.NewCommitGate(1)
	var running, overlaps atomic.Int32
	var mu sync.Mutex
	var sizes []int // batch sizes of b
	slow := func(_ context.Context, in []int) ([]int, error) {
		if running.Add(1) > 1 {
			overlaps.Add(1)
		}
		time.Sleep(300 * time.Millisecond)
		running.Add(-1)
		return in, nil
	}
	a := sqldb.NewGatedBatcher(1, 100, gate, slow)
	defer a.Close()
	b := sqldb.NewGatedBatcher(1, 100, gate, func(ctx context.Context, in []int) ([]int, error) {
		mu.Lock()
		sizes = append(sizes, len(in))
		mu.Unlock()
		return slow(ctx, in)
	})
	defer b.Close()

	start := time.Now()
	if _, err := b.Do(ctx, 0); err != nil { // alone: runs at once
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("a gated batcher alone took %v", took)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _, _ = a.Do(ctx, 1) }() // a takes the gate for 300 ms
	time.Sleep(100 * time.Millisecond)
	for i := range 5 { // b's calls come while a commits
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 10 * time.Millisecond)
			if got, err := b.Do(ctx, 10+i); err != nil || got != 10+i {
				t.Errorf("Do(%d) = %d, %v", 10+i, got, err)
			}
		}()
	}
	wg.Wait()
	if n := overlaps.Load(); n != 0 {
		t.Errorf("%d batches ran while another held the gate", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sizes) != 2 || sizes[1] != 5 {
		t.Errorf("b's batches %v: want [1 5] (the five calls made while a committed, in one batch)", sizes)
	}
}

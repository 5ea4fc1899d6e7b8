package sqldb

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

// Batcher is group commit: calls made at the same time are gathered into
// one batch, and a batch runs as one database transaction. A worker takes
// the first waiting call, then every call already queued behind it (up to
// max), runs them together and hands each caller its own result; the calls
// that arrive meanwhile form the next batch. So one caller alone pays one
// transaction, and a thousand callers at once pay a few.
type Batcher[In, Out any] struct {
	run  func(ctx context.Context, in []In) ([]Out, error)
	max  int
	gate CommitGate // nil: none (NewGatedBatcher)
	reqs chan batchReq[In, Out]
	stop chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

type batchReq[In, Out any] struct {
	in  In
	res chan batchRes[Out]
}

type batchRes[Out any] struct {
	out Out
	err error
}

// batchTimeout bounds one batch's transaction.
const batchTimeout = 30 * time.Second

// NewBatcher starts workers (at least 1) that run batches of at most max
// calls (at least 1) with run, which must return one result per input, in
// order, or an error for the whole batch. It never fails; Close stops it.
func NewBatcher[In, Out any](workers, max int, run func(ctx context.Context, in []In) ([]Out, error)) *Batcher[In, Out] {
	return NewGatedBatcher(workers, max, nil, run)
}

// CommitGate lets at most cap(gate) batches of the batchers sharing it run
// at once (nil: no bound). Make one with NewCommitGate.
type CommitGate chan struct{}

// NewCommitGate returns a gate for n batches at once (at least 1).
func NewCommitGate(n int) CommitGate { return make(CommitGate, maxInt(n, 1)) }

// NewGatedBatcher is NewBatcher whose workers, once a call is waiting,
// take their turn at gate before they gather the batch: while the
// batchers sharing the gate (each a database of its own — a bank's ledger
// among the twenty one process hosts) commit, the calls of the others
// queue up and go in their next batch whole, each still in its own
// database's transaction. When nothing else commits there is no wait.
func NewGatedBatcher[In, Out any](workers, max int, gate CommitGate, run func(ctx context.Context, in []In) ([]Out, error)) *Batcher[In, Out] {
	workers, max = maxInt(workers, 1), maxInt(max, 1)
	b := &Batcher[In, Out]{run: run, max: max, gate: gate, reqs: make(chan batchReq[In, Out], max*workers),
		stop: make(chan struct{}), done: make(chan struct{})}
	for i := 0; i < workers; i++ {
		b.wg.Add(1)
		go b.work()
	}
	return b
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

var errBatcherClosed = fault.E(fault.Unavailable, "store_closed", "the store is closed")

// Do runs in in the next batch and returns its result. It fails with the
// batch's error, with fault.Unavailable "store_closed" after Close, or with
// fault.Unavailable "canceled" when ctx ends before the call was queued.
// Once queued, a call runs even if ctx ends: its transaction may commit.
func (b *Batcher[In, Out]) Do(ctx context.Context, in In) (Out, error) {
	var zero Out
	r := batchReq[In, Out]{in: in, res: make(chan batchRes[Out], 1)}
	select {
	case b.reqs <- r:
	case <-b.stop:
		return zero, errBatcherClosed
	case <-ctx.Done():
		return zero, fault.Wrap(ctx.Err(), fault.Unavailable, "canceled", "the request was cancelled")
	}
	select {
	case res := <-r.res:
		return res.out, res.err
	case <-b.done:
		select {
		case res := <-r.res:
			return res.out, res.err
		default:
			return zero, errBatcherClosed
		}
	}
}

func (b *Batcher[In, Out]) work() {
	defer b.wg.Done()
	batch := make([]batchReq[In, Out], 0, b.max)
	ins := make([]In, 0, b.max)
	for {
		batch, ins = batch[:0], ins[:0]
		select {
		case r := <-b.reqs:
			batch = append(batch, r)
		case <-b.stop:
			return
		}
		if b.gate != nil {
			b.gate <- struct{}{}
		}
		// Let the callers that are ready to run queue their calls first:
		// on a busy machine the batch then takes them all at once.
		runtime.Gosched()
	drain:
		for len(batch) < b.max {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		for _, r := range batch {
			ins = append(ins, r.in)
		}
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		outs, err := b.run(ctx, ins)
		cancel()
		if b.gate != nil {
			<-b.gate
		}
		if err == nil && len(outs) != len(ins) {
			err = fault.E(fault.Internal, "batch_results", "a batch returned %d results for %d calls", len(outs), len(ins))
		}
		for i, r := range batch {
			if err != nil {
				r.res <- batchRes[Out]{err: err}
			} else {
				r.res <- batchRes[Out]{out: outs[i]}
			}
		}
	}
}

// Close stops the workers after the batch in progress; calls still queued
// fail with fault.Unavailable "store_closed". It may be called more than once.
func (b *Batcher[In, Out]) Close() {
	b.once.Do(func() {
		close(b.stop)
		b.wg.Wait()
		close(b.done)
		for {
			select {
			case r := <-b.reqs:
				r.res <- batchRes[Out]{err: errBatcherClosed}
			default:
				return
			}
		}
	})
}

// workersFor is how many batches run at once: one on SQLite (one writer at a
// time is how it works), a few on PostgreSQL.
func (db *DB) workersFor() int {
	if db.dialect == Postgres {
		return 4
	}
	return 1
}

// writeLocks holds one lock per SQLite database, taken by every batch
// worker around its transaction: the batchers of one process then take
// turns instead of colliding on SQLite's write lock, whose busy handler
// waits by sleeping milliseconds at a time.
var writeLocks sync.Map // *DB → *sync.Mutex

// serialized wraps a batch function so that, on SQLite, batches of all the
// batchers of db run one at a time.
func serialized[In, Out any](db *DB, run func(context.Context, []In) ([]Out, error)) func(context.Context, []In) ([]Out, error) {
	run = metered(db, run)
	if db.dialect == Postgres {
		return run
	}
	l, _ := writeLocks.LoadOrStore(db, &sync.Mutex{})
	mu := l.(*sync.Mutex)
	return func(ctx context.Context, in []In) ([]Out, error) {
		mu.Lock()
		defer mu.Unlock()
		// Without a deadline: SQLite's driver watches a cancellable
		// context with a goroutine per statement; busy_timeout bounds
		// the waits for the lock instead.
		return run(context.WithoutCancel(ctx), in)
	}
}

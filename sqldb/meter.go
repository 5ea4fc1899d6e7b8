package sqldb

import (
	"context"
	"time"
)

// BatchMeter is told of each batch of group commit that a batcher of the
// database runs: how many calls it gathered and how long its transaction
// took (the metrics of `tapwallet serve`). It must be safe for concurrent
// use and fast: it runs on the batch worker.
type BatchMeter interface {
	Batch(size int, took time.Duration)
}

// SetBatchMeter makes m the meter of the database's batches from now on
// (nil: none). It may be called while batches run.
func (db *DB) SetBatchMeter(m BatchMeter) {
	if m == nil {
		db.meter.Store(nil)
		return
	}
	db.meter.Store(&m)
}

// metered wraps a batch function so that the database's BatchMeter, if
// any, is told each batch's size and time.
func metered[In, Out any](db *DB, run func(context.Context, []In) ([]Out, error)) func(context.Context, []In) ([]Out, error) {
	return func(ctx context.Context, in []In) ([]Out, error) {
		m := db.meter.Load()
		if m == nil {
			return run(ctx, in)
		}
		start := time.Now()
		out, err := run(ctx, in)
		(*m).Batch(len(in), time.Since(start))
		return out, err
	}
}

package journal

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"
)

// Behind is a write-behind: records a store has appended to its Log (and
// answered once on disk, or written with Log.Write) are queued with their
// sequence numbers, and one
// goroutine applies them elsewhere (to SQL) in batches. It waits for a
// first record, gathers more — until BehindOptions.Batch are queued,
// BehindOptions.Wait has passed, or a reader hurries it — cuts a batch
// from the head of the queue, waits until its records are on disk (a
// record written with Log.Write may not be yet: the wait is on the log's
// syncs, no timer), applies it, and tries a failed batch again
// after a backoff until it is applied or Close. Once a batch is applied,
// After sees it, then the Log is told Done for each record, in order: a
// reader that waits with Log.WaitApplied finds the store's memory as SQL
// has it.
//
// Close applies what is queued (one try a batch) and stops; a batch not
// applied then stays in the Log for the next Open's replay.
type Behind[T any] struct {
	log   *Log
	apply func(context.Context, []T) error
	o     BehindOptions[T]

	mu     sync.Mutex
	seqs   []uint64
	items  []T
	hurry  bool // a reader waits: apply without gathering
	paused bool // apply nothing (tests: a crash before the write-behind)
	// An applied batch's arrays, cleared, for the queue to grow into after
	// the next cut (nil: none).
	spareSeqs  []uint64
	spareItems []T

	wake chan struct{} // cap 1: a first record, Batch records, a hurry
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// BehindOptions tune a Behind; a zero field takes its default.
type BehindOptions[T any] struct {
	// Batch queued records end a gathering at once (default 1024).
	Batch int
	// Wait is the longest gathering after the first record (default
	// 20 ms).
	Wait time.Duration
	// Max is the most records in one batch (default 4096), unless Cut.
	Max int
	// Cut, when set, says how many of the queued records (from the first;
	// at least 1) make the next batch, for a store that counts its batches
	// otherwise than by record.
	Cut func(queued []T) int
	// Retry is the wait before a failed batch is tried again (default
	// 10 ms); it doubles after each failure up to RetryMax (default 1 s;
	// RetryMax equal to Retry: a constant wait).
	Retry, RetryMax time.Duration
	// CloseCutsRetry lets Close end the wait before a failed batch's next
	// try (the batch is tried once more, then left in the Log); without it
	// a batch failing before Close is tried until it is applied.
	CloseCutsRetry bool
	// Drain applies the batches queued after a gathering back to back
	// (each batch is gathered otherwise, unless Batch are queued or a
	// reader hurries).
	Drain bool
	// After sees each batch once applied, before the Log is told Done
	// about its records (the store drops from memory what SQL now has).
	After func(batch []T)
}

// NewBehind starts a write-behind of the records of l, applied by apply
// (with context.Background()) in batches as o says. Stop it with Close
// before closing l.
func NewBehind[T any](l *Log, apply func(ctx context.Context, batch []T) error, o BehindOptions[T]) *Behind[T] {
	o.Batch = max(cmp.Or(o.Batch, 1024), 1)
	o.Max = max(cmp.Or(o.Max, 4096), 1)
	o.Wait = cmp.Or(o.Wait, 20*time.Millisecond)
	o.Retry = cmp.Or(o.Retry, 10*time.Millisecond)
	o.RetryMax = max(cmp.Or(o.RetryMax, time.Second), o.Retry)
	b := &Behind[T]{log: l, apply: apply, o: o,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go b.run()
	return b
}

// Add queues the record appended to the Log as seq, item being what apply
// is given of it. Records are applied, and told Done, in the order they
// were added.
func (b *Behind[T]) Add(seq uint64, item T) {
	b.mu.Lock()
	b.seqs = append(b.seqs, seq)
	b.items = append(b.items, item)
	n := len(b.items)
	b.mu.Unlock()
	if n == 1 || n >= b.o.Batch {
		b.signal()
	}
}

// Hurry asks for what is queued to be applied now, without gathering more
// (a reader waits for it): it holds until the queue is emptied.
func (b *Behind[T]) Hurry() {
	b.mu.Lock()
	b.hurry = true
	b.mu.Unlock()
	b.signal()
}

// Pause makes the write-behind apply nothing from now on (the records
// stay queued and in the Log, as after a crash): for tests.
func (b *Behind[T]) Pause() {
	b.mu.Lock()
	b.paused = true
	b.mu.Unlock()
}

// Queued returns how many records wait to be applied.
func (b *Behind[T]) Queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.items)
}

// Stopped is closed once the write-behind has stopped (after Close).
func (b *Behind[T]) Stopped() <-chan struct{} { return b.done }

// Close applies what is queued — one try a batch; a batch that fails
// stays in the Log with every record after it — and stops the
// write-behind. Later calls do nothing. It does not close the Log.
func (b *Behind[T]) Close() {
	b.once.Do(func() {
		close(b.stop)
		<-b.done
	})
}

func (b *Behind[T]) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// idle reports whether there is nothing to apply (empty or paused).
func (b *Behind[T]) idle() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.items) == 0 || b.paused
}

// run is the write-behind's goroutine.
func (b *Behind[T]) run() {
	defer close(b.done)
	stopping, draining := false, false
	for {
		if b.idle() {
			if stopping {
				return
			}
			draining = false
			select {
			case <-b.wake:
			case <-b.stop:
				stopping = true
			}
			continue
		}
		if !stopping && !draining {
			stopping = b.gather()
		}
		seqs, batch := b.cut()
		if err := b.log.waitDurable(slices.Max(seqs)); err != nil {
			// Written (Log.Write) and never on disk: the journal failed
			// first. Nobody outside was told of them (an Append after
			// them failed too); they are not applied.
			continue
		}
		if !b.applyRetrying(batch, &stopping) {
			return // left in the Log: the next Open replays them
		}
		if b.o.After != nil {
			b.o.After(batch)
		}
		for _, seq := range seqs {
			b.log.Done(seq)
		}
		b.keep(seqs, batch)
		draining = b.o.Drain
	}
}

// gather waits until a batch is worth applying: Batch records queued, a
// reader hurrying, or Wait gone; true when Close asked to stop.
func (b *Behind[T]) gather() bool {
	t := time.NewTimer(b.o.Wait)
	defer t.Stop()
	for {
		b.mu.Lock()
		ready := b.hurry || len(b.items) >= b.o.Batch
		b.mu.Unlock()
		if ready {
			return false
		}
		select {
		case <-b.wake:
		case <-t.C:
			return false
		case <-b.stop:
			return true
		}
	}
}

// cut takes the next batch from the head of the queue.
func (b *Behind[T]) cut() ([]uint64, []T) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(len(b.items), b.o.Max)
	if b.o.Cut != nil {
		n = min(max(b.o.Cut(b.items), 1), len(b.items))
	}
	seqs, batch := b.seqs[:n:n], b.items[:n:n]
	if n == len(b.items) {
		b.seqs, b.items, b.hurry = b.spareSeqs, b.spareItems, false
		b.spareSeqs, b.spareItems = nil, nil
	} else {
		b.seqs, b.items = b.seqs[n:], b.items[n:]
	}
	return seqs, batch
}

// keep keeps an applied batch's arrays, cleared (its items may hold card
// data), for the queue after the next cut: the queue does not grow anew
// from nothing at each batch. A batch is the front of the queue's array
// cut to its length, so the queue's later records are never beneath it.
func (b *Behind[T]) keep(seqs []uint64, batch []T) {
	if cap(batch) > 2*b.o.Max {
		return
	}
	clear(batch)
	b.mu.Lock()
	b.spareSeqs, b.spareItems = seqs[:0], batch[:0]
	b.mu.Unlock()
}

// applyRetrying applies batch, trying again after a backoff until it is
// applied (true) or it fails once Close asked to stop (false).
func (b *Behind[T]) applyRetrying(batch []T, stopping *bool) bool {
	for wait := b.o.Retry; ; wait = min(2*wait, b.o.RetryMax) {
		if err := b.apply(context.Background(), batch); err == nil {
			return true
		}
		if *stopping {
			return false
		}
		if !b.o.CloseCutsRetry {
			time.Sleep(wait)
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-b.stop:
			t.Stop()
			*stopping = true
		}
	}
}

// ReplayBatches applies the records left in l to the store behind it, as
// a store's Open does before it serves: decode reads each record, and a
// batch is applied once the sizes of its records add up to limit (size
// nil: 1 a record), the rest at the end (apply is given ctx); l is told Done about each record
// applied, then truncated. It stops at decode's or apply's first error,
// leaving l as it is.
func ReplayBatches[T any](ctx context.Context, l *Log, decode func(seq uint64, rec []byte) (T, error), limit int, size func(T) int, apply func(ctx context.Context, batch []T) error) error {
	var seqs []uint64
	var batch []T
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := apply(ctx, batch); err != nil {
			return err
		}
		for _, seq := range seqs {
			l.Done(seq)
		}
		seqs, batch, n = seqs[:0], batch[:0], 0
		return nil
	}
	err := l.Replay(func(seq uint64, rec []byte) error {
		item, err := decode(seq, rec)
		if err != nil {
			return err
		}
		seqs, batch = append(seqs, seq), append(batch, item)
		if size == nil {
			n++
		} else {
			n += size(item)
		}
		if n >= limit {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil {
		err = l.Truncate()
	}
	return err
}

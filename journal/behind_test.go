package journal_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/journal"
)

// never is a gathering wait no test reaches: a batch applied under it
// was cut by Batch, Hurry, Drain or Close.
const never = time.Hour

// sink records the batches a Behind applies, failing the first fails
// tries.
type sink struct {
	mu      sync.Mutex
	batches [][]int
	tries   int
	fails   int
	always  bool // every try fails
	applied chan struct{}
}

func newSink() *sink { return &sink{applied: make(chan struct{}, 100)} }

func (s *sink) apply(_ context.Context, batch []int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tries++
	if s.always || s.tries <= s.fails {
		return errors.New("the database is down")
	}
	s.batches = append(s.batches, slices.Clone(batch))
	s.applied <- struct{}{}
	return nil
}

func (s *sink) got() [][]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.batches)
}

// add appends n records to l and queues them on b, returning the last
// sequence number; item i is the i-th record's number from 1.
func add(t *testing.T, l *journal.Log, b *journal.Behind[int], from, n int) uint64 {
	t.Helper()
	var seq uint64
	for i := from; i < from+n; i++ {
		var err error
		if seq, err = l.Append(context.Background(), rec(i)); err != nil {
			t.Fatal(err)
		}
		b.Add(seq, i)
	}
	return seq
}

// start opens a log in a new folder with a Behind applying to a new sink;
// the test's end closes both.
func start(t *testing.T, o journal.BehindOptions[int]) (*journal.Log, *sink, *journal.Behind[int]) {
	t.Helper()
	l := open(t, filepath.Join(t.TempDir(), "j"), journal.Options{})
	s := newSink()
	b := journal.NewBehind(l, s.apply, o)
	t.Cleanup(func() {
		b.Close()
		l.Close()
	})
	return l, s, b
}

func waitApplied(t *testing.T, l *journal.Log, seq uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.WaitApplied(ctx, seq); err != nil {
		t.Fatalf("records up to %d not applied: %v", seq, err)
	}
}

// TestBehindGathers: records are not applied while fewer than Batch wait
// (the gathering wait not over); the Batch-th makes them one batch, in the
// order added, and the log counts them done.
func TestBehindGathers(t *testing.T) {
	l, s, b := start(t, journal.BehindOptions[int]{Batch: 4, Wait: never})
	add(t, l, b, 1, 3)
	time.Sleep(50 * time.Millisecond)
	if got := s.got(); len(got) != 0 || l.Applied() != 0 || b.Queued() != 3 {
		t.Fatalf("applied before Batch records: %v (applied %d, queued %d)", got, l.Applied(), b.Queued())
	}
	last := add(t, l, b, 4, 1)
	waitApplied(t, l, last)
	if got := s.got(); !slices.EqualFunc(got, [][]int{{1, 2, 3, 4}}, slices.Equal) {
		t.Fatalf("batches %v, want one of 1..4", got)
	}
}

// TestBehindWait: a record alone is applied once the gathering wait is
// over.
func TestBehindWait(t *testing.T) {
	l, s, b := start(t, journal.BehindOptions[int]{Batch: 1000, Wait: 10 * time.Millisecond})
	waitApplied(t, l, add(t, l, b, 1, 1))
	if got := s.got(); !slices.EqualFunc(got, [][]int{{1}}, slices.Equal) {
		t.Fatalf("batches %v, want [[1]]", got)
	}
}

// TestBehindHurry: Hurry applies what is queued without waiting for Batch
// or the gathering wait — also the next record when it comes before it is
// queued (a reader counts a record being appended).
func TestBehindHurry(t *testing.T) {
	l, s, b := start(t, journal.BehindOptions[int]{Batch: 1000, Wait: never})
	b.Hurry()
	waitApplied(t, l, add(t, l, b, 1, 1))
	last := add(t, l, b, 2, 3)
	b.Hurry()
	waitApplied(t, l, last)
	all := slices.Concat(s.got()...)
	if !slices.Equal(all, []int{1, 2, 3, 4}) {
		t.Fatalf("applied %v, want 1..4 in order", all)
	}
}

// TestBehindCut: Max and Cut bound a batch; with Drain the rest follows
// without gathering; without it the rest waits for its own gathering.
func TestBehindCut(t *testing.T) {
	l, s, b := start(t, journal.BehindOptions[int]{Batch: 5, Wait: never, Max: 2, Drain: true})
	waitApplied(t, l, add(t, l, b, 1, 5))
	if got := s.got(); !slices.EqualFunc(got, [][]int{{1, 2}, {3, 4}, {5}}, slices.Equal) {
		t.Fatalf("Max 2 with Drain: batches %v", got)
	}

	l2 := open(t, filepath.Join(t.TempDir(), "j"), journal.Options{})
	defer l2.Close()
	s2 := newSink()
	// A batch is records up to 5 in all (at least one record).
	cut := func(q []int) int {
		n, sum := 0, 0
		for n < len(q) && (sum == 0 || sum+q[n] <= 5) {
			sum += q[n]
			n++
		}
		return n
	}
	b2 := journal.NewBehind(l2, s2.apply, journal.BehindOptions[int]{Batch: 4, Wait: never, Cut: cut})
	defer b2.Close()
	last := add(t, l2, b2, 1, 4)
	<-s2.applied
	time.Sleep(50 * time.Millisecond)
	if got := s2.got(); !slices.EqualFunc(got, [][]int{{1, 2}}, slices.Equal) || b2.Queued() != 2 {
		t.Fatalf("Cut without Drain: batches %v, %d queued; want [[1 2]], 2 gathering", got, b2.Queued())
	}
	b2.Hurry()
	waitApplied(t, l2, last)
	if got := s2.got(); !slices.EqualFunc(got, [][]int{{1, 2}, {3}, {4}}, slices.Equal) {
		t.Fatalf("Cut: batches %v", got)
	}
}

// TestBehindRetry: a failed batch is tried again, after the backoff, until
// it is applied; it is applied once, and only then done.
func TestBehindRetry(t *testing.T) {
	l := open(t, filepath.Join(t.TempDir(), "j"), journal.Options{})
	defer l.Close()
	s := newSink()
	s.fails = 3
	b := journal.NewBehind(l, s.apply, journal.BehindOptions[int]{Batch: 3, Wait: never, Retry: time.Millisecond})
	defer b.Close()
	waitApplied(t, l, add(t, l, b, 1, 3))
	s.mu.Lock()
	tries := s.tries
	s.mu.Unlock()
	if got := s.got(); tries != 4 || !slices.EqualFunc(got, [][]int{{1, 2, 3}}, slices.Equal) {
		t.Fatalf("%d tries, batches %v; want 4 tries, one batch 1..3", tries, got)
	}
}

// TestBehindAfterBeforeDone: After sees each batch before the log counts
// its records done, and the log counts them done in order.
func TestBehindAfterBeforeDone(t *testing.T) {
	l := open(t, filepath.Join(t.TempDir(), "j"), journal.Options{})
	defer l.Close()
	s := newSink()
	var mu sync.Mutex
	var applied, before []uint64 // Applied() at each After; records in the batches before it
	var sum uint64
	// Batch 6: the six gather, then go two by two (Max 2, Drain). With
	// Batch 2 the split followed the appends' timing, and a last record
	// left alone waited for the gathering wait, never (a CI run hung).
	o := journal.BehindOptions[int]{Batch: 6, Wait: never, Max: 2, Drain: true}
	o.After = func(batch []int) {
		mu.Lock()
		applied, before = append(applied, l.Applied()), append(before, sum)
		sum += uint64(len(batch))
		mu.Unlock()
	}
	b := journal.NewBehind(l, s.apply, o)
	defer b.Close()
	waitApplied(t, l, add(t, l, b, 1, 6))
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(applied, before) || sum != 6 || !slices.Equal(slices.Concat(s.got()...), []int{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("Applied() at each After %v, want %v; batches %v", applied, before, s.got())
	}
}

// TestBehindCloseApplies: Close applies what is queued (one try) before it
// returns, without waiting for the gathering.
func TestBehindCloseApplies(t *testing.T) {
	l := open(t, filepath.Join(t.TempDir(), "j"), journal.Options{})
	defer l.Close()
	s := newSink()
	b := journal.NewBehind(l, s.apply, journal.BehindOptions[int]{Batch: 1000, Wait: never, Max: 2})
	last := add(t, l, b, 1, 5)
	b.Close()
	b.Close() // again: nothing
	if l.Applied() != last || !slices.Equal(slices.Concat(s.got()...), []int{1, 2, 3, 4, 5}) {
		t.Fatalf("after Close: applied %d of %d, batches %v", l.Applied(), last, s.got())
	}
	select {
	case <-b.Stopped():
	default:
		t.Fatal("Stopped not closed after Close")
	}
}

// TestBehindCloseLeaves: a batch that fails at Close stays in the log —
// not done, replayed at the next Open — and Close returns; with
// CloseCutsRetry, Close also ends a batch's retrying.
func TestBehindCloseLeaves(t *testing.T) {
	for _, cuts := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "j")
		l := open(t, path, journal.Options{})
		s := newSink()
		s.always = true
		o := journal.BehindOptions[int]{Batch: 1000, Wait: never, Retry: never, RetryMax: never, CloseCutsRetry: cuts}
		b := journal.NewBehind(l, s.apply, o)
		add(t, l, b, 1, 3)
		if cuts {
			b.Hurry() // a first try fails; the next waits for never
			for {
				s.mu.Lock()
				n := s.tries
				s.mu.Unlock()
				if n > 0 {
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
		b.Close()
		if l.Applied() != 0 || len(s.got()) != 0 {
			t.Fatalf("CloseCutsRetry %v: applied %d, batches %v after failing", cuts, l.Applied(), s.got())
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = open(t, path, journal.Options{})
		if got := all(t, l); len(got) != 3 || got[1] != string(rec(1)) || got[3] != string(rec(3)) {
			t.Fatalf("CloseCutsRetry %v: replayed %d records, want the 3 not applied", cuts, len(got))
		}
		l.Close()
	}
}

// TestBehindPause: paused, nothing more is applied (the records stay
// queued and in the log), and Close returns.
func TestBehindPause(t *testing.T) {
	l := open(t, filepath.Join(t.TempDir(), "j"), journal.Options{})
	defer l.Close()
	s := newSink()
	b := journal.NewBehind(l, s.apply, journal.BehindOptions[int]{Batch: 1, Wait: never})
	waitApplied(t, l, add(t, l, b, 1, 1))
	b.Pause()
	add(t, l, b, 2, 2)
	b.Hurry()
	time.Sleep(50 * time.Millisecond)
	b.Close()
	if l.Applied() != 1 || b.Queued() != 2 || len(s.got()) != 1 {
		t.Fatalf("paused: applied %d, queued %d, batches %v", l.Applied(), b.Queued(), s.got())
	}
}

// TestReplayBatches: the records left in a log are applied in batches of
// limit (by size), told done and dropped; a record that does not decode
// stops the replay, leaving the log whole.
func TestReplayBatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	l := open(t, path, journal.Options{})
	for i := 1; i <= 5; i++ {
		if _, err := l.Append(context.Background(), rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	l = open(t, path, journal.Options{})
	bad := errors.New("bad record")
	decode := func(seq uint64, b []byte) (int, error) {
		if seq == 4 && len(b) > 0 {
			return 0, bad
		}
		return int(seq), nil
	}
	s := newSink()
	if err := journal.ReplayBatches(context.Background(), l, decode, 2, nil, s.apply); err != bad {
		t.Fatalf("a record not decoding: %v, want %v", err, bad)
	}
	l.Close()
	l = open(t, path, journal.Options{})
	if got := all(t, l); len(got) != 5 {
		t.Fatalf("after a failed replay the log holds %d records, want 5", len(got))
	}
	s = newSink()
	decode = func(seq uint64, b []byte) (int, error) { return int(seq), nil }
	size := func(i int) int { return i } // 1+2, 3, 4, 5
	if err := journal.ReplayBatches(context.Background(), l, decode, 3, size, s.apply); err != nil {
		t.Fatal(err)
	}
	if got := s.got(); !slices.EqualFunc(got, [][]int{{1, 2}, {3}, {4}, {5}}, slices.Equal) || l.Applied() != 5 {
		t.Fatalf("batches %v, applied %d", got, l.Applied())
	}
	l.Close()
	l = open(t, path, journal.Options{})
	defer l.Close()
	if got := all(t, l); len(got) != 0 {
		t.Fatalf("after the replay the log holds %d records, want none", len(got))
	}
}

// TestBehindReusesCleared: the queue grows into an applied batch's arrays
// (kept, cleared) — every batch still holds exactly its own records, in
// order, with full cuts, partial cuts (Max) and records added while a
// batch is applied; and what a batch held is cleared once it is applied:
// once the write-behind has stopped, each batch's array holds nil or
// later records only (it was given to the queue again).
func TestBehindReusesCleared(t *testing.T) {
	l := open(t, filepath.Join(t.TempDir(), "j"), journal.Options{})
	defer l.Close()
	var mu sync.Mutex
	var got []int
	var batches [][]*int // each batch applied, as the array it was
	var lasts []int
	b := journal.NewBehind(l, func(_ context.Context, batch []*int) error {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range batch {
			got = append(got, *p)
		}
		batches, lasts = append(batches, batch), append(lasts, *batch[len(batch)-1])
		return nil
	}, journal.BehindOptions[*int]{Batch: 3, Max: 5, Wait: time.Millisecond})
	var last uint64
	for i := 1; i <= 200; i++ {
		seq, err := l.Append(context.Background(), rec(i))
		if err != nil {
			t.Fatal(err)
		}
		b.Add(seq, &i)
		last = seq
		if i%7 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	waitApplied(t, l, last)
	b.Close() // the write-behind has stopped: its arrays are still
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 200 {
		t.Fatalf("applied %d records, want 200", len(got))
	}
	for i, v := range got {
		if v != i+1 {
			t.Fatalf("applied %v, want 1..200 in order", got)
		}
	}
	for k, a := range batches {
		for _, p := range a {
			if p != nil && *p <= lasts[k] {
				t.Fatalf("the array of the batch ending at %d still holds record %d", lasts[k], *p)
			}
		}
	}
}

package journal_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/journal"
	"github.com/tapwallet/tapwallet/journal/lossyfs"
)

func open(t testing.TB, path string, o journal.Options) *journal.Log {
	t.Helper()
	l, err := journal.Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// all replays l into a map seq → record, checking the order.
func all(t *testing.T, l *journal.Log) map[uint64]string {
	t.Helper()
	got := map[uint64]string{}
	var prev uint64
	err := l.Replay(func(seq uint64, rec []byte) error {
		if prev != 0 && seq != prev+1 {
			t.Fatalf("replay: sequence %d after %d", seq, prev)
		}
		prev = seq
		got[seq] = string(rec)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// seg1 is the name of a log's first segment.
func seg1(path string) string { return path + ".00000000000000000001" }

func rec(i int) []byte {
	return []byte(fmt.Sprintf("record %d %s", i, bytes.Repeat([]byte{'x'}, i%300)))
}

// TestGroupCommit: 64 goroutines appending at once get distinct sequence
// numbers 1..N, share fdatasyncs (fewer syncs than records), and every
// record comes back, in order, after a reopen.
func TestGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	l := open(t, path, journal.Options{})
	const writers, each = 64, 40
	var mu sync.Mutex
	bySeq := map[uint64]string{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				r := rec(w*each + i)
				seq, err := l.Append(context.Background(), r)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if _, dup := bySeq[seq]; dup {
					t.Errorf("sequence %d given twice", seq)
				}
				bySeq[seq] = string(r)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	n := writers * each
	if l.Last() != uint64(n) {
		t.Fatalf("Last %d, want %d", l.Last(), n)
	}
	if s := l.Syncs(); s >= uint64(n) || s == 0 {
		t.Fatalf("%d fdatasyncs for %d records: no group commit", s, n)
	} else {
		t.Logf("%d records, %d fdatasyncs", n, s)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open(t, path, journal.Options{})
	defer l.Close()
	if st := l.Stats(); st.Records != n || st.FirstSeq != 1 || st.DroppedBytes != 0 {
		t.Fatalf("stats after reopen %+v", st)
	}
	got := all(t, l)
	if len(got) != n {
		t.Fatalf("replayed %d records, want %d", len(got), n)
	}
	for seq, r := range bySeq {
		if got[seq] != r {
			t.Fatalf("record %d replayed as %q, appended %q", seq, got[seq], r)
		}
	}
	if seq, err := l.Append(context.Background(), []byte("next")); err != nil || seq != uint64(n+1) {
		t.Fatalf("append after reopen: %d %v, want %d", seq, err, n+1)
	}
}

// appendN appends n records one after another (a block each).
// fiveRecords writes records 0 to 4 to a new journal, closes it and
// returns its path and its first segment's bytes.
func fiveRecords(t *testing.T) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "j")
	l := open(t, path, journal.Options{})
	appendN(t, l, 0, 5)
	l.Close()
	b, err := os.ReadFile(seg1(path))
	if err != nil {
		t.Fatal(err)
	}
	return path, b
}

func appendN(t *testing.T, l *journal.Log, from, n int) {
	t.Helper()
	for i := range n {
		if _, err := l.Append(context.Background(), rec(from+i)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTornTail: a block cut short (also when zeros made ahead follow it),
// or garbage after the last block, is dropped at Open (the file truncated
// to the whole blocks); the records before it replay and appends continue
// after them. Zeros alone after the last block are space made ahead
// (TestZerosAhead).
func TestTornTail(t *testing.T) {
	for _, c := range []struct {
		name string
		harm func(b []byte) []byte
	}{
		{"cut short", func(b []byte) []byte { return b[:len(b)-7] }},
		{"header only", func(b []byte) []byte { return b[:len(b)-len(rec(4))-4] }},
		{"cut short over zeros", func(b []byte) []byte { return append(b[:len(b)-7], make([]byte, 4096)...) }},
		{"garbage after", func(b []byte) []byte { return append(b, []byte("TWJ1\xff\xff\xff\xffnot a block")...) }},
		{"last byte flipped", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }},
	} {
		t.Run(c.name, func(t *testing.T) {
			path, b := fiveRecords(t)
			whole := int64(len(b))
			if c.name != "garbage after" {
				appendLen := int64(24 + 4 + len(rec(4)))
				whole -= appendLen
			}
			if err := os.WriteFile(seg1(path), c.harm(b), 0o600); err != nil {
				t.Fatal(err)
			}
			l := open(t, path, journal.Options{})
			defer l.Close()
			st := l.Stats()
			if st.Bytes != whole || st.DroppedBytes == 0 {
				t.Fatalf("stats %+v, want %d whole bytes and a dropped tail", st, whole)
			}
			if fi, _ := os.Stat(seg1(path)); fi.Size() != whole {
				t.Fatalf("file is %d bytes after Open, want %d", fi.Size(), whole)
			}
			got := all(t, l)
			want := st.Records
			if len(got) != want || got[1] != string(rec(0)) {
				t.Fatalf("replayed %d records (%q…), want %d", len(got), got[1], want)
			}
			seq, err := l.Append(context.Background(), []byte("after"))
			if err != nil || seq != uint64(want+1) {
				t.Fatalf("append after the torn tail: %d %v", seq, err)
			}
		})
	}
}

// TestCorruptMiddle: a damaged block with whole blocks after it is not a
// torn tail: Open refuses with fault.Internal journal_corrupt and leaves
// the file as it was.
func TestCorruptMiddle(t *testing.T) {
	path, b := fiveRecords(t)
	first := 24 + 4 + len(rec(0))
	b[first+30] ^= 0x40 // inside the second block's record
	os.WriteFile(seg1(path), b, 0o600)
	_, err := journal.Open(path, journal.Options{})
	if fault.KindOf(err) != fault.Internal || fault.CodeOf(err) != journal.CodeCorrupt {
		t.Fatalf("open of a journal damaged in the middle: %v, want %s", err, journal.CodeCorrupt)
	}
	t.Log(err)
	if after, _ := os.ReadFile(seg1(path)); !bytes.Equal(after, b) {
		t.Fatal("the refused file was changed")
	}
}

// TestGarbageNeverPanics: any bytes at all open without a panic, either
// as a (possibly empty) prefix of whole blocks or refused as corrupt.
func TestGarbageNeverPanics(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	l := open(t, good, journal.Options{})
	appendN(t, l, 0, 8)
	l.Close()
	garble(t, dir, seg1(good), "TWJ1", func(path string) error {
		l, err := journal.Open(path, journal.Options{})
		if err != nil {
			return err
		}
		all(t, l)
		return l.Close()
	})
}

// garble writes 300 damaged copies of the segment at good to new logs
// in dir — random bytes after magic, bytes changed, the file cut short —
// and has try open and read each: an error but CodeCorrupt fails the
// test.
func garble(t *testing.T, dir, good, magic string, try func(path string) error) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	base, _ := os.ReadFile(good)
	for i := range 300 {
		b := append([]byte(nil), base...)
		switch i % 3 {
		case 0:
			b = make([]byte, rng.IntN(200))
			for j := range b {
				b[j] = byte(rng.IntN(256))
			}
			if i%2 == 0 {
				b = append([]byte(magic), b...)
			}
		case 1:
			for range 1 + rng.IntN(4) {
				b[rng.IntN(len(b))] = byte(rng.IntN(256))
			}
		case 2:
			b = b[:rng.IntN(len(b))]
		}
		path := filepath.Join(dir, fmt.Sprint(i))
		os.WriteFile(seg1(path), b, 0o600)
		if err := try(path); err != nil && fault.CodeOf(err) != journal.CodeCorrupt {
			t.Fatalf("case %d: %v", i, err)
		}
	}
}

// TestSegments: past TruncateAt the writer starts a new segment; a
// segment is deleted once every record in it is Done, not before;
// Truncate refuses while records are not done, then leaves one empty
// segment; sequence numbers go on, across a reopen too.
func TestSegments(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "j")
	segs := func() []string {
		m, _ := filepath.Glob(path + ".0*")
		return m
	}
	l := open(t, path, journal.Options{TruncateAt: 200})
	defer l.Close()
	appendN(t, l, 0, 20)
	if n := len(segs()); n < 3 {
		t.Fatalf("%d segments after 20 records, 200 bytes a segment", n)
	}
	n0 := len(segs())
	if err := l.Truncate(); fault.CodeOf(err) != journal.CodeUnapplied {
		t.Fatalf("Truncate with nothing applied: %v", err)
	}
	for s := uint64(2); s <= 20; s++ {
		l.Done(s)
	}
	appendN(t, l, 20, 1)
	if n := len(segs()); n < n0 {
		t.Fatalf("a segment deleted with record 1 not done: %d → %d", n0, n)
	}
	l.Done(1)
	appendN(t, l, 21, 1)
	if n := len(segs()); n > 2 {
		t.Fatalf("%d segments left once records 1–20 were done: %v", n, segs())
	}
	l.Done(21)
	l.Done(22)
	if err := l.Truncate(); err != nil {
		t.Fatal(err)
	}
	if m := segs(); len(m) != 1 || m[0] != path+".00000000000000000023" {
		t.Fatalf("after Truncate: %v, want one empty segment from 23", m)
	}
	if got := all(t, l); len(got) != 0 {
		t.Fatalf("replay after truncation gave %d records", len(got))
	}
	seq, _ := l.Append(context.Background(), []byte("later"))
	if seq != 23 {
		t.Fatalf("sequence after truncation %d, want 23", seq)
	}
	l.Close()
	l2 := open(t, path, journal.Options{})
	defer l2.Close()
	if got := all(t, l2); len(got) != 1 || got[23] != "later" {
		t.Fatalf("reopened after truncation: %v", got)
	}
	if seq, _ := l2.Append(context.Background(), []byte("more")); seq != 24 {
		t.Fatalf("sequence after reopen %d, want 24", seq)
	}
}

// TestSegmentDamage: damage in a segment before the last, or a segment
// missing between two, is refused as corrupt; a second Open of a log
// that is open is refused as locked.
func TestSegmentDamage(t *testing.T) {
	mk := func(t *testing.T) (string, []string) {
		path := filepath.Join(t.TempDir(), "j")
		l := open(t, path, journal.Options{TruncateAt: 200})
		appendN(t, l, 0, 12)
		if _, err := journal.Open(path, journal.Options{}); fault.CodeOf(err) != journal.CodeLocked {
			t.Fatalf("second Open: %v, want %s", err, journal.CodeLocked)
		}
		l.Close()
		m, _ := filepath.Glob(path + ".0*")
		if len(m) < 3 {
			t.Fatalf("segments %v", m)
		}
		return path, m
	}
	t.Run("earlier segment cut short", func(t *testing.T) {
		path, m := mk(t)
		b, _ := os.ReadFile(m[0])
		os.WriteFile(m[0], b[:len(b)-3], 0o600)
		if _, err := journal.Open(path, journal.Options{}); fault.CodeOf(err) != journal.CodeCorrupt {
			t.Fatalf("got %v, want %s", err, journal.CodeCorrupt)
		}
	})
	t.Run("segment missing", func(t *testing.T) {
		path, m := mk(t)
		os.Remove(m[1])
		_, err := journal.Open(path, journal.Options{})
		if fault.CodeOf(err) != journal.CodeCorrupt {
			t.Fatalf("got %v, want %s", err, journal.CodeCorrupt)
		}
		t.Log(err)
	})
	t.Run("first segments gone (applied)", func(t *testing.T) {
		path, m := mk(t)
		os.Remove(m[0])
		l, err := journal.Open(path, journal.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		got := all(t, l)
		if len(got) == 0 || got[12] != string(rec(11)) {
			t.Fatalf("replayed %v", got)
		}
	})
}

// TestWaitApplied: WaitApplied returns once every record up to seq is
// Done, whatever the order they were done in, and honours its context.
func TestWaitApplied(t *testing.T) {
	l := open(t, filepath.Join(t.TempDir(), "j"), journal.Options{})
	defer l.Close()
	appendN(t, l, 0, 3)
	var waited atomic.Bool
	done := make(chan error)
	go func() { done <- l.WaitApplied(context.Background(), 3); waited.Store(true) }()
	l.Done(3)
	l.Done(1)
	time.Sleep(20 * time.Millisecond)
	if waited.Load() || l.Applied() != 1 {
		t.Fatalf("waited past record 2 not done (applied %d)", l.Applied())
	}
	l.Done(2)
	if err := <-done; err != nil || l.Applied() != 3 {
		t.Fatalf("WaitApplied %v, applied %d", err, l.Applied())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := l.WaitApplied(ctx, 4); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitApplied for a record never appended: %v", err)
	}
}

// TestRefusals: a record over MaxRecord, and any append after Close.
func TestRefusals(t *testing.T) {
	l := open(t, filepath.Join(t.TempDir(), "j"), journal.Options{MaxRecord: 10})
	if _, err := l.Append(context.Background(), make([]byte, 11)); fault.CodeOf(err) != journal.CodeTooLarge {
		t.Fatalf("too large: %v", err)
	}
	l.Close()
	if _, err := l.Append(context.Background(), []byte("x")); fault.CodeOf(err) != journal.CodeClosed {
		t.Fatalf("after close: %v", err)
	}
}

// TestPowerCutLosesNoAcknowledged: appenders run on lossyfs (every write
// no fdatasync covered is dropped, or torn); at a random moment the disk
// is cut. What the cut left opens (the torn tail dropped) and holds every
// record whose Append had returned before the cut — twenty cuts, half of
// them with the unsynced writes applied whole, torn or not at all.
func TestPowerCutLosesNoAcknowledged(t *testing.T) {
	for run := range 20 {
		dir, fsys := lossy(t)
		path := filepath.Join(dir, "network.journal")
		l := open(t, path, journal.Options{FS: fsys, TruncateAt: 4096})
		defer l.Close()
		var mu sync.Mutex
		acked := map[uint64]string{}
		var before map[uint64]string
		cut, torn := cutting(t, run, 16, fsys, dir, func(w, i int) bool {
			r := rec(w*100000 + i)
			seq, err := l.Append(context.Background(), r)
			if err != nil {
				t.Error(err)
				return false
			}
			if i%3 == 0 {
				l.Done(seq) // some applied: the file is truncated now and then
			}
			mu.Lock()
			acked[seq] = string(r)
			mu.Unlock()
			return true
		}, func() {
			mu.Lock()
			before = maps(acked)
			mu.Unlock()
		})
		l.Close()
		after, err := journal.Open(filepath.Join(cut, "network.journal"), journal.Options{})
		if err != nil {
			t.Fatalf("cut %d: %v", run, err)
		}
		got := all(t, after)
		after.Close()
		lost := 0
		for seq, r := range before {
			if got[seq] != r && l.Applied() < seq {
				lost++
			}
		}
		// A record applied (Done) may have been truncated away: only
		// those never applied must be in what the cut left.
		t.Logf("cut %d (torn %v): %d acknowledged, %d in the file, %d dropped bytes, lost %d", run, torn, len(before), len(got), after.Stats().DroppedBytes, lost)
		if lost > 0 {
			t.Fatalf("cut %d: a power cut lost %d acknowledged records not yet applied", run, lost)
		}
	}
}

// lossy returns a fresh folder and a lossyfs layer with its shadows in it.
func lossy(t *testing.T) (string, *lossyfs.FS) {
	t.Helper()
	dir := t.TempDir()
	fsys, err := lossyfs.New(filepath.Join(dir, "shadow"))
	if err != nil {
		t.Fatal(err)
	}
	return dir, fsys
}

// cutting runs n goroutines, each calling step(w, i) with its number w
// and i from 0 until step returns false or the cut, and cuts fsys's disk
// at a random moment: in odd runs with the unsynced writes applied whole,
// torn or not at all, in even ones with them dropped. snap runs just
// before the cut (what was acknowledged by then). It returns the folder
// (in dir) of what the cut left, the goroutines ended, and whether the
// writes could be torn.
func cutting(t *testing.T, run, n int, fsys *lossyfs.FS, dir string, step func(w, i int) bool, snap func()) (string, bool) {
	t.Helper()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if !step(w, i) {
					return
				}
			}
		})
	}
	time.Sleep(time.Duration(5+rand.IntN(40)) * time.Millisecond)
	snap()
	var rng *rand.Rand
	if run%2 == 1 {
		rng = rand.New(rand.NewPCG(uint64(run), uint64(time.Now().UnixNano())))
	}
	cut := filepath.Join(dir, "cut")
	err := fsys.Cut(cut, rng)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	return cut, rng != nil
}

func maps(m map[uint64]string) map[uint64]string {
	out := make(map[uint64]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

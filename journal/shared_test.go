package journal_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/journal"
)

// The streams of the tests: named as the platform's parties.
var streamNames = []string{"network.journal", "tsp.journal", "issuer_icbc.journal"}

func openShared(t testing.TB, path string, o journal.Options) *journal.Shared {
	t.Helper()
	s, err := journal.OpenShared(path, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// streams opens the streams named of s (in dir).
func streams(t testing.TB, s *journal.Shared, dir string, names ...string) []*journal.Log {
	t.Helper()
	var ls []*journal.Log
	for _, n := range names {
		l, err := journal.Open(filepath.Join(dir, n), journal.Options{Shared: s})
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	return ls
}

// replayed replays l: its sequence numbers and records, in order.
func replayed(t *testing.T, l *journal.Log) ([]uint64, []string) {
	t.Helper()
	var seqs []uint64
	var recs []string
	if err := l.Replay(func(seq uint64, rec []byte) error {
		seqs, recs = append(seqs, seq), append(recs, string(rec))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return seqs, recs
}

// span is the sequence numbers from..to.
func span(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// TestSharedStreams: 48 goroutines append (and write) to three streams of
// one file at once; each stream numbers its records 1..N, the file's
// syncs are shared among them (fewer than records), and after a reopen
// each stream replays exactly its own records in order — none of the
// others' — and numbers on after them.
func TestSharedStreams(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tapwallet.journal")
	s := openShared(t, path, journal.Options{TruncateAt: 8192})
	ls := streams(t, s, dir, streamNames...)
	const writers, each = 48, 30
	var mu sync.Mutex
	got := make([]map[uint64]string, len(ls))
	for i := range got {
		got[i] = map[uint64]string{}
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			k := w % len(ls)
			for i := range each {
				r := fmt.Sprintf("%s %d/%d %s", streamNames[k], w, i, rec(w*each+i))
				var seq uint64
				var err error
				if i%4 == 3 {
					seq, err = ls[k].Write([]byte(r))
				} else {
					seq, err = ls[k].Append(context.Background(), []byte(r))
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if _, dup := got[k][seq]; dup {
					t.Errorf("stream %d: sequence %d given twice", k, seq)
				}
				got[k][seq] = r
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	n := uint64(writers / len(ls) * each)
	for k, l := range ls {
		if l.Last() != n {
			t.Fatalf("stream %d: Last %d, want %d", k, l.Last(), n)
		}
	}
	if sy := s.Syncs(); sy == 0 || sy >= uint64(writers*each) {
		t.Fatalf("%d fdatasyncs for %d records: no group commit", sy, writers*each)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ls[0].Append(context.Background(), []byte("late")); fault.CodeOf(err) != journal.CodeClosed {
		t.Fatalf("append after the shared file closed: %v", err)
	}
	s = openShared(t, path, journal.Options{})
	defer s.Close()
	if st := s.Stats(); st.Records != writers*each {
		t.Fatalf("the file holds %d records, want %d", st.Records, writers*each)
	}
	ls = streams(t, s, dir, streamNames...)
	for k, l := range ls {
		seqs, recs := replayed(t, l)
		if !slices.Equal(seqs, span(1, n)) {
			t.Fatalf("stream %d replayed sequences %v, want 1..%d", k, seqs, n)
		}
		for i, seq := range seqs {
			if recs[i] != got[k][seq] {
				t.Fatalf("stream %d record %d replayed as %q, appended %q", k, seq, recs[i], got[k][seq])
			}
		}
		if st := l.Stats(); st.Records != int(n) || st.FirstSeq != 1 {
			t.Fatalf("stream %d stats %+v", k, st)
		}
		if seq, err := l.Append(context.Background(), []byte("next")); err != nil || seq != n+1 {
			t.Fatalf("stream %d append after reopen: %d %v, want %d", k, seq, err, n+1)
		}
	}
	if _, err := journal.Open(filepath.Join(dir, streamNames[0]), journal.Options{Shared: s}); fault.CodeOf(err) != journal.CodeLocked {
		t.Fatalf("a stream opened twice: %v, want %s", err, journal.CodeLocked)
	}
	if _, err := journal.OpenShared(path, journal.Options{}); fault.CodeOf(err) != journal.CodeLocked {
		t.Fatalf("the shared file opened twice: %v, want %s", err, journal.CodeLocked)
	}
}

// segments lists the segment files of the log at path.
func segments(path string) []string {
	m, _ := filepath.Glob(path + ".[0-9]*")
	return m
}

// TestSharedSegmentsDropped: a segment of the shared file goes only once
// every stream's records in it are done; a stream's Truncate with the
// other's records not done keeps them (and their segments), and marks its
// own done (not replayed after a reopen); the last Truncate leaves one
// segment; sequence numbers go on after a reopen.
func TestSharedSegmentsDropped(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tapwallet.journal")
	s := openShared(t, path, journal.Options{TruncateAt: 300})
	ls := streams(t, s, dir, "a.journal", "b.journal")
	a, b := ls[0], ls[1]
	for i := range 10 {
		appendN(t, a, i, 1)
		appendN(t, b, i, 1)
	}
	n0 := len(segments(path))
	if n0 < 4 {
		t.Fatalf("%d segments after 20 records, 300 bytes a segment", n0)
	}
	if err := a.Truncate(); fault.CodeOf(err) != journal.CodeUnapplied {
		t.Fatalf("Truncate with nothing applied: %v", err)
	}
	for seq := uint64(1); seq <= 10; seq++ {
		a.Done(seq)
	}
	appendN(t, a, 10, 1)
	if n := len(segments(path)); n < n0 {
		t.Fatalf("segments deleted with b's records not done: %d → %d", n0, n)
	}
	for seq := uint64(1); seq <= 9; seq++ {
		b.Done(seq)
	}
	appendN(t, b, 10, 1)
	if n := len(segments(path)); n >= n0 || n < 1 {
		t.Fatalf("%d segments (from %d) with every record but b's 10th done: want the earlier ones deleted", n, n0)
	}
	a.Done(11)
	if err := a.Truncate(); err != nil {
		t.Fatal(err)
	}
	if len(segments(path)) == 0 {
		t.Fatal("a's Truncate left no segment: b's records 10 and 11 are not done")
	}
	if err := b.Truncate(); fault.CodeOf(err) != journal.CodeUnapplied {
		t.Fatalf("b's Truncate with records not done: %v", err)
	}
	s.Close()

	// a's records are marked done: a reopen replays b's only.
	s = openShared(t, path, journal.Options{TruncateAt: 300})
	ls = streams(t, s, dir, "a.journal", "b.journal")
	a, b = ls[0], ls[1]
	if seqs, _ := replayed(t, a); len(seqs) != 0 {
		t.Fatalf("a replayed %v after its Truncate", seqs)
	}
	seqs, recs := replayed(t, b)
	if !slices.Contains(seqs, 10) || !slices.Contains(seqs, 11) || recs[len(recs)-1] != string(rec(10)) || slices.Contains(seqs, 1) {
		t.Fatalf("b replayed %v, want its records from the segments kept (10 and 11 among them, not 1)", seqs)
	}
	for _, seq := range seqs {
		b.Done(seq)
	}
	if err := b.Truncate(); err != nil {
		t.Fatal(err)
	}
	if m := segments(path); len(m) != 1 {
		t.Fatalf("after every stream's Truncate: %v, want one segment", m)
	}
	s.Close()
	s = openShared(t, path, journal.Options{})
	defer s.Close()
	ls = streams(t, s, dir, "a.journal", "b.journal")
	for i, want := range []uint64{12, 12} {
		if seqs, _ := replayed(t, ls[i]); len(seqs) != 0 {
			t.Fatalf("stream %d replayed %v after truncation", i, seqs)
		}
		if seq, err := ls[i].Append(context.Background(), []byte("later")); err != nil || seq != want {
			t.Fatalf("stream %d: sequence after truncation and reopen %d %v, want %d", i, seq, err, want)
		}
	}
}

// TestSharedUnopenedStreamKeeps: a stream in the file and not opened in
// this run keeps the segments that hold its records however far the
// others go (their records all done, segments rolled, truncated); opened
// again it replays every record.
func TestSharedUnopenedStreamKeeps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tapwallet.journal")
	s := openShared(t, path, journal.Options{TruncateAt: 300})
	ls := streams(t, s, dir, "a.journal", "b.journal")
	for i := range 8 {
		appendN(t, ls[0], i, 1)
		appendN(t, ls[1], 100+i, 1)
	}
	s.Close()

	s = openShared(t, path, journal.Options{TruncateAt: 300})
	a := streams(t, s, dir, "a.journal")[0]
	seqs, _ := replayed(t, a)
	for _, seq := range seqs {
		a.Done(seq)
	}
	if err := a.Truncate(); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		seq, err := a.Append(context.Background(), rec(i))
		if err != nil {
			t.Fatal(err)
		}
		a.Done(seq)
	}
	if err := a.Truncate(); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openShared(t, path, journal.Options{})
	defer s.Close()
	b := streams(t, s, dir, "b.journal")[0]
	seqs, recs := replayed(t, b)
	if !slices.Equal(seqs, span(1, 8)) {
		t.Fatalf("b, not opened meanwhile, replays %v, want 1..8", seqs)
	}
	for i, r := range recs {
		if r != string(rec(100+i)) {
			t.Fatalf("b's record %d is %q", i+1, r)
		}
	}
}

// gateFS holds every Sync while held: a test sees what happens before a
// group is on disk.
type gateFS struct {
	journal.OSFS
	mu   sync.Mutex
	gate chan struct{}
}

func (g *gateFS) OpenFile(path string) (journal.File, error) {
	f, err := journal.OSFS{}.OpenFile(path)
	if err != nil {
		return nil, err
	}
	return gateFile{f, g}, nil
}

func (g *gateFS) hold() {
	g.mu.Lock()
	g.gate = make(chan struct{})
	g.mu.Unlock()
}

func (g *gateFS) release() {
	g.mu.Lock()
	if g.gate != nil {
		close(g.gate)
		g.gate = nil
	}
	g.mu.Unlock()
}

type gateFile struct {
	journal.File
	g *gateFS
}

func (f gateFile) Sync() error {
	f.g.mu.Lock()
	ch := f.g.gate
	f.g.mu.Unlock()
	if ch != nil {
		<-ch
	}
	return f.File.Sync()
}

// TestWriteThenAppend: a record written (not waited for) is not durable
// while its group's sync is held; an Append on another stream made after
// it returns only once both are durable, and both are in the file.
func TestWriteThenAppend(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tapwallet.journal")
	g := &gateFS{}
	s := openShared(t, path, journal.Options{FS: g})
	t.Cleanup(g.release)
	ls := streams(t, s, dir, "issuer_icbc.journal", "network.journal")
	iss, netw := ls[0], ls[1]
	g.hold()
	seq, err := iss.Write([]byte("hold"))
	if err != nil || seq != 1 {
		t.Fatalf("Write: %d %v", seq, err)
	}
	answered := make(chan uint64)
	go func() {
		seq, err := netw.Append(context.Background(), []byte("answer"))
		if err != nil {
			t.Error(err)
		}
		answered <- seq
	}()
	time.Sleep(30 * time.Millisecond)
	if d := iss.Durable(); d != 0 {
		t.Fatalf("Durable %d with the sync held", d)
	}
	select {
	case <-answered:
		t.Fatal("Append returned with the sync held")
	default:
	}
	g.release()
	<-answered
	if d := iss.Durable(); d != 1 {
		t.Fatalf("the written record is not durable (Durable %d) once a later Append on another stream returned", d)
	}
	if d := netw.Durable(); d != 1 {
		t.Fatalf("network Durable %d", d)
	}
	s.Close()
	s = openShared(t, path, journal.Options{})
	defer s.Close()
	ls = streams(t, s, dir, "issuer_icbc.journal", "network.journal")
	for i, want := range []string{"hold", "answer"} {
		if _, recs := replayed(t, ls[i]); !slices.Equal(recs, []string{want}) {
			t.Fatalf("stream %d replays %q, want %q", i, recs, want)
		}
	}
}

// TestBehindWaitsDurable: a record written and queued before its group
// is on disk is not applied until it is — with Batch 1 the write-behind
// would apply it at once — and when applied, Durable covers it.
func TestBehindWaitsDurable(t *testing.T) {
	dir := t.TempDir()
	g := &gateFS{}
	s := openShared(t, filepath.Join(dir, "tapwallet.journal"), journal.Options{FS: g})
	defer s.Close()
	defer g.release() // a failure lets the writer go before the closes
	l := streams(t, s, dir, "tsp.journal")[0]
	var mu sync.Mutex
	var early []int
	applied := make(chan int, 10)
	b := journal.NewBehind(l, func(_ context.Context, batch []int) error {
		for _, i := range batch {
			if l.Durable() < uint64(i) {
				mu.Lock()
				early = append(early, i)
				mu.Unlock()
			}
			applied <- i
		}
		return nil
	}, journal.BehindOptions[int]{Batch: 1, Wait: time.Millisecond})
	defer b.Close()
	// Record 1 through Append (on disk), record 2 written with the sync
	// held.
	seq, err := l.Append(context.Background(), []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	b.Add(seq, int(seq))
	if got := <-applied; got != 1 {
		t.Fatalf("applied %d", got)
	}
	g.hold()
	seq, err = l.Write([]byte("two"))
	if err != nil {
		t.Fatal(err)
	}
	b.Add(seq, int(seq))
	select {
	case i := <-applied:
		t.Fatalf("record %d applied before its group was on disk (Durable %d)", i, l.Durable())
	case <-time.After(50 * time.Millisecond):
	}
	g.release()
	select {
	case i := <-applied:
		if i != 2 {
			t.Fatalf("applied %d, want 2", i)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("record 2 not applied once on disk")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(early) > 0 {
		t.Fatalf("records %v applied before Durable covered them", early)
	}
}

// TestSharedPowerCut: goroutines write to three streams of a shared file
// on lossyfs — each a chain: a Write on one stream, a Write on the next,
// an Append on the third — and the disk is cut at a random moment (the
// unsynced writes dropped, or applied whole, torn at a sector, or not at
// all). What the cut left opens and holds every record whose Append had
// returned, and the records written before it in its chain; each
// stream's records are 1..k (no hole); and if any record of a chain
// survived, those written before it in the chain did too (the file is a
// prefix of what was written, across streams).
func TestSharedPowerCut(t *testing.T) {
	madeAhead := 0 // cuts that left a segment made ahead (ahead.go) holding blocks
	for run := range 24 {
		dir, fsys := lossy(t)
		s := openShared(t, filepath.Join(dir, "tapwallet.journal"), journal.Options{FS: fsys, TruncateAt: 4096})
		ls := streams(t, s, dir, streamNames...)
		type link struct {
			stream int
			seq    uint64
			rec    string
		}
		var mu sync.Mutex
		var chains [][]link // each complete: its Append returned
		var begun [][]link  // chains whose Append is under way, or returned after the cut
		var acked [][]link
		cut, torn := cutting(t, run, 12, fsys, dir, func(w, i int) bool {
			var c []link
			for j := range 3 {
				k := (w + j) % 3
				r := fmt.Sprintf("%d/%d/%d %s", w, i, j, rec(w+i))
				var seq uint64
				var err error
				if j < 2 {
					seq, err = ls[k].Write([]byte(r))
				} else {
					mu.Lock()
					begun = append(begun, append(slices.Clone(c), link{k, 0, r}))
					mu.Unlock()
					seq, err = ls[k].Append(context.Background(), []byte(r))
				}
				if err != nil {
					t.Error(err)
					return false
				}
				c = append(c, link{k, seq, r})
			}
			mu.Lock()
			chains = append(chains, c)
			mu.Unlock()
			return true
		}, func() {
			mu.Lock()
			acked = slices.Clone(chains)
			mu.Unlock()
		})
		s.Close()
		mu.Lock()
		all := append(slices.Clone(chains), begun...)
		mu.Unlock()

		after, err := journal.OpenShared(filepath.Join(cut, "tapwallet.journal"), journal.Options{})
		if err != nil {
			t.Fatalf("cut %d: %v", run, err)
		}
		in := make([]map[uint64]string, 3)
		for k, l := range streams(t, after, cut, streamNames...) {
			seqs, recs := replayed(t, l)
			if !slices.Equal(seqs, span(1, uint64(len(seqs)))) {
				t.Fatalf("cut %d: stream %d holds %v: not 1..k", run, k, seqs)
			}
			in[k] = map[uint64]string{}
			for i, seq := range seqs {
				in[k][seq] = recs[i]
			}
		}
		dropped := after.Stats().DroppedBytes
		after.Close()
		segs, _ := filepath.Glob(filepath.Join(cut, "tapwallet.journal.0*"))
		for _, sg := range segs[1:] {
			if fi, err := os.Stat(sg); err == nil && fi.Size() > 64<<10 {
				madeAhead++
				break
			}
		}
		has := func(l link) bool {
			if l.seq != 0 {
				return in[l.stream][l.seq] == l.rec
			}
			for _, r := range in[l.stream] { // an Append under way: its number unknown
				if r == l.rec {
					return true
				}
			}
			return false
		}
		lost, total := 0, 0
		for _, c := range acked {
			for _, l := range c {
				total++
				if !has(l) {
					lost++
				}
			}
		}
		if lost > 0 {
			t.Fatalf("cut %d: %d of the %d records acknowledged (or written before an acknowledged Append) lost", run, lost, total)
		}
		for _, c := range all {
			for j := len(c) - 1; j > 0; j-- {
				if has(c[j]) {
					for _, e := range c[:j] {
						if !has(e) {
							t.Fatalf("cut %d: record %q survived and %q, written before it, did not", run, c[j].rec, e.rec)
						}
					}
					break
				}
			}
		}
		t.Logf("cut %d (torn %v): %d chains acknowledged, %d begun, %d+%d+%d records in the file, %d dropped bytes",
			run, torn, len(acked), len(all), len(in[0]), len(in[1]), len(in[2]), dropped)
	}
	if madeAhead == 0 {
		t.Fatal("no cut left a segment made ahead: the test did not cover them")
	}
	t.Logf("%d of 24 cuts left a segment made ahead", madeAhead)
}

// TestSharedUpgrade: a data folder written by per-party logs loses
// nothing when its parties open streams of a shared file: their records
// replay first, with their numbers, the streams number on after them, the
// per-party files stay until those records are done (a crash before
// replays them again) and are removed then.
func TestSharedUpgrade(t *testing.T) {
	dir := t.TempDir()
	netPath, tspPath := filepath.Join(dir, "network.journal"), filepath.Join(dir, "tsp.journal")
	l := open(t, netPath, journal.Options{TruncateAt: 200})
	appendN(t, l, 0, 12) // several segments
	l.Done(1)
	l.Done(2)
	appendN(t, l, 12, 1) // the first segment (records 1–2) may go
	l.Close()
	l = open(t, tspPath, journal.Options{})
	appendN(t, l, 500, 3)
	l.Close()
	l = open(t, netPath, journal.Options{})
	wantNet := all(t, l)
	l.Close()
	if len(wantNet) < 10 {
		t.Fatalf("the per-party network log holds %d records", len(wantNet))
	}
	path := filepath.Join(dir, "tapwallet.journal")
	for round := range 2 {
		s := openShared(t, path, journal.Options{})
		ls := streams(t, s, dir, "network.journal", "tsp.journal", "issuer_icbc.journal")
		net, tsp := ls[0], ls[1]
		got := map[uint64]string{}
		var seqs []uint64
		if err := net.Replay(func(seq uint64, rec []byte) error {
			got[seq] = string(rec)
			seqs = append(seqs, seq)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if round == 1 {
			if got[14] != "new" || len(got) != len(wantNet)+1 {
				t.Fatalf("round 2: network replays %v, want the per-party records and 14", seqs)
			}
			delete(got, 14)
			seqs = seqs[:len(seqs)-1]
		}
		if !sameRecords(got, wantNet) || !slices.IsSorted(seqs) {
			t.Fatalf("round %d: network replays %v, want the per-party log's %v", round, got, wantNet)
		}
		tseqs, trecs := replayed(t, tsp)
		if !slices.Equal(tseqs, []uint64{1, 2, 3}) || trecs[2] != string(rec(502)) {
			t.Fatalf("round %d: tsp replays %v %q", round, tseqs, trecs)
		}
		if round == 0 {
			// New records number on after the per-party ones; a crash
			// (nothing done) leaves the per-party files.
			if seq, err := net.Append(context.Background(), []byte("new")); err != nil || seq != 14 {
				t.Fatalf("network's first record in the shared file: %d %v, want 14", seq, err)
			}
			if seq, err := ls[2].Append(context.Background(), []byte("fresh")); err != nil || seq != 1 {
				t.Fatalf("a new stream's first record: %d %v", seq, err)
			}
			s.Close()
			if len(segments(netPath)) == 0 || len(segments(tspPath)) == 0 {
				t.Fatal("per-party files removed with their records not done")
			}
			continue
		}
		for seq := range got {
			net.Done(seq)
		}
		if err := net.Truncate(); fault.CodeOf(err) != journal.CodeUnapplied {
			t.Fatalf("Truncate with record 14 not done: %v", err)
		}
		if len(segments(netPath)) == 0 {
			t.Fatal("network's per-party files removed before Truncate")
		}
		net.Done(14)
		for _, seq := range tseqs {
			tsp.Done(seq)
		}
		for _, l := range []*journal.Log{net, tsp} {
			if err := l.Truncate(); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []string{netPath, tspPath} {
			if m, _ := filepath.Glob(p + ".*"); len(m) != 0 {
				t.Fatalf("per-party files left once their records were done: %v", m)
			}
		}
		s.Close()
	}
	s := openShared(t, path, journal.Options{})
	defer s.Close()
	ls := streams(t, s, dir, "network.journal", "tsp.journal")
	for i, want := range []uint64{15, 4} {
		if seqs, _ := replayed(t, ls[i]); len(seqs) != 0 {
			t.Fatalf("stream %d replays %v once every record was done", i, seqs)
		}
		if seq, err := ls[i].Append(context.Background(), []byte("x")); err != nil || seq != want {
			t.Fatalf("stream %d numbers on at %d %v, want %d", i, seq, err, want)
		}
	}
}

// sameRecords reports whether a and b hold the same records.
func sameRecords(a, b map[uint64]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestSharedGarbageNeverPanics: any damage to a shared file opens without
// a panic — a prefix of whole blocks, or refused as corrupt.
func TestSharedGarbageNeverPanics(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	s := openShared(t, good, journal.Options{})
	ls := streams(t, s, dir, streamNames...)
	for i := range 12 {
		appendN(t, ls[i%3], i, 1)
	}
	ls[0].Write([]byte("w"))
	s.Close()
	garble(t, dir, seg1(good), "TWJ2", func(path string) error {
		s, err := journal.OpenShared(path, journal.Options{})
		if err != nil {
			return err
		}
		for _, l := range streams(t, s, dir, streamNames...) {
			replayed(t, l)
		}
		return s.Close()
	})
}

// TestLeft: Beside names the journals beside an SQLite place (none on
// PostgreSQL); Left finds nothing in an empty folder, a per-party log
// alone, or the shared file — whose stream then replays what a journaled
// store left — and is refused while a process holds the shared file.
func TestLeft(t *testing.T) {
	dir := t.TempDir()
	if got := journal.Beside("", dir, journal.SharedName); got != filepath.Join(dir, "tapwallet.journal") {
		t.Fatalf("Beside in the data folder: %s", got)
	}
	if got := journal.Beside("sqlite:"+filepath.Join(dir, "x", "st.db"), dir, "tsp"); got != filepath.Join(dir, "x", "st-tsp.journal") {
		t.Fatalf("Beside sqlite:st.db: %s", got)
	}
	if got := journal.Beside("postgres://h/db", dir, "tsp"); got != "" {
		t.Fatalf("Beside on PostgreSQL: %q", got)
	}
	shared, own := filepath.Join(dir, "tapwallet.journal"), filepath.Join(dir, "tsp.journal")
	if s, found, err := journal.Left(shared, own); s != nil || found || err != nil {
		t.Fatalf("Left in an empty folder: %v %v %v", s, found, err)
	}
	l := open(t, own, journal.Options{})
	appendN(t, l, 0, 2)
	l.Close()
	if s, found, err := journal.Left(shared, own); s != nil || !found || err != nil {
		t.Fatalf("Left beside a per-party log: %v %v %v", s, found, err)
	}
	s := openShared(t, shared, journal.Options{})
	if _, _, err := journal.Left(shared, own); fault.CodeOf(err) != journal.CodeLocked {
		t.Fatalf("Left while the shared file is open: %v", err)
	}
	appendN(t, streams(t, s, dir, "tsp.journal")[0], 2, 1) // takes the per-party log in
	// A holder that lets go within moments (another store replaying):
	// Left waits for it.
	holder := s
	go func() {
		time.Sleep(50 * time.Millisecond)
		holder.Close()
	}()
	s, found, err := journal.Left(shared, own)
	if s == nil || !found || err != nil {
		t.Fatalf("Left beside the shared file: %v %v %v", s, found, err)
	}
	defer s.Close()
	seqs, recs := replayed(t, streams(t, s, dir, "tsp.journal")[0])
	if !slices.Equal(seqs, []uint64{1, 2, 3}) || recs[2] != string(rec(2)) {
		t.Fatalf("the stream left replays %v %q", seqs, recs)
	}
}

package journal

import (
	"encoding/binary"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

// A shared file (issue 16, one journal per process): the parties of one
// process append to one log — one group commit, one fdatasync, for all of
// them — each as a stream of its own, named by the base name of the path
// it would have had alone ("network.journal", "tsp.journal",
// "issuer_icbc.journal"). The file at PATH is segments PATH.SEQ and the
// lock PATH.lock as a Log's (SEQ: the file's sequence number of the
// segment's first record, counting the records of every stream), with
// blocks framed as a Log's but for the magic "TWJ2" and a body that names
// its streams:
//
//	streams  uvarint  how many streams the block names (≥ 1)
//	         each: uvarint name length (1–255), name,
//	               uvarint prev: the stream's last sequence number before this block,
//	               uvarint done: every record of the stream up to it is applied (done mark)
//	records  count × (uvarint the stream's place in the list above,
//	                  4-byte big-endian length, the record's bytes)
//
// A record's sequence number in its stream is prev + its rank among the
// stream's records in the block: each stream's numbers are consecutive,
// and a stream's prev in a block is its last number in the blocks before
// (a block that says otherwise does not check: damage, as a block out of
// order). A block may hold no record (count 0: a mark, written by
// Truncate): it carries the streams' done marks. The first block of each
// segment names every stream known, so that a stream's numbers go on
// after the segments that held its records are deleted; Replay skips a
// stream's records up to its highest done mark.
//
// A segment is deleted once every record of every stream in it is done;
// a stream found in the file and not opened in this run keeps its
// segments (its records are done only by its done mark).
//
// Upgrade: when a stream is opened at PATH and per-party segments
// PATH.SEQ (a Log of its own, as the party had before) are there, that
// log is opened too: its records are replayed first with their own
// sequence numbers, the stream's numbers go on after them, and its files
// are removed once every one of its records is done (at the stream's
// Truncate or Close).

const sharedMagic = "TWJ2"

// SharedName is the name of the journal the parties of one process share,
// beside their own (Beside): DATA/tapwallet.journal, or
// STEM-tapwallet.journal beside sqlite:STEM.db.
const SharedName = "tapwallet"

// Beside returns the path of the journal named name beside the SQLite
// databases opened with dsn in dataDir: DATA/NAME.journal for the data
// folder's own files (dsn ""), DIR/STEM-NAME.journal beside
// sqlite:DIR/STEM.db; "" on another backend (PostgreSQL, where several
// processes may share the database: no journal).
func Beside(dsn, dataDir, name string) string {
	if dsn != "" && !strings.HasPrefix(dsn, "sqlite:") {
		return ""
	}
	path := strings.TrimPrefix(dsn, "sqlite:")
	if path == "" {
		return filepath.Join(dataDir, name+".journal")
	}
	dir, base := filepath.Split(path)
	return filepath.Join(dir, strings.TrimSuffix(base, filepath.Ext(base))+"-"+name+".journal")
}

// Left is for a store that reads and writes SQL where a journaled store
// of its party may have left records (a command on the data folder, a
// process without the journal): it opens the shared file at shared when
// that has segments (nil otherwise, or when shared is "") and reports
// whether there is anything to look at — segments there or of the
// per-party log at path. The store then opens its log with
// Open(path, Options{Shared: s}) (its stream, or the per-party log alone
// when s is nil), replays it, and closes it and s. It fails like
// OpenShared: fault.Conflict CodeLocked while a process has the shared
// file open (that process applies the records itself; one that only
// replays, as Left's caller does, lets go within moments: Left tries
// again for about half a second first).
func Left(shared, path string) (*Shared, bool, error) {
	fsys := defaultFS()
	own, err := segmentSeqs(fsys, path)
	if err != nil {
		return nil, false, err
	}
	if shared == "" {
		return nil, len(own) > 0, nil
	}
	seqs, err := segmentSeqs(fsys, shared)
	if err != nil || len(seqs) == 0 {
		return nil, len(own) > 0, err
	}
	// A store replaying what it was left holds the file for moments, a
	// process journaling on it while it runs: try again for about half
	// a second before answering CodeLocked.
	for wait := 10 * time.Millisecond; ; wait *= 2 {
		s, err := OpenShared(shared, Options{})
		if err == nil {
			return s, true, nil
		}
		if fault.CodeOf(err) != CodeLocked || wait > 500*time.Millisecond {
			return nil, false, err
		}
		time.Sleep(wait)
	}
}

// Shared is a journal file the parties of one process share, each
// appending to a stream of its own (Open with Options.Shared). Its
// methods are safe for concurrent use.
type Shared struct {
	f   *file
	omu sync.Mutex // Open of a stream
}

// OpenShared opens the shared journal file at path (its segments
// PATH.SEQ and lock PATH.lock; made if missing), checks every block and
// cuts off a torn tail as Open does. Open a stream of it with
// Open(streamPath, Options{Shared: s}); Close closes the streams still
// open, then the file. It fails as Open does.
func OpenShared(path string, opt Options) (*Shared, error) {
	f, err := openFile(path, opt, true)
	if err != nil {
		return nil, err
	}
	return &Shared{f: f}, nil
}

// Path returns the shared file's path.
func (s *Shared) Path() string { return s.f.path }

// Stats returns what OpenShared found (Records: of every stream).
func (s *Shared) Stats() Stats {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	return s.f.stats
}

// Syncs returns the fdatasyncs the shared file has made.
func (s *Shared) Syncs() uint64 {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	return s.f.syncs
}

// Close closes the streams still open (waiting for their appends under
// way), then the file. It fails with a file's close error.
func (s *Shared) Close() error {
	s.f.mu.Lock()
	streams := slices.Clone(s.f.streams)
	s.f.mu.Unlock()
	var err error
	for _, l := range streams {
		if cerr := l.closeStream(); err == nil {
			err = cerr
		}
	}
	if cerr := s.f.close(); err == nil {
		err = cerr
	}
	return err
}

// open opens the stream named by path's base name (Open with
// Options.Shared), taking in the per-party log at path if there is one.
func (s *Shared) open(path string, opt Options) (*Log, error) {
	name := filepath.Base(path)
	if name == "" || name == "." || name == string(filepath.Separator) || len(name) > 255 {
		return nil, fault.E(fault.Invalid, CodeName, "a journal stream needs a name of 1 to 255 bytes, not %q", name)
	}
	s.omu.Lock()
	defer s.omu.Unlock()
	f := s.f
	f.mu.Lock()
	l := f.byName[name]
	var err error
	switch {
	case f.closed:
		err = fault.E(fault.Unavailable, CodeClosed, "the journal %s is closed", f.path)
	case f.failed != nil:
		err = fault.Wrap(f.failed, fault.Unavailable, CodeFailed, "the journal %s failed to write or sync and takes no more records", f.path)
	case l != nil && l.opened && !l.closed:
		err = fault.E(fault.Conflict, CodeLocked, "the journal stream %s of %s is open already", name, f.path)
	}
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var old *Log
	if seqs, err := segmentSeqs(f.opt.FS, path); err != nil {
		return nil, err
	} else if len(seqs) > 0 {
		if old, err = Open(path, Options{FS: f.opt.FS, MaxRecord: f.opt.MaxRecord}); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	l = f.stream(name)
	l.path, l.opened, l.closed, l.old, l.oldLast = path, true, false, nil, 0
	if opt.MaxRecord > 0 {
		l.maxRecord = opt.MaxRecord
	}
	l.stats = f.stats
	l.stats.Records, l.stats.FirstSeq = l.found, 0
	if l.found > 0 {
		l.stats.FirstSeq = l.firstRec
	}
	if old != nil {
		// The per-party records come first: the stream's numbers go on
		// after them.
		l.old, l.oldLast = old, old.Last()
		l.next, l.written = max(l.next, l.oldLast+1), max(l.written, l.oldLast)
		l.dmu.Lock()
		l.applied = max(l.applied, l.oldLast)
		l.oldGone = false
		l.dmu.Unlock()
		if st := old.Stats(); st.Records > 0 {
			l.stats.Records += st.Records
			l.stats.FirstSeq = st.FirstSeq
		}
	}
	return l, nil
}

// truncateStream is Truncate on a stream: it writes a mark (the streams'
// done marks; in a fresh segment when every record of every stream is
// done) and deletes the segments whose records are all done, and the
// per-party log taken in once it is done.
func (l *Log) truncateStream() error {
	f := l.f
	f.wmu.Lock()
	defer f.wmu.Unlock()
	f.mu.Lock()
	err := l.refusal()
	if err == nil && l.Applied() < l.next-1 {
		err = fault.E(fault.Conflict, CodeUnapplied, "the journal stream %s holds records not yet applied (applied up to %d of %d)", l.path, l.Applied(), l.next-1)
	}
	all := true
	for _, st := range f.streams {
		if st.ownApplied() < st.next-1 {
			all = false
		}
	}
	sg := f.segs[len(f.segs)-1]
	roll := all && sg.last >= sg.first
	first := f.inFile + 1
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if err := l.dropOld(); err != nil {
		return err
	}
	if roll {
		sg, err = f.roll(first)
	}
	if err == nil {
		err = f.writeBlock(sg, &group{first: first}, true)
	}
	if err != nil {
		return f.failNow(err)
	}
	return f.dropAll(all)
}

// closeStream closes a stream: later appends on it fail with CodeClosed;
// it waits until its records written are on disk (or the file failed).
// The per-party log taken in is removed if it is done, closed otherwise.
func (l *Log) closeStream() error {
	f := l.f
	f.mu.Lock()
	if l.closed || !l.opened {
		f.mu.Unlock()
		return nil
	}
	l.closed = true
	last := l.next - 1
	f.mu.Unlock()
	_ = l.waitDurable(last) // a failure was told to the appends
	return l.dropOld()
}

// dropOld removes the per-party log taken in once its records are all
// done (closing it otherwise). It fails with fault.Unavailable CodeIO
// when a file cannot be deleted.
func (l *Log) dropOld() error {
	old := l.old
	if old == nil {
		return nil
	}
	l.dmu.Lock()
	gone := l.oldGone
	done := old.Applied() >= l.oldLast
	if done {
		l.oldGone = true
	}
	l.dmu.Unlock()
	if gone {
		return nil
	}
	if err := old.Close(); err != nil || !done {
		return err
	}
	fsys := old.f.opt.FS
	seqs, err := segmentSeqs(fsys, old.path)
	if err != nil {
		return err
	}
	for _, seq := range seqs { // oldest first: what a crash leaves still opens
		if err := fsys.Remove(segName(old.path, seq)); err != nil {
			return fault.Wrap(err, fault.Unavailable, CodeIO, "removing the journal %s taken into %s", old.path, l.f.path)
		}
	}
	_ = fsys.Remove(old.path + ".lock")
	return nil
}

// appendTable appends a shared block's list of streams to blk: those of
// g, then (full) every other stream known (f.mu taken).
func (f *file) appendTable(blk []byte, g *group, full bool) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(g.tab)
	if full {
		n = len(f.streams)
	}
	blk = binary.AppendUvarint(blk, uint64(n))
	entry := func(l *Log, prev, last uint64) {
		blk = binary.AppendUvarint(blk, uint64(len(l.name)))
		blk = append(blk, l.name...)
		blk = binary.AppendUvarint(blk, prev)
		blk = binary.AppendUvarint(blk, min(l.ownApplied(), last))
	}
	for _, e := range g.tab {
		entry(e.st, e.first-1, e.first+uint64(e.n)-1)
	}
	if full {
		for _, l := range f.streams {
			if !slices.ContainsFunc(g.tab, func(e tabEntry) bool { return e.st == l }) {
				entry(l, l.written, l.written)
			}
		}
	}
	return blk
}

// tabRead is a stream named in a shared block: n records after prev.
type tabRead struct {
	name       string
	prev, mark uint64
	n          uint32
}

// recRead is a record of a shared block, of the stream at tab[stream].
type recRead struct {
	stream int
	rec    []byte
}

// parseShared reads a shared block's body holding count records: false
// when it does not check.
func parseShared(body []byte, count uint32) ([]tabRead, []recRead, bool) {
	uv := func() (uint64, bool) {
		v, n := binary.Uvarint(body)
		if n <= 0 {
			return 0, false
		}
		body = body[n:]
		return v, true
	}
	ns, ok := uv()
	if !ok || ns == 0 || ns > uint64(len(body)) {
		return nil, nil, false
	}
	tab := make([]tabRead, ns)
	for i := range tab {
		k, ok := uv()
		if !ok || k == 0 || k > 255 || k > uint64(len(body)) {
			return nil, nil, false
		}
		tab[i].name, body = string(body[:k]), body[k:]
		var ok1, ok2 bool
		tab[i].prev, ok1 = uv()
		tab[i].mark, ok2 = uv()
		if !ok1 || !ok2 || slices.ContainsFunc(tab[:i], func(e tabRead) bool { return e.name == tab[i].name }) {
			return nil, nil, false
		}
	}
	if uint64(count) > uint64(len(body)) {
		return nil, nil, false
	}
	recs := make([]recRead, count)
	for i := range recs {
		at, ok := uv()
		if !ok || at >= ns || len(body) < 4 {
			return nil, nil, false
		}
		n := binary.BigEndian.Uint32(body[:4])
		if uint64(n) > uint64(len(body)-4) {
			return nil, nil, false
		}
		recs[i] = recRead{stream: int(at), rec: body[4 : 4+n : 4+n]}
		body = body[4+n:]
		tab[at].n++
	}
	if len(body) != 0 {
		return nil, nil, false
	}
	for _, e := range tab {
		if e.prev+uint64(e.n) < e.prev || e.mark > e.prev+uint64(e.n) {
			return nil, nil, false
		}
	}
	return tab, recs, true
}

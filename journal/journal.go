// Package journal is a party's write-ahead log: records appended by many
// goroutines at once are group-committed (one write and one fdatasync(2)
// for every group of concurrent appends), framed and checksummed, read back
// in order after a restart, and dropped once the store behind the log has
// applied them durably.
//
// A party puts the changes of its hot path in a Log and answers as soon as
// Append returns (the record is on disk); a write-behind goroutine applies
// the records to the party's store of record (SQL) in large batches and
// reports each one applied with Done. Reads that must see every change
// made so far wait with WaitApplied(ctx, Last()).
//
// A Log has files of its own (Open), or is a stream of a file the parties
// of one process share (OpenShared, Options.Shared; shared.go): then each
// group commit — one write, one fdatasync — carries the records of every
// party that appended at the time, and an authorization that passes
// through several parties waits for fewer syncs. The shared file is a disk
// the process offers, not shared data: each party's records stay opaque
// bytes that only that party's package encodes and decodes, a stream's
// Replay gives it its own records and nobody else's, and its sequence
// numbers, Done and Truncate are its own.
//
// # Files
//
// The log at PATH is a run of segment files PATH.SEQ (SEQ: the sequence
// number of the segment's first record, 20 decimal digits) and a lock file
// PATH.lock (flock(2), held while the log is open: a second process — or a
// second Open in this one — is refused with CodeLocked). Appends go to the
// last segment; before the writer writes a group to a segment already
// Options.TruncateAt bytes long it starts a new one (its name made durable
// by an fsync of the folder), and it deletes every older segment whose
// records are all Done, so that the log does not grow without bound while
// appends go on. Truncate starts a fresh segment and deletes every other
// one at once, when every record is Done (after the replay at start).
// With the operating system's files the next segment is made ahead of
// time, in the background, as PATH.next — zeros, synced — and renamed
// when the writer starts it, so that group commits overwrite blocks
// already allocated and their fdatasync flushes no metadata (ahead.go);
// Open takes zeros after a segment's last block for that space, not for
// damage.
//
// # Format
//
// A segment is a sequence of blocks, one per group commit, each written by
// one write(2) at the end of the segment and made durable by one
// fdatasync(2) before any record in it is acknowledged and before the next
// block is written:
//
//	magic    4 bytes  "TWJ1"
//	length   4 bytes  big-endian: the length of the body
//	crc      4 bytes  big-endian CRC-32C (Castagnoli) of the 12 bytes below and the body
//	firstSeq 8 bytes  big-endian: the sequence number of the block's first record
//	count    4 bytes  big-endian: how many records the block holds (≥ 1)
//	body              count × (4-byte big-endian length, the record's bytes)
//
// Sequence numbers are consecutive across blocks and segments: a block's
// firstSeq is the previous block's firstSeq + count, a segment's first
// block's is the SEQ of its name. A shared file's blocks are framed the
// same way with the magic "TWJ2" and a body that names the streams
// (shared.go).
//
// # Damage
//
// Because the writer syncs each block before it writes the next (and
// before it starts a segment), a power cut can damage only the last block
// of the last segment (written in part, in any order of its sectors, or
// not at all). Open therefore reads blocks until the first one that does
// not check (short header, bad magic, impossible length, CRC mismatch, a
// sequence number out of order):
//
//   - zeros alone after the last whole block are space made ahead, not
//     damage, in any segment: nothing is cut;
//   - in the last segment, with no whole block of a later sequence number
//     after it (the usual torn tail): the damaged end is cut off — the
//     segment truncated to its last whole block and synced; those records
//     were never acknowledged. Stats says how many bytes were dropped.
//   - anywhere else (an earlier segment, a whole block after the damage, a
//     segment missing between two others): a block acknowledged earlier was
//     destroyed after it was synced (a bad disk, someone editing the
//     files). Open refuses with fault.Internal CodeCorrupt and changes
//     nothing: dropping it would silently lose acknowledged records. An
//     operator decides (restore the files, or move them away to accept the
//     loss).
//
// A corrupt file never makes the package panic; every length is checked
// before it is used.
//
// # Sequence numbers
//
// Every appended record gets the next sequence number (the first record of
// a new log is 1; after Open they continue from the last record in the
// files, or from the name of an empty last segment). They are what Done and
// WaitApplied speak of.
//
// # Deferred durability
//
// Write appends a record without waiting for the disk: it joins the group
// being gathered and is on disk once that group is synced (Durable says up
// to where). The file is one ordered log whose groups are synced in order,
// so an Append that returns — on any stream of a shared file — has made
// every record written before it durable too. A party may use Write only
// for a record whose effect reaches nobody outside the process before a
// later Append on the same file returns: e.g. the issuer's hold, answered
// to the switch of the same process, which appends its answer record and
// waits before the terminal hears "approved". A power cut before then
// loses the record and everything its effect led to, together. A Behind
// applies a record only once it is durable.
//
// # Errors
//
// Every error is a *fault.Error: fault.Invalid CodeTooLarge for a record
// over Options.MaxRecord, fault.Unavailable CodeFailed once a write or a
// sync failed (the log refuses every later append: after a failed
// fdatasync the kernel may have dropped the pages, so nothing can be
// promised — reopen it), fault.Unavailable CodeClosed after Close,
// fault.Internal CodeCorrupt at Open as above, fault.Conflict CodeLocked
// when another holds the log, fault.Conflict CodeUnapplied from Truncate
// while records are not Done, fault.Unavailable CodeIO when a file cannot
// be opened, read or listed, fault.Invalid CodeName for a stream name a
// shared file cannot hold.
package journal

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/tapwallet/tapwallet/fault"
)

// The fault codes of the package.
const (
	CodeCorrupt   = "journal_corrupt"   // damage that is not a torn tail (Open)
	CodeFailed    = "journal_failed"    // a write or fdatasync failed; the log takes no more appends
	CodeClosed    = "journal_closed"    // the log is closed
	CodeTooLarge  = "journal_too_large" // a record over Options.MaxRecord
	CodeUnapplied = "journal_unapplied" // Truncate with records not yet Done
	CodeLocked    = "journal_locked"    // another process (or Open) holds the log
	CodeIO        = "journal_io"        // opening, listing, reading or truncating a file failed
	CodeName      = "journal_name"      // a stream name a shared file cannot hold
)

const (
	headerSize = 24
	magic      = "TWJ1"
	// maxBlock bounds a block's body as read from a file (a larger one is
	// damage, not a block); the writer never writes one larger.
	maxBlock = 1 << 30
	// groupCap is the body size past which a group takes no more records
	// (the next append starts the next group).
	groupCap  = 8 << 20
	seqDigits = 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options tune a Log; the zero value is the default.
type Options struct {
	// FS is the file layer (nil: the operating system's, OSFS, or the
	// one SetDefaultFS installed).
	FS FS
	// TruncateAt is a segment's size past which the writer starts a new
	// one (and deletes the older ones whose records are all Done);
	// 0: 4 MiB.
	TruncateAt int64
	// MaxRecord is the largest record Append accepts (0: 16 MiB).
	MaxRecord int
	// Shared, given to Open, makes the log a stream of that shared file,
	// named by the path's base name; the shared file's FS and TruncateAt
	// apply. See OpenShared.
	Shared *Shared
}

// Stats describes what Open found.
type Stats struct {
	Segments     int    // segment files
	Records      int    // whole records in them (a stream's: its own)
	FirstSeq     uint64 // the first one's sequence number (0 when none)
	Bytes        int64  // the size of the whole blocks
	DroppedBytes int64  // a torn tail cut off (0 when the last segment ended cleanly)
}

// segment is one file of the log.
type segment struct {
	name      string
	first     uint64 // the file sequence number of its first record (its name)
	f         File
	size      int64  // the end of its last synced block
	last      uint64 // its last record's file sequence number (first-1 when empty)
	replayEnd int64  // the bytes of whole blocks found at Open (0 for segments made since)
	// streams holds, for each stream with records in the segment, its
	// last one's sequence number: the segment may go once each is done.
	streams map[*Log]uint64
}

// file is a journal's files — segments, lock, writer — under one Log of
// its own (one stream, blocks "TWJ1"; file and stream sequence numbers
// are the same) or a Shared's (any number of streams, blocks "TWJ2").
type file struct {
	path   string
	opt    Options
	lock   io.Closer
	shared bool

	writers sync.WaitGroup // the writer goroutine, while one runs
	wmu     sync.Mutex     // the writer: held while a block is written and synced, or segments change

	mu      sync.Mutex
	segs    []*segment // oldest first; appends go to the last
	next    uint64     // the file sequence number of the next append
	group   *group     // the group gathering appends (nil: none)
	inFile  uint64     // the last file sequence number written and synced
	failed  error      // the first write or sync failure
	closed  bool
	writing bool // a writer goroutine is running
	stats   Stats
	syncs   uint64        // fdatasyncs made
	synced  chan struct{} // closed and replaced when a block is synced, the file fails or closes
	streams []*Log        // every stream known (shared: from the files or opened; in order of first sight)
	byName  map[string]*Log
	spare   [][]byte // written groups' bodies, cleared, for the next groups (at most 2: one gathers while one is written)

	blk []byte // the block being written, reused (under wmu; cleared after each write)

	// The next segment made ahead of time (ahead.go), under mu.
	ahead   File    // made and synced, not yet taken by a roll
	aheadRn Renamer // the FS, which can rename it
	making  bool    // being made
	aheadWG sync.WaitGroup
}

// keptBuffer is the largest capacity a file keeps of a group's body or a
// block's buffer for the next one: a burst's larger buffers go to the
// garbage collector rather than stay in the live heap.
const keptBuffer = 1 << 20

// Log is an open journal, or a stream of a shared one. Its methods are
// safe for concurrent use.
type Log struct {
	f         *file
	path      string
	name      string // a stream's name in a shared file ("" alone)
	maxRecord int

	// Under f.mu:
	next       uint64 // the sequence number of the next append
	written    uint64 // the last sequence number written and synced
	syncs      uint64 // fdatasyncs of groups holding its records
	opened     bool   // a stream handed out by Open (not only found in the file)
	closed     bool
	g          *group // the gathering group, when it holds a record of this stream
	gpos       int    // this stream's place in g.tab
	stats      Stats
	replayFrom uint64 // records up to it are not replayed (done before)
	firstRec   uint64 // the first record found in the file (0: none)
	found      int    // the records found in the file
	mark       uint64 // the highest done mark found in the file (shared)
	old        *Log   // a per-party log being taken into the shared file (shared.go)
	oldLast    uint64 // its last record's sequence number

	dmu      sync.Mutex
	applied  uint64 // every sequence number ≤ it is done (its own records)
	doneAt   map[uint64]struct{}
	advanced chan struct{} // closed when applied moves; made by a waiter (nil: no one waits)
	oldGone  bool          // the per-party log is done and removed
}

// group is the appends gathered for one block.
type group struct {
	first uint64 // the file sequence number of its first record
	count uint32
	body  []byte
	tab   []tabEntry // the streams with records in it, in order of their first
	done  chan struct{}
	err   error
}

// tabEntry is a stream's share of a group: n records from first.
type tabEntry struct {
	st    *Log
	first uint64
	n     uint32
}

// segName is the file name of the segment whose first record is first.
func segName(path string, first uint64) string {
	return fmt.Sprintf("%s.%0*d", path, seqDigits, first)
}

// Open opens the log at path (its segments PATH.SEQ; a new log's first
// segment is made, and its folder synced), checks every block, cuts off a
// torn tail (see the package documentation) and returns the log ready to
// Replay and Append. With Options.Shared it opens the stream named by
// path's base name in that shared file instead (see OpenShared). It fails
// with fault.Internal CodeCorrupt for damage that is not a torn tail,
// fault.Conflict CodeLocked when the log is open elsewhere, and
// fault.Unavailable CodeIO when a file cannot be listed, opened, read or
// truncated.
func Open(path string, opt Options) (*Log, error) {
	if opt.Shared != nil {
		return opt.Shared.open(path, opt)
	}
	f, err := openFile(path, opt, false)
	if err != nil {
		return nil, err
	}
	return f.streams[0], nil
}

// openFile locks and loads the files at path.
func openFile(path string, opt Options, shared bool) (*file, error) {
	if opt.FS == nil {
		opt.FS = defaultFS()
	}
	if opt.TruncateAt <= 0 {
		opt.TruncateAt = 4 << 20
	}
	if opt.MaxRecord <= 0 {
		opt.MaxRecord = 16 << 20
	}
	opt.Shared = nil
	lock, err := opt.FS.Lock(path + ".lock")
	if err == ErrLocked {
		return nil, fault.E(fault.Conflict, CodeLocked, "the journal %s is open in another process (or twice in this one)", path)
	}
	if err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, CodeIO, "locking the journal %s", path)
	}
	f := &file{path: path, opt: opt, lock: lock, shared: shared, synced: make(chan struct{}), byName: map[string]*Log{}}
	if !shared {
		l := f.stream("")
		l.path, l.opened = path, true
	}
	if err := f.load(); err != nil {
		for _, sg := range f.segs {
			sg.f.Close()
		}
		lock.Close()
		return nil, err
	}
	return f, nil
}

// stream returns the stream named name, made if unknown (f.mu held, or
// f not yet shared with anyone).
func (f *file) stream(name string) *Log {
	if l := f.byName[name]; l != nil {
		return l
	}
	l := &Log{f: f, name: name, path: f.path, maxRecord: f.opt.MaxRecord, next: 1, doneAt: map[uint64]struct{}{}}
	f.byName[name] = l
	f.streams = append(f.streams, l)
	return l
}

// segmentSeqs lists the first sequence numbers of the segments PATH.SEQ
// in path's folder, in order.
func segmentSeqs(fsys FS, path string) ([]uint64, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	names, err := fsys.Names(dir)
	if err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, CodeIO, "listing the journal %s", path)
	}
	var firsts []uint64
	for _, n := range names {
		rest, ok := strings.CutPrefix(n, base+".")
		if !ok || len(rest) != seqDigits {
			continue
		}
		if seq, err := strconv.ParseUint(rest, 10, 64); err == nil && seq > 0 {
			firsts = append(firsts, seq)
		}
	}
	slices.Sort(firsts)
	return firsts, nil
}

// load lists and checks the segments, cuts off a torn tail and sets the
// sequence numbers.
func (f *file) load() error {
	firsts, err := segmentSeqs(f.opt.FS, f.path)
	if err != nil {
		return err
	}
	if len(firsts) == 0 {
		firsts = []uint64{1}
	}
	var last uint64 // the last whole record's file sequence number
	for i, first := range firsts {
		sg := &segment{name: segName(f.path, first), first: first, last: first - 1, streams: map[*Log]uint64{}}
		if sg.f, err = f.opt.FS.OpenFile(sg.name); err != nil {
			return fault.Wrap(err, fault.Unavailable, CodeIO, "opening the journal %s", sg.name)
		}
		f.segs = append(f.segs, sg)
		if i > 0 && first != last+1 {
			return fault.E(fault.Internal, CodeCorrupt, "the journal %s lacks the records %d to %d (segment %s follows): a segment is missing",
				f.path, last+1, first-1, filepath.Base(sg.name))
		}
		end, err := sg.f.Size()
		if err != nil {
			return fault.Wrap(err, fault.Unavailable, CodeIO, "reading the size of the journal %s", sg.name)
		}
		var off int64
		for off < end {
			b, ok := f.readBlock(sg.f, off, end, sg.last+1)
			if !ok || !f.take(sg, b) {
				break
			}
			sg.last = b.first + uint64(b.count) - 1
			off += headerSize + int64(len(b.body))
		}
		last = sg.last
		if off < end && allZeros(sg.f, off, end) {
			end = off // space made ahead (ahead.go), written over from off
		}
		if off < end {
			if i < len(firsts)-1 {
				return fault.E(fault.Internal, CodeCorrupt, "the journal %s is damaged at byte %d and a later segment follows: not a torn tail; refusing to drop acknowledged records",
					sg.name, off)
			}
			if at, seq, found := f.later(sg.f, off, end, sg.last); found {
				return fault.E(fault.Internal, CodeCorrupt,
					"the journal %s is damaged at byte %d and holds a whole block after it (sequence %d at byte %d): not a torn tail; refusing to drop acknowledged records",
					sg.name, off, seq, at)
			}
			if err := sg.f.Truncate(off); err != nil {
				return fault.Wrap(err, fault.Unavailable, CodeIO, "cutting the torn tail off the journal %s", sg.name)
			}
			if err := sg.f.Sync(); err != nil {
				return fault.Wrap(err, fault.Unavailable, CodeIO, "syncing the journal %s", sg.name)
			}
			f.stats.DroppedBytes = end - off
		}
		sg.size, sg.replayEnd = off, off
		f.stats.Bytes += off
	}
	f.stats.Segments = len(f.segs)
	f.next = last + 1
	f.inFile = last
	if !f.shared {
		l := f.streams[0]
		l.next, l.written = f.next, last
		if l.firstRec == 0 {
			l.firstRec = f.next // nothing in the files: nothing before is to apply
		}
	}
	for _, l := range f.streams {
		l.settle()
	}
	return nil
}

// settle sets a stream's state from what load found of it.
func (l *Log) settle() {
	l.applied = l.written
	if l.firstRec != 0 {
		l.applied = max(l.firstRec-1, l.mark)
	}
	l.replayFrom = l.applied
	l.stats = l.f.stats
	l.stats.Records = l.found
	if l.found > 0 {
		l.stats.FirstSeq = l.firstRec
	}
}

// take counts a whole block found in sg at load: false when it does not
// fit the streams' sequence numbers (then it is damage, as a block out of
// order).
func (f *file) take(sg *segment, b block) bool {
	if !f.shared {
		l := f.streams[0]
		if l.firstRec == 0 {
			l.firstRec = b.first
		}
		l.found += int(b.count)
		f.stats.Records += int(b.count)
		sg.streams[l] = b.first + uint64(b.count) - 1
		return true
	}
	for _, e := range b.tab {
		if l := f.byName[e.name]; l != nil && l.written != e.prev {
			return false
		}
	}
	for _, e := range b.tab {
		l := f.byName[e.name]
		if l == nil {
			l = f.stream(e.name)
			l.written = e.prev
		}
		l.mark = max(l.mark, e.mark)
		if e.n > 0 {
			if l.firstRec == 0 {
				l.firstRec = e.prev + 1
			}
			l.written += uint64(e.n)
			l.found += int(e.n)
			sg.streams[l] = l.written
		}
		l.next = l.written + 1
	}
	f.stats.Records += int(b.count)
	return true
}

// block is a block read from a file.
type block struct {
	first uint64
	count uint32
	body  []byte
	tab   []tabRead // a shared block's streams
	recs  []recRead // a shared block's records
}

// readBlock reads and checks the block at off in f (ending at end) whose
// first record must be want (any when 0): ok false when it does not check.
func (f *file) readBlock(r File, off, end int64, want uint64) (block, bool) {
	var h [headerSize]byte
	if end-off < headerSize {
		return block{}, false
	}
	if _, err := r.ReadAt(h[:], off); err != nil {
		return block{}, false
	}
	b, n, ok := f.parseHeader(h[:], end-off)
	if !ok || (want != 0 && b.first != want) {
		return block{}, false
	}
	b.body = make([]byte, n)
	if _, err := r.ReadAt(b.body, off+headerSize); err != nil {
		return block{}, false
	}
	crc := crc32.Update(crc32.Checksum(h[12:], castagnoli), castagnoli, b.body)
	if crc != binary.BigEndian.Uint32(h[8:12]) {
		return block{}, false
	}
	if f.shared {
		b.tab, b.recs, ok = parseShared(b.body, b.count)
		return b, ok
	}
	return b, bodyChecks(b.body, b.count)
}

// magic returns the block magic of f's format.
func (f *file) magic() string {
	if f.shared {
		return sharedMagic
	}
	return magic
}

// parseHeader reads a block's header (avail bytes from it to the end of
// the file): the block's first sequence number and count, and the body's
// length.
func (f *file) parseHeader(h []byte, avail int64) (block, int64, bool) {
	if string(h[:4]) != f.magic() {
		return block{}, 0, false
	}
	n := int64(binary.BigEndian.Uint32(h[4:8]))
	b := block{first: binary.BigEndian.Uint64(h[12:20]), count: binary.BigEndian.Uint32(h[20:24])}
	if n < 4 || n > maxBlock || headerSize+n > avail || (b.count == 0 && !f.shared) || b.first == 0 || b.first+uint64(b.count) < b.first {
		return block{}, 0, false
	}
	return b, n, true
}

// bodyChecks reports whether body holds exactly count length-prefixed
// records.
func bodyChecks(body []byte, count uint32) bool {
	for range count {
		if len(body) < 4 {
			return false
		}
		n := binary.BigEndian.Uint32(body[:4])
		if uint64(n) > uint64(len(body)-4) {
			return false
		}
		body = body[4+n:]
	}
	return len(body) == 0
}

// later looks in r after the damage at off for a whole block with a
// sequence number after last: its offset and first sequence number.
func (f *file) later(r File, off, end int64, last uint64) (int64, uint64, bool) {
	const chunk = 1 << 20
	buf := make([]byte, chunk+headerSize)
	m := f.magic()
	for base := off + 1; base < end; base += chunk {
		n, _ := r.ReadAt(buf[:min(int64(len(buf)), end-base)], base)
		for i := 0; i+4 <= n && i < chunk; i++ {
			if string(buf[i:i+4]) != m {
				continue
			}
			if b, ok := f.readBlock(r, base+int64(i), end, 0); ok && b.first > last {
				return base + int64(i), b.first, true
			}
		}
	}
	return 0, 0, false
}

// Stats returns what Open found.
func (l *Log) Stats() Stats {
	l.f.mu.Lock()
	defer l.f.mu.Unlock()
	return l.stats
}

// Path returns the log's path (its segments are PATH.SEQ; a stream's:
// the path it was opened with).
func (l *Log) Path() string { return l.path }

// Replay calls fn with every whole record the segments held when the log
// was opened, in sequence order (a stream: its own, after those of a
// per-party log taken in); rec is the caller's to keep. It stops at fn's
// first error and returns it. Call it once after Open, before the records
// are Done: a segment deleted since (its records all Done) is not
// replayed. It fails with fault.Unavailable CodeIO when a file cannot be
// read.
func (l *Log) Replay(fn func(seq uint64, rec []byte) error) error {
	if l.old != nil {
		if err := l.old.Replay(fn); err != nil {
			return err
		}
	}
	f := l.f
	f.wmu.Lock()
	defer f.wmu.Unlock()
	f.mu.Lock()
	segs := slices.Clone(f.segs)
	from := l.replayFrom
	f.mu.Unlock()
	for _, sg := range segs {
		var off int64
		last := sg.first - 1
		for off < sg.replayEnd {
			b, ok := f.readBlock(sg.f, off, sg.replayEnd, last+1)
			if !ok {
				return fault.E(fault.Unavailable, CodeIO, "reading the journal %s again at byte %d", sg.name, off)
			}
			if err := l.replayBlock(b, from, fn); err != nil {
				return err
			}
			last = b.first + uint64(b.count) - 1
			off += headerSize + int64(len(b.body))
		}
	}
	return nil
}

// replayBlock calls fn with the records of b that are l's and after from.
func (l *Log) replayBlock(b block, from uint64, fn func(seq uint64, rec []byte) error) error {
	if !l.f.shared {
		body := b.body
		for i := range uint64(b.count) {
			n := binary.BigEndian.Uint32(body[:4])
			if err := fn(b.first+i, body[4:4+n:4+n]); err != nil {
				return err
			}
			body = body[4+n:]
		}
		return nil
	}
	at := slices.IndexFunc(b.tab, func(e tabRead) bool { return e.name == l.name })
	if at < 0 {
		return nil
	}
	seq := b.tab[at].prev
	for _, r := range b.recs {
		if r.stream != at {
			continue
		}
		seq++
		if seq > from {
			if err := fn(seq, r.rec); err != nil {
				return err
			}
		}
	}
	return nil
}

// Append writes rec to the log and returns its sequence number once it is
// on disk (written and fdatasync'd), in a group with the records appended
// concurrently — on a shared file, with every record of any stream
// written before it. ctx is looked at only before the record joins a
// group: once it has joined, Append waits for the group's sync (the record
// may be on disk whatever the caller does). It fails with fault.Invalid
// CodeTooLarge, fault.Unavailable CodeClosed or CodeFailed (the record may
// or may not be on disk, and the log takes no more appends), or ctx's
// error.
func (l *Log) Append(ctx context.Context, rec []byte) (uint64, error) {
	seq, g, err := l.add(ctx, rec)
	if err != nil {
		return 0, err
	}
	<-g.done
	if g.err != nil {
		return 0, g.err
	}
	return seq, nil
}

// Write appends rec to the log without waiting for the disk, and returns
// its sequence number: the record joins the group being gathered and is
// durable once Durable reaches it — at the latest when a later Append on
// the same file returns. Use it only for a record whose effect reaches
// nobody outside the process before such an Append returns (see Deferred
// durability in the package documentation). It fails like Append (before
// the record joins a group; a failure of its group's write shows in later
// appends).
func (l *Log) Write(rec []byte) (uint64, error) {
	seq, _, err := l.add(context.Background(), rec)
	return seq, err
}

// add puts rec in the gathering group and starts the writer.
func (l *Log) add(ctx context.Context, rec []byte) (uint64, *group, error) {
	if len(rec) > l.maxRecord {
		return 0, nil, fault.E(fault.Invalid, CodeTooLarge, "a journal record of %d bytes is over the limit of %d", len(rec), l.maxRecord)
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	f := l.f
	f.mu.Lock()
	if err := l.refusal(); err != nil {
		f.mu.Unlock()
		return 0, nil, err
	}
	g := f.group
	if g != nil && len(g.body)+4+binary.MaxVarintLen64+len(rec) > groupCap {
		// A full group is written first (a writer runs whenever a group
		// gathers); this record joins the next one.
		f.mu.Unlock()
		<-g.done
		return l.add(ctx, rec)
	}
	if g == nil {
		var body []byte
		if n := len(f.spare); n > 0 {
			body, f.spare[n-1] = f.spare[n-1], nil
			f.spare = f.spare[:n-1]
		} else {
			body = make([]byte, 0, 4096)
		}
		g = &group{first: f.next, done: make(chan struct{}), body: body}
		f.group = g
	}
	if l.g != g {
		l.g, l.gpos = g, len(g.tab)
		g.tab = append(g.tab, tabEntry{st: l, first: l.next})
	}
	g.tab[l.gpos].n++
	seq := l.next
	l.next++
	f.next++
	g.count++
	if f.shared {
		g.body = binary.AppendUvarint(g.body, uint64(l.gpos))
	}
	g.body = binary.BigEndian.AppendUint32(g.body, uint32(len(rec)))
	g.body = append(g.body, rec...)
	if !f.writing {
		f.writing = true
		f.writers.Add(1)
		go f.write()
	}
	f.mu.Unlock()
	return seq, g, nil
}

// refusal is the error an append meets now, if any (f.mu held).
func (l *Log) refusal() error {
	f := l.f
	if l.closed || f.closed {
		return fault.E(fault.Unavailable, CodeClosed, "the journal %s is closed", l.path)
	}
	if f.failed != nil {
		return fault.Wrap(f.failed, fault.Unavailable, CodeFailed, "the journal %s failed to write or sync and takes no more records", f.path)
	}
	return nil
}

// write is the writer: it writes and syncs the gathering group, one after
// another, while there is one.
func (f *file) write() {
	defer f.writers.Done()
	for {
		// Let the appenders that are ready to run join the group first:
		// one yield, no wait (fewer, bigger groups: each fdatasync costs
		// tens of µs of CPU).
		runtime.Gosched()
		f.mu.Lock()
		g := f.group
		if g == nil {
			f.writing = false
			f.mu.Unlock()
			return
		}
		f.group = nil
		for _, e := range g.tab {
			e.st.g = nil
		}
		f.mu.Unlock()
		f.commit(g)
	}
}

// commit writes and syncs one group as a block at the end of the last
// segment — in a new segment when the last is past TruncateAt — and
// deletes the older segments whose records are all done.
func (f *file) commit(g *group) {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	f.mu.Lock()
	err := f.failed
	sg := f.segs[len(f.segs)-1]
	roll := sg.size >= f.opt.TruncateAt && sg.last >= sg.first
	f.mu.Unlock()
	if err == nil && roll {
		sg, err = f.roll(g.first)
	}
	if err == nil {
		f.dropApplied()
		err = f.writeBlock(sg, g, false)
	}
	f.mu.Lock()
	if err != nil {
		f.fail(err)
		g.err = err
	}
	// The body is written (or failed): it is kept, cleared, for the
	// next group — its records (sealed card numbers, amounts) are not
	// left in memory for it.
	if len(f.spare) < 2 && cap(g.body) <= keptBuffer {
		clear(g.body)
		f.spare = append(f.spare, g.body[:0])
	}
	g.body = nil
	f.mu.Unlock()
	if err != nil {
		// Nothing to apply for records the callers are told failed.
		for _, e := range g.tab {
			for s := e.first; s < e.first+uint64(e.n); s++ {
				e.st.Done(s)
			}
		}
	}
	close(g.done)
}

// fail makes err the file's failure (f.mu held).
func (f *file) fail(err error) {
	if f.failed == nil {
		f.failed = err
		close(f.synced)
		f.synced = make(chan struct{})
	}
}

// writeBlock writes g as a block at the end of sg and syncs it (f.wmu
// held); full (a mark, see shared.go) names every stream known.
func (f *file) writeBlock(sg *segment, g *group, full bool) error {
	blk := slices.Grow(f.blk[:0], headerSize+len(g.body)+64)[:headerSize]
	defer func() {
		// Keep the buffer for the next block, cleared: it held records.
		clear(blk)
		if cap(blk) <= keptBuffer {
			f.blk = blk[:0]
		} else {
			f.blk = nil
		}
	}()
	if f.shared {
		copy(blk, sharedMagic)
		blk = f.appendTable(blk, g, full || sg.size == 0)
	} else {
		copy(blk, magic)
	}
	blk = append(blk, g.body...)
	binary.BigEndian.PutUint32(blk[4:8], uint32(len(blk)-headerSize))
	binary.BigEndian.PutUint64(blk[12:20], g.first)
	binary.BigEndian.PutUint32(blk[20:24], g.count)
	binary.BigEndian.PutUint32(blk[8:12], crc32.Checksum(blk[12:], castagnoli))
	_, err := sg.f.WriteAt(blk, sg.size)
	if err == nil {
		err = sg.f.Sync()
	}
	if err != nil {
		return fault.Wrap(err, fault.Unavailable, CodeFailed, "writing to the journal %s", sg.name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	sg.size += int64(len(blk))
	if g.count > 0 {
		sg.last = g.first + uint64(g.count) - 1
		f.inFile = sg.last
	}
	for _, e := range g.tab {
		e.st.written = e.first + uint64(e.n) - 1
		e.st.syncs++
		sg.streams[e.st] = e.st.written
	}
	f.syncs++
	syncCount.Add(1)
	close(f.synced)
	f.synced = make(chan struct{})
	f.makeAhead(sg)
	return nil
}

// roll starts the segment whose first record is first (f.wmu held). A
// failure is the log's failure.
func (f *file) roll(first uint64) (*segment, error) {
	sg := &segment{name: segName(f.path, first), first: first, last: first - 1, streams: map[*Log]uint64{}}
	if sg.f = f.takeAhead(sg.name); sg.f == nil {
		r, err := f.opt.FS.OpenFile(sg.name)
		if err != nil {
			return nil, fault.Wrap(err, fault.Unavailable, CodeFailed, "starting the journal segment %s", sg.name)
		}
		sg.f = r
	}
	f.mu.Lock()
	f.segs = append(f.segs, sg)
	f.mu.Unlock()
	return sg, nil
}

// dropApplied deletes, oldest first, the segments before the last whose
// records are all done — every stream's (f.wmu held). A segment that
// cannot be deleted is left for the next time (its records replay
// harmlessly: the store behind applies them idempotently).
func (f *file) dropApplied() {
	for {
		f.mu.Lock()
		if len(f.segs) < 2 || !f.segs[0].done() {
			f.mu.Unlock()
			return
		}
		sg := f.segs[0]
		f.mu.Unlock()
		sg.f.Close()
		if err := f.opt.FS.Remove(sg.name); err != nil {
			return
		}
		f.mu.Lock()
		f.segs = f.segs[1:]
		f.mu.Unlock()
	}
}

// done reports whether every record in the segment is done.
func (sg *segment) done() bool {
	for l, last := range sg.streams {
		if l.ownApplied() < last {
			return false
		}
	}
	return true
}

// Truncate drops every record now, when all of them are done — the replay
// at start, once its records are in the store behind and Done: it starts a
// fresh segment and deletes the others. A stream's Truncate marks its own
// records done in the shared file (they are not replayed again) and drops
// the segments whose records, of every stream, are all done. It fails
// with fault.Conflict CodeUnapplied while a record is not Done, and
// fault.Unavailable CodeFailed when a file cannot be made or deleted.
func (l *Log) Truncate() error {
	f := l.f
	if f.shared {
		return l.truncateStream()
	}
	f.wmu.Lock()
	defer f.wmu.Unlock()
	f.mu.Lock()
	err := l.refusal()
	if err == nil && l.ownApplied() < f.inFile {
		err = fault.E(fault.Conflict, CodeUnapplied, "the journal %s holds records not yet applied (applied up to %d of %d)", l.path, l.ownApplied(), f.inFile)
	}
	sg := f.segs[len(f.segs)-1]
	empty := sg.size == 0
	next := f.next
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if !empty {
		if _, err := f.roll(next); err != nil {
			return f.failNow(err)
		}
	}
	return f.dropAll(true)
}

// failNow makes err the file's failure and returns it.
func (f *file) failNow(err error) error {
	f.mu.Lock()
	f.fail(err)
	f.mu.Unlock()
	return err
}

// dropAll deletes the segments whose records are all done (f.wmu held);
// with all, every one but the last must go: it fails with
// fault.Unavailable CodeFailed when one could not be deleted.
func (f *file) dropAll(all bool) error {
	f.dropApplied()
	f.mu.Lock()
	n := len(f.segs)
	f.mu.Unlock()
	if all && n > 1 {
		return fault.E(fault.Unavailable, CodeFailed, "the journal %s: an applied segment could not be deleted", f.path)
	}
	return nil
}

// Last returns the sequence number of the last append begun so far (0 when
// none): WaitApplied(ctx, Last()) waits for every record appended before
// the call — and for those being appended as it is made.
func (l *Log) Last() uint64 {
	l.f.mu.Lock()
	defer l.f.mu.Unlock()
	return l.next - 1
}

// Durable returns the sequence number up to which every record of this
// log (this stream) is on disk.
func (l *Log) Durable() uint64 {
	l.f.mu.Lock()
	defer l.f.mu.Unlock()
	return l.written
}

// waitDurable returns once the record seq is on disk, or with the
// failure that keeps it off (the file failed or closed before it was
// written; a seq never appended).
func (l *Log) waitDurable(seq uint64) error {
	f := l.f
	for {
		f.mu.Lock()
		switch {
		case l.written >= seq:
			f.mu.Unlock()
			return nil
		case f.failed != nil:
			err := l.refusal()
			f.mu.Unlock()
			return err
		case seq >= l.next, f.closed && !f.writing:
			f.mu.Unlock()
			return fault.E(fault.Unavailable, CodeClosed, "the journal %s has no record %d on disk", l.path, seq)
		}
		ch := f.synced
		f.mu.Unlock()
		<-ch
	}
}

// Done reports record seq applied durably by the store behind the log (in
// any order). Records whose Append failed count as done by themselves.
func (l *Log) Done(seq uint64) {
	if l.old != nil && seq <= l.oldLast {
		l.old.Done(seq)
		l.dmu.Lock()
		l.wake()
		l.dmu.Unlock()
		return
	}
	l.dmu.Lock()
	l.markDone(seq)
	l.dmu.Unlock()
}

// markDone is Done with l.dmu held.
func (l *Log) markDone(seq uint64) {
	if seq <= l.applied {
		return
	}
	if seq != l.applied+1 {
		l.doneAt[seq] = struct{}{}
		return
	}
	l.applied++
	for {
		if _, ok := l.doneAt[l.applied+1]; !ok {
			break
		}
		delete(l.doneAt, l.applied+1)
		l.applied++
	}
	l.wake()
}

// wake tells the waiters that applied moved (l.dmu held). The channel is
// made by the first waiter (advance), not here: every record's Done made
// one that nobody waited on.
func (l *Log) wake() {
	if l.advanced != nil {
		close(l.advanced)
		l.advanced = nil
	}
}

// advance returns the channel that wake closes when applied next moves.
func (l *Log) advance() <-chan struct{} {
	l.dmu.Lock()
	defer l.dmu.Unlock()
	if l.advanced == nil {
		l.advanced = make(chan struct{})
	}
	return l.advanced
}

// ownApplied is Applied without the per-party log taken in.
func (l *Log) ownApplied() uint64 {
	l.dmu.Lock()
	defer l.dmu.Unlock()
	return l.applied
}

// Applied returns the sequence number up to which every record is done.
func (l *Log) Applied() uint64 {
	if l.old != nil {
		if a := l.old.Applied(); a < l.oldLast {
			return a
		}
	}
	return l.ownApplied()
}

// WaitApplied returns once every record up to seq is done, or with ctx's
// error.
func (l *Log) WaitApplied(ctx context.Context, seq uint64) error {
	for {
		ch := l.advance()
		if l.Applied() >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Syncs returns the fdatasyncs this log has made for its groups (a
// stream: those of the groups that held its records).
func (l *Log) Syncs() uint64 {
	l.f.mu.Lock()
	defer l.f.mu.Unlock()
	return l.syncs
}

// Close waits for the appends under way, then closes the files and lets
// the log go; later appends fail with CodeClosed. Records not yet done stay
// in the files for the next Open's Replay. A stream's Close closes only
// the stream (its records stay in the shared file; Shared.Close closes
// the file). It fails with a file's close error.
func (l *Log) Close() error {
	if l.f.shared {
		return l.closeStream()
	}
	return l.f.close()
}

// close waits for the groups gathered, closes the files and the lock.
func (f *file) close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	f.mu.Unlock()
	f.writers.Wait() // the groups gathered before are written
	f.dropAhead()
	f.wmu.Lock()
	defer f.wmu.Unlock()
	var err error
	for _, sg := range f.segs {
		if cerr := sg.f.Close(); cerr != nil && err == nil {
			err = fault.Wrap(cerr, fault.Unavailable, CodeIO, "closing the journal %s", sg.name)
		}
	}
	f.lock.Close()
	f.mu.Lock()
	close(f.synced)
	f.synced = make(chan struct{})
	f.mu.Unlock()
	return err
}

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
// block's is the SEQ of its name.
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
// be opened, read or listed.
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
}

// Stats describes what Open found.
type Stats struct {
	Segments     int    // segment files
	Records      int    // whole records in them
	FirstSeq     uint64 // the first one's sequence number (0 when none)
	Bytes        int64  // the size of the whole blocks
	DroppedBytes int64  // a torn tail cut off (0 when the last segment ended cleanly)
}

// segment is one file of the log.
type segment struct {
	name      string
	first     uint64 // the sequence number of its first record (its name)
	f         File
	size      int64  // the end of its last synced block
	last      uint64 // its last record's sequence number (first-1 when empty)
	replayEnd int64  // the bytes of whole blocks found at Open (0 for segments made since)
}

// Log is an open journal. Its methods are safe for concurrent use.
type Log struct {
	path string
	opt  Options
	lock io.Closer

	writers sync.WaitGroup // the writer goroutine, while one runs
	wmu     sync.Mutex     // the writer: held while a block is written and synced, or segments change

	mu       sync.Mutex
	segs     []*segment // oldest first; appends go to the last
	next     uint64     // the sequence number of the next append
	group    *group     // the group gathering appends (nil: none)
	inFile   uint64     // the last sequence number written and synced
	applied  uint64     // every sequence number ≤ it is done
	doneAt   map[uint64]struct{}
	advanced chan struct{} // closed and replaced when applied moves
	failed   error         // the first write or sync failure
	closed   bool
	writing  bool // a writer goroutine is running
	stats    Stats
	syncs    uint64 // fdatasyncs made
}

// group is the appends gathered for one block.
type group struct {
	first uint64
	count uint32
	body  []byte
	done  chan struct{}
	err   error
}

// segName is the file name of the segment whose first record is first.
func segName(path string, first uint64) string {
	return fmt.Sprintf("%s.%0*d", path, seqDigits, first)
}

// Open opens the log at path (its segments PATH.SEQ; a new log's first
// segment is made, and its folder synced), checks every block, cuts off a
// torn tail (see the package documentation) and returns the log ready to
// Replay and Append. It fails with fault.Internal CodeCorrupt for damage
// that is not a torn tail, fault.Conflict CodeLocked when the log is open
// elsewhere, and fault.Unavailable CodeIO when a file cannot be listed,
// opened, read or truncated.
func Open(path string, opt Options) (*Log, error) {
	if opt.FS == nil {
		opt.FS = defaultFS()
	}
	if opt.TruncateAt <= 0 {
		opt.TruncateAt = 4 << 20
	}
	if opt.MaxRecord <= 0 {
		opt.MaxRecord = 16 << 20
	}
	lock, err := opt.FS.Lock(path + ".lock")
	if err == ErrLocked {
		return nil, fault.E(fault.Conflict, CodeLocked, "the journal %s is open in another process (or twice in this one)", path)
	}
	if err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, CodeIO, "locking the journal %s", path)
	}
	l := &Log{path: path, opt: opt, lock: lock, doneAt: map[uint64]struct{}{}, advanced: make(chan struct{})}
	if err := l.load(); err != nil {
		for _, sg := range l.segs {
			sg.f.Close()
		}
		lock.Close()
		return nil, err
	}
	return l, nil
}

// load lists and checks the segments, cuts off a torn tail and sets the
// sequence numbers.
func (l *Log) load() error {
	dir, base := filepath.Split(l.path)
	if dir == "" {
		dir = "."
	}
	names, err := l.opt.FS.Names(dir)
	if err != nil {
		return fault.Wrap(err, fault.Unavailable, CodeIO, "listing the journal %s", l.path)
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
	if len(firsts) == 0 {
		firsts = []uint64{1}
	}
	var last uint64 // the last whole record's sequence number
	for i, first := range firsts {
		sg := &segment{name: segName(l.path, first), first: first, last: first - 1}
		if sg.f, err = l.opt.FS.OpenFile(sg.name); err != nil {
			return fault.Wrap(err, fault.Unavailable, CodeIO, "opening the journal %s", sg.name)
		}
		l.segs = append(l.segs, sg)
		if i > 0 && first != last+1 {
			return fault.E(fault.Internal, CodeCorrupt, "the journal %s lacks the records %d to %d (segment %s follows): a segment is missing",
				l.path, last+1, first-1, filepath.Base(sg.name))
		}
		end, err := sg.f.Size()
		if err != nil {
			return fault.Wrap(err, fault.Unavailable, CodeIO, "reading the size of the journal %s", sg.name)
		}
		var off int64
		for off < end {
			b, ok := readBlock(sg.f, off, end, sg.last+1)
			if !ok {
				break
			}
			if l.stats.Records == 0 {
				l.stats.FirstSeq = b.first
			}
			l.stats.Records += int(b.count)
			sg.last = b.first + uint64(b.count) - 1
			off += headerSize + int64(len(b.body))
		}
		last = sg.last
		if off < end {
			if i < len(firsts)-1 {
				return fault.E(fault.Internal, CodeCorrupt, "the journal %s is damaged at byte %d and a later segment follows: not a torn tail; refusing to drop acknowledged records",
					sg.name, off)
			}
			if at, seq, found := later(sg.f, off, end, sg.last); found {
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
			l.stats.DroppedBytes = end - off
		}
		sg.size, sg.replayEnd = off, off
		l.stats.Bytes += off
	}
	l.stats.Segments = len(l.segs)
	l.next = last + 1
	l.inFile = last
	l.applied = l.stats.FirstSeq - 1 // nothing before the files' first record is to apply
	if l.stats.Records == 0 {
		l.applied = last
	}
	return nil
}

// readBlock reads and checks the block at off in f (ending at end) whose
// first record must be want (any when 0): ok false when it does not check.
func readBlock(f File, off, end int64, want uint64) (group, bool) {
	var h [headerSize]byte
	if end-off < headerSize {
		return group{}, false
	}
	if _, err := f.ReadAt(h[:], off); err != nil {
		return group{}, false
	}
	b, n, ok := parseHeader(h[:], end-off)
	if !ok || (want != 0 && b.first != want) {
		return group{}, false
	}
	b.body = make([]byte, n)
	if _, err := f.ReadAt(b.body, off+headerSize); err != nil {
		return group{}, false
	}
	crc := crc32.Update(crc32.Checksum(h[12:], castagnoli), castagnoli, b.body)
	if crc != binary.BigEndian.Uint32(h[8:12]) || !bodyChecks(b.body, b.count) {
		return group{}, false
	}
	return b, true
}

// parseHeader reads a block's header (avail bytes from it to the end of
// the file): the block's first sequence number and count, and the body's
// length.
func parseHeader(h []byte, avail int64) (group, int64, bool) {
	if string(h[:4]) != magic {
		return group{}, 0, false
	}
	n := int64(binary.BigEndian.Uint32(h[4:8]))
	b := group{first: binary.BigEndian.Uint64(h[12:20]), count: binary.BigEndian.Uint32(h[20:24])}
	if n < 4 || n > maxBlock || headerSize+n > avail || b.count == 0 || b.first == 0 || b.first+uint64(b.count) < b.first {
		return group{}, 0, false
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

// later looks in f after the damage at off for a whole block with a
// sequence number after last: its offset and first sequence number.
func later(f File, off, end int64, last uint64) (int64, uint64, bool) {
	const chunk = 1 << 20
	buf := make([]byte, chunk+headerSize)
	for base := off + 1; base < end; base += chunk {
		n, _ := f.ReadAt(buf[:min(int64(len(buf)), end-base)], base)
		for i := 0; i+4 <= n && i < chunk; i++ {
			if string(buf[i:i+4]) != magic {
				continue
			}
			if b, ok := readBlock(f, base+int64(i), end, 0); ok && b.first > last {
				return base + int64(i), b.first, true
			}
		}
	}
	return 0, 0, false
}

// Stats returns what Open found.
func (l *Log) Stats() Stats { return l.stats }

// Path returns the log's path (its segments are PATH.SEQ).
func (l *Log) Path() string { return l.path }

// Replay calls fn with every whole record the segments held when the log
// was opened, in sequence order; rec is the caller's to keep. It stops at
// fn's first error and returns it. Call it once after Open, before the
// records are Done: a segment deleted since (its records all Done) is not
// replayed. It fails with fault.Unavailable CodeIO when a file cannot be
// read.
func (l *Log) Replay(fn func(seq uint64, rec []byte) error) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	segs := slices.Clone(l.segs)
	l.mu.Unlock()
	for _, sg := range segs {
		var off int64
		last := sg.first - 1
		for off < sg.replayEnd {
			b, ok := readBlock(sg.f, off, sg.replayEnd, last+1)
			if !ok {
				return fault.E(fault.Unavailable, CodeIO, "reading the journal %s again at byte %d", sg.name, off)
			}
			body := b.body
			for i := range uint64(b.count) {
				n := binary.BigEndian.Uint32(body[:4])
				if err := fn(b.first+i, body[4:4+n:4+n]); err != nil {
					return err
				}
				body = body[4+n:]
			}
			last = b.first + uint64(b.count) - 1
			off += headerSize + int64(len(b.body))
		}
	}
	return nil
}

// Append writes rec to the log and returns its sequence number once it is
// on disk (written and fdatasync'd), in a group with the records appended
// concurrently. ctx is looked at only before the record joins a group: once
// it has joined, Append waits for the group's sync (the record may be on
// disk whatever the caller does). It fails with fault.Invalid CodeTooLarge,
// fault.Unavailable CodeClosed or CodeFailed (the record may or may not be
// on disk, and the log takes no more appends), or ctx's error.
func (l *Log) Append(ctx context.Context, rec []byte) (uint64, error) {
	if len(rec) > l.opt.MaxRecord {
		return 0, fault.E(fault.Invalid, CodeTooLarge, "a journal record of %d bytes is over the limit of %d", len(rec), l.opt.MaxRecord)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	l.mu.Lock()
	if err := l.refusal(); err != nil {
		l.mu.Unlock()
		return 0, err
	}
	g := l.group
	if g != nil && len(g.body)+4+len(rec) > groupCap {
		// A full group is written first (a writer runs whenever a group
		// gathers); this record joins the next one.
		l.mu.Unlock()
		<-g.done
		return l.Append(ctx, rec)
	}
	if g == nil {
		g = &group{first: l.next, done: make(chan struct{}), body: make([]byte, 0, 4096)}
		l.group = g
	}
	seq := l.next
	l.next++
	g.count++
	g.body = binary.BigEndian.AppendUint32(g.body, uint32(len(rec)))
	g.body = append(g.body, rec...)
	if !l.writing {
		l.writing = true
		l.writers.Add(1)
		go l.write()
	}
	l.mu.Unlock()
	<-g.done
	if g.err != nil {
		return 0, g.err
	}
	return seq, nil
}

// refusal is the error an append meets now, if any (l.mu held).
func (l *Log) refusal() error {
	if l.closed {
		return fault.E(fault.Unavailable, CodeClosed, "the journal %s is closed", l.path)
	}
	if l.failed != nil {
		return fault.Wrap(l.failed, fault.Unavailable, CodeFailed, "the journal %s failed to write or sync and takes no more records", l.path)
	}
	return nil
}

// write is the writer: it writes and syncs the gathering group, one after
// another, while there is one.
func (l *Log) write() {
	defer l.writers.Done()
	for {
		// Let the appenders that are ready to run join the group first:
		// one yield, no wait (fewer, bigger groups: each fdatasync costs
		// tens of µs of CPU).
		runtime.Gosched()
		l.mu.Lock()
		g := l.group
		if g == nil {
			l.writing = false
			l.mu.Unlock()
			return
		}
		l.group = nil
		l.mu.Unlock()
		l.commit(g)
	}
}

// commit writes and syncs one group as a block at the end of the last
// segment — in a new segment when the last is past TruncateAt — and
// deletes the older segments whose records are all done.
func (l *Log) commit(g *group) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	err := l.failed
	sg := l.segs[len(l.segs)-1]
	roll := sg.size >= l.opt.TruncateAt
	l.mu.Unlock()
	if err == nil && roll {
		sg, err = l.roll(g.first)
	}
	if err == nil {
		l.dropApplied()
		blk := make([]byte, headerSize, headerSize+len(g.body))
		copy(blk, magic)
		binary.BigEndian.PutUint32(blk[4:8], uint32(len(g.body)))
		binary.BigEndian.PutUint64(blk[12:20], g.first)
		binary.BigEndian.PutUint32(blk[20:24], g.count)
		blk = append(blk, g.body...)
		binary.BigEndian.PutUint32(blk[8:12], crc32.Checksum(blk[12:], castagnoli))
		if _, err = sg.f.WriteAt(blk, sg.size); err == nil {
			err = sg.f.Sync()
		}
		if err != nil {
			err = fault.Wrap(err, fault.Unavailable, CodeFailed, "writing to the journal %s", sg.name)
		} else {
			l.mu.Lock()
			sg.size += int64(len(blk))
			sg.last = g.first + uint64(g.count) - 1
			l.mu.Unlock()
		}
	}
	l.mu.Lock()
	if err != nil {
		if l.failed == nil {
			l.failed = err
		}
		g.err = err
		// Nothing to apply for records the callers are told failed.
		for s := g.first; s < g.first+uint64(g.count); s++ {
			l.markDone(s)
		}
	} else {
		l.inFile = g.first + uint64(g.count) - 1
		l.syncs++
		syncCount.Add(1)
	}
	l.mu.Unlock()
	close(g.done)
}

// roll starts the segment whose first record is first (l.wmu held). A
// failure is the log's failure.
func (l *Log) roll(first uint64) (*segment, error) {
	sg := &segment{name: segName(l.path, first), first: first, last: first - 1}
	f, err := l.opt.FS.OpenFile(sg.name)
	if err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, CodeFailed, "starting the journal segment %s", sg.name)
	}
	sg.f = f
	l.mu.Lock()
	l.segs = append(l.segs, sg)
	l.mu.Unlock()
	return sg, nil
}

// dropApplied deletes, oldest first, the segments before the last whose
// records are all done (l.wmu held). A segment that cannot be deleted is
// left for the next time (its records replay harmlessly: the store behind
// applies them idempotently).
func (l *Log) dropApplied() {
	for {
		l.mu.Lock()
		if len(l.segs) < 2 || l.segs[0].last > l.applied {
			l.mu.Unlock()
			return
		}
		sg := l.segs[0]
		l.mu.Unlock()
		sg.f.Close()
		if err := l.opt.FS.Remove(sg.name); err != nil {
			return
		}
		l.mu.Lock()
		l.segs = l.segs[1:]
		l.mu.Unlock()
	}
}

// Truncate drops every record now, when all of them are done — the replay
// at start, once its records are in the store behind and Done: it starts a
// fresh segment and deletes the others. It fails with fault.Conflict
// CodeUnapplied while a record is not Done, and fault.Unavailable
// CodeFailed when a file cannot be made or deleted.
func (l *Log) Truncate() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	err := l.refusal()
	if err == nil && l.applied < l.inFile {
		err = fault.E(fault.Conflict, CodeUnapplied, "the journal %s holds records not yet applied (applied up to %d of %d)", l.path, l.applied, l.inFile)
	}
	sg := l.segs[len(l.segs)-1]
	empty := sg.size == 0
	next := l.next
	l.mu.Unlock()
	if err != nil {
		return err
	}
	if !empty {
		if _, err := l.roll(next); err != nil {
			l.mu.Lock()
			if l.failed == nil {
				l.failed = err
			}
			l.mu.Unlock()
			return err
		}
	}
	l.dropApplied()
	l.mu.Lock()
	n := len(l.segs)
	l.mu.Unlock()
	if n > 1 {
		return fault.E(fault.Unavailable, CodeFailed, "the journal %s: an applied segment could not be deleted", l.path)
	}
	return nil
}

// Last returns the sequence number of the last append begun so far (0 when
// none): WaitApplied(ctx, Last()) waits for every record appended before
// the call — and for those being appended as it is made.
func (l *Log) Last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next - 1
}

// Done reports record seq applied durably by the store behind the log (in
// any order). Records whose Append failed count as done by themselves.
func (l *Log) Done(seq uint64) {
	l.mu.Lock()
	l.markDone(seq)
	l.mu.Unlock()
}

// markDone is Done with l.mu held.
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
	close(l.advanced)
	l.advanced = make(chan struct{})
}

// Applied returns the sequence number up to which every record is done.
func (l *Log) Applied() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.applied
}

// WaitApplied returns once every record up to seq is done, or with ctx's
// error.
func (l *Log) WaitApplied(ctx context.Context, seq uint64) error {
	for {
		l.mu.Lock()
		if l.applied >= seq {
			l.mu.Unlock()
			return nil
		}
		ch := l.advanced
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Syncs returns the fdatasyncs this log has made for its groups.
func (l *Log) Syncs() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.syncs
}

// Close waits for the appends under way, then closes the files and lets
// the log go; later appends fail with CodeClosed. Records not yet done stay
// in the files for the next Open's Replay. It fails with a file's close
// error.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.writers.Wait() // the groups gathered before are written
	l.wmu.Lock()
	defer l.wmu.Unlock()
	var err error
	for _, sg := range l.segs {
		if cerr := sg.f.Close(); cerr != nil && err == nil {
			err = fault.Wrap(cerr, fault.Unavailable, CodeIO, "closing the journal %s", sg.name)
		}
	}
	l.lock.Close()
	return err
}

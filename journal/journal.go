// Package journal is a party's write-ahead log on one file: records
// appended by many goroutines at once are group-committed (one write and
// one fdatasync(2) for every group of concurrent appends), framed and
// checksummed, read back in order after a restart, and dropped once the
// store behind the log has applied them durably.
//
// A party puts the changes of its hot path in a Log and answers as soon as
// Append returns (the record is on disk); a write-behind goroutine applies
// the records to the party's store of record (SQL) in large batches and
// reports each one applied with Done. Reads that must see every change
// made so far wait with WaitApplied(ctx, Last()). Once every record in the
// file is applied and the file has grown past Options.TruncateAt, the log
// truncates it (synced) before its next write, so it does not grow without
// bound; Truncate does the same on demand (after the replay at start).
//
// # Format
//
// The file is a sequence of blocks, one per group commit, each written by
// one write(2) at the end of the file and made durable by one fdatasync(2)
// before any record in it is acknowledged and before the next block is
// written:
//
//	magic    4 bytes  "TWJ1"
//	length   4 bytes  big-endian: the bytes after this 24-byte header
//	crc      4 bytes  big-endian CRC-32C (Castagnoli) of the 12 bytes below and the body
//	firstSeq 8 bytes  big-endian: the sequence number of the block's first record
//	count    4 bytes  big-endian: how many records the block holds (≥ 1)
//	body              count × (4-byte big-endian length, the record's bytes)
//
// Sequence numbers are consecutive across blocks: a block's firstSeq is the
// previous block's firstSeq + count. The first block of a file may start
// anywhere (the log was truncated after earlier records were applied).
//
// # Damage
//
// Because the writer syncs each block before it writes the next, a power
// cut can damage only the last block of the file (written in part, in any
// order of its sectors, or not at all). Open therefore reads blocks until
// the first one that does not check (short header, bad magic, impossible
// length, CRC mismatch, a sequence number out of order) and then looks at
// the rest of the file for a whole block with a later sequence number:
//
//   - none (the usual torn tail): the damaged end is cut off — the file is
//     truncated to the last whole block and synced; those records were
//     never acknowledged. Stats says how many bytes were dropped.
//   - one: the damage is not at the end — a block acknowledged earlier was
//     destroyed after it was synced (a bad disk, someone editing the file).
//     Open refuses with fault.Internal CodeCorrupt and changes nothing:
//     dropping it would silently lose acknowledged records. An operator
//     decides (restore the file, or move it away to accept the loss).
//
// A corrupt file never makes the package panic; every length is checked
// before it is used.
//
// # Sequence numbers
//
// Every appended record gets the next sequence number (the first record of
// an empty log is 1; after Open they continue from the last whole record
// in the file). They are what Done and WaitApplied speak of. They restart
// at 1 only when a log is opened on an empty file (everything before was
// applied and truncated away).
//
// # Errors
//
// Every error is a *fault.Error: fault.Invalid CodeTooLarge for a record
// over Options.MaxRecord, fault.Unavailable CodeFailed once a write or a
// sync failed (the log refuses every later append: after a failed
// fdatasync the kernel may have dropped the pages, so nothing can be
// promised — reopen it), fault.Unavailable CodeClosed after Close,
// fault.Internal CodeCorrupt at Open as above, fault.Conflict CodeUnapplied
// from Truncate while records are not applied.
package journal

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"sync"

	"github.com/tapwallet/tapwallet/fault"
)

// The fault codes of the package.
const (
	CodeCorrupt   = "journal_corrupt"   // a damaged block with whole blocks after it (Open)
	CodeFailed    = "journal_failed"    // a write or fdatasync failed; the log takes no more appends
	CodeClosed    = "journal_closed"    // the log is closed
	CodeTooLarge  = "journal_too_large" // a record over Options.MaxRecord
	CodeUnapplied = "journal_unapplied" // Truncate with records not yet applied
	CodeIO        = "journal_io"        // opening, reading or truncating the file failed
)

const (
	headerSize = 24
	magic      = "TWJ1"
	// maxBlock bounds a block's length as read from a file (a larger one is
	// damage, not a block); the writer never writes one larger.
	maxBlock = 1 << 30
	// groupCap is the body size past which a group takes no more records
	// (the next append starts the next group).
	groupCap = 8 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options tune a Log; the zero value is the default.
type Options struct {
	// FS is the file layer (nil: the operating system's, OSFS, or the
	// one SetDefaultFS installed).
	FS FS
	// TruncateAt is the size of file from which the log truncates it
	// before its next write once every record in it is applied (0: 4 MiB).
	TruncateAt int64
	// MaxRecord is the largest record Append accepts (0: 16 MiB).
	MaxRecord int
}

// Stats describes what Open found in the file.
type Stats struct {
	Records      int    // whole records in the file
	FirstSeq     uint64 // the first one's sequence number (0 when none)
	Bytes        int64  // the size of the whole blocks
	DroppedBytes int64  // a torn tail cut off (0 when the file ended cleanly)
}

// Log is an open journal. Its methods are safe for concurrent use.
type Log struct {
	path string
	f    File
	opt  Options

	writers sync.WaitGroup // the writer goroutine, while one runs
	wmu     sync.Mutex     // the writer: held while a block is written and synced, or the file truncated

	mu       sync.Mutex
	next     uint64 // the sequence number of the next append
	group    *group // the group gathering appends (nil: none)
	size     int64  // the file's size (the end of its last synced block)
	inFile   uint64 // the last sequence number written to the file (synced)
	applied  uint64 // every sequence number ≤ it is done
	doneAt   map[uint64]struct{}
	advanced chan struct{} // closed and replaced when applied moves
	failed   error         // the first write or sync failure
	closed   bool
	writing  bool  // a writer goroutine is running
	replay   int64 // the bytes of whole blocks found at Open (0 after a truncation)
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

// Open opens the log at path (creating it, and syncing its folder, if
// missing), checks every block in it, cuts off a torn tail (see the
// package documentation) and returns the log ready to Replay and Append.
// It fails with fault.Internal CodeCorrupt for damage that is not a torn
// tail, and fault.Unavailable CodeIO when the file cannot be opened, read
// or truncated.
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
	f, err := opt.FS.OpenFile(path)
	if err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, CodeIO, "opening the journal %s", path)
	}
	l := &Log{path: path, f: f, opt: opt, doneAt: map[uint64]struct{}{}, advanced: make(chan struct{})}
	if err := l.scan(); err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

// scan checks the file's blocks, cuts off a torn tail and sets the
// sequence numbers.
func (l *Log) scan() error {
	end, err := l.f.Size()
	if err != nil {
		return fault.Wrap(err, fault.Unavailable, CodeIO, "reading the size of the journal %s", l.path)
	}
	var off int64
	var last uint64 // the last whole record's sequence number
	for off < end {
		b, ok := l.block(off, end, last)
		if !ok {
			break
		}
		if l.stats.Records == 0 {
			l.stats.FirstSeq = b.first
		}
		l.stats.Records += int(b.count)
		last = b.first + uint64(b.count) - 1
		off += headerSize + int64(len(b.body))
	}
	if off < end {
		if at, seq, found := l.later(off, end, last); found {
			return fault.E(fault.Internal, CodeCorrupt,
				"the journal %s is damaged at byte %d and holds a whole block after it (sequence %d at byte %d): not a torn tail; refusing to drop acknowledged records",
				l.path, off, seq, at)
		}
		if err := l.f.Truncate(off); err != nil {
			return fault.Wrap(err, fault.Unavailable, CodeIO, "cutting the torn tail off the journal %s", l.path)
		}
		if err := l.f.Sync(); err != nil {
			return fault.Wrap(err, fault.Unavailable, CodeIO, "syncing the journal %s", l.path)
		}
		l.stats.DroppedBytes = end - off
	}
	l.stats.Bytes = off
	l.size, l.replay = off, off
	l.next = last + 1
	if l.stats.Records == 0 {
		l.next = 1
	}
	l.inFile = l.next - 1
	return nil
}

// block reads and checks the block at off (the file ending at end) that
// must follow the record last (0: any first block): ok false when it does
// not check.
func (l *Log) block(off, end int64, last uint64) (group, bool) {
	var h [headerSize]byte
	if end-off < headerSize {
		return group{}, false
	}
	if _, err := l.f.ReadAt(h[:], off); err != nil {
		return group{}, false
	}
	b, n, ok := parseHeader(h[:], end-off)
	if !ok || (last != 0 && b.first != last+1) {
		return group{}, false
	}
	b.body = make([]byte, n-12)
	if _, err := l.f.ReadAt(b.body, off+headerSize); err != nil {
		return group{}, false
	}
	crc := crc32.Update(crc32.Checksum(h[12:], castagnoli), castagnoli, b.body)
	if crc != binary.BigEndian.Uint32(h[8:12]) || !bodyChecks(b.body, b.count) {
		return group{}, false
	}
	return b, true
}

// parseHeader reads a block's header (avail bytes from it to the end of
// the file): the block's first sequence number and count, and the length
// after the first 12 bytes of the header (12 + body).
func parseHeader(h []byte, avail int64) (group, int64, bool) {
	if string(h[:4]) != magic {
		return group{}, 0, false
	}
	n := int64(binary.BigEndian.Uint32(h[4:8])) + 12 // 12 header bytes after the CRC, and the body
	b := group{first: binary.BigEndian.Uint64(h[12:20]), count: binary.BigEndian.Uint32(h[20:24])}
	if n < 12+4 || n > maxBlock || 12+n > avail || b.count == 0 || b.first == 0 || b.first+uint64(b.count) < b.first {
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

// later looks in the file after the damage at off for a whole block with
// a sequence number after last: its offset and first sequence number.
func (l *Log) later(off, end int64, last uint64) (int64, uint64, bool) {
	const chunk = 1 << 20
	buf := make([]byte, chunk+headerSize)
	for base := off + 1; base < end; base += chunk {
		n, _ := l.f.ReadAt(buf[:min(int64(len(buf)), end-base)], base)
		for i := 0; i+4 <= n && i < chunk; i++ {
			if string(buf[i:i+4]) != magic {
				continue
			}
			if b, ok := l.block(base+int64(i), end, 0); ok && b.first > last {
				return base + int64(i), b.first, true
			}
		}
	}
	return 0, 0, false
}

// Stats returns what Open found in the file.
func (l *Log) Stats() Stats { return l.stats }

// Path returns the file's path.
func (l *Log) Path() string { return l.path }

// Replay calls fn with every whole record the file held when the log was
// opened, in sequence order; rec is the caller's to keep. It stops at
// fn's first error and returns it. Call it once after Open, before the
// records are truncated away (Truncate, or an automatic truncation once
// they are all Done): after a truncation it replays nothing. It fails with
// fault.Unavailable CodeIO when the file cannot be read.
func (l *Log) Replay(fn func(seq uint64, rec []byte) error) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	end := l.replay
	l.mu.Unlock()
	var off int64
	var last uint64
	for off < end {
		b, ok := l.block(off, end, last)
		if !ok {
			return fault.E(fault.Unavailable, CodeIO, "reading the journal %s again at byte %d", l.path, off)
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
	if g != nil && len(g.body)+4+len(rec) > groupCap && g.count > 0 {
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
	for {
		l.mu.Lock()
		g := l.group
		if g == nil {
			l.writing = false
			l.mu.Unlock()
			l.writers.Done()
			return
		}
		l.group = nil
		l.mu.Unlock()
		l.commit(g)
	}
}

// commit writes and syncs one group as a block at the end of the file,
// truncating the file first when every record in it is applied and it is
// past TruncateAt.
func (l *Log) commit(g *group) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	err := l.failed
	if err == nil && l.size >= l.opt.TruncateAt && l.applied >= l.inFile {
		l.mu.Unlock()
		err = l.truncate()
		l.mu.Lock()
	}
	off := l.size
	l.mu.Unlock()
	if err == nil {
		blk := make([]byte, headerSize, headerSize+len(g.body))
		copy(blk, magic)
		binary.BigEndian.PutUint32(blk[4:8], uint32(len(g.body)))
		binary.BigEndian.PutUint64(blk[12:20], g.first)
		binary.BigEndian.PutUint32(blk[20:24], g.count)
		blk = append(blk, g.body...)
		binary.BigEndian.PutUint32(blk[8:12], crc32.Checksum(blk[12:], castagnoli))
		if _, err = l.f.WriteAt(blk, off); err == nil {
			err = l.f.Sync()
		}
		if err != nil {
			err = fault.Wrap(err, fault.Unavailable, CodeFailed, "writing to the journal %s", l.path)
		}
		off += int64(len(blk))
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
		l.size = off
		l.inFile = g.first + uint64(g.count) - 1
		l.syncs++
		syncCount.Add(1)
	}
	l.mu.Unlock()
	close(g.done)
}

// truncate empties the file and syncs it (l.wmu held, l.mu not).
func (l *Log) truncate() error {
	if err := l.f.Truncate(0); err != nil {
		return fault.Wrap(err, fault.Unavailable, CodeFailed, "truncating the journal %s", l.path)
	}
	if err := l.f.Sync(); err != nil {
		return fault.Wrap(err, fault.Unavailable, CodeFailed, "syncing the truncated journal %s", l.path)
	}
	l.mu.Lock()
	l.size, l.replay = 0, 0
	l.syncs++
	syncCount.Add(1)
	l.mu.Unlock()
	return nil
}

// Truncate empties the file now (synced) if every record in it is applied
// — the replay at start, once its records are in the store behind and
// Done. It fails with fault.Conflict CodeUnapplied while a record in the
// file is not Done, and like Append's write when the truncation fails.
func (l *Log) Truncate() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	err := l.refusal()
	if err == nil && l.applied < l.inFile {
		err = fault.E(fault.Conflict, CodeUnapplied, "the journal %s holds records not yet applied (applied up to %d of %d)", l.path, l.applied, l.inFile)
	}
	l.mu.Unlock()
	if err != nil {
		return err
	}
	if err := l.truncate(); err != nil {
		l.mu.Lock()
		if l.failed == nil {
			l.failed = err
		}
		l.mu.Unlock()
		return err
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

// Syncs returns the fdatasyncs this log has made.
func (l *Log) Syncs() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.syncs
}

// Close waits for the appends under way, then closes the file; later
// appends fail with CodeClosed. Records not yet applied stay in the file
// for the next Open's Replay. It fails with the file's close error.
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
	if err := l.f.Close(); err != nil {
		return fault.Wrap(err, fault.Unavailable, CodeIO, "closing the journal %s", l.path)
	}
	return nil
}

package gate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"github.com/tapwallet/tapwallet/datasync"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/sam"
	"github.com/tapwallet/tapwallet/transit"
)

// Journal is the gate's durable record of its transactions: an
// append-only file of JSON lines in the gate's data folder. A transaction
// is written as pending before the debit is sent to the card — appended
// and fdatasync'd before the gate goes on, so that a debit the card makes
// is always known to the gate — and finalised (with the card's TAC) or
// voided after; pending transactions are what a tap pulled away mid-debit
// is recovered from. A tap's one append and fdatasync on its path is its
// pending entry: its final entry is appended and synced in the background
// at once (and by the next entry's sync, and before the journal closes or
// compacts), because the card has already debited when it is written — a
// power cut before that sync leaves the pending entry, from which the
// card's next tap recovers the record as after a tap pulled away, the
// same as a cut between the debit and the final entry always could. Finalised records wait there until an
// upload to the operator succeeds. The journal also reserves the SAM's
// sequence numbers, in blocks, so that none is used twice across
// restarts. Its methods are safe for concurrent use.
//
// The file is made ready with zeros beyond its entries (prealloc bytes,
// more as it fills), and entries are written over them in place: an
// fdatasync then carries the entry's data alone, not the file's new size
// through the file system's journal. The first zero byte ends the entries
// on reading; an entry a power cut tore holds one, or lacks its newline,
// and is dropped.
type Journal struct {
	mu       sync.Mutex
	path     string
	f        *os.File
	off, end int64 // where the next entry goes; the file's size (zeros from off on)
	nextID   uint64
	seq      uint32 // last sequence number handed out
	reserved uint32 // sequence numbers up to here are reserved on disk
	pending  map[uint64]*Pending
	final    map[uint64]transit.Record
	now      func() time.Time
	// appended counts the entries appended to f, synced those an
	// fdatasync has covered; syncErr is the background sync's failure,
	// until a later sync succeeds.
	appended, synced uint64
	syncErr          error
	kick, stop, done chan struct{} // the background sync
}

// Pending is a transaction written before its debit: the SAM's purchase
// (enough to check the card's MAC2 later) and the record to clear.
type Pending struct {
	ID       uint64         `json:"id"`
	At       time.Time      `json:"at"`
	Purchase sam.Purchase   `json:"purchase"`
	Record   transit.Record `json:"record"`
}

type entry struct {
	Op       string          `json:"op"` // pending, final, void, sent, seq
	ID       uint64          `json:"id,omitempty"`
	IDs      []uint64        `json:"ids,omitempty"`
	Pending  *Pending        `json:"pending,omitempty"`
	Record   *transit.Record `json:"record,omitempty"`
	Reserved uint32          `json:"reserved,omitempty"`
}

const seqBlock = 64

// prealloc is how many bytes of zeros the journal makes ready at a time.
const prealloc = 256 << 10

// OpenJournal opens (or creates) the journal in dir and replays it. It
// fails with fault.Unavailable "gate_journal" if it cannot be read or
// written, or fault.Invalid if a line is damaged (a torn last line, from a
// crash mid-write, is dropped).
func OpenJournal(dir string) (*Journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "gate_journal", "create the gate's data folder")
	}
	j := &Journal{path: filepath.Join(dir, "journal.jsonl"), pending: map[uint64]*Pending{}, final: map[uint64]transit.Record{}, now: time.Now}
	if err := j.replay(); err != nil {
		return nil, err
	}
	if err := j.rewrite(); err != nil {
		return nil, err
	}
	j.kick, j.stop, j.done = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	go j.syncer()
	return j, nil
}

// syncer fdatasyncs the entries appended without a sync (final entries),
// as soon as it is kicked, without holding the journal's lock while the
// disk works; it runs until stop is closed.
func (j *Journal) syncer() {
	defer close(j.done)
	for {
		select {
		case <-j.stop:
			return
		case <-j.kick:
		}
		j.mu.Lock()
		f, upTo := j.f, j.appended
		j.mu.Unlock()
		if f == nil {
			continue
		}
		err := datasync.File(f)
		j.mu.Lock()
		if f == j.f { // not compacted or closed meanwhile (those sync themselves)
			if err != nil {
				j.syncErr = err
			} else {
				j.synced = max(j.synced, upTo)
			}
		}
		j.mu.Unlock()
	}
}

func (j *Journal) replay() error {
	f, err := os.Open(j.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fault.Wrap(err, fault.Unavailable, "gate_journal", "read the journal")
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return fault.Wrap(err, fault.Unavailable, "gate_journal", "read the journal")
	}
	if z := bytes.IndexByte(b, 0); z >= 0 {
		b = b[:z] // the zeros made ready (or an entry a power cut tore)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	for i, l := range lines {
		var e entry
		if len(l) == 0 || l[len(l)-1] != '\n' || json.Unmarshal(l, &e) != nil {
			if i == len(lines)-1 {
				break // torn last write
			}
			return fault.E(fault.Invalid, "gate_journal", "journal line %d is damaged", i+1)
		}
		j.apply(e)
	}
	j.seq = j.reserved // numbers handed out before a restart are never reused
	return nil
}

func (j *Journal) apply(e entry) {
	switch e.Op {
	case "pending":
		if e.Pending != nil {
			p := *e.Pending
			j.pending[p.ID] = &p
			j.nextID = max(j.nextID, p.ID)
		}
	case "final":
		if e.Record != nil {
			delete(j.pending, e.ID)
			j.final[e.ID] = *e.Record
			j.nextID = max(j.nextID, e.ID)
		}
	case "void":
		delete(j.pending, e.ID)
	case "sent":
		for _, id := range e.IDs {
			delete(j.final, id)
		}
	case "seq":
		j.reserved = max(j.reserved, e.Reserved)
	}
}

// rewrite replaces the file with the live state (compaction).
func (j *Journal) rewrite() error {
	tmp := j.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fault.Wrap(err, fault.Unavailable, "gate_journal", "write the journal")
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	enc.Encode(entry{Op: "seq", Reserved: j.reserved})
	for _, id := range sortedIDs(j.pending) {
		enc.Encode(entry{Op: "pending", Pending: j.pending[id]})
	}
	for _, id := range sortedIDs(j.final) {
		r := j.final[id]
		enc.Encode(entry{Op: "final", ID: id, Record: &r})
	}
	err = w.Flush()
	var size int64
	if err == nil {
		size, err = f.Seek(0, io.SeekCurrent)
	}
	if err == nil {
		_, err = f.Write(make([]byte, prealloc))
	}
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err == nil {
		err = os.Rename(tmp, j.path)
	}
	if err == nil {
		err = datasync.Dir(filepath.Dir(j.path))
	}
	if err == nil {
		j.synced, j.syncErr = j.appended, nil // the new file holds it all, synced
	}
	if err != nil {
		return fault.Wrap(err, fault.Unavailable, "gate_journal", "write the journal")
	}
	if j.f != nil {
		j.f.Close()
	}
	j.f, err = os.OpenFile(j.path, os.O_WRONLY, 0o600)
	if err != nil {
		return fault.Wrap(err, fault.Unavailable, "gate_journal", "open the journal")
	}
	j.off, j.end = size, size+prealloc
	return nil
}

func sortedIDs[V any](m map[uint64]V) []uint64 {
	ids := make([]uint64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool { return ids[a] < ids[b] })
	return ids
}

// write appends one entry and fdatasyncs the journal (it and every entry
// before it are durable when it returns); j.mu held.
func (j *Journal) write(e entry) error { return j.append(e, true) }

// append appends one entry in one write; with sync it fdatasyncs the
// journal before it returns, without it kicks the background sync. j.mu
// held.
func (j *Journal) append(e entry, sync bool) error {
	if j.f == nil {
		return fault.E(fault.Unavailable, "gate_journal", "the journal is closed")
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fault.Wrap(err, fault.Internal, "gate_journal", "encode a journal entry")
	}
	b = append(b, '\n')
	if j.off+int64(len(b)) > j.end {
		// More zeros made ready: this entry's sync carries the new size.
		grow := max(int64(prealloc), int64(len(b)))
		if _, err := j.f.WriteAt(make([]byte, grow), j.end); err != nil {
			return fault.Wrap(err, fault.Unavailable, "gate_journal", "write the journal")
		}
		j.end += grow
	}
	if _, err := j.f.WriteAt(b, j.off); err != nil {
		// Zeros over what was written, so that a later entry is not read
		// after a torn one.
		j.f.WriteAt(make([]byte, len(b)), j.off)
		return fault.Wrap(err, fault.Unavailable, "gate_journal", "write the journal")
	}
	j.off += int64(len(b))
	j.appended++
	if sync {
		if err := datasync.File(j.f); err != nil {
			return fault.Wrap(err, fault.Unavailable, "gate_journal", "sync the journal")
		}
		j.synced, j.syncErr = j.appended, nil
	} else {
		select {
		case j.kick <- struct{}{}:
		default: // a sync is already due
		}
	}
	j.apply(e)
	return nil
}

// Unsynced reports how many appended entries no fdatasync has covered yet
// (final entries between their append and the background sync).
func (j *Journal) Unsynced() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.appended - j.synced
}

// Close syncs what the background sync has not yet and closes the journal
// file. It returns the error of syncing or closing it.
func (j *Journal) Close() error {
	if j.stop != nil {
		close(j.stop)
		<-j.done
		j.stop = nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	var err error
	if j.synced < j.appended {
		err = datasync.File(j.f)
	} else {
		err = j.syncErr
	}
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	j.f = nil
	return err
}

// Next returns the SAM's next transaction sequence number (sam.Counter),
// reserving a block on disk when the reserved ones run out. The
// reservation is appended and synced in the background, not on the tap's
// path: a number leaves the gate only in a DEBIT, after the pending entry
// of its purchase is fdatasync'd, and that sync covers the reservation
// appended before it — a number a restart hands out again never left. It
// fails with fault.Unavailable "gate_journal" if the reservation cannot be
// written.
func (j *Journal) Next() (uint32, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.seq >= j.reserved {
		if err := j.append(entry{Op: "seq", Reserved: j.reserved + seqBlock}, false); err != nil {
			return 0, err
		}
	}
	j.seq++
	return j.seq, nil
}

// AddPending writes a transaction before its debit and returns its id.
// It fails with fault.Unavailable "gate_journal" if it cannot be written
// and synced (the gate must not debit then).
func (j *Journal) AddPending(p Pending) (uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	p.ID = j.nextID + 1
	if p.At.IsZero() {
		p.At = j.now()
	}
	if err := j.write(entry{Op: "pending", Pending: &p}); err != nil {
		return 0, err
	}
	return p.ID, nil
}

// Finalise records a pending transaction as done with its record (status
// final, or grey when the gate gave up on learning the outcome): appended
// now, fdatasync'd in the background at once (see Journal). It fails with
// fault.Unavailable "gate_journal" if it cannot be written.
func (j *Journal) Finalise(id uint64, r transit.Record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.append(entry{Op: "final", ID: id, Record: &r}, false)
}

// Void drops a pending transaction the card never debited. It fails with
// fault.Unavailable "gate_journal" if it cannot be written.
func (j *Journal) Void(id uint64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.write(entry{Op: "void", ID: id})
}

// PendingFor returns the pending transaction of a card, if any.
func (j *Journal) PendingFor(card string) (Pending, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, id := range sortedIDs(j.pending) {
		if p := j.pending[id]; p.Record.Card == card {
			return *p, true
		}
	}
	return Pending{}, false
}

// Pending returns every pending transaction, oldest first.
func (j *Journal) Pending() []Pending {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []Pending
	for _, id := range sortedIDs(j.pending) {
		out = append(out, *j.pending[id])
	}
	return out
}

// Unsent returns the finalised records not yet uploaded, with their ids,
// oldest first, at most n (0: all).
func (j *Journal) Unsent(n int) ([]uint64, []transit.Record) {
	j.mu.Lock()
	defer j.mu.Unlock()
	ids := sortedIDs(j.final)
	if n > 0 && len(ids) > n {
		ids = ids[:n]
	}
	recs := make([]transit.Record, len(ids))
	for i, id := range ids {
		recs[i] = j.final[id]
	}
	return ids, recs
}

// MarkSent records that the operator has the records with these ids, and
// compacts the journal. It fails with fault.Unavailable "gate_journal"
// if the journal cannot be written.
func (j *Journal) MarkSent(ids []uint64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.write(entry{Op: "sent", IDs: ids}); err != nil {
		return err
	}
	return j.rewrite()
}

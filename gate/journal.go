package gate

import (
	"bufio"
	"encoding/json"
	"errors"
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
// append-only file of JSON lines in the gate's data folder, each line
// written and fsync'd before the gate goes on. A transaction is written as
// pending before the debit is sent to the card and finalised (with the
// card's TAC) or voided after; pending transactions are what a tap pulled
// away mid-debit is recovered from. Finalised records wait there until an
// upload to the operator succeeds. The journal also reserves the SAM's
// sequence numbers, in blocks, so that none is used twice across
// restarts. Its methods are safe for concurrent use.
type Journal struct {
	mu       sync.Mutex
	path     string
	f        *os.File
	nextID   uint64
	seq      uint32 // last sequence number handed out
	reserved uint32 // sequence numbers up to here are reserved on disk
	pending  map[uint64]*Pending
	final    map[uint64]transit.Record
	now      func() time.Time
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
	return j, nil
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
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var lines [][]byte
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	if err := sc.Err(); err != nil {
		return fault.Wrap(err, fault.Unavailable, "gate_journal", "read the journal")
	}
	for i, l := range lines {
		var e entry
		if err := json.Unmarshal(l, &e); err != nil {
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
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err == nil {
		err = os.Rename(tmp, j.path)
	}
	if err != nil {
		return fault.Wrap(err, fault.Unavailable, "gate_journal", "write the journal")
	}
	if j.f != nil {
		j.f.Close()
	}
	j.f, err = os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fault.Wrap(err, fault.Unavailable, "gate_journal", "open the journal")
	}
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

// write appends one entry and fsyncs it.
func (j *Journal) write(e entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fault.Wrap(err, fault.Internal, "gate_journal", "encode a journal entry")
	}
	b = append(b, '\n')
	if _, err := j.f.Write(b); err != nil {
		return fault.Wrap(err, fault.Unavailable, "gate_journal", "write the journal")
	}
	if err := j.f.Sync(); err != nil {
		return fault.Wrap(err, fault.Unavailable, "gate_journal", "sync the journal")
	}
	j.apply(e)
	return nil
}

// Close closes the journal file. It returns the error of closing it.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// Next returns the SAM's next transaction sequence number (sam.Counter),
// reserving a block on disk when the reserved ones run out. It fails with
// fault.Unavailable "gate_journal" if the reservation cannot be written.
func (j *Journal) Next() (uint32, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.seq >= j.reserved {
		if err := j.write(entry{Op: "seq", Reserved: j.reserved + seqBlock}); err != nil {
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
// final, or grey when the gate gave up on learning the outcome). It fails
// with fault.Unavailable "gate_journal" if it cannot be written.
func (j *Journal) Finalise(id uint64, r transit.Record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.write(entry{Op: "final", ID: id, Record: &r})
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

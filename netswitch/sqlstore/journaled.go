package sqlstore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/id/idfilter"
	"github.com/tapwallet/tapwallet/journal"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/sqldb"
)

// The switch's records on a journal (issue 16, lever 1): with WithJournal,
// the authorization's two writes — the record stored before the issuer is
// asked (SaveAuth) and its answer (FinishAuth) — are appended to the
// network's journal (package journal: group-committed, one fdatasync per
// group) and answered once they are on disk; a write-behind goroutine
// applies them to SQL in large batches, one transaction each. Every other
// method first waits until the write-behind has applied everything
// journaled before the call (read-your-writes), then runs on SQL as
// without the journal; the two writes that decide against SaveAuth and
// FinishAuth — SaveEarlyReversal claiming an identity, AbandonAuth
// settling a record being decided — and SettleEarly run alone besides (no
// SaveAuth or FinishAuth between their wait and their commit). The
// identities journaled and not yet applied, and the records still being
// decided, are kept in memory, so that SaveAuth answers CodeAuthExists and
// FinishAuth CodeAuthSettled as the SQL path does (memory, then SQL).
//
// At Open the journal is replayed into SQL (idempotently: a record's insert
// does nothing when its identity is stored, an answer changes only a
// record still being decided) before the store serves, then dropped.
//
// Only for a store that is the only network process on its database: a
// second process could not see the first one's journaled records. The
// journal's lock (flock) refuses a second store on the same journal.

// The kinds of journal record.
const (
	recSave   byte = 1 // insertAuth's arguments
	recFinish byte = 2 // finishAuth's arguments
)

// jrec is a journaled write on its way to SQL.
type jrec struct {
	seq    uint64
	kind   byte
	id     string
	args   []any
	answer []any // a save's answer merged into its insert (mergeAnswers)
}

// liveAuth is what the store knows in memory of an identity journaled and
// not yet applied, or of a record still being decided.
type liveAuth struct {
	seq      uint64 // the last journal record about it (0: being appended)
	deciding bool   // its answer may still be stored (FinishAuth)
	busy     int    // appends under way about it
}

// journaled is the journal side of a Store.
type journaled struct {
	log   *journal.Log
	write bool // DeferIntents
	// gate is shared by SaveAuth and FinishAuth (the hot path); every
	// other write holds it alone, from its wait for the write-behind to
	// its commit.
	gate   sync.RWMutex
	mu     sync.Mutex
	live   map[string]*liveAuth
	ids    *idfilter.Filter // every identity in SQL or journaled (a Bloom filter)
	behind *journal.Behind[jrec]
	apply  func(context.Context, []jrec) ([]struct{}, error)
	probe  *sql.Stmt // the response code of a record by identity

	// The argument slices of applied records, cleared, for the next
	// writes (under mu): by kind, a save's (authArgs) and a finish's.
	spareSaves, spareFinishes [][]any
}

// Option changes how Open opens the store.
type Option func(*options)

type options struct {
	journal      string
	jopts        journal.Options
	beside       bool
	deferIntents bool // DeferIntents
}

// Journaled puts the authorization's writes on the journal beside the
// wing's SQLite file (DATA/network.journal, or STEM-network.journal beside
// a sqlite:PATH), with the default journal.Options; on PostgreSQL it does
// nothing (several network processes may share the database there). For
// the process that runs the network role.
func Journaled() Option { return func(op *options) { op.beside = true } }

// journalBeside is the journal's path beside the wing's file, "" on
// PostgreSQL.
func journalBeside(dsn, dataDir string) string {
	if dsn != "" && !strings.HasPrefix(dsn, "sqlite:") {
		return ""
	}
	path := strings.TrimPrefix(dsn, "sqlite:")
	if path == "" {
		return filepath.Join(dataDir, Wing.Name+".journal")
	}
	dir, base := filepath.Split(path)
	return filepath.Join(dir, strings.TrimSuffix(base, filepath.Ext(base))+"-"+Wing.Name+".journal")
}

// WithJournal puts the authorization's writes on a journal at path (its
// segments path.SEQ; e.g. DATA/network.journal) with a write-behind to
// SQL. Only for a process that is the only network process on the
// database (the SQLite platform); several sharing PostgreSQL keep the SQL
// path.
func WithJournal(path string, o journal.Options) Option {
	return func(op *options) { op.journal, op.jopts = path, o }
}

// OnJournal puts the journal (Journaled's) in the process's shared
// journal file s (journal.OpenShared), as the stream network.journal (or
// STEM-network.journal), taking in a network.journal of its own left
// there.
func OnJournal(s *journal.Shared) Option { return func(op *options) { op.jopts.Shared = s } }

// DeferIntents has a store on a shared journal (OnJournal) write the
// record SaveAuth stores before the issuer is asked (being decided, with
// no promotion hold) without waiting for the disk (journal.Log.Write):
// only for the process with every role and every issuer host, where
// nothing outside the process hears of the authorization before the
// answer's FinishAuth — a later append on the same file, which makes the
// record durable too — returns. A record that names a promotion hold
// (stored meanwhile in the promotions' wing) and a final SaveAuth (a
// decline's) still wait. Ignored without OnJournal.
func DeferIntents() Option { return func(op *options) { op.deferIntents = true } }

// openJournal opens the journal, replays it into SQL, drops it, and starts
// the write-behind.
func (s *Store) openJournal(ctx context.Context, op options) error {
	l, err := journal.Open(op.journal, op.jopts)
	if err != nil {
		return err
	}
	j := &journaled{log: l, live: map[string]*liveAuth{}, write: op.deferIntents && op.jopts.Shared != nil}
	j.apply = sqldb.Serialized(s.DB, s.applyRecords)
	if j.probe, err = s.DB.Prepare(ctx, `SELECT response_code FROM switch_auths WHERE id = ?`); err != nil {
		l.Close()
		return sqldb.Err(err, "preparing the journal's probe")
	}
	apply := func(ctx context.Context, batch []jrec) error {
		_, err := j.apply(ctx, batch)
		return err
	}
	err = journal.ReplayBatches(ctx, l, func(seq uint64, b []byte) (jrec, error) {
		r, err := decodeRecord(b)
		r.seq = seq
		return r, err
	}, 1000, nil, apply)
	if err == nil {
		j.ids, err = s.loadIDs(ctx)
	}
	if err != nil {
		j.probe.Close()
		l.Close()
		return err
	}
	s.jr = j
	j.behind = journal.NewBehind(l, apply, journal.BehindOptions[jrec]{Batch: behindBatch, Wait: behindWait, Max: behindMax, After: j.applied})
	return nil
}

// closeJournal applies what is queued, stops the write-behind, drops the
// journal when everything in it is applied and closes it.
func (s *Store) closeJournal() error {
	j := s.jr
	j.behind.Close()
	if j.log.Applied() >= j.log.Last() {
		j.log.Truncate() // a clean stop leaves nothing to replay
	}
	j.probe.Close()
	return j.log.Close()
}

// The write-behind's batches: it gathers records for up to behindWait
// after the first (or until behindBatch are queued, or a read waits for
// them), then applies up to 4,096 in one transaction — the fewer
// transactions, the less CPU per record: each costs a log fdatasync on
// SQLite and writes once the index pages every record of the batch
// touched (BenchmarkApplyRecords: ~30 CPU µs an authorization in
// batches of 80, ~21 in batches of 340 — 100 ms at ~3,400 a second).
// behindBatch is behindMax: at 13,000 a second a gathering cut at 1,024
// records wrote a batch every 80 ms, each with the primary key's leaves
// it touched at random — nearly all of them — again; gathering the whole
// 100 ms (readers hurry it as before) wrote 5.1–5.5 KB per authorization
// instead of 6.4–6.9 (`bench auth --risk off --count 90000 --tokens 32`,
// 4 alternated pairs, load 3.4–4.9), CPU no worse.
const (
	behindWait  = 100 * time.Millisecond
	behindBatch = behindMax
	behindMax   = 4096
)

// applied drops from memory what the write-behind applied: an identity
// no longer being decided, with no later record and no append under way.
func (j *journaled) applied(batch []jrec) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, r := range batch {
		// The write-behind is done with the record's arguments (apply
		// returned; nothing of it keeps them): the slice is kept, cleared
		// — it held the sealed card number and the token — for a later
		// write.
		if spare := j.spare(r.kind); r.args != nil && len(*spare) < spareArgs {
			clear(r.args)
			*spare = append(*spare, r.args[:0])
		}
		if e := j.live[r.id]; e != nil && e.seq == r.seq && e.busy == 0 && !e.deciding {
			delete(j.live, r.id)
		}
	}
}

// spareArgs bounds the argument slices kept of each kind (~1.3 MB of a
// save's at most).
const spareArgs = 2048

// spare returns the kept argument slices of a kind of record (mu held).
func (j *journaled) spare(kind byte) *[][]any {
	if kind == recSave {
		return &j.spareSaves
	}
	return &j.spareFinishes
}

// takeArgs returns a kept argument slice of a kind of record, empty, or
// nil when none is kept (mu held).
func (j *journaled) takeArgs(kind byte) []any {
	spare := j.spare(kind)
	n := len(*spare)
	if n == 0 {
		return nil
	}
	args := (*spare)[n-1]
	(*spare)[n-1] = nil
	*spare = (*spare)[:n-1]
	return args
}

// caughtUp waits until the write-behind has applied everything journaled
// before the call (nil at once without a journal).
func (s *Store) caughtUp(ctx context.Context) error {
	if s.jr == nil {
		return nil
	}
	last := s.jr.log.Last()
	if s.jr.log.Applied() >= last {
		return nil
	}
	s.jr.behind.Hurry()
	return s.jr.log.WaitApplied(ctx, last)
}

// alone holds the store's writes back (SaveAuth, FinishAuth), waits until
// everything journaled is applied, and returns the function that lets them
// go again — for a write on SQL that must see every journaled record and
// not race one (no-op without a journal).
func (s *Store) alone(ctx context.Context) (func(), error) {
	if s.jr == nil {
		return func() {}, nil
	}
	s.jr.gate.Lock()
	if err := s.caughtUp(ctx); err != nil {
		s.jr.gate.Unlock()
		return nil, err
	}
	return s.jr.gate.Unlock, nil
}

// stored adds an identity stored in SQL by another write (a reversal's
// marker) to the filter SaveAuth consults.
func (s *Store) stored(id string) {
	if s.jr == nil {
		return
	}
	s.jr.mu.Lock()
	s.jr.ids.Add(id)
	s.jr.mu.Unlock()
}

// forget drops an identity the store learnt from SQL is settled (after
// AbandonAuth), with the gate held alone.
func (s *Store) forget(id string) {
	if s.jr == nil {
		return
	}
	s.jr.mu.Lock()
	delete(s.jr.live, id)
	s.jr.mu.Unlock()
}

// probe reads a record's response code in SQL: found false when there is
// no record (or marker) with the identity.
func (j *journaled) probeRC(ctx context.Context, id string) (rc string, found bool, err error) {
	err = j.probe.QueryRowContext(context.WithoutCancel(ctx), id).Scan(&rc)
	if sqldb.NoRows(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, sqldb.Err(err, "reading an authorization")
	}
	return rc, true, nil
}

// saveJournaled is SaveAuth on the journal.
func (s *Store) saveJournaled(ctx context.Context, a netswitch.Auth) error {
	j := s.jr
	j.gate.RLock()
	defer j.gate.RUnlock()
	j.mu.Lock()
	if _, ok := j.live[a.ID]; ok {
		j.mu.Unlock()
		return errExists
	}
	e := &liveAuth{deciding: a.ResponseCode == "", busy: 1}
	j.live[a.ID] = e
	stored := j.ids.MayHave(a.ID)
	j.ids.Add(a.ID)
	args := j.takeArgs(recSave)
	j.mu.Unlock()
	var err error
	if stored {
		var found bool
		if _, found, err = j.probeRC(ctx, a.ID); err == nil && found {
			err = errExists
		}
	}
	args = appendAuthArgs(args, a)
	if err == nil {
		err = j.append(ctx, e, recSave, a.ID, args, j.write && a.ResponseCode == "" && a.Promo == nil)
	}
	if err != nil {
		j.mu.Lock()
		if j.live[a.ID] == e {
			delete(j.live, a.ID)
		}
		j.mu.Unlock()
	}
	return err
}

// finishJournaled is FinishAuth on the journal.
func (s *Store) finishJournaled(ctx context.Context, a netswitch.Auth) error {
	j := s.jr
	j.gate.RLock()
	defer j.gate.RUnlock()
	j.mu.Lock()
	e := j.live[a.ID]
	known := e != nil
	if known {
		if !e.deciding {
			j.mu.Unlock()
			return errSettled
		}
		e.deciding = false
		e.busy++
	} else {
		e = &liveAuth{busy: 1}
		j.live[a.ID] = e
	}
	args := j.takeArgs(recFinish)
	j.mu.Unlock()
	var err error
	if !known {
		// Saved before this process (or long ago): SQL tells.
		var rc string
		var found bool
		if rc, found, err = j.probeRC(ctx, a.ID); err == nil && (!found || rc != "") {
			err = errSettled
		}
	}
	if err == nil {
		err = j.append(ctx, e, recFinish, a.ID, appendFinishArgs(args, a), false)
	}
	if err != nil {
		j.mu.Lock()
		if known {
			e.deciding = true // still waiting for its answer
			e.busy--
		} else if j.live[a.ID] == e {
			delete(j.live, a.ID)
		}
		j.mu.Unlock()
	}
	return err
}

// append journals one write about e and queues it for the write-behind;
// with write, without waiting for the disk (DeferIntents).
func (j *journaled) append(ctx context.Context, e *liveAuth, kind byte, id string, args []any, write bool) error {
	bp := recordBufs.Get().(*[]byte)
	b, err := appendRecord((*bp)[:0], kind, args)
	var seq uint64
	if err == nil && write {
		seq, err = j.log.Write(b)
	} else if err == nil {
		seq, err = j.log.Append(ctx, b)
	}
	// The journal copied the record: its buffer goes back, cleared (it
	// holds the sealed card number and the token's digits).
	clear(b)
	if b != nil && cap(b) <= 4096 {
		*bp = b[:0]
		recordBufs.Put(bp)
	}
	if err != nil {
		return err
	}
	j.mu.Lock()
	e.seq = seq
	e.busy--
	j.mu.Unlock()
	j.behind.Add(seq, jrec{seq: seq, kind: kind, id: id, args: args})
	return nil
}

// The journal record of a write: its kind, then its SQL arguments, each a
// tag (0 nil, 1 string, 2 bytes, 3 integer) and its value (a uvarint
// length and the bytes, or a zig-zag varint).
const (
	tagNil byte = iota
	tagString
	tagBytes
	tagInt
)

var errRecord = fault.E(fault.Internal, "journal_record", "a record of the network's journal does not decode")

// recordBufs holds the buffers a record is encoded into for its append
// (the journal copies it into its group): one a write, not one a record.
var recordBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// encodeRecord encodes a write's arguments (strings, byte slices, integers).
func encodeRecord(kind byte, args []any) ([]byte, error) {
	return appendRecord(make([]byte, 0, 512), kind, args)
}

// appendRecord appends the record encodeRecord makes to b.
func appendRecord(b []byte, kind byte, args []any) ([]byte, error) {
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(len(args)))
	for _, a := range args {
		switch v := a.(type) {
		case nil:
			b = append(b, tagNil)
		case string:
			b = append(b, tagString)
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		case []byte:
			if v == nil {
				b = append(b, tagNil)
				continue
			}
			b = append(b, tagBytes)
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		case int64:
			b = append(b, tagInt)
			b = binary.AppendVarint(b, v)
		case int:
			b = append(b, tagInt)
			b = binary.AppendVarint(b, int64(v))
		default:
			return nil, fault.E(fault.Internal, "journal_record", "a switch record's column of type %T has no journal form", a)
		}
	}
	return b, nil
}

// decodeRecord reads a record encodeRecord made; errRecord when it does
// not decode.
func decodeRecord(b []byte) (jrec, error) {
	if len(b) < 2 || (b[0] != recSave && b[0] != recFinish) {
		return jrec{}, errRecord
	}
	r := jrec{kind: b[0]}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || n > uint64(len(b)) {
		return jrec{}, errRecord
	}
	b = b[1+k:]
	r.args = make([]any, 0, n)
	for range n {
		if len(b) == 0 {
			return jrec{}, errRecord
		}
		tag := b[0]
		b = b[1:]
		switch tag {
		case tagNil:
			r.args = append(r.args, nil)
		case tagString, tagBytes:
			l, k := binary.Uvarint(b)
			if k <= 0 || l > uint64(len(b)-k) || l > math.MaxInt32 {
				return jrec{}, errRecord
			}
			v := b[k : k+int(l)]
			b = b[k+int(l):]
			if tag == tagString {
				r.args = append(r.args, string(v))
			} else {
				r.args = append(r.args, append([]byte{}, v...))
			}
		case tagInt:
			v, k := binary.Varint(b)
			if k <= 0 {
				return jrec{}, errRecord
			}
			b = b[k:]
			r.args = append(r.args, v)
		default:
			return jrec{}, errRecord
		}
	}
	if len(b) != 0 {
		return jrec{}, errRecord
	}
	want := len(authArgs(netswitch.Auth{}))
	if r.kind == recFinish {
		want = len(finishArgs(netswitch.Auth{}))
	}
	if len(r.args) != want {
		return jrec{}, errRecord
	}
	// Only the sealed PAN and the answer may be NULL: the write-behind's
	// insert ignores a row that breaks a constraint (INSERT OR IGNORE).
	for i, v := range r.args {
		if v == nil && !nullable(r.kind, i) {
			return jrec{}, errRecord
		}
	}
	if id, ok := r.args[len(r.args)-1].(string); r.kind == recFinish && ok {
		r.id = id
	} else if id, ok := r.args[0].(string); r.kind == recSave && ok {
		r.id = id
	} else {
		return jrec{}, errRecord
	}
	return r, nil
}

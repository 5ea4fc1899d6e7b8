package sqlstore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/id/idfilter"
	"github.com/tapwallet/tapwallet/journal"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/sqldb"
)

// The card holds on a journal (issue 16, lever 1): a Journaled ledger
// decides a batch of plain holds (transfers whose only flag is Pending —
// what an issuer host places at authorization) against the balances in
// memory, by the rules of package ledger (ledger.CreateTransfersIn over
// memory), appends the holds it made to the bank's journal (package
// journal: group-committed, one fdatasync per group) and answers once the
// record is on disk; a write-behind goroutine applies the records to the
// ledger's tables in large batches, one transaction each.
//
// Memory holds the accounts the holds touched (their totals with every
// hold journaled so far) and the holds journaled and not yet in SQL; a
// hold's id is looked up there first, then in SQL, so a retransmitted hold
// finds the first (and is answered only once the first is on disk). SQL
// is read only when a Bloom filter of every transfer id in SQL or
// journaled (package idfilter) says the id may be there: a repeat, or
// about one new id in a hundred. The filter is filled from SQL at open
// (after the replay), and takes every id a hold is made with and every id
// the calls run alone insert (ledgerTx.InsertTransfers notes them in the
// context Alone gives fn): an id missing from it would be accepted twice.
//
// Everything else — posts, voids, expiry, other transfers, new accounts,
// and the writes callers make in the wing's own transactions (Alone) —
// runs alone: the holds are held back, the write-behind catches up with
// everything journaled, the call runs on SQL as on Store, and the accounts
// in memory are dropped (read again from SQL on their next hold). Reads
// of lists (Transfers) wait for the write-behind; single lookups answer
// from memory, then SQL.
//
// At open the journal is replayed into SQL idempotently (a hold whose id
// is stored is skipped, with its totals) before the store serves.
//
// Only for the one process placing holds in the wing: another process
// could not see the holds journaled here. The journal's lock (flock)
// refuses a second Journaled on the same journal.

// The write-behind's batches: gathered for up to behindWait after the
// first (or until behindBatch holds wait, or a caller waits for them),
// applied up to behindMax a transaction. A transaction's fixed cost (its
// commit: a page of each table and index it writes, and an fdatasync) is
// most of a small batch's: with a bank's share of bench auth's holds, 100
// ms made batches of 25 holds, 400 ms makes them of about 110 (nothing
// waits for them: readers hurry the write-behind, lookups answer from
// memory).
const (
	behindWait  = 400 * time.Millisecond
	behindBatch = 1024
	behindMax   = 4096
)

// holdsRecord is the first byte of a journal record: a batch of holds.
const holdsRecord byte = 1

// liveHold is a hold journaled (or being journaled) and not yet in SQL.
type liveHold struct {
	t     ledger.Transfer
	ready chan struct{} // closed when its append ended
	ok    bool          // the append succeeded (read after ready)
}

// queued is a journal record on its way to SQL.
type queued struct {
	seq   uint64
	holds []ledger.Transfer
}

// Journaled is a bank's ledger whose holds are journaled and written
// behind to SQL (see above). It is a ledger.Store.
type Journaled struct {
	*Store
	log   *journal.Log
	write bool // DeferHolds

	// gate is shared by the holds; every other write holds it alone,
	// from its wait for the write-behind until memory is dropped.
	gate sync.RWMutex

	mu       sync.Mutex
	accounts map[string]ledger.Account  // totals with every hold journaled
	locked   map[string]ledger.Account  // a decide's accounts (memoryTx.LockAccounts), reused: cleared each time
	found    map[string]ledger.Transfer // a decide's first TransfersByID, reused likewise
	live     map[string]*liveHold       // by transfer id
	ids      *idfilter.Filter           // every transfer id in SQL or journaled; nil: none (every id read from SQL)
	gen      uint64                     // moves when the write-behind drops holds from live
	closed   bool
	behind   *journal.Behind[queued]

	findTransfer, findAccount *sql.Stmt
	// apply is Store.applyHolds taking its turn with the wing's other
	// batches (sqldb.Serialized), metered as a batch of the wing.
	apply func(context.Context, []ledger.Transfer) ([]struct{}, error)
}

var _ ledger.Store = (*Journaled)(nil)

// JournalBeside returns the path of the journal of the wing named wing
// opened with dsn in dataDir: DATA/WING.journal, or STEM-WING.journal
// beside a sqlite:STEM.db; "" on PostgreSQL (several processes may share
// the database there: no journal).
func JournalBeside(dsn, dataDir, wing string) string { return journal.Beside(dsn, dataDir, wing) }

// OpenJournaled opens the journal at path (package journal, with o),
// replays its records into s's tables, drops them and starts the
// write-behind. Close stops it (it does not close the database). It fails
// like journal.Open (fault.Unavailable journal_locked when another store
// has the journal open), or with the database's error during the replay.
func OpenJournaled(ctx context.Context, s *Store, path string, o journal.Options) (*Journaled, error) {
	return openJournaled(ctx, s, path, o, true)
}

// openJournaled is OpenJournaled; a Journaled opened only to replay its
// journal and close (not serve) reads no filter of ids (a scan of every
// transfer id).
func openJournaled(ctx context.Context, s *Store, path string, o journal.Options, serve bool) (*Journaled, error) {
	l, err := journal.Open(path, o)
	if err != nil {
		return nil, err
	}
	j := &Journaled{Store: s, log: l, accounts: map[string]ledger.Account{}, live: map[string]*liveHold{}}
	j.apply = sqldb.Serialized(s.db, s.applyHolds)
	fail := func(err error) (*Journaled, error) {
		j.closeStmts()
		l.Close()
		return nil, err
	}
	if j.findTransfer, err = s.db.Prepare(ctx, "SELECT "+ledgerTransferCols+" FROM ledger_transfers t WHERE t.id = ?"); err != nil {
		return fail(ledgerDBError(err))
	}
	if j.findAccount, err = s.db.Prepare(ctx, "SELECT "+ledgerAccountCols+" FROM ledger_accounts WHERE id = ?"); err != nil {
		return fail(ledgerDBError(err))
	}
	apply := func(ctx context.Context, batch []queued) error {
		_, err := j.apply(ctx, holdsOf(batch))
		return err
	}
	err = journal.ReplayBatches(ctx, l, func(seq uint64, b []byte) (queued, error) {
		ts, err := decodeHolds(b)
		if err != nil {
			return queued{}, fault.Wrap(err, fault.Internal, "ledger_journal_record", "record %d of the ledger's journal %s", seq, filepath.Base(path))
		}
		return queued{seq: seq, holds: ts}, nil
	}, behindMax, func(q queued) int { return len(q.holds) }, apply)
	if err != nil {
		return fail(err)
	}
	if serve {
		if j.ids, err = s.transferIDs(ctx); err != nil {
			return fail(err)
		}
	}
	j.behind = journal.NewBehind(l, apply, journal.BehindOptions[queued]{Batch: behindBatch, Wait: behindWait, Cut: cutHolds, After: j.applied})
	return j, nil
}

// DeferHolds has the holds' records written without waiting for the disk
// (journal.Log.Write) — for a Journaled on the shared journal file of the
// process with every role, where a hold is answered only to this
// process's switch, whose append of its answer (a later append on the
// same file, which makes the hold durable too) returns before the
// terminal is told. Call it before the ledger serves.
func (j *Journaled) DeferHolds() { j.write = true }

// ReplayLeft applies to s the holds a Journaled left in the journal at
// path (it stopped before writing them behind), for a store that opens the
// wing on the SQL path; nothing when there is no journal. It fails with
// fault.Conflict "ledger_store_busy" while a Journaled has the journal
// open (another process places the bank's holds from memory: a second
// one on SQL would decide against balances it does not see), and like
// OpenJournaled.
func ReplayLeft(ctx context.Context, s *Store, path string) error {
	return ReplayLeftShared(ctx, s, "", path)
}

// ReplayLeftShared is ReplayLeft for a journal that may be a stream of
// the shared journal file at shared (journal.OpenShared; the stream named
// by path's base name, with the journal of its own at path taken in).
func ReplayLeftShared(ctx context.Context, s *Store, shared, path string) error {
	sh, found, err := journal.Left(shared, path)
	if err == nil && !found {
		return nil
	}
	var j *Journaled
	if err == nil {
		j, err = openJournaled(ctx, s, path, journal.Options{Shared: sh}, false)
	}
	if err == nil {
		err = j.Close()
	}
	if sh != nil {
		if cerr := sh.Close(); err == nil {
			err = cerr
		}
	}
	if fault.CodeOf(err) == journal.CodeLocked {
		return fault.E(fault.Conflict, "ledger_store_busy", "another process places this bank's holds from memory (its journal %s is locked): run one issuer host per bank and data folder", filepath.Base(path))
	}
	return err
}

func (j *Journaled) closeStmts() {
	for _, st := range []*sql.Stmt{j.findTransfer, j.findAccount} {
		if st != nil {
			st.Close()
		}
	}
}

// Close lets the holds under way finish, applies what the journal holds to
// SQL, stops the write-behind and closes the journal (emptied when every
// record is applied; what is not stays for the next open). Later calls
// that write fail with fault.Unavailable. It does not close the database.
func (j *Journaled) Close() error {
	j.gate.Lock()
	j.mu.Lock()
	was := j.closed
	j.closed = true
	j.mu.Unlock()
	j.gate.Unlock()
	if was {
		return nil
	}
	j.behind.Close()
	if j.log.Applied() >= j.log.Last() {
		_ = j.log.Truncate() // a clean stop leaves nothing to replay
	}
	j.closeStmts()
	return j.log.Close()
}

// Syncs returns the fdatasyncs the journal has made.
func (j *Journaled) Syncs() uint64 { return j.log.Syncs() }

var errClosed = fault.E(fault.Unavailable, "ledger_closed", "the ledger is closed")

// plainHolds reports whether every transfer of ts is a hold and nothing
// else (Pending alone: no chain, no post or void): the journal's path.
func plainHolds(ts []ledger.Transfer) bool {
	for _, t := range ts {
		if t.Flags != ledger.Pending {
			return false
		}
	}
	return len(ts) > 0
}

// CreateTransfer applies t: a hold on the journal, anything else alone on
// SQL. It fails like CreateTransfers.
func (j *Journaled) CreateTransfer(ctx context.Context, t ledger.Transfer) (ledger.Result, error) {
	rs, err := j.CreateTransfers(ctx, []ledger.Transfer{t})
	if err != nil {
		return "", err
	}
	return rs[0], nil
}

// CreateTransfers applies a batch atomically: a batch of holds alone is
// decided in memory and journaled (answered once on disk); any other
// batch runs alone on SQL. It fails with fault.Invalid for a batch over
// ledger.MaxBatch, fault.Unavailable when the journal or the database
// fails (then nothing of the batch took effect, unless the journal failed
// after its write began: the record may be on disk, and the next open
// applies it) or the ledger is closed.
func (j *Journaled) CreateTransfers(ctx context.Context, ts []ledger.Transfer) ([]ledger.Result, error) {
	if len(ts) > ledger.MaxBatch {
		return j.Store.CreateTransfers(ctx, ts) // refused whole, as the rules say
	}
	if !plainHolds(ts) {
		var rs []ledger.Result
		err := j.Alone(ctx, func(ctx context.Context) error {
			var err error
			rs, err = j.Store.CreateTransfers(ctx, ts)
			return err
		})
		return rs, err
	}
	return j.holds(ctx, ts)
}

// CreateAccounts creates accounts alone on SQL; it fails like
// Store.CreateAccounts.
func (j *Journaled) CreateAccounts(ctx context.Context, accounts []ledger.Account) ([]ledger.Result, error) {
	var rs []ledger.Result
	err := j.Alone(ctx, func(ctx context.Context) error {
		var err error
		rs, err = j.Store.CreateAccounts(ctx, accounts)
		return err
	})
	return rs, err
}

// ExpirePending releases the expired holds alone on SQL; it fails like
// Store.ExpirePending.
func (j *Journaled) ExpirePending(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := j.Alone(ctx, func(ctx context.Context) error {
		var err error
		n, err = j.Store.ExpirePending(ctx, now)
		return err
	})
	return n, err
}

// Transfers waits for the write-behind, then reads SQL; it fails like
// Store.Transfers.
func (j *Journaled) Transfers(ctx context.Context, f ledger.Filter) ([]ledger.Transfer, error) {
	if err := j.caughtUp(ctx); err != nil {
		return nil, err
	}
	return j.Store.Transfers(ctx, f)
}

// LookupTransfer returns a hold journaled and not yet in SQL from memory
// (once it is on disk), anything else from SQL; it fails like
// Store.LookupTransfer.
func (j *Journaled) LookupTransfer(ctx context.Context, id string) (ledger.Transfer, error) {
	j.mu.Lock()
	h := j.live[id]
	j.mu.Unlock()
	if h != nil {
		<-h.ready
		if h.ok {
			return h.t, nil
		}
	}
	return j.Store.LookupTransfer(ctx, id)
}

// LookupAccounts returns the accounts with the holds journaled: from
// memory those held there, the others from SQL. It fails like
// Store.LookupAccounts.
func (j *Journaled) LookupAccounts(ctx context.Context, ids []string) ([]ledger.Account, error) {
	j.gate.RLock()
	defer j.gate.RUnlock()
	found := make(map[string]ledger.Account, len(ids))
	var rest []string
	j.mu.Lock()
	for _, id := range ids {
		if a, ok := j.accounts[id]; ok {
			found[id] = a
		} else {
			rest = append(rest, id)
		}
	}
	j.mu.Unlock()
	if len(rest) > 0 {
		as, err := j.Store.LookupAccounts(ctx, rest)
		if err != nil {
			return nil, err
		}
		for _, a := range as {
			found[a.ID] = a
		}
	}
	var out []ledger.Account
	for _, id := range ids {
		if a, ok := found[id]; ok {
			out = append(out, a)
		}
	}
	return out, nil
}

// Alone runs fn with the holds held back, once the write-behind has
// applied every hold journaled, and drops the accounts kept in memory
// afterwards: for a write on the ledger's tables (fn may use the wing's
// own transactions, as issuer/sqlstore's points do). It fails with fn's
// error, fault.Unavailable when the ledger is closed, or ctx's error while
// waiting.
func (j *Journaled) Alone(ctx context.Context, fn func(ctx context.Context) error) error {
	j.gate.Lock()
	defer j.gate.Unlock()
	j.mu.Lock()
	closed := j.closed
	j.mu.Unlock()
	if closed {
		return errClosed
	}
	if err := j.caughtUp(ctx); err != nil {
		return err
	}
	ins := &inserted{}
	defer func() {
		j.mu.Lock()
		j.accounts = map[string]ledger.Account{}
		j.noteIDs(ins.ids) // those of a rolled back transaction too: a false positive is harmless
		j.mu.Unlock()
	}()
	return fn(context.WithValue(ctx, insertedKey{}, ins))
}

// noteIDs adds ids to the filter of ids, with j.mu held.
func (j *Journaled) noteIDs(ids []string) {
	if j.ids == nil {
		return
	}
	for _, id := range ids {
		j.ids.Add(id)
	}
}

// inserted gathers the transfer ids the calls alone insert
// (ledgerTx.InsertTransfers), for the filter of ids.
type inserted struct {
	mu  sync.Mutex
	ids []string
}

type insertedKey struct{}

// noteInserted adds the ids of ts to the ids gathered in ctx, if any.
func noteInserted(ctx context.Context, ts []ledger.Transfer) {
	ins, ok := ctx.Value(insertedKey{}).(*inserted)
	if !ok {
		return
	}
	ins.mu.Lock()
	defer ins.mu.Unlock()
	for _, t := range ts {
		ins.ids = append(ins.ids, t.ID)
	}
}

// caughtUp waits until the write-behind has applied every hold journaled
// before the call.
func (j *Journaled) caughtUp(ctx context.Context) error {
	last := j.log.Last()
	if j.log.Applied() >= last {
		return nil
	}
	j.behind.Hurry()
	if err := j.log.WaitApplied(ctx, last); err != nil {
		return fault.Wrap(err, fault.Unavailable, "ledger_cancelled", "waiting for the ledger's journal to reach SQL")
	}
	return nil
}

// holds decides a batch of holds in memory, journals the ones made and
// answers once they are on disk.
func (j *Journaled) holds(ctx context.Context, ts []ledger.Transfer) ([]ledger.Result, error) {
	j.gate.RLock()
	defer j.gate.RUnlock()
	for {
		rs, made, wait, retry, err := j.decide(ctx, ts)
		if err != nil {
			return nil, err
		}
		if retry {
			continue
		}
		// An Exists answered for a hold still being journaled waits for it.
		for _, h := range wait {
			<-h.ready
			if !h.ok {
				return nil, fault.E(fault.Unavailable, "ledger_journal", "the ledger's journal failed")
			}
		}
		if len(made) == 0 {
			return rs, nil
		}
		return rs, j.journal(ctx, made)
	}
}

// decide runs the rules over memory. It reads from SQL, before taking the
// lock, the accounts not in memory and the ids not live that the filter
// of ids may have; retry is set
// when the write-behind dropped live holds meanwhile (an id read absent
// from SQL may have been live then).
func (j *Journaled) decide(ctx context.Context, ts []ledger.Transfer) (rs []ledger.Result, made []*liveHold, wait []*liveHold, retry bool, err error) {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil, nil, nil, false, errClosed
	}
	gen := j.gen
	var needAccounts, needIDs []string
	for _, t := range ts {
		for _, id := range []string{t.DebitAccountID, t.CreditAccountID} {
			if _, ok := j.accounts[id]; !ok && id != "" {
				needAccounts = append(needAccounts, id)
			}
		}
		if _, ok := j.live[t.ID]; !ok && t.ID != "" && len(t.ID) <= ledger.MaxIDLength && (j.ids == nil || j.ids.MayHave(t.ID)) {
			needIDs = append(needIDs, t.ID)
		}
	}
	j.mu.Unlock()
	// The accounts not in memory have no hold journaled (the holds keep
	// theirs in memory until an Alone drops them, with the gate held
	// alone): SQL has them as they are.
	// Without ctx's cancellation: SQLite's driver would watch it with a
	// goroutine per statement (a point read by primary key is short).
	rctx := context.WithoutCancel(ctx)
	var readAccounts map[string]ledger.Account // none made for a batch that needs none
	if len(needAccounts) > 0 {
		readAccounts = make(map[string]ledger.Account, len(needAccounts))
	}
	for _, id := range needAccounts {
		if _, done := readAccounts[id]; done {
			continue
		}
		rows, err := j.findAccount.QueryContext(rctx, id)
		if err != nil {
			return nil, nil, nil, false, ledgerDBError(err)
		}
		if err := scanLedgerAccounts(rows, readAccounts); err != nil {
			return nil, nil, nil, false, err
		}
	}
	var known map[string]ledger.Transfer
	if len(needIDs) > 0 {
		known = make(map[string]ledger.Transfer, len(needIDs))
	}
	for _, id := range needIDs {
		rows, err := j.findTransfer.QueryContext(rctx, id)
		if err != nil {
			return nil, nil, nil, false, ledgerDBError(err)
		}
		found, err := scanLedgerTransfers(rows)
		if err != nil {
			return nil, nil, nil, false, err
		}
		for _, t := range found {
			known[t.ID] = t
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.gen != gen {
		return nil, nil, nil, true, nil
	}
	for id, a := range readAccounts {
		if _, ok := j.accounts[id]; !ok {
			j.accounts[id] = a
		}
	}
	tx := &memoryTx{j: j, now: j.db.Now(), known: known}
	rs, err = ledger.CreateTransfersIn(ctx, tx, ts)
	if err != nil {
		return nil, nil, nil, false, err
	}
	for _, a := range tx.changed {
		j.accounts[a.ID] = a
	}
	for _, t := range tx.created {
		t.Status = ledger.StatusPending
		h := &liveHold{t: t, ready: make(chan struct{})}
		j.live[t.ID] = h
		j.noteIDs([]string{t.ID})
		made = append(made, h)
	}
	for i, r := range rs {
		// An Exists of a hold another call is journaling waits for it; one
		// made earlier in this batch is journaled with it.
		if h := j.live[ts[i].ID]; r == ledger.Exists && h != nil && !slices.Contains(made, h) {
			wait = append(wait, h)
		}
	}
	return rs, made, wait, false, nil
}

// journal appends the holds made as one record and queues it for the
// write-behind; when the append fails, memory forgets them.
func (j *Journaled) journal(ctx context.Context, made []*liveHold) error {
	holds := make([]ledger.Transfer, len(made))
	for i, h := range made {
		holds[i] = h.t
	}
	var seq uint64
	var err error
	bp := recordBufs.Get().(*[]byte)
	b := appendHolds((*bp)[:0], holds)
	if j.write {
		seq, err = j.log.Write(b)
	} else {
		seq, err = j.log.Append(context.WithoutCancel(ctx), b)
	}
	// The journal copied the record: its buffer goes back, cleared.
	clear(b)
	if cap(b) <= 4096 {
		*bp = b[:0]
		recordBufs.Put(bp)
	}
	j.mu.Lock()
	if err != nil {
		for _, h := range made {
			delete(j.live, h.t.ID)
			if a, ok := j.accounts[h.t.DebitAccountID]; ok {
				a.DebitsPending -= h.t.Amount
				j.accounts[a.ID] = a
			}
			if a, ok := j.accounts[h.t.CreditAccountID]; ok {
				a.CreditsPending -= h.t.Amount
				j.accounts[a.ID] = a
			}
			close(h.ready)
		}
		j.mu.Unlock()
		return fault.Wrap(err, fault.Unavailable, "ledger_journal", "the ledger's journal failed")
	}
	for _, h := range made {
		h.ok = true
		close(h.ready)
	}
	j.mu.Unlock()
	j.behind.Add(seq, queued{seq: seq, holds: holds})
	return nil
}

// memoryTx is the ledger.Tx of a batch of holds decided in memory, with
// j.mu held: the accounts from memory, the transfers live or read from
// SQL (known); what the rules write is kept for the caller.
type memoryTx struct {
	j       *Journaled
	now     time.Time
	known   map[string]ledger.Transfer
	changed []ledger.Account
	created []ledger.Transfer
	byID    bool // TransfersByID gave out j.found
}

func (m *memoryTx) Now() time.Time { return m.now }

// lockedKept bounds the accounts of the map LockAccounts keeps for the
// next decide (a larger batch's map goes to the garbage collector).
const lockedKept = 64

// LockAccounts returns the accounts in memory, in a map reused from one
// decide to the next (with j.mu held throughout a decide, and nothing of
// ledger.CreateTransfersIn keeping it after): an authorization's hold does
// not make a map of its two accounts.
func (m *memoryTx) LockAccounts(_ context.Context, ids []string) (map[string]ledger.Account, error) {
	out := m.j.locked
	if out == nil || len(ids) > lockedKept {
		out = make(map[string]ledger.Account, len(ids))
		if len(ids) <= lockedKept {
			m.j.locked = out
		}
	} else {
		clear(out)
	}
	for _, id := range ids {
		if a, ok := m.j.accounts[id]; ok {
			out[id] = a
		}
	}
	return out, nil
}

// TransfersByID returns the transfers live or known; its first call of a
// decide fills the map kept from one decide to the next (the rules then
// record the batch's new transfers in it), a later one a new map.
func (m *memoryTx) TransfersByID(_ context.Context, ids []string) (map[string]ledger.Transfer, error) {
	var out map[string]ledger.Transfer
	if !m.byID && len(ids) <= lockedKept {
		m.byID = true
		if out = m.j.found; out == nil {
			out = make(map[string]ledger.Transfer, len(ids))
			m.j.found = out
		} else {
			clear(out)
		}
	} else {
		out = make(map[string]ledger.Transfer, len(ids))
	}
	for _, id := range ids {
		if h, ok := m.j.live[id]; ok {
			out[id] = h.t
		} else if t, ok := m.known[id]; ok {
			out[id] = t
		}
	}
	return out, nil
}

var errNotHold = fault.E(fault.Internal, "ledger_journal", "only holds are decided in memory")

func (m *memoryTx) ExpiredPending(context.Context, time.Time, int) ([]ledger.Transfer, error) {
	return nil, errNotHold
}

func (m *memoryTx) InsertAccounts(context.Context, []ledger.Account) error { return errNotHold }

func (m *memoryTx) UpdateAccounts(_ context.Context, as []ledger.Account) error {
	m.changed = as
	return nil
}

func (m *memoryTx) InsertTransfers(_ context.Context, ts []ledger.Transfer) error {
	for _, t := range ts {
		if t.Flags != ledger.Pending {
			return errNotHold
		}
	}
	m.created = ts
	return nil
}

func (m *memoryTx) ResolvePending(context.Context, []ledger.Resolution) error { return errNotHold }

// cutHolds says how many of the queued records make the next batch: up
// to behindMax holds (at least one record).
func cutHolds(queue []queued) int {
	n, holds := 0, 0
	for n < len(queue) && (holds == 0 || holds+len(queue[n].holds) <= behindMax) {
		holds += len(queue[n].holds)
		n++
	}
	return n
}

// applied drops from memory the holds the write-behind applied (they are
// in SQL now).
func (j *Journaled) applied(batch []queued) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, q := range batch {
		for _, t := range q.holds {
			delete(j.live, t.ID)
		}
	}
	j.gen++
}

// holdsOf returns the holds of a batch of records.
func holdsOf(batch []queued) []ledger.Transfer {
	n := 0
	for _, q := range batch {
		n += len(q.holds)
	}
	ts := make([]ledger.Transfer, 0, n)
	for _, q := range batch {
		ts = append(ts, q.holds...)
	}
	return ts
}

// applyHolds writes journaled holds to SQL in one transaction,
// idempotently: a hold whose id is stored is skipped with its totals (a
// replay of a record applied before). The holds go in multi-row inserts
// that skip a stored id (no read before), and the totals of each account
// they touch in one row of a multi-row update, a few statements a batch.
// A batch is first written expecting every hold new — as it is while the
// process runs: the journal holds a hold once — and counted; when a
// statement inserted fewer rows than it held (a replay, a commit retried,
// an id twice), the transaction is rolled back and the batch written
// again with statements that return the ids they stored.
func (s *Store) applyHolds(ctx context.Context, ts []ledger.Transfer) ([]struct{}, error) {
	err := s.applyHoldsAs(ctx, ts, insertFresh)
	if errors.Is(err, errStoredBefore) {
		err = s.applyHoldsAs(ctx, ts, insertNew)
	}
	return nil, err
}

// applyHoldsAs is applyHolds' transaction, its inserts of the mode given.
func (s *Store) applyHoldsAs(ctx context.Context, ts []ledger.Transfer, mode insertMode) error {
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		l := ledgerTx{tx}
		// The ids inserted, kept only when they may be fewer than ts
		// (insertNew): insertFresh returns errStoredBefore unless every
		// statement inserted all its rows — every hold new, none twice.
		var stored map[string]bool
		note := func(string) {}
		if mode != insertFresh {
			stored = make(map[string]bool, len(ts))
			note = func(id string) { stored[id] = true }
		}
		if err := l.insertTransfers(ctx, ts, mode, note); err != nil {
			return err
		}
		held := map[string]*[2]int64{} // account → debits, credits pending added
		add := func(id string, k int, n int64) {
			d := held[id]
			if d == nil {
				d = new([2]int64)
				held[id] = d
			}
			d[k] += n
		}
		for _, t := range ts {
			if stored != nil {
				if !stored[t.ID] {
					continue // stored before
				}
				delete(stored, t.ID) // a hold twice in the batch counts once
			}
			add(t.DebitAccountID, 0, t.Amount)
			add(t.CreditAccountID, 1, t.Amount)
		}
		accounts := make([]string, 0, len(held))
		for id := range held {
			accounts = append(accounts, id)
		}
		sort.Strings(accounts) // the lock order of the rules
		args := make([]any, 0, 3*min(len(accounts), ledgerRowsMost))
		for _, n := range sqldb.RowChunks(len(accounts), ledgerRowsMost) {
			args = args[:0]
			for _, id := range accounts[:n] {
				args = append(args, id, held[id][0], held[id][1])
			}
			accounts = accounts[n:]
			res, err := l.exec(ctx, addHeldFor(l.tx.Dialect()).of(n), args...)
			if err != nil {
				return ledgerDBError(err)
			}
			if got, err := res.RowsAffected(); err != nil || got != int64(n) {
				return fault.E(fault.Internal, "ledger_journal", "a journaled hold names an account the ledger does not have")
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStoredBefore) && fault.KindOf(err) == fault.Internal && fault.CodeOf(err) == "internal" {
		return fault.Wrap(err, fault.Unavailable, "ledger_db", "writing the ledger's journal behind failed")
	}
	return err
}

// addHeld adds the pending totals of a batch's holds to their accounts,
// a row (id, debits, credits) an account: on PostgreSQL with the CASTs
// that give the values their types, on SQLite (addHeldSQLite) with bare
// parameters (sqldb.ValuesRows: SQLite then reads the rows as they come,
// where it first wrote every row of a VALUES of expressions into a
// temporary table and read it back — an ephemeral table more, a
// MakeRecord and an Insert a row).
var (
	addHeld       = statementsBySize(func(n int) string { return addHeldRows(sqldb.Postgres, n) })
	addHeldSQLite = statementsBySize(func(n int) string { return addHeldRows(sqldb.SQLite, n) })
)

// addHeldRows is addHeld's statement of n rows for the dialect d.
func addHeldRows(d sqldb.Dialect, n int) string {
	return `UPDATE ledger_accounts SET debits_pending = debits_pending + v.column2, credits_pending = credits_pending + v.column3
		FROM (VALUES ` + sqldb.ValuesRows(d, n, "TEXT", "BIGINT", "BIGINT") + `) AS v WHERE ledger_accounts.id = v.column1`
}

// addHeldFor is addHeld's statements for the dialect d.
func addHeldFor(d sqldb.Dialect) *bySize {
	if d == sqldb.SQLite {
		return addHeldSQLite
	}
	return addHeld
}

// The record of a batch of holds: holdsRecord, a uvarint count, then each
// hold's id, debit and credit accounts and user data (a uvarint length
// and the bytes each) and, as varints, its amount, currency, timeout
// (ms), expiry and time (Unix ms).
func encodeHolds(ts []ledger.Transfer) []byte {
	return appendHolds(make([]byte, 0, 64+len(ts)*160), ts)
}

// recordBufs holds the buffers a record of holds is encoded into for its
// append (the journal copies it into its group).
var recordBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// appendHolds appends the record encodeHolds makes to b.
func appendHolds(b []byte, ts []ledger.Transfer) []byte {
	b = append(b, holdsRecord)
	b = binary.AppendUvarint(b, uint64(len(ts)))
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, t := range ts {
		str(t.ID)
		str(t.DebitAccountID)
		str(t.CreditAccountID)
		str(t.UserData)
		b = binary.AppendVarint(b, t.Amount)
		b = binary.AppendVarint(b, int64(t.Currency))
		b = binary.AppendVarint(b, t.Timeout.Milliseconds())
		b = binary.AppendVarint(b, sqldb.Millis(t.ExpiresAt))
		b = binary.AppendVarint(b, sqldb.Millis(t.Timestamp))
	}
	return b
}

var errHoldsRecord = fault.E(fault.Invalid, "ledger_journal_record", "not a record of holds")

// decodeHolds reads a record encodeHolds made; it fails with
// fault.Invalid on anything else.
func decodeHolds(b []byte) ([]ledger.Transfer, error) {
	if len(b) < 2 || b[0] != holdsRecord {
		return nil, errHoldsRecord
	}
	b = b[1:]
	bad := false
	uv := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			bad = true
			return 0
		}
		b = b[n:]
		return v
	}
	sv := func() int64 {
		v, n := binary.Varint(b)
		if n <= 0 {
			bad = true
			return 0
		}
		b = b[n:]
		return v
	}
	str := func() string {
		n := uv()
		if bad || n > uint64(len(b)) {
			bad = true
			return ""
		}
		s := string(b[:n])
		b = b[n:]
		return s
	}
	count := uv()
	if bad || count == 0 || count > ledger.MaxBatch {
		return nil, errHoldsRecord
	}
	ts := make([]ledger.Transfer, 0, count)
	for range count {
		t := ledger.Transfer{Flags: ledger.Pending, Status: ledger.StatusPending}
		t.ID, t.DebitAccountID, t.CreditAccountID, t.UserData = str(), str(), str(), str()
		t.Amount, t.Currency = sv(), money.Currency(sv())
		t.Timeout = time.Duration(sv()) * time.Millisecond
		t.ExpiresAt, t.Timestamp = sqldb.Time(sv()), sqldb.Time(sv())
		if bad || t.ID == "" || t.Amount <= 0 {
			return nil, errHoldsRecord
		}
		ts = append(ts, t)
	}
	if len(b) != 0 {
		return nil, errHoldsRecord
	}
	return ts, nil
}

package sqlstore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/journal"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/tsp"
)

// The key uses off SQL (issue 16, lever 1): with Sole on SQLite a key's
// use is a record appended to the token service's journal (DATA/tsp.journal,
// group-committed and fdatasync'd: UseKey answers once it is on disk) and
// written behind to SQL in large batches by one goroutine. Every read of
// tokens and keys that is not the authorization path's TokenKey (and every
// admin write) first waits until the write-behind applied what was
// journaled before it (caughtUp): read-your-writes. At Open the journal's
// records are replayed into SQL — idempotently: a key already used stays as
// it is, a counter moves only forward — before the store answers.

// Write-behind batches: applied when applyBatch uses wait, or applyEvery
// after the first of them, or at once when a reader waits for them. A
// batch's cost is mostly its commit (its log pages and fdatasync) and the
// pages of the tokens' keys it rewrites: BenchmarkApplyUses, 25.3 µs a use
// in batches of 16, 4.0 at 512, 3.2 at 3,072 (what 250 ms gathers at
// ~12,000 authorizations a second; until 43a3d6c a batch was cut as soon
// as the last one committed, ~100 uses under load).
const (
	applyBatch = 4096
	applyEvery = 250 * time.Millisecond
	// applyRetry is the wait before a failed batch is tried again.
	applyRetry = 100 * time.Millisecond
)

// pendingUse is a journaled key use not yet applied to SQL.
type pendingUse struct {
	seq uint64
	use tsp.KeyUse
	e   *entry // pinned until applied (nil at the replay)
}

// writeBehind applies journaled key uses to SQL.
type writeBehind struct {
	log    *journal.Log
	behind *journal.Behind[pendingUse]
	write  bool // DeferUses: key uses written without waiting for the disk
}

// OnJournal puts a Sole store's journal in the process's shared journal
// file s (journal.OpenShared), as the stream tsp.journal (or
// STEM-tsp.journal), taking in a tsp.journal of its own left there.
func OnJournal(s *journal.Shared) Option { return func(o *options) { o.shared = s } }

// DeferUses has a Sole store on a shared journal (OnJournal) write its
// key uses without waiting for the disk (journal.Log.Write): only for the
// process with every role, where the use reaches nobody but this
// process's switch before the switch's own append of its answer — a later
// append on the same file, which makes the use durable too — returns.
// Ignored otherwise.
func DeferUses() Option { return func(o *options) { o.deferUses = true } }

// journalPath is the token service's journal on an SQLite place: tsp.journal
// in the data folder, or STEM-tsp.journal beside sqlite:STEM.db.
func journalPath(pl sqldb.Place) string { return journal.Beside(pl.DSN, pl.Dir, Wing.Name) }

// openJournal opens the journal at path, refusing a second token service
// on it (fault.Conflict "tsp_store_busy").
func openJournal(path string, shared *journal.Shared) (*journal.Log, error) {
	l, err := journal.Open(path, journal.Options{Shared: shared})
	if fault.CodeOf(err) == journal.CodeLocked {
		return nil, fault.E(fault.Conflict, "tsp_store_busy", "another token service has this store open (its journal %s is locked): run one token service per SQLite data folder", filepath.Base(path))
	}
	return l, err
}

// startWriteBehind replays the journal into SQL, drops its records and
// starts the write-behind.
func (s *Store) startWriteBehind(ctx context.Context, l *journal.Log) error {
	if err := s.replay(ctx, l); err != nil {
		return err
	}
	s.wb = &writeBehind{log: l}
	s.wb.behind = journal.NewBehind(l, func(ctx context.Context, batch []pendingUse) error {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		return s.applyUses(ctx, batch)
	}, journal.BehindOptions[pendingUse]{
		// Gathered each time, not drained back to back: under load a
		// drained batch held only the uses queued while the last one
		// committed (~100, applied every few ms), each rewriting a page
		// or two of every token's keys in the log; gathered for
		// applyEvery, thousands (bench auth wrote 0.3–1.3 KB less per
		// authorization, issue 16). A reader still hurries it (caughtUp).
		Batch: applyBatch, Wait: applyEvery, Max: applyBatch,
		Retry: applyRetry, RetryMax: applyRetry, CloseCutsRetry: true,
		After: s.appliedBatch,
	})
	return nil
}

// replayLeft applies the key uses a sole store left in the journal at
// path — its stream in the shared journal file at shared, or a journal of
// its own — to SQL, for a store that reads SQL, unless a sole store has
// the journal open now (it applies them itself) or there is none.
func (s *Store) replayLeft(ctx context.Context, shared, path string) error {
	sh, found, err := journal.Left(shared, path)
	if fault.CodeOf(err) == journal.CodeLocked || (err == nil && !found) {
		return nil
	}
	if err != nil {
		return err
	}
	l, err := journal.Open(path, journal.Options{Shared: sh})
	if fault.CodeOf(err) == journal.CodeLocked {
		err = nil
	} else if err == nil {
		err = s.replay(ctx, l)
		if cerr := l.Close(); err == nil {
			err = cerr
		}
	}
	if sh != nil {
		if cerr := sh.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// replay applies the journal's records to SQL and drops them.
func (s *Store) replay(ctx context.Context, l *journal.Log) error {
	var recs []pendingUse
	err := l.Replay(func(seq uint64, rec []byte) error {
		u, err := decodeUse(rec)
		if err != nil {
			return fault.Wrap(err, fault.Internal, "tsp_journal_record", "record %d of the token service's journal %s", seq, l.Path())
		}
		recs = append(recs, pendingUse{seq: seq, use: u})
		return nil
	})
	if err != nil {
		return err
	}
	for len(recs) > 0 {
		n := min(len(recs), applyBatch)
		if err := s.applyUses(ctx, recs[:n]); err != nil {
			return err
		}
		for _, p := range recs[:n] {
			l.Done(p.seq)
		}
		recs = recs[n:]
	}
	return l.Truncate()
}

// journalUse appends a key's use to the journal and queues it for SQL
// (e.mu held: memory is changed by the caller once this returns nil).
func (s *Store) journalUse(ctx context.Context, e *entry, u tsp.KeyUse) error {
	var seq uint64
	var err error
	if s.wb.write {
		seq, err = s.wb.log.Write(encodeUse(u))
	} else {
		seq, err = s.wb.log.Append(ctx, encodeUse(u))
	}
	if err != nil {
		return err
	}
	s.mem.mu.Lock()
	e.pins++ // until applied
	s.mem.mu.Unlock()
	s.wb.behind.Add(seq, pendingUse{seq: seq, use: u, e: e})
	return nil
}

// caughtUp returns once every key use journaled before the call is in SQL
// (at once without a journal): for the reads and writes that are not the
// authorization path.
func (s *Store) caughtUp(ctx context.Context) error {
	wb := s.wb
	if wb == nil {
		return nil
	}
	last := wb.log.Last()
	for wb.log.Applied() < last {
		select {
		case <-wb.behind.Stopped(): // closed: what is left stays in the journal
			return sqldb.ErrClosed
		default:
		}
		// A use appended may be queued only after this hurry is served:
		// ask again until it is applied.
		wb.behind.Hurry()
		wait, cancel := context.WithTimeout(ctx, 2*time.Millisecond)
		err := wb.log.WaitApplied(wait, last)
		cancel()
		if err != nil && ctx.Err() != nil {
			return fault.Wrap(ctx.Err(), fault.Unavailable, "canceled", "waiting for the key uses to reach the store")
		}
	}
	return nil
}

// appliedBatch lets memory drop the keys a batch used, now in SQL (before
// the journal is told: a reader caught up finds memory as SQL).
func (s *Store) appliedBatch(batch []pendingUse) {
	for _, p := range batch {
		s.applied(p)
	}
}

// applied lets memory drop a used key now that SQL has its use, and
// unpins its token.
func (s *Store) applied(p pendingUse) {
	if p.e == nil {
		return
	}
	p.e.mu.Lock()
	if k := p.e.key(p.use.KeyIndex); k != nil && !k.UsedAt.IsZero() {
		p.e.drop(p.use.KeyIndex)
	}
	p.e.mu.Unlock()
	s.mem.release(p.use.Token, p.e, false)
}

// Statements of one key's use (UseKey on a store reading SQL).
const (
	useLUK  = `UPDATE luks SET used_at = ?, used_atc = ?, used_arqc = ? WHERE token = ? AND key_index = ? AND used_at = 0`
	moveATC = `UPDATE tokens SET last_atc = ? WHERE token = ? AND last_atc < ?`
)

// applyUses writes journaled uses to SQL in one transaction, idempotently:
// a key already used keeps its use, a counter only moves forward. On
// SQLite it takes its turn with the wing's other batches.
func (s *Store) applyUses(ctx context.Context, ps []pendingUse) error {
	_, err := s.applyTx(ctx, ps)
	return sqldb.Err(err, "writing key uses behind")
}

func (s *Store) applyUsesTx(ctx context.Context, ps []pendingUse) ([]struct{}, error) {
	// Each key's first use in the batch (the journal holds one use a key;
	// a second would lose, as it does in memory), then each token's
	// counter once, to the highest counter of the batch — a few
	// multi-row statements (applyChunks), not two statements a use.
	type lukID struct {
		token string
		index int
	}
	//
	// The numbers go in as int64, a driver value already: an int is
	// converted by database/sql (driver.DefaultParameterConverter, through
	// reflect) into a second boxed value, an allocation each. The
	// cryptograms' hex is one string for the batch, each use's a part of it.
	seen := make(map[lukID]struct{}, len(ps))
	uses := make([]any, 0, 5*len(ps))
	last := map[string]int64{}
	crypts := cryptogramsHex(ps)
	for _, p := range ps {
		u := &p.use
		hexLen := 2 * len(u.Cryptogram)
		crypt := crypts[:hexLen]
		crypts = crypts[hexLen:]
		id := lukID{u.Token, u.KeyIndex}
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = struct{}{}
		atc := int64(u.ATC)
		uses = append(uses, u.Token, int64(u.KeyIndex), sqldb.Millis(u.At), atc, crypt)
		if was, ok := last[u.Token]; !ok || atc > was {
			last[u.Token] = atc
		}
	}
	moves := make([]any, 0, 2*len(last))
	for tok, atc := range last {
		moves = append(moves, tok, atc)
	}
	return nil, s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		if err := applyChunks(ctx, tx, useLUKs, 5, uses); err != nil {
			return err
		}
		return applyChunks(ctx, tx, moveATCs, 2, moves)
	})
}

// cryptogramsHex returns the hex of every use's cryptogram, one after the
// other, as one string.
func cryptogramsHex(ps []pendingUse) string {
	n := 0
	for i := range ps {
		n += hex.EncodedLen(len(ps[i].use.Cryptogram))
	}
	var b strings.Builder
	b.Grow(n)
	var buf [32]byte // an ARQC's 8 bytes, encoded on the stack
	for i := range ps {
		b.Write(hex.AppendEncode(buf[:0], ps[i].use.Cryptogram))
	}
	return b.String()
}

// Statements of a batch of key uses: UPDATE … FROM (VALUES …) (SQLite 3.33
// and later, PostgreSQL), each use changing its key only if it is unused,
// each counter moving only forward. On PostgreSQL the CASTs give the
// values their types; SQLite gets bare parameters (chunkSQL,
// sqldb.ValuesRows) — the values bound are of the columns' types already
// (text, int64). SQLite reads a VALUES of bare parameters as a co-routine,
// row by row; with the CASTs it first wrote every row into a temporary
// table and read it back (EXPLAIN: an ephemeral table more, a MakeRecord
// and an Insert a row).
// BenchmarkApplyUsesFresh, instructions under callgrind: ~4.6k fewer a use
// of ~35k.
const (
	useLUKs = `UPDATE luks SET used_at = v.column3, used_atc = v.column4, used_arqc = v.column5
		FROM (VALUES %s) AS v WHERE luks.token = v.column1 AND luks.key_index = v.column2 AND luks.used_at = 0`
	moveATCs = `UPDATE tokens SET last_atc = v.column2
		FROM (VALUES %s) AS v WHERE tokens.token = v.column1 AND tokens.last_atc < v.column2`
)

// The types of a row of useLUKs' and of moveATCs' values.
var (
	useLUKTypes  = []string{"TEXT", "BIGINT", "BIGINT", "BIGINT", "TEXT"}
	moveATCTypes = []string{"TEXT", "BIGINT"}
)

// applyChunk is the most rows one statement of applyChunks takes.
const applyChunk = 128

// applyChunks runs stmt (useLUKs or moveATCs) over args, per arguments
// a row, in statements of applyChunk rows and then of the powers
// of two that make up the rest: a handful of shapes, each prepared once
// and kept (sqldb's statement cache).
func applyChunks(ctx context.Context, tx *sqldb.Tx, stmt string, per int, args []any) error {
	for _, n := range sqldb.RowChunks(len(args)/per, applyChunk) {
		st, err := tx.Stmt(ctx, chunkSQL(tx.Dialect(), stmt, n))
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, args[:n*per]...); err != nil {
			return err
		}
		args = args[n*per:]
	}
	return nil
}

// chunkSQLs holds each statement of n rows, made once.
var chunkSQLs sync.Map // chunkKey → string

type chunkKey struct {
	d    sqldb.Dialect
	stmt string
	n    int
}

// chunkSQL is stmt with n rows of values for the dialect d.
func chunkSQL(d sqldb.Dialect, stmt string, n int) string {
	k := chunkKey{d, stmt, n}
	if q, ok := chunkSQLs.Load(k); ok {
		return q.(string)
	}
	types := useLUKTypes
	if stmt == moveATCs {
		types = moveATCTypes
	}
	q := fmt.Sprintf(stmt, sqldb.ValuesRows(d, n, types...))
	chunkSQLs.Store(k, q)
	return q
}

// useStmts are a key use's two statements, prepared in a transaction.
type useStmts struct{ use, move *sql.Stmt }

func prepareUse(ctx context.Context, tx *sqldb.Tx) (useStmts, error) {
	use, err := tx.Stmt(ctx, useLUK)
	if err != nil {
		return useStmts{}, err
	}
	move, err := tx.Stmt(ctx, moveATC)
	if err != nil {
		use.Close()
		return useStmts{}, err
	}
	return useStmts{use, move}, nil
}

func (st useStmts) Close() {
	st.use.Close()
	st.move.Close()
}

// useKey marks the key used if it is not (one row affected).
func (st useStmts) useKey(ctx context.Context, u tsp.KeyUse) (sql.Result, error) {
	return st.use.ExecContext(ctx, sqldb.Millis(u.At), u.ATC, hex.EncodeToString(u.Cryptogram), u.Token, u.KeyIndex)
}

// moveATC moves the token's counter to u's if it is above (one row).
func (st useStmts) moveATC(ctx context.Context, u tsp.KeyUse) (sql.Result, error) {
	return st.move.ExecContext(ctx, u.ATC, u.Token, u.ATC)
}

// closeWriteBehind applies what is queued and closes the journal; what
// could not be applied stays in it for the next Open.
func (s *Store) closeWriteBehind() error {
	wb := s.wb
	if wb == nil {
		return nil
	}
	wb.behind.Close()
	return wb.log.Close() // nil when closed before
}

// useVersion is the first byte of a key use's record.
const useVersion = 1

// encodeUse is a key use as a journal record: the version, the token
// (length-prefixed), then as varints the key index, the counter and the
// time (Unix ms), and the cryptogram (length-prefixed).
func encodeUse(u tsp.KeyUse) []byte {
	b := make([]byte, 0, 2+len(u.Token)+3*binary.MaxVarintLen64+1+len(u.Cryptogram))
	b = append(b, useVersion, byte(len(u.Token)))
	b = append(b, u.Token...)
	b = binary.AppendUvarint(b, uint64(u.KeyIndex))
	b = binary.AppendUvarint(b, uint64(u.ATC))
	b = binary.AppendVarint(b, sqldb.Millis(u.At))
	b = append(b, byte(len(u.Cryptogram)))
	return append(b, u.Cryptogram...)
}

// decodeUse reads a record encodeUse made; it fails with fault.Invalid on
// anything else.
func decodeUse(b []byte) (tsp.KeyUse, error) {
	bad := fault.E(fault.Invalid, "tsp_journal_record", "not a key use record")
	var u tsp.KeyUse
	if len(b) < 2 || b[0] != useVersion || len(b) < 2+int(b[1]) {
		return u, bad
	}
	u.Token, b = string(b[2:2+int(b[1])]), b[2+int(b[1]):]
	idx, n := binary.Uvarint(b)
	if n <= 0 || idx > 1<<31 {
		return u, bad
	}
	b = b[n:]
	atc, n := binary.Uvarint(b)
	if n <= 0 || atc > 1<<31 {
		return u, bad
	}
	b = b[n:]
	at, n := binary.Varint(b)
	if n <= 0 {
		return u, bad
	}
	b = b[n:]
	if len(b) < 1 || len(b) != 1+int(b[0]) {
		return u, bad
	}
	u.KeyIndex, u.ATC, u.At = int(idx), int(atc), sqldb.Time(at)
	u.Cryptogram = append([]byte(nil), b[1:]...)
	return u, nil
}

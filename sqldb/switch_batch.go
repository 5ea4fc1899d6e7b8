package sqldb

import (
	"context"
	"database/sql"
	"encoding/hex"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/tsp"
)

// Batcher is group commit: calls made at the same time are gathered into
// one batch, and a batch runs as one database transaction. A worker takes
// the first waiting call, then every call already queued behind it (up to
// max), runs them together and hands each caller its own result; the calls
// that arrive meanwhile form the next batch. So one caller alone pays one
// transaction, and a thousand callers at once pay a few.
type Batcher[In, Out any] struct {
	run  func(ctx context.Context, in []In) ([]Out, error)
	max  int
	reqs chan batchReq[In, Out]
	stop chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

type batchReq[In, Out any] struct {
	in  In
	res chan batchRes[Out]
}

type batchRes[Out any] struct {
	out Out
	err error
}

// batchTimeout bounds one batch's transaction.
const batchTimeout = 30 * time.Second

// NewBatcher starts workers (at least 1) that run batches of at most max
// calls (at least 1) with run, which must return one result per input, in
// order, or an error for the whole batch. It never fails; Close stops it.
func NewBatcher[In, Out any](workers, max int, run func(ctx context.Context, in []In) ([]Out, error)) *Batcher[In, Out] {
	workers, max = maxInt(workers, 1), maxInt(max, 1)
	b := &Batcher[In, Out]{run: run, max: max, reqs: make(chan batchReq[In, Out], max*workers),
		stop: make(chan struct{}), done: make(chan struct{})}
	for i := 0; i < workers; i++ {
		b.wg.Add(1)
		go b.work()
	}
	return b
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

var errBatcherClosed = fault.E(fault.Unavailable, "store_closed", "the store is closed")

// Do runs in in the next batch and returns its result. It fails with the
// batch's error, with fault.Unavailable "store_closed" after Close, or with
// fault.Unavailable "canceled" when ctx ends before the call was queued.
// Once queued, a call runs even if ctx ends: its transaction may commit.
func (b *Batcher[In, Out]) Do(ctx context.Context, in In) (Out, error) {
	var zero Out
	r := batchReq[In, Out]{in: in, res: make(chan batchRes[Out], 1)}
	select {
	case b.reqs <- r:
	case <-b.stop:
		return zero, errBatcherClosed
	case <-ctx.Done():
		return zero, fault.Wrap(ctx.Err(), fault.Unavailable, "canceled", "the request was cancelled")
	}
	select {
	case res := <-r.res:
		return res.out, res.err
	case <-b.done:
		select {
		case res := <-r.res:
			return res.out, res.err
		default:
			return zero, errBatcherClosed
		}
	}
}

func (b *Batcher[In, Out]) work() {
	defer b.wg.Done()
	batch := make([]batchReq[In, Out], 0, b.max)
	ins := make([]In, 0, b.max)
	for {
		batch, ins = batch[:0], ins[:0]
		select {
		case r := <-b.reqs:
			batch = append(batch, r)
		case <-b.stop:
			return
		}
		// Let the callers that are ready to run queue their calls first:
		// on a busy machine the batch then takes them all at once.
		runtime.Gosched()
	drain:
		for len(batch) < b.max {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		for _, r := range batch {
			ins = append(ins, r.in)
		}
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		outs, err := b.run(ctx, ins)
		cancel()
		if err == nil && len(outs) != len(ins) {
			err = fault.E(fault.Internal, "batch_results", "a batch returned %d results for %d calls", len(outs), len(ins))
		}
		for i, r := range batch {
			if err != nil {
				r.res <- batchRes[Out]{err: err}
			} else {
				r.res <- batchRes[Out]{out: outs[i]}
			}
		}
	}
}

// Close stops the workers after the batch in progress; calls still queued
// fail with fault.Unavailable "store_closed". It may be called more than once.
func (b *Batcher[In, Out]) Close() {
	b.once.Do(func() {
		close(b.stop)
		b.wg.Wait()
		close(b.done)
		for {
			select {
			case r := <-b.reqs:
				r.res <- batchRes[Out]{err: errBatcherClosed}
			default:
				return
			}
		}
	})
}

// workersFor is how many batches run at once: one on SQLite (one writer at a
// time is how it works), a few on PostgreSQL.
func (db *DB) workersFor() int {
	if db.dialect == Postgres {
		return 4
	}
	return 1
}

// writeLocks holds one lock per SQLite database, taken by every batch
// worker around its transaction: the batchers of one process then take
// turns instead of colliding on SQLite's write lock, whose busy handler
// waits by sleeping milliseconds at a time.
var writeLocks sync.Map // *DB → *sync.Mutex

// serialized wraps a batch function so that, on SQLite, batches of all the
// batchers of db run one at a time.
func serialized[In, Out any](db *DB, run func(context.Context, []In) ([]Out, error)) func(context.Context, []In) ([]Out, error) {
	if db.dialect == Postgres {
		return run
	}
	l, _ := writeLocks.LoadOrStore(db, &sync.Mutex{})
	mu := l.(*sync.Mutex)
	return func(ctx context.Context, in []In) ([]Out, error) {
		mu.Lock()
		defer mu.Unlock()
		// Without a deadline: SQLite's driver watches a cancellable
		// context with a goroutine per statement; busy_timeout bounds
		// the waits for the lock instead.
		return run(context.WithoutCancel(ctx), in)
	}
}

// BatchLedger is a ledger.Store whose single transfers (CreateTransfer, as
// an issuer host places one hold per authorization) are group-committed:
// the transfers of concurrent callers are applied as one batch in one
// transaction, each with its own Result. Everything else goes straight to
// the store underneath.
type BatchLedger struct {
	ledger.Store
	b *Batcher[ledger.Transfer, ledger.Result]
}

var _ ledger.Store = (*BatchLedger)(nil)

// NewBatchLedger wraps a ledger kept in db, with one batch worker. It
// never fails; Close stops it.
func NewBatchLedger(db *DB, st ledger.Store) *BatchLedger {
	// One worker even on PostgreSQL: every hold of a bank credits its one
	// settlement account, so concurrent batches would wait on its row lock.
	return &BatchLedger{Store: st, b: NewBatcher(1, 2000, serialized(db, st.CreateTransfers))}
}

// CreateTransfer applies t in the next batch. A Linked transfer goes alone
// (it would chain to another caller's transfer). It fails like
// ledger.Store.CreateTransfers, or with fault.Unavailable after Close.
func (l *BatchLedger) CreateTransfer(ctx context.Context, t ledger.Transfer) (ledger.Result, error) {
	if t.Flags&ledger.Linked != 0 {
		return l.Store.CreateTransfer(ctx, t)
	}
	return l.b.Do(ctx, t)
}

// Close stops the batch worker; it does not close the database.
func (l *BatchLedger) Close() { l.b.Close() }

// FastTokenStore is the token service's store tuned for the authorization
// path: a limited-use key's use (UseKey) is group-committed with those of
// concurrent authorizations, and vault rows — which never change — are
// kept in memory once read. Everything else is TokenStore.
type FastTokenStore struct {
	*TokenStore
	uses *Batcher[tsp.KeyUse, error]

	reads      chan read // to the reader goroutines (SQLite)
	stopReads  chan struct{}
	readersWG  sync.WaitGroup
	closeReads sync.Once
	vault      sync.Map // id → tsp.VaultPAN

	prep    sync.Once
	prepErr error
	tokenQ  *sql.Stmt
	lukQ    *sql.Stmt
	bothQ   *sql.Stmt // a token and one of its keys
}

// prepare makes the statements of the authorization path's reads once.
func (s *FastTokenStore) prepare(ctx context.Context) error {
	s.prep.Do(func() {
		db := s.DB
		// The vault's part of a token (PAR, last four digits) never changes:
		// it comes from the vault cache, so the read is one table's row.
		cols := strings.Replace(tokenCols, "v.par, v.last4", "'', ''", 1)
		s.tokenQ, s.prepErr = db.sql.PrepareContext(ctx, db.rebind(`SELECT `+cols+` FROM tokens t WHERE t.token = ?`))
		if s.prepErr == nil {
			s.lukQ, s.prepErr = db.sql.PrepareContext(ctx, db.rebind(`SELECT token, key_index, issued_at, expires_at, used_at, used_atc FROM luks WHERE token = ? AND key_index = ?`))
		}
		if s.prepErr == nil {
			s.bothQ, s.prepErr = db.sql.PrepareContext(ctx, db.rebind(`SELECT `+cols+`, COALESCE(l.key_index, -1), COALESCE(l.issued_at, 0),
				COALESCE(l.expires_at, 0), COALESCE(l.used_at, 0), COALESCE(l.used_atc, 0)
				FROM tokens t LEFT JOIN luks l ON l.token = t.token AND l.key_index = ? WHERE t.token = ?`))
		}
	})
	return s.prepErr
}

// readers is how many goroutines run the authorization path's reads on
// SQLite.
const readers = 2

// read is one read handed to a reader goroutine.
type read struct {
	fn   func(context.Context) error
	done chan error
}

// onReader runs fn, a read of one row, with a context without
// cancellation: on SQLite on one of the reader goroutines, whose stacks
// have grown once to the depth SQLite's code needs (a request's fresh
// goroutine would grow and copy its stack for every read), elsewhere here.
func (s *FastTokenStore) onReader(ctx context.Context, fn func(context.Context) error) error {
	if s.reads == nil {
		return fn(ctx)
	}
	r := read{fn: fn, done: make(chan error, 1)}
	select {
	case s.reads <- r:
	case <-s.stopReads:
		return errBatcherClosed
	}
	return <-r.done
}

func (s *FastTokenStore) reader() {
	defer s.readersWG.Done()
	ctx := context.Background()
	for {
		select {
		case r := <-s.reads:
			r.done <- r.fn(ctx)
		case <-s.stopReads:
			return
		}
	}
}

// Token returns a token by number with a prepared statement; it fails like
// TokenStore.Token.
func (s *FastTokenStore) Token(ctx context.Context, number string) (tsp.Token, error) {
	if err := s.prepare(ctx); err != nil {
		return s.TokenStore.Token(ctx, number)
	}
	var t tsp.Token
	err := s.onReader(ctx, func(ctx context.Context) error {
		var err error
		t, err = scanToken(s.tokenQ.QueryRowContext(ctx, number))
		return err
	})
	if NoRows(err) {
		return t, fault.E(fault.NotFound, "token_not_found", "no such token")
	}
	if err != nil {
		return t, dbErr(err, "reading a token")
	}
	v, err := s.VaultPAN(ctx, t.PANID)
	if err != nil {
		return t, err
	}
	t.PAR, t.PANLast4 = v.PAR, v.Last4
	return t, nil
}

var _ tsp.TokenKeyReader = (*FastTokenStore)(nil)

// TokenKey returns a token and its limited-use key with that index (nil
// when it has none) in one read; it fails like Token.
func (s *FastTokenStore) TokenKey(ctx context.Context, number string, index int) (tsp.Token, *tsp.LUK, error) {
	if err := s.prepare(ctx); err != nil {
		t, err := s.Token(ctx, number)
		return t, nil, err
	}
	var t tsp.Token
	var k tsp.LUK
	var issued, exp, used int64
	err := s.onReader(ctx, func(ctx context.Context) error {
		var err error
		t, err = scanToken(withMore{s.bothQ.QueryRowContext(ctx, index, number), []any{&k.Index, &issued, &exp, &used, &k.UsedATC}})
		return err
	})
	if NoRows(err) {
		return t, nil, fault.E(fault.NotFound, "token_not_found", "no such token")
	}
	if err != nil {
		return t, nil, dbErr(err, "reading a token")
	}
	v, err := s.VaultPAN(ctx, t.PANID)
	if err != nil {
		return t, nil, err
	}
	t.PAR, t.PANLast4 = v.PAR, v.Last4
	if k.Index < 0 {
		return t, nil, nil
	}
	k.Token = number
	k.IssuedAt, k.ExpiresAt, k.UsedAt = Time(issued), Time(exp), Time(used)
	return t, &k, nil
}

// withMore scans a row whose columns go on past what its reader scans.
type withMore struct {
	row  *sql.Row
	more []any
}

func (w withMore) Scan(dest ...any) error { return w.row.Scan(append(dest, w.more...)...) }

// LUK returns a limited-use key's record with a prepared statement; it
// fails like TokenStore.LUK.
func (s *FastTokenStore) LUK(ctx context.Context, token string, index int) (tsp.LUK, error) {
	if err := s.prepare(ctx); err != nil {
		return s.TokenStore.LUK(ctx, token, index)
	}
	var k tsp.LUK
	var issued, exp, used int64
	err := s.onReader(ctx, func(ctx context.Context) error {
		return s.lukQ.QueryRowContext(ctx, token, index).Scan(&k.Token, &k.Index, &issued, &exp, &used, &k.UsedATC)
	})
	if NoRows(err) {
		return k, fault.E(fault.NotFound, "luk_unknown", "no such limited-use key")
	}
	k.IssuedAt, k.ExpiresAt, k.UsedAt = Time(issued), Time(exp), Time(used)
	return k, dbErr(err, "reading a limited-use key")
}

var _ tsp.Store = (*FastTokenStore)(nil)

// NewFastTokenStore returns the fast store over db. It never fails; Close
// stops its batch worker.
func NewFastTokenStore(db *DB) *FastTokenStore {
	s := &FastTokenStore{TokenStore: &TokenStore{DB: db}}
	s.uses = NewBatcher(db.workersFor(), 1000, serialized(db, s.useKeys))
	if db.dialect == SQLite {
		s.reads, s.stopReads = make(chan read), make(chan struct{})
		for i := 0; i < readers; i++ {
			s.readersWG.Add(1)
			go s.reader()
		}
	}
	return s
}

// Close stops the batch worker and releases the prepared statements; it
// does not close the database.
func (s *FastTokenStore) Close() {
	s.uses.Close()
	if s.stopReads != nil {
		s.closeReads.Do(func() { close(s.stopReads) })
		s.readersWG.Wait()
	}
	if s.tokenQ != nil {
		s.tokenQ.Close()
	}
	if s.lukQ != nil {
		s.lukQ.Close()
	}
	if s.bothQ != nil {
		s.bothQ.Close()
	}
}

// VaultPAN returns a vault row by id, from memory after the first read.
func (s *FastTokenStore) VaultPAN(ctx context.Context, id string) (tsp.VaultPAN, error) {
	if v, ok := s.vault.Load(id); ok {
		return v.(tsp.VaultPAN), nil
	}
	v, err := s.TokenStore.VaultPAN(ctx, id)
	if err == nil {
		s.vault.Store(id, v)
	}
	return v, err
}

// UseKey consumes a limited-use key and moves the counter in the next
// batch; it fails like TokenStore.UseKey.
func (s *FastTokenStore) UseKey(ctx context.Context, u tsp.KeyUse) error {
	res, err := s.uses.Do(ctx, u)
	if err != nil {
		return err
	}
	return res
}

// useKeys applies a batch of key uses in one transaction; each use that
// finds its key used or its counter passed gets its decline and changes
// nothing.
func (s *FastTokenStore) useKeys(ctx context.Context, us []tsp.KeyUse) ([]error, error) {
	out := make([]error, len(us))
	err := s.DB.InTx(ctx, func(tx *Tx) error {
		use, err := tx.stmt(ctx, `UPDATE luks SET used_at = ?, used_atc = ?, used_arqc = ? WHERE token = ? AND key_index = ? AND used_at = 0`)
		if err != nil {
			return err
		}
		defer use.Close()
		move, err := tx.stmt(ctx, `UPDATE tokens SET last_atc = ? WHERE token = ? AND last_atc < ?`)
		if err != nil {
			return err
		}
		defer move.Close()
		for i, u := range us {
			out[i] = nil
			res, err := use.ExecContext(ctx, Millis(u.At), u.ATC, hex.EncodeToString(u.Cryptogram), u.Token, u.KeyIndex)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				out[i] = fault.E(fault.Declined, tsp.DeclineKeyUsed, "limited-use key %d was already used", u.KeyIndex)
				continue
			}
			res, err = move.ExecContext(ctx, u.ATC, u.Token, u.ATC)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				if _, err := tx.Exec(ctx, `UPDATE luks SET used_at = 0, used_atc = 0, used_arqc = '' WHERE token = ? AND key_index = ?`, u.Token, u.KeyIndex); err != nil {
					return err
				}
				out[i] = fault.E(fault.Declined, tsp.DeclineATCReplay, "transaction counter %d already seen: replayed cryptogram", u.ATC)
			}
		}
		return nil
	})
	if err != nil {
		return nil, dbErr(err, "using limited-use keys")
	}
	return out, nil
}

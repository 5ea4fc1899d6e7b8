package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/tsp"
)

// Store is the token service's store (tsp.Store) in its own wing, tuned
// for the authorization path. With Sole on SQLite, TokenKey answers from
// memory and UseKey appends to the token service's journal (memory.go,
// writebehind.go). Otherwise a limited-use key's use (UseKey) is
// group-committed with those of concurrent authorizations and the reads
// of a token and its key are prepared statements (on SQLite run by reader
// goroutines whose stacks have grown once). Vault rows — which never
// change — are kept in memory once read.
type Store struct {
	sqldb.Held // the wing's database (s.DB); Close closes it when Open opened it

	uses *sqldb.Batcher[tsp.KeyUse, error]

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
	windowQ *sql.Stmt // a window of a token's unused keys

	// mem, with Sole on SQLite, is the tokens and keys in memory that
	// TokenKey answers from (memory.go); nil: the store reads SQL.
	mem *memory
	// wb, with mem, journals the key uses and writes them behind to SQL
	// (writebehind.go); applyTx is its batch, serialized with the wing's.
	wb      *writeBehind
	applyTx func(context.Context, []pendingUse) ([]struct{}, error)
	// keyReads counts the reads of keys from SQL memory could not answer.
	keyReads atomic.Uint64
}

// New returns the store over db, a database opened with the wing (Open
// does both). It never fails; Close stops its batch worker and reader
// goroutines.
func New(db *sqldb.DB) *Store { return held(sqldb.Hold(db)) }

// held is New on h: a lent database (Hold) or one the store owns and
// closes (OpenHeld, HoldBeside).
func held(h sqldb.Held) *Store {
	db := h.DB
	s := &Store{Held: h}
	s.uses = sqldb.NewBatcher(db.BatchWorkers(), 1000, sqldb.Serialized(db, s.useKeys))
	s.applyTx = sqldb.Serialized(db, s.applyUsesTx)
	if db.Dialect() == sqldb.SQLite {
		s.reads, s.stopReads = make(chan read), make(chan struct{})
		for i := 0; i < readers; i++ {
			s.readersWG.Add(1)
			go s.reader()
		}
	}
	return s
}

// Close stops the batch worker and the readers and releases the prepared
// statements; it closes the database when Open opened it. It may be
// called more than once.
func (s *Store) Close() error {
	s.uses.Close()
	werr := s.closeWriteBehind()
	if s.stopReads != nil {
		s.closeReads.Do(func() { close(s.stopReads) })
		s.readersWG.Wait()
	}
	for _, q := range []*sql.Stmt{s.tokenQ, s.lukQ, s.bothQ, s.windowQ} {
		if q != nil {
			q.Close()
		}
	}
	if err := s.Held.Close(); err != nil {
		return err
	}
	return werr
}

// prepare makes the statements of the authorization path's reads once.
func (s *Store) prepare(ctx context.Context) error {
	s.prep.Do(func() {
		// The vault's part of a token (PAR, last four digits) never changes:
		// it comes from the vault cache, so the read is one table's row.
		cols := strings.Replace(tokenCols, "v.par, v.last4", "'', ''", 1)
		s.tokenQ, s.prepErr = s.DB.Prepare(ctx, `SELECT `+cols+` FROM tokens t WHERE t.token = ?`)
		if s.prepErr == nil {
			s.lukQ, s.prepErr = s.DB.Prepare(ctx, `SELECT `+lukCols+` FROM luks WHERE token = ? AND key_index = ?`)
		}
		if s.prepErr == nil {
			s.bothQ, s.prepErr = s.DB.Prepare(ctx, `SELECT `+cols+`, COALESCE(l.key_index, -1), COALESCE(l.issued_at, 0),
				COALESCE(l.expires_at, 0), COALESCE(l.used_at, 0), COALESCE(l.used_atc, 0)
				FROM tokens t LEFT JOIN luks l ON l.token = t.token AND l.key_index = ? WHERE t.token = ?`)
		}
		if s.prepErr == nil {
			s.windowQ, s.prepErr = s.DB.Prepare(ctx, `SELECT key_index, issued_at, expires_at, used_atc FROM luks WHERE token = ? AND key_index >= ? AND used_at = 0 ORDER BY key_index LIMIT ?`)
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
func (s *Store) onReader(ctx context.Context, fn func(context.Context) error) error {
	if s.reads == nil {
		return fn(ctx)
	}
	r := read{fn: fn, done: make(chan error, 1)}
	select {
	case s.reads <- r:
	case <-s.stopReads:
		return sqldb.ErrClosed
	}
	return <-r.done
}

func (s *Store) reader() {
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

// withVault fills in a token's vault part (PAR, last four) from the cache.
func (s *Store) withVault(ctx context.Context, t tsp.Token) (tsp.Token, error) {
	v, err := s.VaultPAN(ctx, t.PANID)
	if err != nil {
		return t, err
	}
	t.PAR, t.PANLast4 = v.PAR, v.Last4
	return t, nil
}

// Token returns a token by number (fault.NotFound "token_not_found").
// With Sole it waits for the key uses journaled before it to reach SQL.
func (s *Store) Token(ctx context.Context, number string) (tsp.Token, error) {
	if err := s.caughtUp(ctx); err != nil {
		return tsp.Token{}, err
	}
	if err := s.prepare(ctx); err != nil {
		return tokenErr(scanToken(s.DB.QueryRow(ctx, `SELECT `+tokenCols+` FROM tokens t JOIN vault_pans v ON v.id = t.pan_id WHERE t.token = ?`, number)))
	}
	var t tsp.Token
	err := s.onReader(ctx, func(ctx context.Context) error {
		var err error
		t, err = scanToken(s.tokenQ.QueryRowContext(ctx, number))
		return err
	})
	if t, err = tokenErr(t, err); err != nil {
		return t, err
	}
	return s.withVault(ctx, t)
}

// TokenKey returns a token and its limited-use key with that index (nil
// when it has none) in one read — from memory with Sole on SQLite
// (memory.go), else one SQL query; it fails like Token.
func (s *Store) TokenKey(ctx context.Context, number string, index int) (tsp.Token, *tsp.LUK, error) {
	if err := s.prepare(ctx); err != nil {
		t, err := s.Token(ctx, number)
		return t, nil, err
	}
	if s.mem != nil {
		return s.tokenKeyMemory(ctx, number, index)
	}
	var t tsp.Token
	var k tsp.LUK
	var issued, exp, used int64
	err := s.onReader(ctx, func(ctx context.Context) error {
		var err error
		t, err = scanToken(withMore{s.bothQ.QueryRowContext(ctx, index, number), []any{&k.Index, &issued, &exp, &used, &k.UsedATC}})
		return err
	})
	if t, err = tokenErr(t, err); err != nil {
		return t, nil, err
	}
	if t, err = s.withVault(ctx, t); err != nil {
		return t, nil, err
	}
	if k.Index < 0 {
		return t, nil, nil
	}
	k.Token = number
	k.IssuedAt, k.ExpiresAt, k.UsedAt = sqldb.Time(issued), sqldb.Time(exp), sqldb.Time(used)
	return t, &k, nil
}

// withMore scans a row whose columns go on past what its reader scans.
type withMore struct {
	row  *sql.Row
	more []any
}

func (w withMore) Scan(dest ...any) error { return w.row.Scan(append(dest, w.more...)...) }

// LUK returns a limited-use key's record (fault.NotFound "luk_unknown").
// With Sole it waits for the key uses journaled before it to reach SQL.
func (s *Store) LUK(ctx context.Context, token string, index int) (tsp.LUK, error) {
	if err := s.caughtUp(ctx); err != nil {
		return tsp.LUK{}, err
	}
	var k tsp.LUK
	var err error
	if perr := s.prepare(ctx); perr != nil {
		k, err = scanLUK(s.DB.QueryRow(ctx, `SELECT `+lukCols+` FROM luks WHERE token = ? AND key_index = ?`, token, index))
	} else {
		err = s.onReader(ctx, func(ctx context.Context) error {
			var err error
			k, err = scanLUK(s.lukQ.QueryRowContext(ctx, token, index))
			return err
		})
	}
	if sqldb.NoRows(err) {
		return k, fault.E(fault.NotFound, tsp.DeclineKeyUnknown, "no such limited-use key")
	}
	return k, sqldb.Err(err, "reading a limited-use key")
}

// VaultPAN returns a vault row by id (fault.NotFound "pan_not_found"), from
// memory after the first read.
func (s *Store) VaultPAN(ctx context.Context, id string) (tsp.VaultPAN, error) {
	if v, ok := s.vault.Load(id); ok {
		return v.(tsp.VaultPAN), nil
	}
	v, err := s.vaultRow(ctx, id)
	if err == nil {
		s.vault.Store(id, v)
	}
	return v, err
}

// UseKey consumes a limited-use key and moves the counter, atomically, in
// the next batch: fault.Declined luk_used if the key was used meanwhile,
// atc_replayed if the counter is not above the last one (the key stays
// unused then). With Sole on SQLite the key and counter are checked in
// memory first, under the token's lock, held until the use is durable.
func (s *Store) UseKey(ctx context.Context, u tsp.KeyUse) error {
	if s.mem != nil {
		if err := s.prepare(ctx); err != nil {
			return sqldb.Err(err, "using a limited-use key")
		}
		return s.useKeyMemory(ctx, u)
	}
	res, err := s.uses.Do(ctx, u)
	if err != nil {
		return err
	}
	return res
}

// useKeys applies a batch of key uses in one transaction; each use that
// finds its key used or its counter passed gets its decline and changes
// nothing.
func (s *Store) useKeys(ctx context.Context, us []tsp.KeyUse) ([]error, error) {
	out := make([]error, len(us))
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		st, err := prepareUse(ctx, tx)
		if err != nil {
			return err
		}
		defer st.Close()
		for i, u := range us {
			out[i] = nil
			res, err := st.useKey(ctx, u)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				out[i] = keyUsed(u.KeyIndex)
				continue
			}
			res, err = st.moveATC(ctx, u)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				if _, err := tx.Exec(ctx, `UPDATE luks SET used_at = 0, used_atc = 0, used_arqc = '' WHERE token = ? AND key_index = ?`, u.Token, u.KeyIndex); err != nil {
					return err
				}
				out[i] = atcReplayed(u.ATC)
			}
		}
		return nil
	})
	if err != nil {
		return nil, sqldb.Err(err, "using limited-use keys")
	}
	return out, nil
}

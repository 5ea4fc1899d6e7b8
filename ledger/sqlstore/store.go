// Package sqlstore is the ledger in SQL (package ledger's Store on
// sqldb): the tables ledger_accounts and ledger_transfers (each pending
// transfer's state in its own row) of one storage wing — each bank's own (issuer/sqlstore opens it as the
// wing issuer_<bankid>) — and Batch, which group-commits the single
// transfers of concurrent callers.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/id/idfilter"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/sqldb"
)

// Store is a bank's ledger in SQL (tables ledger_accounts and
// ledger_transfers). Every call that writes is one
// database transaction in which the rules of package ledger run; on
// PostgreSQL the accounts a transaction touches are locked with SELECT … FOR
// UPDATE in sorted id order, on SQLite the transaction itself is exclusive.
type Store struct {
	db *sqldb.DB
}

var _ ledger.Store = (*Store)(nil)

// New returns the ledger kept in db, whose migrations must include
// Migrations' (Wing does). It never fails.
func New(db *sqldb.DB) *Store { return &Store{db: db} }

// DB returns the database the ledger is kept in.
func (s *Store) DB() *sqldb.DB { return s.db }

// ledgerChunk bounds the rows of one multi-row statement and the ids of one
// IN list, well under the parameter limits of SQLite and PostgreSQL.
const ledgerChunk = 500

// expireBatch is how many holds one transaction of the expiry sweep releases.
const expireBatch = 500

// inTx runs fn in a transaction. A unique violation means that another
// transaction stored the same id in the meantime: running again finds it.
func (s *Store) inTx(ctx context.Context, fn func(ledger.Tx) error) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = s.db.InTx(ctx, func(tx *sqldb.Tx) error { return fn(ledgerTx{tx}) })
		if !sqldb.IsUniqueViolation(err) {
			break
		}
	}
	if err != nil && fault.KindOf(err) == fault.Internal && fault.CodeOf(err) == "internal" {
		return fault.Wrap(err, fault.Unavailable, "ledger_db", "ledger storage failed")
	}
	return err
}

// CreateAccounts creates accounts, returning one Result per account. It
// fails with fault.Invalid for a batch over ledger.MaxBatch and
// fault.Unavailable when the database fails; then nothing was created.
func (s *Store) CreateAccounts(ctx context.Context, accounts []ledger.Account) ([]ledger.Result, error) {
	var rs []ledger.Result
	err := s.inTx(ctx, func(tx ledger.Tx) error {
		var err error
		rs, err = ledger.CreateAccountsIn(ctx, tx, accounts)
		return err
	})
	if err != nil {
		return nil, err
	}
	return rs, nil
}

// CreateTransfer applies one transfer in one transaction. It fails with
// fault.Unavailable when the database fails; then nothing took effect.
func (s *Store) CreateTransfer(ctx context.Context, t ledger.Transfer) (ledger.Result, error) {
	rs, err := s.CreateTransfers(ctx, []ledger.Transfer{t})
	if err != nil {
		return "", err
	}
	return rs[0], nil
}

// CreateTransfers applies a batch in one transaction. It fails with
// fault.Invalid for a batch over ledger.MaxBatch and fault.Unavailable when
// the database fails; then nothing of the batch took effect.
func (s *Store) CreateTransfers(ctx context.Context, ts []ledger.Transfer) ([]ledger.Result, error) {
	var rs []ledger.Result
	err := s.inTx(ctx, func(tx ledger.Tx) error {
		var err error
		rs, err = ledger.CreateTransfersIn(ctx, tx, ts)
		return err
	})
	if err != nil {
		return nil, err
	}
	return rs, nil
}

// ExpirePending releases every pending transfer whose ExpiresAt is at or
// before now, a few hundred per transaction, and returns how many it
// released. It fails with fault.Unavailable when the database fails; the
// transactions committed before the failure stand.
func (s *Store) ExpirePending(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		var n int
		err := s.inTx(ctx, func(tx ledger.Tx) error {
			var err error
			n, err = ledger.ExpirePendingIn(ctx, tx, now, expireBatch)
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if n == 0 {
			return total, nil
		}
	}
}

// LookupAccounts returns the accounts that exist among ids, in the order
// asked. It fails with fault.Unavailable when the database fails.
func (s *Store) LookupAccounts(ctx context.Context, ids []string) ([]ledger.Account, error) {
	found := map[string]ledger.Account{}
	for _, chunk := range ledgerChunks(ids) {
		rows, err := s.db.Query(ctx, "SELECT "+ledgerAccountCols+" FROM ledger_accounts WHERE id IN ("+ledgerMarks(len(chunk))+")", ledgerExec(s.db.Dialect(), ledgerArgs(chunk))...)
		if err != nil {
			return nil, ledgerDBError(err)
		}
		if err := scanLedgerAccounts(rows, found); err != nil {
			return nil, err
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

// LookupTransfer returns a transfer with its current Status. It fails with
// fault.NotFound when there is none and fault.Unavailable when the database
// fails.
func (s *Store) LookupTransfer(ctx context.Context, id string) (ledger.Transfer, error) {
	rows, err := s.db.Query(ctx, "SELECT "+ledgerTransferCols+" FROM ledger_transfers t WHERE t.id = ?", id)
	if err != nil {
		return ledger.Transfer{}, ledgerDBError(err)
	}
	ts, err := scanLedgerTransfers(rows)
	if err != nil {
		return ledger.Transfer{}, err
	}
	if len(ts) == 0 {
		return ledger.Transfer{}, fault.E(fault.NotFound, "transfer_not_found", "no such transfer")
	}
	return ts[0], nil
}

// Transfers returns the transfers matching f, oldest first (by timestamp,
// then id in byte order). It fails with fault.Unavailable when the database
// fails.
func (s *Store) Transfers(ctx context.Context, f ledger.Filter) ([]ledger.Transfer, error) {
	q, args := transfersQuery(s.db.Dialect(), f)
	rows, err := s.db.Query(ctx, q, ledgerExec(s.db.Dialect(), args)...)
	if err != nil {
		return nil, ledgerDBError(err)
	}
	return scanLedgerTransfers(rows)
}

// transfersQuery is the query of Transfers. The kind of transfer and the
// state pending are written into it, not bound, so that the planner sees
// that the partial indexes of the settlement queries (docs/ledger.md)
// answer it: the open holds by time (ledger_transfers_open) and the posts by
// time (ledger_transfers_posts).
func transfersQuery(d sqldb.Dialect, f ledger.Filter) (string, []any) {
	const kind = ledger.Pending | ledger.PostPending | ledger.VoidPending
	var where []string
	var args []any
	if f.AccountID != "" {
		where = append(where, "(t.debit_account_id = ? OR t.credit_account_id = ?)")
		args = append(args, f.AccountID, f.AccountID)
	}
	if f.Flags&kind != 0 {
		where = append(where, "(t.flags & 14) = "+strconv.Itoa(int(f.Flags&kind)))
	}
	switch f.Status {
	case "":
	case ledger.StatusPending:
		where = append(where, "t.status = 'pending'")
	default:
		where = append(where, "t.status = ?")
		args = append(args, string(f.Status))
	}
	if !f.From.IsZero() {
		where = append(where, "t.created_at >= ?")
		args = append(args, f.From.UnixMilli())
	}
	if !f.To.IsZero() {
		where = append(where, "t.created_at < ?")
		args = append(args, f.To.UnixMilli())
	}
	q := "SELECT " + ledgerTransferCols + " FROM ledger_transfers t"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY t.created_at, t.id"
	if d == sqldb.Postgres {
		q += ` COLLATE "C"`
	}
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	return q, args
}

// ledgerTx is the ledger.Tx of one SQL transaction.
type ledgerTx struct{ tx *sqldb.Tx }

func (l ledgerTx) args(args []any) []any { return ledgerExec(l.tx.Dialect(), args) }

// ledgerExec has PostgreSQL plan a statement with its arguments instead of
// caching a prepared statement. It is for the statements whose best plan
// depends on the size of a table (IN lists, ranges, joins): a generic plan
// made while the table was small (a sequential scan) would otherwise stay
// while it grows, until the next ANALYZE. Lookups and updates of one row by
// primary key, and inserts, keep the cheaper cached statements.
func ledgerExec(d sqldb.Dialect, args []any) []any {
	if d != sqldb.Postgres {
		return args
	}
	return append([]any{pgx.QueryExecModeExec}, args...)
}

// query runs a query of the write path: on SQLite a statement kept
// prepared (a batch parses no SQL), on PostgreSQL as Tx.Query does.
func (l ledgerTx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if l.tx.Dialect() != sqldb.SQLite {
		return l.tx.Query(ctx, q, args...)
	}
	st, err := l.tx.Stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// exec runs a statement of the write path like query.
func (l ledgerTx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if l.tx.Dialect() != sqldb.SQLite {
		return l.tx.Exec(ctx, q, args...)
	}
	st, err := l.tx.Stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (l ledgerTx) Now() time.Time { return l.tx.Now }

func (l ledgerTx) LockAccounts(ctx context.Context, ids []string) (map[string]ledger.Account, error) {
	out := make(map[string]ledger.Account, len(ids))
	// ids come sorted by bytes; chunks keep that order, and ORDER BY … COLLATE
	// "C" (byte order too) makes PostgreSQL take the row locks in it, so two
	// transactions never wait on each other in a circle.
	for _, chunk := range ledgerChunks(ids) {
		q := "SELECT " + ledgerAccountCols + " FROM ledger_accounts WHERE id IN (" + ledgerMarks(len(chunk)) + ")"
		if l.tx.Dialect() == sqldb.Postgres {
			q += ` ORDER BY id COLLATE "C" FOR UPDATE`
		}
		rows, err := l.query(ctx, q, l.args(ledgerArgs(chunk))...)
		if err != nil {
			return nil, ledgerDBError(err)
		}
		if err := scanLedgerAccounts(rows, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (l ledgerTx) TransfersByID(ctx context.Context, ids []string) (map[string]ledger.Transfer, error) {
	out := make(map[string]ledger.Transfer, len(ids))
	for _, chunk := range ledgerChunks(ids) {
		rows, err := l.query(ctx, "SELECT "+ledgerTransferCols+" FROM ledger_transfers t WHERE t.id IN ("+ledgerMarks(len(chunk))+")", l.args(ledgerArgs(chunk))...)
		if err != nil {
			return nil, ledgerDBError(err)
		}
		ts, err := scanLedgerTransfers(rows)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			out[t.ID] = t
		}
	}
	return out, nil
}

// expiredQuery finds the holds due to expire, by ledger_transfers_open.
const expiredQuery = "SELECT " + ledgerTransferCols + ` FROM ledger_transfers t
	WHERE t.status = 'pending' AND t.expires_at > 0 AND t.expires_at <= ? ORDER BY t.expires_at, t.id LIMIT ?`

func (l ledgerTx) ExpiredPending(ctx context.Context, now time.Time, limit int) ([]ledger.Transfer, error) {
	rows, err := l.tx.Query(ctx, expiredQuery, l.args([]any{now.UnixMilli(), limit})...)
	if err != nil {
		return nil, ledgerDBError(err)
	}
	return scanLedgerTransfers(rows)
}

func (l ledgerTx) InsertAccounts(ctx context.Context, accounts []ledger.Account) error {
	for start := 0; start < len(accounts); start += ledgerChunk / 10 {
		chunk := accounts[start:min(start+ledgerChunk/10, len(accounts))]
		var args []any
		for _, a := range chunk {
			args = append(args, a.ID, int64(a.Currency), string(a.Code), int64(a.Flags), a.UserData, sqldb.Millis(a.Timestamp))
		}
		q := "INSERT INTO ledger_accounts (id, currency, code, flags, user_data, created_at) VALUES " + ledgerRows(len(chunk), 6)
		if _, err := l.tx.Exec(ctx, q, args...); err != nil {
			return ledgerDBError(err)
		}
	}
	return nil
}

func (l ledgerTx) UpdateAccounts(ctx context.Context, accounts []ledger.Account) error {
	// One statement per chunk: UPDATE … FROM (VALUES …) works on SQLite
	// (3.33 and later) and PostgreSQL (updateAccountsRows).
	if len(accounts) <= 4 { // a transfer or two: plain updates by primary key are cheaper
		for _, a := range accounts {
			if _, err := l.exec(ctx, `UPDATE ledger_accounts SET debits_pending = ?, debits_posted = ?, credits_pending = ?, credits_posted = ? WHERE id = ?`,
				a.DebitsPending, a.DebitsPosted, a.CreditsPending, a.CreditsPosted, a.ID); err != nil {
				return ledgerDBError(err)
			}
		}
		return nil
	}
	for start := 0; start < len(accounts); start += ledgerChunk / 5 {
		chunk := accounts[start:min(start+ledgerChunk/5, len(accounts))]
		args := make([]any, 0, len(chunk)*5)
		for _, a := range chunk {
			args = append(args, a.ID, a.DebitsPending, a.DebitsPosted, a.CreditsPending, a.CreditsPosted)
		}
		res, err := l.exec(ctx, updateAccountsRows(l.tx.Dialect(), len(chunk)), l.args(args)...)
		if err != nil {
			return ledgerDBError(err)
		}
		if n, err := res.RowsAffected(); err != nil || n != int64(len(chunk)) {
			return fault.E(fault.Internal, "ledger_update", "updated %d accounts, want %d", n, len(chunk))
		}
	}
	return nil
}

// updateAccountsRows is UpdateAccounts' statement of n rows (id, debits
// pending and posted, credits pending and posted) for the dialect d: CAST
// on PostgreSQL, bare on SQLite (sqldb.ValuesRows; as addHeld,
// TestAddHeldMakesNoTemporaryValues).
func updateAccountsRows(d sqldb.Dialect, n int) string {
	return `UPDATE ledger_accounts SET debits_pending = v.column2, debits_posted = v.column3,
			credits_pending = v.column4, credits_posted = v.column5
			FROM (VALUES ` + sqldb.ValuesRows(d, n, "TEXT", "BIGINT", "BIGINT", "BIGINT", "BIGINT") + `) AS v
			WHERE ledger_accounts.id = v.column1`
}

func (l ledgerTx) InsertTransfers(ctx context.Context, ts []ledger.Transfer) error {
	noteInserted(ctx, ts) // for a Journaled's filter of ids, in a call it runs alone
	return l.insertTransfers(ctx, ts, insertAll, nil)
}

// How insertTransfers treats an id that is stored already.
type insertMode int

const (
	insertAll   insertMode = iota // every transfer is new: a stored id fails the statement
	insertNew                     // a stored id is skipped; stored is given each id inserted (RETURNING)
	insertFresh                   // as insertNew, expecting none stored: errStoredBefore when one was (or an id came twice)
)

// errStoredBefore is insertFresh's answer when a chunk inserted fewer rows
// than it held: the caller rolls back and goes again with insertNew.
var errStoredBefore = errors.New("ledger: a transfer of the batch is stored already")

// insertTransfers inserts ts, a few multi-row statements (rowChunks): the
// transfer table and its indexes are all a transfer writes besides its
// accounts, a hold's state in its row. insertNew returns the ids each
// statement inserted; insertFresh only counts them (RowsAffected), which
// spares SQLite the rows of a RETURNING — 15-17 % of a batch's CPU
// (BenchmarkApplyHolds batch400 21.4-22.3 → 17.5-19.0 µs a hold) — and
// gives stored every id when all are new.
func (l ledgerTx) insertTransfers(ctx context.Context, ts []ledger.Transfer, mode insertMode, stored func(id string)) error {
	fresh, skip := insertFreshTransfers, insertNewTransfers
	holds := mode != insertAll && onlyPlainHolds(ts)
	if holds {
		fresh, skip = insertFreshHolds, insertNewHolds
	}
	args := make([]any, 0, 12*min(len(ts), ledgerRowsMost))
	for _, n := range sqldb.RowChunks(len(ts), ledgerRowsMost) {
		args = args[:0]
		for _, t := range ts[:n] {
			if holds {
				args = append(args, t.ID, t.DebitAccountID, t.CreditAccountID, t.Amount, int64(t.Currency),
					t.Timeout.Milliseconds(), sqldb.Millis(t.ExpiresAt), t.UserData, sqldb.Millis(t.Timestamp))
				continue
			}
			status := ""
			if t.Flags&ledger.Pending != 0 {
				status = string(ledger.StatusPending)
			}
			args = append(args, t.ID, t.DebitAccountID, t.CreditAccountID, t.Amount, int64(t.Currency), int64(t.Flags),
				t.PendingID, t.Timeout.Milliseconds(), sqldb.Millis(t.ExpiresAt), t.UserData, sqldb.Millis(t.Timestamp), status)
		}
		chunk := ts[:n]
		ts = ts[n:]
		switch mode {
		case insertAll:
			if _, err := l.exec(ctx, insertTransfers.of(n), args...); err != nil {
				return ledgerDBError(err)
			}
			continue
		case insertFresh:
			res, err := l.exec(ctx, fresh.of(n), args...)
			if err != nil {
				return ledgerDBError(err)
			}
			if got, err := res.RowsAffected(); err != nil || got != int64(n) {
				return errStoredBefore
			}
			for _, t := range chunk {
				stored(t.ID)
			}
			continue
		}
		rows, err := l.query(ctx, skip.of(n), args...)
		if err != nil {
			return ledgerDBError(err)
		}
		if err := scanIDs(rows, stored); err != nil {
			return err
		}
	}
	return nil
}

// insertTransfers and insertNewTransfers (which skips a stored id and
// returns the ids it inserts) insert n transfers.
var (
	insertTransfers    = statementsBySize(func(n int) string { return insertTransfersHead + ledgerRows(n, 12) })
	insertNewTransfers = statementsBySize(func(n int) string {
		return insertTransfersHead + ledgerRows(n, 12) + " ON CONFLICT (id) DO NOTHING RETURNING id"
	})
	insertFreshTransfers = statementsBySize(func(n int) string {
		return insertTransfersHead + ledgerRows(n, 12) + " ON CONFLICT (id) DO NOTHING"
	})
)

const insertTransfersHead = `INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, flags, pending_id,
	timeout_ms, expires_at, user_data, created_at, status) VALUES `

// insertFreshHolds and insertNewHolds are insertFreshTransfers and
// insertNewTransfers for a batch of plain holds (the write-behind's): a
// hold's kind, its empty pending id and its state are written into the
// statement, not bound — nine values a row instead of twelve, three
// strings fewer to copy into SQLite.
var (
	insertFreshHolds = statementsBySize(func(n int) string { return insertTransfersHead + holdRows(n) + " ON CONFLICT (id) DO NOTHING" })
	insertNewHolds   = statementsBySize(func(n int) string {
		return insertTransfersHead + holdRows(n) + " ON CONFLICT (id) DO NOTHING RETURNING id"
	})
)

// holdRows is n rows of a plain hold's values, in insertTransfersHead's
// order.
func holdRows(n int) string {
	row := "(?, ?, ?, ?, ?, " + strconv.Itoa(int(ledger.Pending)) + ", '', ?, ?, ?, ?, '" + string(ledger.StatusPending) + "')"
	return strings.TrimSuffix(strings.Repeat(row+",", n), ",")
}

// onlyPlainHolds reports whether every transfer of ts is a plain hold
// (Pending alone, no pending id): what holdRows writes.
func onlyPlainHolds(ts []ledger.Transfer) bool {
	for _, t := range ts {
		if t.Flags != ledger.Pending || t.PendingID != "" {
			return false
		}
	}
	return true
}

// scanIDs gives fn the id of each row.
func scanIDs(rows *sql.Rows, fn func(id string)) error {
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return ledgerDBError(err)
		}
		fn(id)
	}
	if err := rows.Err(); err != nil {
		return ledgerDBError(err)
	}
	return nil
}

func (l ledgerTx) ResolvePending(ctx context.Context, rs []ledger.Resolution) error {
	for _, r := range rs {
		res, err := l.exec(ctx, "UPDATE ledger_transfers SET status = ?, resolved_at = ? WHERE id = ? AND status = 'pending'",
			string(r.Status), sqldb.Millis(r.At), r.ID)
		if err != nil {
			return ledgerDBError(err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fault.E(fault.Internal, "pending_resolved_twice", "pending transfer is no longer pending")
		}
	}
	return nil
}

// transferIDs returns a filter of ids (package idfilter) holding every
// transfer id in ledger_transfers, sized for twice as many.
func (s *Store) transferIDs(ctx context.Context) (*idfilter.Filter, error) {
	var n int
	if err := s.db.QueryRow(ctx, "SELECT COUNT(*) FROM ledger_transfers").Scan(&n); err != nil {
		return nil, ledgerDBError(err)
	}
	ids := idfilter.New(2 * n)
	rows, err := s.db.Query(ctx, "SELECT id FROM ledger_transfers")
	if err != nil {
		return nil, ledgerDBError(err)
	}
	defer rows.Close()
	var id string
	for rows.Next() {
		if err := rows.Scan(&id); err != nil {
			return nil, ledgerDBError(err)
		}
		ids.Add(id)
	}
	if err := rows.Err(); err != nil {
		return nil, ledgerDBError(err)
	}
	return ids, nil
}

const ledgerAccountCols = "id, currency, code, flags, user_data, debits_pending, debits_posted, credits_pending, credits_posted, created_at"

const ledgerTransferCols = `t.id, t.debit_account_id, t.credit_account_id, t.amount, t.currency, t.flags, t.pending_id,
	t.timeout_ms, t.expires_at, t.user_data, t.created_at, t.status`

func scanLedgerAccounts(rows *sql.Rows, into map[string]ledger.Account) error {
	defer rows.Close()
	for rows.Next() {
		var a ledger.Account
		var currency, flags, created int64
		var code string
		if err := rows.Scan(&a.ID, &currency, &code, &flags, &a.UserData, &a.DebitsPending, &a.DebitsPosted,
			&a.CreditsPending, &a.CreditsPosted, &created); err != nil {
			return ledgerDBError(err)
		}
		a.Currency, a.Code, a.Flags, a.Timestamp = money.Currency(currency), ledger.Code(code), ledger.AccountFlags(flags), sqldb.Time(created)
		into[a.ID] = a
	}
	if err := rows.Err(); err != nil {
		return ledgerDBError(err)
	}
	return nil
}

func scanLedgerTransfers(rows *sql.Rows) ([]ledger.Transfer, error) {
	defer rows.Close()
	var out []ledger.Transfer
	for rows.Next() {
		var t ledger.Transfer
		var currency, flags, timeout, expires, created int64
		var status string
		if err := rows.Scan(&t.ID, &t.DebitAccountID, &t.CreditAccountID, &t.Amount, &currency, &flags, &t.PendingID,
			&timeout, &expires, &t.UserData, &created, &status); err != nil {
			return nil, ledgerDBError(err)
		}
		t.Currency, t.Flags, t.Status = money.Currency(currency), ledger.TransferFlags(flags), ledger.PendingStatus(status)
		t.Timeout, t.ExpiresAt, t.Timestamp = time.Duration(timeout)*time.Millisecond, sqldb.Time(expires), sqldb.Time(created)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, ledgerDBError(err)
	}
	return out, nil
}

// ledgerDBError wraps a database error; its text stays available to the
// retry logic of InTx and IsUniqueViolation.
func ledgerDBError(err error) error {
	return fault.Wrap(err, fault.Unavailable, "ledger_db", "ledger storage failed")
}

func ledgerChunks(ids []string) [][]string {
	var out [][]string
	for start := 0; start < len(ids); start += ledgerChunk {
		out = append(out, ids[start:min(start+ledgerChunk, len(ids))])
	}
	return out
}

func ledgerMarks(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// ledgerRowsMost is the most rows of one multi-row statement of the write
// path (a power of two: 768 values for a transfer's 12).
const ledgerRowsMost = 64

// bySize is a statement for each size sqldb.RowChunks makes, built once.
type bySize [8]string

// statementsBySize builds the statements of n rows, for n a power of two
// up to ledgerRowsMost.
func statementsBySize(build func(n int) string) *bySize {
	var b bySize
	for k := range b {
		if n := 1 << k; n <= ledgerRowsMost {
			b[k] = build(n)
		}
	}
	return &b
}

// of returns the statement of n rows (a size rowChunks makes).
func (b *bySize) of(n int) string { return b[bits.TrailingZeros(uint(n))] }

func ledgerRows(n, cols int) string {
	row := "(" + ledgerMarks(cols) + ")"
	return strings.TrimSuffix(strings.Repeat(row+",", n), ",")
}

func ledgerArgs(ids []string) []any {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return args
}

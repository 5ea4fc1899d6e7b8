// Package sqlstore is the card network's storage wing: its own database
// (sqldb.OpenWing, wing "network": the file network.db on SQLite, the
// schema network on PostgreSQL) holding the switch's authorization
// records, the reversals it received for originals it had not seen, the
// reversals it owes the issuers and its refund records. Every switch
// process sharing the database decides each message once here: a message
// identity is a primary key, claimed by the first process to store it (an
// authorization before its issuer is asked, or the marker of a reversal
// that came before its original). No statement reaches another party's
// tables. New records and answers are group-committed.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Wing is the card network's storage wing, for sqldb.OpenWing.
var Wing = sqldb.Wing{Name: "network", Migrations: migrations, Dir: "migrations"}

var (
	_ netswitch.Store       = (*Store)(nil)
	_ netswitch.RefundStore = (*Store)(nil)
)

// Store keeps the switch's records in the network's wing. New records and
// the answers of records stored while being decided go in one batch (one
// transaction) with those of concurrent authorizations.
type Store struct {
	sqldb.Held // the wing's database (s.DB); Close closes it when Open opened it
	saves      *sqldb.Batcher[authWrite, error]
	jr         *journaled // the journal of SaveAuth and FinishAuth (WithJournal), or nil
}

// authWrite is one write of the batch: a new record, or the answer of a
// record stored while being decided (finish).
type authWrite struct {
	a      netswitch.Auth
	finish bool
}

// New returns the switch's store in db, a database of the network's wing.
// It never fails; Close stops its batch worker.
func New(db *sqldb.DB) *Store { return held(sqldb.Hold(db)) }

// held is New on h: a lent database (Hold) or one the store owns and
// closes (OpenHeld, HoldBeside).
func held(h sqldb.Held) *Store {
	db := h.DB
	s := &Store{Held: h}
	s.saves = sqldb.NewBatcher(db.BatchWorkers(), 1000, sqldb.Serialized(db, s.writeAuths))
	return s
}

// Open opens (creating and migrating as needed) the network's wing on the
// backend dsn names ("" for DATA/network.db, "sqlite:PATH",
// "postgres://…") and returns its store, which closes the database on
// Close. With WithJournal it replays the journal into the wing first
// (journaled.go). It fails like sqldb.OpenWing and journal.Open, or with
// the wing's error while replaying.
func Open(ctx context.Context, dsn, dataDir string, opts ...Option) (*Store, error) {
	var op options
	for _, o := range opts {
		o(&op)
	}
	if op.beside && op.journal == "" {
		op.journal = journalBeside(dsn, dataDir)
	}
	h, err := sqldb.OpenHeld(ctx, dsn, dataDir, Wing)
	if err != nil {
		return nil, err
	}
	s := held(h)
	if op.journal != "" {
		if err := s.openJournal(ctx, op); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// OpenBeside opens the network's wing on the backend db is on (the file
// network.db in db's folder, or the schema beside db's) — for the platform
// and tests that hold another party's database. The store closes the
// wing's database on Close. It fails like Open.
func OpenBeside(ctx context.Context, db *sqldb.DB) (*Store, error) {
	h, err := sqldb.HoldBeside(ctx, db, Wing)
	if err != nil {
		return nil, err
	}
	s := held(h)
	return s, nil
}

// Close stops the batch worker (and the journal's write-behind, once it has
// applied what was journaled), and closes the database when the store
// opened it. It fails with the database's (or the journal's) error.
func (s *Store) Close() error {
	var jerr error
	if s.jr != nil {
		jerr = s.closeJournal()
	}
	s.saves.Close()
	if err := s.Held.Close(); err != nil {
		return err
	}
	return jerr
}

// authMarks are the placeholders of authCols.
var authMarks = strings.TrimSuffix(strings.Repeat("?, ", len(rowAt)), ", ")

// authArgs are a record's values (recordCols): the journal's form of a
// record, rowArgs its row's.
func authArgs(a netswitch.Auth) []any { return appendAuthArgs(nil, a) }

// appendAuthArgs appends authArgs(a) to dst (a slice of the journal's
// spare ones).
func appendAuthArgs(dst []any, a netswitch.Auth) []any {
	return append(dst, a.ID, a.Digest, a.Acquirer, a.Terminal, a.STAN, a.Transmission, a.RRN, a.Merchant, a.MerchantName, a.MCC, a.LocalDate, a.LocalTime,
		a.Token.Digits(), a.TokenLast4, a.PANLast4, a.SealedPAN, a.PhoneID, a.AccountID, a.BankID, a.Amount.Minor, int(a.Amount.Currency), a.AuthCode, string(a.ResponseCode), string(a.Reason),
		a.Answer, a.BusinessDate, sqldb.Millis(a.ReceivedAt), sqldb.Millis(a.AnsweredAt), sqldb.Millis(a.ReversedAt), a.ReversalRC, a.ClearAmount,
		sqldb.Millis(a.ClearedAt), a.ClearingDate, a.PAR, jsonOf(a.Promo))
}

var errExists = fault.E(fault.Conflict, netswitch.CodeAuthExists, "an authorization with this identity is already stored")

var errSettled = fault.E(fault.Conflict, netswitch.CodeAuthSettled, "the authorization is no longer being decided")

// SaveAuth stores a new record in the next batch; it fails with
// fault.Conflict netswitch.CodeAuthExists when the identity is stored
// already (a record, or the marker of a reversal that came first), and
// fault.Unavailable when the database fails.
func (s *Store) SaveAuth(ctx context.Context, a netswitch.Auth) error {
	if s.jr != nil {
		return s.saveJournaled(ctx, a)
	}
	res, err := s.saves.Do(ctx, authWrite{a: a})
	if err != nil {
		return err
	}
	return res
}

// FinishAuth stores the answer of a record saved while deciding, in the
// next batch; it fails with fault.Conflict netswitch.CodeAuthSettled when
// the record is not waiting for it (the recovery sweep, or a reversal at
// another switch, settled it), and fault.Unavailable when the database
// fails.
func (s *Store) FinishAuth(ctx context.Context, a netswitch.Auth) error {
	if s.jr != nil {
		return s.finishJournaled(ctx, a)
	}
	res, err := s.saves.Do(ctx, authWrite{a: a, finish: true})
	if err != nil {
		return err
	}
	return res
}

var insertAuth = `INSERT INTO switch_auths (` + authCols + `) VALUES (` + authMarks + `) ON CONFLICT (id) DO NOTHING`

// finishArgs are finishAuth's arguments for a's answer.
func finishArgs(a netswitch.Auth) []any { return appendFinishArgs(nil, a) }

// appendFinishArgs appends finishArgs(a) to dst.
func appendFinishArgs(dst []any, a netswitch.Auth) []any {
	return append(dst, string(a.ResponseCode), string(a.Reason), a.AuthCode, a.Answer, sqldb.Millis(a.AnsweredAt), jsonOf(a.Promo), a.ID)
}

const finishAuth = `UPDATE switch_auths SET response_code = ?, reason = ?, auth_code = ?, answer = ?, answered_at = ?, promo = ?
	WHERE id = ? AND response_code = ''`

// writeAuths runs a batch of new records and answers in one transaction.
func (s *Store) writeAuths(ctx context.Context, ws []authWrite) ([]error, error) {
	out := make([]error, len(ws))
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		return authStmts(ctx, tx, func(ins, up *sql.Stmt) error {
			return writeBatch(ctx, ins, up, ws, out)
		})
	})
	if err != nil {
		return nil, sqldb.Err(err, "storing authorizations")
	}
	return out, nil
}

// authStmts runs fn with the record insert and the answer update prepared
// in tx.
func authStmts(ctx context.Context, tx *sqldb.Tx, fn func(ins, up *sql.Stmt) error) error {
	ins, err := tx.Stmt(ctx, insertAuth)
	if err != nil {
		return err
	}
	defer ins.Close()
	up, err := tx.Stmt(ctx, finishAuth)
	if err != nil {
		return err
	}
	defer up.Close()
	return fn(ins, up)
}

// writeBatch runs a batch's writes, each one's outcome in out.
func writeBatch(ctx context.Context, ins, up *sql.Stmt, ws []authWrite, out []error) error {
	var err error
	for i, w := range ws {
		var res sql.Result
		a := w.a
		if w.finish {
			res, err = up.ExecContext(ctx, finishArgs(a)...)
		} else {
			res, err = ins.ExecContext(ctx, rowArgs(a)...)
		}
		if err != nil {
			return err
		}
		out[i] = nil
		if n, _ := res.RowsAffected(); n != 1 {
			out[i] = errExists
			if w.finish {
				out[i] = errSettled
			}
		}
	}
	return nil
}

// typed holds the stored forms of a record's token and amount while a row
// is scanned.
type typed struct {
	token    string
	minor    int64
	currency int
}

// values returns the token (zero for a marker's empty one) and the amount.
func (t typed) values() (card.Token, money.Amount) {
	tok, _ := card.ParseToken(t.token)
	return tok, money.New(t.minor, money.Currency(t.currency))
}

func scanAuth(sc interface{ Scan(...any) error }) (netswitch.Auth, error) {
	var a netswitch.Auth
	var recv, ans, rev, clr int64
	var rc, reason, pr, detail string
	var tv typed
	err := sc.Scan(&a.ID, &a.Digest, &tv.token, &a.PhoneID, &a.BusinessDate, &recv, &rc, &a.AuthCode, &reason, &ans, &a.ClearAmount,
		&rev, &a.ReversalRC, &clr, &a.ClearingDate, &a.PAR, &pr, &a.SealedPAN, &a.Answer, &detail)
	if err == nil {
		err = decodeDetail(detail, &a, &tv)
	}
	if err == nil {
		a.Promo, err = fromJSON[promo.Redemption](pr)
	}
	a.Token, a.Amount = tv.values()
	a.ResponseCode, a.Reason = iso8583.ResponseCode(rc), netswitch.Reason(reason)
	a.ReceivedAt, a.AnsweredAt, a.ReversedAt, a.ClearedAt = sqldb.Time(recv), sqldb.Time(ans), sqldb.Time(rev), sqldb.Time(clr)
	return a, err
}

// records are the rows of switch_auths that are authorizations: not the
// markers of reversals that came before their original.
const records = `digest <> ''`

func (s *Store) auths(ctx context.Context, what, where string, args ...any) ([]netswitch.Auth, error) {
	if err := s.caughtUp(ctx); err != nil {
		return nil, err
	}
	rows, err := s.DB.Query(ctx, `SELECT `+authCols+` FROM switch_auths `+where, args...)
	if err != nil {
		return nil, sqldb.Err(err, what)
	}
	defer rows.Close()
	var out []netswitch.Auth
	for rows.Next() {
		a, err := scanAuth(rows)
		if err != nil {
			return nil, sqldb.Err(err, what)
		}
		out = append(out, a)
	}
	return out, sqldb.Err(rows.Err(), what)
}

// Auth returns a record (or a reversal's marker: Auth.Early) by identity,
// or fault.NotFound netswitch.CodeAuthNotFound.
func (s *Store) Auth(ctx context.Context, id string) (netswitch.Auth, error) {
	if err := s.caughtUp(ctx); err != nil {
		return netswitch.Auth{}, err
	}
	a, err := scanAuth(s.DB.QueryRow(ctx, `SELECT `+authCols+` FROM switch_auths WHERE id = ?`, id))
	if sqldb.NoRows(err) {
		return a, fault.E(fault.NotFound, netswitch.CodeAuthNotFound, "no such authorization")
	}
	return a, sqldb.Err(err, "reading an authorization")
}

// MarkReversed records a reversal, or a further one lowering what remains
// to clear; it fails with fault.NotFound netswitch.CodeAuthNotFound for an
// unknown id.
func (s *Store) MarkReversed(ctx context.Context, id string, at time.Time, rc string, remaining int64) error {
	if err := s.caughtUp(ctx); err != nil {
		return err
	}
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE switch_auths SET reversed_at = ?, reversal_rc = ?, clear_amount = ? WHERE id = ? AND `+records+` AND (reversed_at = 0 OR clear_amount > ?)`,
			sqldb.Millis(at), rc, remaining, id, remaining)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		var x int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM switch_auths WHERE id = ? AND `+records, id).Scan(&x); sqldb.NoRows(err) {
			return fault.E(fault.NotFound, netswitch.CodeAuthNotFound, "no such authorization")
		} else {
			return err
		}
	}), "recording a reversal")
}

// SaveEarlyReversal claims the identity of an original the switch has no
// record of with a marker (Auth.Early: digest ”, 05
// reversed_before_arrival) and remembers the reversal, in one transaction.
// Saving it again changes nothing. It fails with fault.Conflict
// netswitch.CodeAuthExists when the original's record is stored (it came
// meanwhile, at any switch), and fault.Unavailable when the database
// fails.
func (s *Store) SaveEarlyReversal(ctx context.Context, r netswitch.Reversal) error {
	letGo, err := s.alone(ctx)
	if err != nil {
		return err
	}
	defer letGo()
	at := r.At.UTC()
	s.stored(r.OriginalID) // before its insert: SaveAuth asks SQL from now on
	marker := netswitch.Auth{ID: r.OriginalID, RRN: r.RRN, ResponseCode: iso8583.ResponseCode("05"), Reason: netswitch.ReasonReversedBeforeArrival,
		BusinessDate: at.Format("20060102"), ReceivedAt: at, AnsweredAt: at}
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		res, err := tx.Exec(ctx, insertAuth, rowArgs(marker)...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			var digest string
			if err := tx.QueryRow(ctx, `SELECT digest FROM switch_auths WHERE id = ?`, r.OriginalID).Scan(&digest); err != nil {
				return err
			}
			if digest != "" {
				return errExists
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO switch_reversals (original_id, rrn, at) VALUES (?, ?, ?) ON CONFLICT (original_id) DO NOTHING`,
			r.OriginalID, r.RRN, sqldb.Millis(at))
		return err
	}), "remembering a reversal")
}

// SettleEarly stores the record of an original that came after its
// reversal over the reversal's marker (a decided record: 05
// reversed_before_arrival). It fails with fault.Conflict
// netswitch.CodeAuthExists when the marker is not there any more (a
// retransmission of the original, at any switch, replaced it first).
func (s *Store) SettleEarly(ctx context.Context, a netswitch.Auth) error {
	letGo, err := s.alone(ctx)
	if err != nil {
		return err
	}
	defer letGo()
	args := append(rowArgs(a)[1:], a.ID)
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		res, err := tx.Exec(ctx, settleEarly, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errExists
		}
		return nil
	}), "storing an authorization reversed before it came")
}

// settleEarly writes every column but id over a marker.
var settleEarly = func() string {
	var set []string
	for _, c := range splitCols(authCols)[1:] {
		set = append(set, c+" = ?")
	}
	return `UPDATE switch_auths SET ` + strings.Join(set, ", ") + ` WHERE id = ? AND digest = ''`
}()

// ReversalFor returns the remembered reversal of an original, or
// fault.NotFound "reversal_not_found".
func (s *Store) ReversalFor(ctx context.Context, originalID string) (netswitch.Reversal, error) {
	if err := s.caughtUp(ctx); err != nil {
		return netswitch.Reversal{}, err
	}
	var r netswitch.Reversal
	var at int64
	err := s.DB.QueryRow(ctx, `SELECT original_id, rrn, at FROM switch_reversals WHERE original_id = ?`, originalID).Scan(&r.OriginalID, &r.RRN, &at)
	if sqldb.NoRows(err) {
		return r, fault.E(fault.NotFound, "reversal_not_found", "no reversal remembered for this authorization")
	}
	r.At = sqldb.Time(at)
	return r, sqldb.Err(err, "reading a reversal")
}

// PhoneAuths returns a phone's records, newest first.
func (s *Store) PhoneAuths(ctx context.Context, phoneID string, limit int) ([]netswitch.Auth, error) {
	if limit <= 0 {
		limit = 50
	}
	return s.auths(ctx, "reading a phone's payments", phoneAuthsWhere, phoneID, limit)
}

// The readers of switch_auths beyond a lookup by identity, each on its
// index (TestReadersHaveTheirIndexes): a phone's records
// (switch_auths_phone), some tokens' (switch_auths_token), a day's
// (switch_auths_day).
const (
	phoneAuthsWhere = `WHERE phone_id = ? AND ` + records + ` ORDER BY received_at DESC, id DESC LIMIT ?`
	dayAuthsWhere   = `WHERE business_date = ? AND ` + records + ` ORDER BY received_at, id`
)

// tokenAuthsWhere reads the records of n tokens.
func tokenAuthsWhere(n int) string {
	return `WHERE token IN (` + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + `) AND ` + records + ` ORDER BY received_at DESC, id DESC LIMIT ?`
}

// TokenAuths returns the records of the given tokens, newest first —
// declines included, which the token check did not tie to a phone (the
// lost-phone portal shows a switched-off phone's declined taps with them).
// It fails with fault.Unavailable.
func (s *Store) TokenAuths(ctx context.Context, tokens []string, limit int) ([]netswitch.Auth, error) {
	if len(tokens) == 0 {
		return nil, nil
	}
	if limit <= 0 {
		limit = 50
	}
	args := make([]any, 0, len(tokens)+1)
	for _, t := range tokens {
		args = append(args, t)
	}
	args = append(args, limit)
	return s.auths(ctx, "reading a card's payments", tokenAuthsWhere(len(tokens)), args...)
}

// DayAuths returns the records of a business date, oldest first.
func (s *Store) DayAuths(ctx context.Context, businessDate string) ([]netswitch.Auth, error) {
	return s.auths(ctx, "reading a day's authorizations", dayAuthsWhere, businessDate)
}

// MarkCleared records the clearing of records not cleared before.
func (s *Store) MarkCleared(ctx context.Context, ids []string, clearingDate string, at time.Time) error {
	return s.markCleared(ctx, "switch_auths", ids, clearingDate, at)
}

func (s *Store) markCleared(ctx context.Context, table string, ids []string, clearingDate string, at time.Time) error {
	if err := s.caughtUp(ctx); err != nil {
		return err
	}
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		for _, id := range ids {
			if _, err := tx.Exec(ctx, `UPDATE `+table+` SET cleared_at = ?, clearing_date = ? WHERE id = ? AND cleared_at = 0`, sqldb.Millis(at), clearingDate, id); err != nil {
				return err
			}
		}
		return nil
	}), "marking "+table+" cleared")
}

// SealedColumns are the network's columns sealed by the key store (card
// numbers): the records' PANs, for reversals. (A queued reversal's copy in
// switch_pending_reversals is short-lived and opens under the key it was
// sealed with, which a rotation keeps.)
var SealedColumns = [][2]string{{"switch_auths", "pan_sealed"}}

// Rewrap passes every sealed card number of the wing through rewrap
// (keystore.File.Rewrap, after a rotation of the master key) and writes
// back the changed ones, online (sqldb.DB.RewrapColumns). It returns how
// many changed and fails like RewrapColumns.
func (s *Store) Rewrap(ctx context.Context, rewrap func([]byte) ([]byte, bool, error)) (int, error) {
	if err := s.caughtUp(ctx); err != nil {
		return 0, err
	}
	return s.DB.RewrapColumns(ctx, SealedColumns, rewrap)
}

package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/ledger"
	lsql "github.com/tapwallet/tapwallet/ledger/sqlstore"
	"github.com/tapwallet/tapwallet/sqldb"
)

var (
	_ issuer.PointsStore  = (*Store)(nil)
	_ issuer.RefundFinder = (*Store)(nil)
)

// UpdatePoints runs fn on the card's points in one transaction of the
// bank's wing: the card's row is locked first (SELECT … FOR UPDATE on
// PostgreSQL; SQLite's transactions are exclusive), its lots and applied
// operations read, fn run, and the transfers fn returns applied to the
// bank's ledger (ledger/sqlstore.CreateTransfersInTx: the same rules and
// locks) in the same transaction as the changed lots and the new
// operations — all committed, or nothing. A transfer the ledger refuses
// rolls it all back with the refusal's error (issuer.Refused); so does an
// error of fn. A unique violation (another process made the card's row
// at the same moment) runs it again. With the journaled ledger it runs
// alone (ledgerAlone). It fails with fault.Unavailable when the database
// does.
func (s *Store) UpdatePoints(ctx context.Context, bankID, par string, fn func(c *issuer.PointsCard) ([]ledger.Transfer, error)) error {
	err := s.ledgerAlone(ctx, func(ctx context.Context) error {
		var err error
		for range 3 {
			err = s.DB.InTx(ctx, func(tx *sqldb.Tx) error { return s.updatePoints(ctx, tx, bankID, par, fn) })
			if !sqldb.IsUniqueViolation(err) {
				break
			}
		}
		return err
	})
	return sqldb.Err(err, "updating points")
}

func (s *Store) updatePoints(ctx context.Context, tx *sqldb.Tx, bankID, par string, fn func(c *issuer.PointsCard) ([]ledger.Transfer, error)) error {
	if _, err := tx.Exec(ctx, `INSERT INTO points_cards (bank_id, par, account) VALUES (?, ?, '') ON CONFLICT (bank_id, par) DO NOTHING`, bankID, par); err != nil {
		return err
	}
	lock := `SELECT account FROM points_cards WHERE bank_id = ? AND par = ?`
	if tx.Dialect() == sqldb.Postgres {
		lock += ` FOR UPDATE`
	}
	c := issuer.PointsCard{PAR: par}
	if err := tx.QueryRow(ctx, lock, bankID, par).Scan(&c.Account); err != nil {
		return err
	}
	var err error
	if c.Lots, c.Applied, err = readPoints(ctx, tx, bankID, par); err != nil {
		return err
	}
	before := map[string]issuer.PointsLot{}
	for _, l := range c.Lots {
		before[l.ID] = l
	}
	applied := len(c.Applied)
	old := make(map[string]bool, applied)
	for k := range c.Applied {
		old[k] = true
	}
	account := c.Account
	ts, err := fn(&c)
	if err != nil {
		return err
	}
	if len(c.Open) > 0 {
		rs, err := lsql.CreateAccountsInTx(ctx, tx, c.Open)
		if err != nil {
			return err
		}
		for i, r := range rs {
			if !r.Applied() {
				return fault.E(fault.Internal, "issuer_accounts", "account %s cannot be created: %s", c.Open[i].ID, r)
			}
		}
	}
	if len(ts) > 0 {
		rs, err := lsql.CreateTransfersInTx(ctx, tx, ts)
		if err != nil {
			return err
		}
		if err := issuer.Refused(ts, rs); err != nil {
			return err
		}
	}
	if c.Account != account {
		if _, err := tx.Exec(ctx, `UPDATE points_cards SET account = ? WHERE bank_id = ? AND par = ?`, c.Account, bankID, par); err != nil {
			return err
		}
	}
	var lots, ops [][]any
	for _, l := range c.Lots {
		if b, ok := before[l.ID]; ok && b == l {
			continue
		}
		lots = append(lots, []any{bankID, par, l.ID, sqldb.Millis(l.Earned), sqldb.Millis(l.Expires), l.Points, l.Left, l.Amount, l.Refunded})
	}
	for k, n := range c.Applied {
		if !old[k] {
			ops = append(ops, []any{bankID, par, k, n})
		}
	}
	if err := insertRows(ctx, tx, `INSERT INTO points_lots (bank_id, par, id, earned, expires, points, left_points, amount, refunded) VALUES `,
		` ON CONFLICT (bank_id, par, id) DO UPDATE SET left_points = excluded.left_points, refunded = excluded.refunded`, lots); err != nil {
		return err
	}
	return insertRows(ctx, tx, `INSERT INTO points_ops (bank_id, par, id, points) VALUES `, ``, ops)
}

// pointsRows bounds the rows of one multi-row insert.
const pointsRows = 200

// insertRows inserts rows (each the same number of values) with head …
// VALUES (?, …), (?, …) … tail, pointsRows at a time.
func insertRows(ctx context.Context, tx *sqldb.Tx, head, tail string, rows [][]any) error {
	for start := 0; start < len(rows); start += pointsRows {
		part := rows[start:min(start+pointsRows, len(rows))]
		marks := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(part[0])), ", ") + ")"
		var args []any
		for _, r := range part {
			args = append(args, r...)
		}
		if _, err := tx.Exec(ctx, head+strings.TrimSuffix(strings.Repeat(marks+", ", len(part)), ", ")+tail, args...); err != nil {
			return err
		}
	}
	return nil
}

// querier is a transaction or the database.
type querier interface {
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// readPoints reads a card's lots (oldest first) and applied operations.
func readPoints(ctx context.Context, q querier, bankID, par string) ([]issuer.PointsLot, map[string]int64, error) {
	rows, err := q.Query(ctx, `SELECT id, earned, expires, points, left_points, amount, refunded FROM points_lots WHERE bank_id = ? AND par = ? ORDER BY earned, id`, bankID, par)
	if err != nil {
		return nil, nil, err
	}
	var lots []issuer.PointsLot
	for rows.Next() {
		var l issuer.PointsLot
		var earned, expires int64
		if err := rows.Scan(&l.ID, &earned, &expires, &l.Points, &l.Left, &l.Amount, &l.Refunded); err != nil {
			rows.Close()
			return nil, nil, err
		}
		l.Lot.Earned, l.Lot.Expires = sqldb.Time(earned), sqldb.Time(expires)
		lots = append(lots, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	applied := map[string]int64{}
	rows, err = q.Query(ctx, `SELECT id, points FROM points_ops WHERE bank_id = ? AND par = ?`, bankID, par)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, nil, err
		}
		applied[id] = n
	}
	return lots, applied, rows.Err()
}

// PointsCard returns a card's points as stored (an empty card when it has
// none). It fails with fault.Unavailable when the database does.
func (s *Store) PointsCard(ctx context.Context, bankID, par string) (issuer.PointsCard, error) {
	c := issuer.PointsCard{PAR: par}
	err := s.DB.QueryRow(ctx, `SELECT account FROM points_cards WHERE bank_id = ? AND par = ?`, bankID, par).Scan(&c.Account)
	if sqldb.NoRows(err) {
		return issuer.PointsCard{PAR: par, Applied: map[string]int64{}}, nil
	}
	if err != nil {
		return issuer.PointsCard{}, sqldb.Err(err, "reading points")
	}
	c.Lots, c.Applied, err = readPoints(ctx, s.DB, bankID, par)
	return c, sqldb.Err(err, "reading points")
}

// PointsDue returns the cards of the bank with points left in a lot that
// expires at or before now (the index points_lots_due). It fails with
// fault.Unavailable when the database does.
func (s *Store) PointsDue(ctx context.Context, bankID string, now time.Time) ([]string, error) {
	rows, err := s.DB.Query(ctx, `SELECT DISTINCT par FROM points_lots WHERE bank_id = ? AND expires <= ? AND left_points > 0 ORDER BY par`, bankID, sqldb.Millis(now))
	if err != nil {
		return nil, sqldb.Err(err, "reading points due")
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var par string
		if err := rows.Scan(&par); err != nil {
			return nil, sqldb.Err(err, "reading points due")
		}
		out = append(out, par)
	}
	return out, sqldb.Err(rows.Err(), "reading points due")
}

// FindRefund returns the refund the bank took under id (false: none). It
// fails with fault.Unavailable when the database does.
func (s *Store) FindRefund(ctx context.Context, bankID, id string) (issuer.Refund, bool, error) {
	r := issuer.Refund{BankID: bankID, ID: id}
	var at int64
	err := s.DB.QueryRow(ctx, `SELECT original_id, amount, at FROM issuer_refunds WHERE bank_id = ? AND id = ?`, bankID, id).Scan(&r.OriginalID, &r.Amount, &at)
	if sqldb.NoRows(err) {
		return issuer.Refund{}, false, nil
	}
	if err != nil {
		return issuer.Refund{}, false, sqldb.Err(err, "reading a refund")
	}
	r.At = sqldb.Time(at)
	return r, true, nil
}

// RefundsOf returns the refunds the bank took of an original (index
// issuer_refunds_original). It fails with fault.Unavailable when the
// database does.
func (s *Store) RefundsOf(ctx context.Context, bankID, originalID string) ([]issuer.Refund, error) {
	rows, err := s.DB.Query(ctx, `SELECT id, amount, at FROM issuer_refunds WHERE bank_id = ? AND original_id = ?`, bankID, originalID)
	if err != nil {
		return nil, sqldb.Err(err, "reading refunds")
	}
	defer rows.Close()
	var out []issuer.Refund
	for rows.Next() {
		r := issuer.Refund{BankID: bankID, OriginalID: originalID}
		var at int64
		if err := rows.Scan(&r.ID, &r.Amount, &at); err != nil {
			return nil, sqldb.Err(err, "reading refunds")
		}
		r.At = sqldb.Time(at)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, sqldb.Err(err, "reading refunds")
	}
	return out, nil
}

// LotOwner returns the PAR of the card holding a purchase's lot (the
// index points_lots_id); false when none. It fails with fault.Unavailable
// when the database does.
func (s *Store) LotOwner(ctx context.Context, bankID, lotID string) (string, bool, error) {
	var par string
	err := s.DB.QueryRow(ctx, `SELECT par FROM points_lots WHERE bank_id = ? AND id = ?`, bankID, lotID).Scan(&par)
	if sqldb.NoRows(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, sqldb.Err(err, "reading points")
	}
	return par, true, nil
}

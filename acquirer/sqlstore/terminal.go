package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/tapwallet/tapwallet/acquirer"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/sqldb"
)

// FindCharge returns a terminal's charge by RRN, or by auth code when rrn
// is empty; see acquirer.TerminalStore.
func (s *Store) FindCharge(ctx context.Context, terminal, rrn, authCode string) (acquirer.Charge, error) {
	q, arg := `SELECT `+chargeCols+` FROM charges WHERE terminal = ? AND rrn = ? ORDER BY at DESC, ref LIMIT 1`, rrn
	what := "RRN " + rrn
	if rrn == "" {
		q, arg = `SELECT `+chargeCols+` FROM charges WHERE terminal = ? AND auth_code = ? AND auth_code <> '' ORDER BY at DESC, ref LIMIT 1`, authCode
		what = "auth code " + authCode
	}
	c, err := scanCharge(s.DB.QueryRow(ctx, q, terminal, arg))
	if sqldb.NoRows(err) {
		return c, fault.E(fault.NotFound, acquirer.CodeChargeNotFound, "no approved charge with %s at terminal %s", what, terminal)
	}
	return c, sqldb.Err(err, "reading a charge")
}

// Refunded returns the amount of a charge's refunds not declined.
func (s *Store) Refunded(ctx context.Context, chargeRef string) (int64, error) {
	var n int64
	err := s.DB.QueryRow(ctx, `SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM refunds WHERE charge_ref = ? AND response_code IN ('', '00')`, chargeRef).Scan(&n)
	return n, sqldb.Err(err, "reading a charge's refunds")
}

// MarkVoided records that a charge was voided; the first time counts.
func (s *Store) MarkVoided(ctx context.Context, chargeRef string, at time.Time) error {
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE charges SET voided_at = ? WHERE ref = ? AND voided_at = 0`, sqldb.Millis(at), chargeRef)
		return err
	}), "recording a void")
}

// MarkCompleted records a pre-authorization's final amount.
func (s *Store) MarkCompleted(ctx context.Context, chargeRef string, amount int64) error {
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE charges SET completed = ? WHERE ref = ? AND completed = 0`, amount, chargeRef)
		return err
	}), "recording a completion")
}

// Reversal returns a reversal recorded by id (owed or answered).
func (s *Store) Reversal(ctx context.Context, id string) (acquirer.Reversal, bool, error) {
	r := acquirer.Reversal{ID: id}
	var at int64
	err := s.DB.QueryRow(ctx, `SELECT message, tries, owed_at, answered FROM reversals WHERE id = ?`, id).Scan(&r.Message, &r.Tries, &at, &r.Answered)
	if sqldb.NoRows(err) {
		return r, false, nil
	}
	r.OwedAt = sqldb.Time(at)
	return r, err == nil, sqldb.Err(err, "reading a reversal")
}

type querier interface {
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// batchOf sums a terminal's batch number (0: the open one).
func batchOf(ctx context.Context, q querier, terminal string, number int64) (acquirer.Batch, error) {
	b := acquirer.Batch{Terminal: terminal, Number: number}
	cond := `terminal = ? AND batch = ?`
	if number == 0 { // the open batch leaves out pre-authorizations still waiting for their completion
		cond += ` AND NOT (kind = 'preauth' AND completed = 0 AND voided_at = 0)`
	}
	rows, err := q.Query(ctx, `SELECT `+chargeCols+` FROM charges WHERE `+cond+` ORDER BY at, ref`, terminal, number)
	if err != nil {
		return b, err
	}
	var charges []acquirer.Charge
	for rows.Next() {
		c, err := scanCharge(rows)
		if err != nil {
			rows.Close()
			return b, err
		}
		charges = append(charges, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return b, err
	}
	rows, err = q.Query(ctx, `SELECT c.currency, r.amount FROM refunds r JOIN charges c ON c.ref = r.charge_ref
		WHERE c.terminal = ? AND r.batch = ? AND r.response_code = ?`, terminal, number, string(iso8583.Approved))
	if err != nil {
		return b, err
	}
	defer rows.Close()
	var refunds []acquirer.BatchRefund
	for rows.Next() {
		var r acquirer.BatchRefund
		if err := rows.Scan(&r.Currency, &r.Amount); err != nil {
			return b, err
		}
		refunds = append(refunds, r)
	}
	b.Totals = acquirer.TotalsOf(charges, refunds)
	return b, rows.Err()
}

// OpenBatch returns the totals of a terminal's open batch.
func (s *Store) OpenBatch(ctx context.Context, terminal string) (acquirer.Batch, error) {
	b, err := batchOf(ctx, s.DB, terminal, 0)
	return b, sqldb.Err(err, "reading the open batch")
}

// CloseBatch closes a terminal's open batch; see acquirer.TerminalStore.
func (s *Store) CloseBatch(ctx context.Context, terminal string, at time.Time) (acquirer.Batch, error) {
	var b acquirer.Batch
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		// The terminal's row is the lock: two closes of one terminal take
		// their numbers one after the other.
		if _, err := tx.Exec(ctx, `INSERT INTO terminals (id, stan) VALUES (?, 0) ON CONFLICT (id) DO NOTHING`, terminal); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE terminals SET stan = stan WHERE id = ?`, terminal); err != nil {
			return err
		}
		var last int64
		if err := tx.QueryRow(ctx, `SELECT CAST(COALESCE(MAX(number), 0) AS BIGINT) FROM batches WHERE terminal = ?`, terminal).Scan(&last); err != nil {
			return err
		}
		n := last + 1
		if _, err := tx.Exec(ctx, `UPDATE refunds SET batch = ? WHERE batch = 0 AND response_code <> '' AND charge_ref IN (SELECT ref FROM charges WHERE terminal = ?)`, n, terminal); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE charges SET batch = ? WHERE terminal = ? AND batch = 0
			AND NOT (kind = 'preauth' AND completed = 0 AND voided_at = 0)`, n, terminal); err != nil {
			return err
		}
		var err error
		if b, err = batchOf(ctx, tx, terminal, n); err != nil {
			return err
		}
		b.ClosedAt = at.UTC().Truncate(time.Millisecond)
		totals, err := json.Marshal(b.Totals)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO batches (terminal, number, closed_at, totals) VALUES (?, ?, ?, ?)`, terminal, n, sqldb.Millis(at), string(totals))
		return err
	})
	return b, sqldb.Err(err, "closing the batch")
}

// Batches returns a terminal's closed batches, newest first.
func (s *Store) Batches(ctx context.Context, terminal string, limit int) ([]acquirer.Batch, error) {
	rows, err := s.DB.Query(ctx, `SELECT number, closed_at, totals FROM batches WHERE terminal = ? ORDER BY number DESC LIMIT ?`, terminal, limit)
	if err != nil {
		return nil, sqldb.Err(err, "reading the batches")
	}
	defer rows.Close()
	var out []acquirer.Batch
	for rows.Next() {
		b := acquirer.Batch{Terminal: terminal}
		var at int64
		var totals string
		if err := rows.Scan(&b.Number, &at, &totals); err != nil {
			return nil, sqldb.Err(err, "reading the batches")
		}
		b.ClosedAt = sqldb.Time(at).UTC()
		if err := json.Unmarshal([]byte(totals), &b.Totals); err != nil {
			return nil, fault.Wrap(err, fault.Internal, "bad_batch", "batch %d's totals do not read", b.Number)
		}
		out = append(out, b)
	}
	return out, sqldb.Err(rows.Err(), "reading the batches")
}

// SeedCounter raises a terminal's STAN to at least stan (a state folder
// whose counters were kept in a file before); it never lowers it.
func (s *Store) SeedCounter(ctx context.Context, terminal string, stan iso8583.STAN) error {
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO terminals (id, stan) VALUES (?, 0) ON CONFLICT (id) DO NOTHING`, terminal); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE terminals SET stan = ? WHERE id = ? AND stan < ?`, int64(stan), terminal, int64(stan))
		return err
	}), "seeding a terminal's counter")
}

// Package sqlstore is the acquirer's storage wing: its own database
// (sqldb.OpenWing, wing "acquirer": the file acquirer.db on SQLite, the
// schema acquirer on PostgreSQL) holding the terminals' counters, the
// charges the network approved, the refund messages planned against them
// and the reversals owed to the network. No statement reaches another
// party's tables.
package sqlstore

import (
	"context"
	"embed"
	"time"

	"github.com/tapwallet/tapwallet/acquirer"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Wing is the acquirer's storage wing, for sqldb.OpenWing.
var Wing = sqldb.Wing{Name: "acquirer", Migrations: migrations, Dir: "migrations"}

var _ acquirer.Store = (*Store)(nil)

// Store is the acquirer's store on its wing's database.
type Store struct {
	sqldb.Held // the wing's database (s.DB); Close closes it when Open opened it
}

// New returns the store on db, a database opened with Wing.
func New(db *sqldb.DB) *Store { return &Store{Held: sqldb.Hold(db)} }

// Open opens (creating and migrating as needed) the acquirer's wing on the
// backend dsn names ("" for DATA/acquirer.db, "sqlite:PATH",
// "postgres://…") and returns its store, which closes the database on
// Close. It fails like sqldb.OpenWing.
func Open(ctx context.Context, dsn, dataDir string) (*Store, error) {
	h, err := sqldb.OpenHeld(ctx, dsn, dataDir, Wing)
	if err != nil {
		return nil, err
	}
	return &Store{Held: h}, nil
}

// nextNumber advances a terminal's STAN in tx (the row is the lock) and,
// withRRN, records the RRN of a transaction at t.
func nextNumber(ctx context.Context, tx *sqldb.Tx, terminal string, t time.Time, withRRN bool) (iso8583.STAN, string, error) {
	if _, err := tx.Exec(ctx, `INSERT INTO terminals (id, stan) VALUES (?, 0) ON CONFLICT (id) DO NOTHING`, terminal); err != nil {
		return 0, "", err
	}
	if _, err := tx.Exec(ctx, `UPDATE terminals SET stan = stan % 999999 + 1 WHERE id = ?`, terminal); err != nil {
		return 0, "", err
	}
	var n int64
	if err := tx.QueryRow(ctx, `SELECT stan FROM terminals WHERE id = ?`, terminal).Scan(&n); err != nil {
		return 0, "", err
	}
	stan := iso8583.STAN(n)
	rrn := ""
	if withRRN {
		rrn = acquirer.RRN(t, stan)
		if _, err := tx.Exec(ctx, `UPDATE terminals SET rrn = ? WHERE id = ?`, rrn, terminal); err != nil {
			return 0, "", err
		}
	}
	return stan, rrn, nil
}

// Counters returns the counters of terminal kept in the store: each
// number is taken in its own transaction on the terminal's row, so any
// number of processes on one database never hand out the same STAN.
func (s *Store) Counters(terminal string) acquirer.Counters { return counters{s, terminal} }

type counters struct {
	s        *Store
	terminal string
}

func (c counters) Next(ctx context.Context, t time.Time, withRRN bool) (stan iso8583.STAN, rrn string, err error) {
	err = c.s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		stan, rrn, err = nextNumber(ctx, tx, c.terminal, t, withRRN)
		return err
	})
	return stan, rrn, sqldb.Err(err, "taking a terminal's number")
}

// OweReversal records a reversal owed; see acquirer.Store.
func (s *Store) OweReversal(ctx context.Context, r acquirer.Reversal) error {
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO reversals (id, message, tries, owed_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			r.ID, r.Message, r.Tries, sqldb.Millis(r.OwedAt))
		return err
	}), "recording a reversal owed")
}

// OwedReversals returns the reversals not answered yet; see acquirer.Store.
func (s *Store) OwedReversals(ctx context.Context, limit int) ([]acquirer.Reversal, error) {
	rows, err := s.DB.Query(ctx, `SELECT id, message, tries, owed_at FROM reversals WHERE answered = '' ORDER BY owed_at, id LIMIT ?`, limit)
	if err != nil {
		return nil, sqldb.Err(err, "reading the reversals owed")
	}
	defer rows.Close()
	var out []acquirer.Reversal
	for rows.Next() {
		var r acquirer.Reversal
		var at int64
		if err := rows.Scan(&r.ID, &r.Message, &r.Tries, &at); err != nil {
			return nil, sqldb.Err(err, "reading the reversals owed")
		}
		r.OwedAt = sqldb.Time(at)
		out = append(out, r)
	}
	return out, sqldb.Err(rows.Err(), "reading the reversals owed")
}

// ReversalTried counts a send of a reversal owed; see acquirer.Store.
func (s *Store) ReversalTried(ctx context.Context, id string) error {
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE reversals SET tries = tries + 1 WHERE id = ?`, id)
		return err
	}), "counting a reversal's send")
}

// ReversalAnswered records the answer to a reversal owed; see
// acquirer.Store.
func (s *Store) ReversalAnswered(ctx context.Context, id, rc string, at time.Time) error {
	if rc == "" {
		rc = "??" // answered without a readable code: answered all the same
	}
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE reversals SET answered = ?, answered_at = ? WHERE id = ? AND answered = ''`, rc, sqldb.Millis(at), id)
		return err
	}), "recording a reversal's answer")
}

const chargeCols = `ref, token, acquirer, terminal, stan, transmission, rrn, merchant, merchant_name, mcc, amount, currency, at, kind, processing_code, auth_code, voided_at, completed, batch`

// SaveCharge remembers an approved charge; saving a reference again
// changes nothing. It fails with fault.Unavailable when the database does.
func (s *Store) SaveCharge(ctx context.Context, c acquirer.Charge) error {
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		kind, pc := c.Kind, c.ProcessingCode
		if kind == "" {
			kind = acquirer.KindSale
		}
		if pc == "" {
			pc = "000000"
		}
		_, err := tx.Exec(ctx, `INSERT INTO charges (auth_id, `+chargeCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (ref) DO NOTHING`, c.AuthID(), c.Ref, c.Token, c.Acquirer, c.Terminal, c.STAN, c.Transmission, c.RRN, c.Merchant,
			c.MerchantName, c.MCC, c.Amount, c.Currency, sqldb.Millis(c.At), string(kind), pc, c.AuthCode, sqldb.Millis(c.VoidedAt), c.Completed, c.Batch)
		return err
	}), "remembering a charge")
}

// Charge returns a charge by reference, or fault.NotFound
// acquirer.CodeChargeNotFound.
func (s *Store) Charge(ctx context.Context, ref string) (acquirer.Charge, error) {
	c, err := scanCharge(s.DB.QueryRow(ctx, `SELECT `+chargeCols+` FROM charges WHERE ref = ?`, ref))
	if sqldb.NoRows(err) {
		return c, fault.E(fault.NotFound, acquirer.CodeChargeNotFound, "no charge with this reference")
	}
	return c, sqldb.Err(err, "reading a charge")
}

// scanCharge reads one row of chargeCols.
func scanCharge(row interface{ Scan(...any) error }) (acquirer.Charge, error) {
	var c acquirer.Charge
	var at, voided int64
	var kind string
	err := row.Scan(&c.Ref, &c.Token, &c.Acquirer, &c.Terminal, &c.STAN, &c.Transmission, &c.RRN, &c.Merchant, &c.MerchantName,
		&c.MCC, &c.Amount, &c.Currency, &at, &kind, &c.ProcessingCode, &c.AuthCode, &voided, &c.Completed, &c.Batch)
	c.At, c.Kind, c.VoidedAt = sqldb.Time(at), acquirer.Kind(kind), sqldb.Time(voided)
	return c, err
}

// PlanRefund returns the parts of a refund, planning them the first time;
// see acquirer.Store. Each part's STAN is the next of its charge's
// terminal, taken in the same transaction.
func (s *Store) PlanRefund(ctx context.Context, ref string, charges []string, amount int64, now time.Time) ([]acquirer.RefundPart, error) {
	var parts []acquirer.RefundPart
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		var err error
		if parts, err = refundParts(ctx, tx, ref); err != nil || len(parts) > 0 {
			return err
		}
		left := amount
		for _, cref := range charges {
			if left <= 0 {
				break
			}
			var charged, given int64
			var terminal string
			// What the charge took: a sale's amount, a completed
			// pre-authorization's final amount; a voided charge has nothing left.
			err := tx.QueryRow(ctx, `SELECT CASE WHEN voided_at <> 0 THEN 0 WHEN completed > 0 THEN completed ELSE amount END, terminal
				FROM charges WHERE ref = ?`, cref).Scan(&charged, &terminal)
			if sqldb.NoRows(err) {
				continue
			}
			if err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, `SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM refunds WHERE charge_ref = ? AND response_code IN ('', '00')`, cref).Scan(&given); err != nil {
				return err
			}
			n := min(charged-given, left)
			if n <= 0 {
				continue
			}
			stan, _, err := nextNumber(ctx, tx, terminal, now, false)
			if err != nil {
				return err
			}
			p := acquirer.RefundPart{Ref: ref, Part: len(parts), ChargeRef: cref, Message: acquirer.NewRefundMessage(n, stan, now)}
			if _, err := tx.Exec(ctx, `INSERT INTO refunds (ref, part, charge_ref, amount, stan, transmission, local_date, local_time, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, p.Ref, p.Part, p.ChargeRef, n, p.Message.STAN, p.Message.Transmission,
				p.Message.LocalDate, p.Message.LocalTime, sqldb.Millis(now)); err != nil {
				return err
			}
			parts = append(parts, p)
			left -= n
		}
		return nil
	})
	return parts, sqldb.Err(err, "planning a refund")
}

func refundParts(ctx context.Context, tx *sqldb.Tx, ref string) ([]acquirer.RefundPart, error) {
	rows, err := tx.Query(ctx, `SELECT part, charge_ref, amount, stan, transmission, local_date, local_time, response_code, auth_code
		FROM refunds WHERE ref = ? ORDER BY part`, ref)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []acquirer.RefundPart
	for rows.Next() {
		p := acquirer.RefundPart{Ref: ref}
		if err := rows.Scan(&p.Part, &p.ChargeRef, &p.Message.Amount, &p.Message.STAN, &p.Message.Transmission, &p.Message.LocalDate,
			&p.Message.LocalTime, &p.ResponseCode, &p.AuthCode); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// AnswerRefund records the network's answer to one part of a refund. It
// fails with fault.Unavailable when the database does.
func (s *Store) AnswerRefund(ctx context.Context, ref string, part int, rc, authCode string) error {
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE refunds SET response_code = ?, auth_code = ? WHERE ref = ? AND part = ?`, rc, authCode, ref, part)
		return err
	}), "recording a refund's answer")
}

package sqlstore

import (
	"context"
	"time"

	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/sqldb"
)

// The switch's recovery: records stored while the issuer is asked
// (response_code ''), settled by FinishAuth or, after a crash (or a
// reversal reaching another switch), by AbandonAuth; and the reversals the
// issuers have still to answer.

// Deciding returns up to limit records still waiting for their answer that
// were received before t, oldest first; it fails with fault.Unavailable
// when the database does.
func (s *Store) Deciding(ctx context.Context, before time.Time, limit int) ([]netswitch.Auth, error) {
	return s.auths(ctx, "reading undecided authorizations", decidingWhere, sqldb.Millis(before), limit)
}

// decidingWhere reads the records being decided received before a time
// (switch_auths_deciding).
const decidingWhere = `WHERE response_code = '' AND received_at < ? ORDER BY received_at, id LIMIT ?`

const pendingCols = `original_id, bank_id, token, pan_sealed, acquirer, terminal, stan, transmission, rrn, merchant, local_date, local_time,
	amount, currency, remaining, queued_at`

// AbandonAuth settles a record left waiting for its answer as not answered
// (96, reason interrupted, reversed: nothing to clear; no promotion any
// more — the switch voids its hold) and queues its
// reversal at the issuer, in one transaction. It fails with fault.Conflict
// netswitch.CodeAuthSettled when the record is not waiting, and
// fault.Unavailable when the database fails.
func (s *Store) AbandonAuth(ctx context.Context, id string, at time.Time) error {
	letGo, err := s.alone(ctx)
	if err != nil {
		return err
	}
	defer letGo()
	defer s.forget(id) // settled, or not being decided: SQL knows which
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE switch_auths SET response_code = '96', reason = ?, answered_at = ?, reversed_at = ?,
			reversal_rc = 'SF', clear_amount = 0, promo = '' WHERE id = ? AND response_code = ''`, string(netswitch.ReasonInterrupted), sqldb.Millis(at), sqldb.Millis(at), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errSettled
		}
		// Its reversal, with what it takes to send it (the values in
		// detail read here): a record with a sealed card number only.
		var a netswitch.Auth
		var tv typed
		var detail string
		err = tx.QueryRow(ctx, `SELECT token, pan_sealed, detail FROM switch_auths WHERE id = ? AND pan_sealed IS NOT NULL`,
			id).Scan(&tv.token, &a.SealedPAN, &detail)
		if sqldb.NoRows(err) {
			return nil
		}
		if err == nil {
			err = decodeDetail(detail, &a, &tv)
		}
		if err != nil {
			return err
		}
		a.ID = id
		return queuePending(ctx, tx, a, tv, 0, at, `remaining = 0`)
	}), "settling an interrupted authorization")
}

// QueueReversal keeps a reversal the issuer has still to answer; one
// queued for the same original is replaced (a later reversal asks for
// less to remain). It fails with fault.Unavailable when the database does.
func (s *Store) QueueReversal(ctx context.Context, p netswitch.PendingReversal) error {
	a := p.Auth
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		return queuePending(ctx, tx, a, typed{token: a.Token.Digits(), minor: a.Amount.Minor, currency: int(a.Amount.Currency)}, p.Remaining, p.QueuedAt,
			`remaining = excluded.remaining, queued_at = excluded.queued_at`)
	}), "queueing a reversal")
}

// queuePending queues the reversal of a (its token and amount as stored:
// tv) in tx, with set the update of one queued for the same original.
func queuePending(ctx context.Context, tx *sqldb.Tx, a netswitch.Auth, tv typed, remaining int64, at time.Time, set string) error {
	_, err := tx.Exec(ctx, `INSERT INTO switch_pending_reversals (`+pendingCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (original_id) DO UPDATE SET `+set,
		a.ID, a.BankID, tv.token, a.SealedPAN, a.Acquirer, a.Terminal, a.STAN, a.Transmission, a.RRN, a.Merchant, a.LocalDate, a.LocalTime,
		tv.minor, tv.currency, remaining, sqldb.Millis(at))
	return err
}

// DoneReversal forgets a queued reversal the issuer answered, unless a
// later one (another remaining amount) replaced it meanwhile. It fails
// with fault.Unavailable when the database does.
func (s *Store) DoneReversal(ctx context.Context, originalID string, remaining int64) error {
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM switch_pending_reversals WHERE original_id = ? AND remaining = ?`, originalID, remaining)
		return err
	}), "forgetting a reversal")
}

// PendingReversals returns the queued reversals, oldest first; it fails
// with fault.Unavailable when the database does.
func (s *Store) PendingReversals(ctx context.Context) ([]netswitch.PendingReversal, error) {
	const what = "reading queued reversals"
	rows, err := s.DB.Query(ctx, `SELECT `+pendingCols+` FROM switch_pending_reversals ORDER BY queued_at, original_id`)
	if err != nil {
		return nil, sqldb.Err(err, what)
	}
	defer rows.Close()
	var out []netswitch.PendingReversal
	for rows.Next() {
		var p netswitch.PendingReversal
		a := &p.Auth
		var at int64
		var tv typed
		if err := rows.Scan(&a.ID, &a.BankID, &tv.token, &a.SealedPAN, &a.Acquirer, &a.Terminal, &a.STAN, &a.Transmission, &a.RRN, &a.Merchant,
			&a.LocalDate, &a.LocalTime, &tv.minor, &tv.currency, &p.Remaining, &at); err != nil {
			return nil, sqldb.Err(err, what)
		}
		a.Token, a.Amount = tv.values()
		p.QueuedAt = sqldb.Time(at)
		out = append(out, p)
	}
	return out, sqldb.Err(rows.Err(), what)
}

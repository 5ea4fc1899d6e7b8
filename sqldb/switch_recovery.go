package sqldb

import (
	"context"
	"database/sql"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/netswitch"
)

// The switch's recovery (migration 010): records stored while the issuer
// is asked (response_code ''), settled by FinishAuth or, after a crash, by
// AbandonAuth; and the reversals the issuers have still to answer.

var errSettled = fault.E(fault.Conflict, "auth_settled", "the authorization is no longer being decided")

// FinishAuth stores the answer of a record saved while deciding, in the
// next batch (with the new records); it fails with fault.Conflict
// "auth_settled" when the record is not waiting for its answer (the
// recovery sweep settled it), and fault.Unavailable when the database
// fails.
func (s *SwitchStore) FinishAuth(ctx context.Context, a netswitch.Auth) error {
	res, err := s.saves.Do(ctx, authWrite{a: a, finish: true})
	if err != nil {
		return err
	}
	return res
}

const finishAuth = `UPDATE switch_auths SET response_code = ?, reason = ?, auth_code = ?, answer = ?, answered_at = ?
	WHERE id = ? AND response_code = ''`

// finishOne stores one answer with the statement finishAuth: errSettled
// when the record was not waiting for it.
func finishOne(ctx context.Context, up *sql.Stmt, a netswitch.Auth) (error, error) {
	res, err := up.ExecContext(ctx, a.ResponseCode, a.Reason, a.AuthCode, a.Answer, Millis(a.AnsweredAt), a.ID)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errSettled, nil
	}
	return nil, nil
}

// Deciding returns up to limit records still waiting for their answer that
// were received before t, oldest first; it fails with fault.Unavailable
// when the database does.
func (s *SwitchStore) Deciding(ctx context.Context, before time.Time, limit int) ([]netswitch.Auth, error) {
	return s.auths(ctx, "reading undecided authorizations", `WHERE response_code = '' AND received_at < ? ORDER BY received_at, id LIMIT ?`,
		Millis(before), limit)
}

const pendingCols = `original_id, bank_id, token, pan_sealed, acquirer, terminal, stan, transmission, rrn, merchant, local_date, local_time,
	amount, currency, remaining, queued_at`

// AbandonAuth settles a record left waiting for its answer as not answered
// (96, reason "interrupted", reversed: nothing to clear) and queues its
// reversal at the issuer, in one transaction. It fails with fault.Conflict
// "auth_settled" when the record is not waiting, and fault.Unavailable
// when the database fails.
func (s *SwitchStore) AbandonAuth(ctx context.Context, id string, at time.Time) error {
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE switch_auths SET response_code = '96', reason = 'interrupted', answered_at = ?, reversed_at = ?,
			reversal_rc = 'SF', clear_amount = 0 WHERE id = ? AND response_code = ''`, Millis(at), Millis(at), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errSettled
		}
		_, err = tx.Exec(ctx, `INSERT INTO switch_pending_reversals (`+pendingCols+`)
			SELECT id, bank_id, token, pan_sealed, acquirer, terminal, stan, transmission, rrn, merchant, local_date, local_time,
				amount, currency, 0, ? FROM switch_auths WHERE id = ? AND pan_sealed IS NOT NULL
			ON CONFLICT (original_id) DO UPDATE SET remaining = 0`, Millis(at), id)
		return err
	}), "settling an interrupted authorization")
}

// QueueReversal keeps a reversal the issuer has still to answer; one
// queued for the same original is replaced (a later reversal asks for
// less to remain). It fails with fault.Unavailable when the database does.
func (s *SwitchStore) QueueReversal(ctx context.Context, p netswitch.PendingReversal) error {
	a := p.Auth
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO switch_pending_reversals (`+pendingCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (original_id) DO UPDATE SET remaining = excluded.remaining, queued_at = excluded.queued_at`,
			a.ID, a.BankID, a.Token, a.SealedPAN, a.Acquirer, a.Terminal, a.STAN, a.Transmission, a.RRN, a.Merchant, a.LocalDate, a.LocalTime,
			a.Amount, a.Currency, p.Remaining, Millis(p.QueuedAt))
		return err
	}), "queueing a reversal")
}

// DoneReversal forgets a queued reversal the issuer answered, unless a
// later one (another remaining amount) replaced it meanwhile. It fails
// with fault.Unavailable when the database does.
func (s *SwitchStore) DoneReversal(ctx context.Context, originalID string, remaining int64) error {
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM switch_pending_reversals WHERE original_id = ? AND remaining = ?`, originalID, remaining)
		return err
	}), "forgetting a reversal")
}

// PendingReversals returns the queued reversals, oldest first; it fails
// with fault.Unavailable when the database does.
func (s *SwitchStore) PendingReversals(ctx context.Context) ([]netswitch.PendingReversal, error) {
	const what = "reading queued reversals"
	rows, err := s.DB.Query(ctx, `SELECT `+pendingCols+` FROM switch_pending_reversals ORDER BY queued_at, original_id`)
	if err != nil {
		return nil, dbErr(err, what)
	}
	defer rows.Close()
	var out []netswitch.PendingReversal
	for rows.Next() {
		var p netswitch.PendingReversal
		a := &p.Auth
		var at int64
		if err := rows.Scan(&a.ID, &a.BankID, &a.Token, &a.SealedPAN, &a.Acquirer, &a.Terminal, &a.STAN, &a.Transmission, &a.RRN, &a.Merchant,
			&a.LocalDate, &a.LocalTime, &a.Amount, &a.Currency, &p.Remaining, &at); err != nil {
			return nil, dbErr(err, what)
		}
		p.QueuedAt = Time(at)
		out = append(out, p)
	}
	return out, dbErr(rows.Err(), what)
}

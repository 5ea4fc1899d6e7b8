package sqldb

import (
	"context"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/netswitch"
)

// SwitchStore keeps the card network switch's authorization records
// (tables switch_auths and switch_reversals). New records are
// group-committed: the records of concurrent authorizations are written in
// one transaction.
type SwitchStore struct {
	DB    *DB
	saves *Batcher[authWrite, error]
}

// authWrite is one write of the batch: a new record, or the answer of a
// record stored while being decided (finish, switch_recovery.go). Both go
// in the same batches, so recording before the issuer is asked costs no
// transaction of its own.
type authWrite struct {
	a      netswitch.Auth
	finish bool
}

var _ netswitch.Store = (*SwitchStore)(nil)

// NewSwitchStore returns the switch's store in db. It never fails; Close
// stops its batch worker.
func NewSwitchStore(db *DB) *SwitchStore {
	s := &SwitchStore{DB: db}
	s.saves = NewBatcher(db.workersFor(), 1000, serialized(db, s.writeAuths))
	return s
}

// Close stops the batch workers; it does not close the database.
func (s *SwitchStore) Close() { s.saves.Close() }

const authCols = `id, digest, acquirer, terminal, stan, transmission, rrn, merchant, merchant_name, mcc, local_date, local_time,
	token, token_last4, pan_last4, pan_sealed, phone_id, account_id, bank_id, amount, currency, auth_code, response_code, reason,
	answer, business_date, received_at, answered_at, reversed_at, reversal_rc, clear_amount, cleared_at, clearing_date`

// SaveAuth stores a new record in the next batch; it fails with
// fault.Conflict "auth_exists" when the identity is stored already, and
// fault.Unavailable when the database fails.
func (s *SwitchStore) SaveAuth(ctx context.Context, a netswitch.Auth) error {
	res, err := s.saves.Do(ctx, authWrite{a: a})
	if err != nil {
		return err
	}
	return res
}

const insertAuth = `INSERT INTO switch_auths (` + authCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO NOTHING`

// writeAuths runs a batch of new records and answers in one transaction.
func (s *SwitchStore) writeAuths(ctx context.Context, ws []authWrite) ([]error, error) {
	out := make([]error, len(ws))
	err := s.DB.InTx(ctx, func(tx *Tx) error {
		ins, err := tx.stmt(ctx, insertAuth)
		if err != nil {
			return err
		}
		defer ins.Close()
		up, err := tx.stmt(ctx, finishAuth)
		if err != nil {
			return err
		}
		defer up.Close()
		for i, w := range ws {
			out[i] = nil
			if w.finish {
				if out[i], err = finishOne(ctx, up, w.a); err != nil {
					return err
				}
				continue
			}
			a := w.a
			res, err := ins.ExecContext(ctx,
				a.ID, a.Digest, a.Acquirer, a.Terminal, a.STAN, a.Transmission, a.RRN, a.Merchant, a.MerchantName, a.MCC, a.LocalDate, a.LocalTime,
				a.Token, a.TokenLast4, a.PANLast4, a.SealedPAN, a.PhoneID, a.AccountID, a.BankID, a.Amount, a.Currency, a.AuthCode, a.ResponseCode, a.Reason,
				a.Answer, a.BusinessDate, Millis(a.ReceivedAt), Millis(a.AnsweredAt), Millis(a.ReversedAt), a.ReversalRC, a.ClearAmount, Millis(a.ClearedAt), a.ClearingDate)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				out[i] = fault.E(fault.Conflict, "auth_exists", "an authorization with this identity is already stored")
			}
		}
		return nil
	})
	if err != nil {
		return nil, dbErr(err, "storing authorizations")
	}
	return out, nil
}

func scanAuth(sc interface{ Scan(...any) error }) (netswitch.Auth, error) {
	var a netswitch.Auth
	var recv, ans, rev, clr int64
	err := sc.Scan(&a.ID, &a.Digest, &a.Acquirer, &a.Terminal, &a.STAN, &a.Transmission, &a.RRN, &a.Merchant, &a.MerchantName, &a.MCC, &a.LocalDate, &a.LocalTime,
		&a.Token, &a.TokenLast4, &a.PANLast4, &a.SealedPAN, &a.PhoneID, &a.AccountID, &a.BankID, &a.Amount, &a.Currency, &a.AuthCode, &a.ResponseCode, &a.Reason,
		&a.Answer, &a.BusinessDate, &recv, &ans, &rev, &a.ReversalRC, &a.ClearAmount, &clr, &a.ClearingDate)
	a.ReceivedAt, a.AnsweredAt, a.ReversedAt, a.ClearedAt = Time(recv), Time(ans), Time(rev), Time(clr)
	return a, err
}

func (s *SwitchStore) auths(ctx context.Context, what, where string, args ...any) ([]netswitch.Auth, error) {
	rows, err := s.DB.Query(ctx, `SELECT `+authCols+` FROM switch_auths `+where, args...)
	if err != nil {
		return nil, dbErr(err, what)
	}
	defer rows.Close()
	var out []netswitch.Auth
	for rows.Next() {
		a, err := scanAuth(rows)
		if err != nil {
			return nil, dbErr(err, what)
		}
		out = append(out, a)
	}
	return out, dbErr(rows.Err(), what)
}

// Auth returns a record by identity, or fault.NotFound "auth_not_found".
func (s *SwitchStore) Auth(ctx context.Context, id string) (netswitch.Auth, error) {
	a, err := scanAuth(s.DB.QueryRow(ctx, `SELECT `+authCols+` FROM switch_auths WHERE id = ?`, id))
	if NoRows(err) {
		return a, fault.E(fault.NotFound, "auth_not_found", "no such authorization")
	}
	return a, dbErr(err, "reading an authorization")
}

// MarkReversed records a reversal, or a further one lowering what remains
// to clear; it fails with fault.NotFound "auth_not_found" for an unknown
// id.
func (s *SwitchStore) MarkReversed(ctx context.Context, id string, at time.Time, rc string, remaining int64) error {
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE switch_auths SET reversed_at = ?, reversal_rc = ?, clear_amount = ? WHERE id = ? AND (reversed_at = 0 OR clear_amount > ?)`,
			Millis(at), rc, remaining, id, remaining)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		var x int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM switch_auths WHERE id = ?`, id).Scan(&x); NoRows(err) {
			return fault.E(fault.NotFound, "auth_not_found", "no such authorization")
		} else {
			return err
		}
	}), "recording a reversal")
}

// SaveReversal remembers a reversal of an unknown original, once.
func (s *SwitchStore) SaveReversal(ctx context.Context, r netswitch.Reversal) error {
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO switch_reversals (original_id, rrn, at) VALUES (?, ?, ?) ON CONFLICT (original_id) DO NOTHING`, r.OriginalID, r.RRN, Millis(r.At))
		return err
	}), "remembering a reversal")
}

// ReversalFor returns the remembered reversal of an original, or
// fault.NotFound "reversal_not_found".
func (s *SwitchStore) ReversalFor(ctx context.Context, originalID string) (netswitch.Reversal, error) {
	var r netswitch.Reversal
	var at int64
	err := s.DB.QueryRow(ctx, `SELECT original_id, rrn, at FROM switch_reversals WHERE original_id = ?`, originalID).Scan(&r.OriginalID, &r.RRN, &at)
	if NoRows(err) {
		return r, fault.E(fault.NotFound, "reversal_not_found", "no reversal remembered for this authorization")
	}
	r.At = Time(at)
	return r, dbErr(err, "reading a reversal")
}

// ReversalsSince returns the remembered reversals made at or after t.
func (s *SwitchStore) ReversalsSince(ctx context.Context, t time.Time) ([]netswitch.Reversal, error) {
	rows, err := s.DB.Query(ctx, `SELECT original_id, rrn, at FROM switch_reversals WHERE at >= ? ORDER BY at`, Millis(t))
	if err != nil {
		return nil, dbErr(err, "reading reversals")
	}
	defer rows.Close()
	var out []netswitch.Reversal
	for rows.Next() {
		var r netswitch.Reversal
		var at int64
		if err := rows.Scan(&r.OriginalID, &r.RRN, &at); err != nil {
			return nil, dbErr(err, "reading reversals")
		}
		r.At = Time(at)
		out = append(out, r)
	}
	return out, dbErr(rows.Err(), "reading reversals")
}

// PhoneAuths returns a phone's records, newest first.
func (s *SwitchStore) PhoneAuths(ctx context.Context, phoneID string, limit int) ([]netswitch.Auth, error) {
	if limit <= 0 {
		limit = 50
	}
	return s.auths(ctx, "reading a phone's payments", `WHERE phone_id = ? ORDER BY received_at DESC, id DESC LIMIT ?`, phoneID, limit)
}

// DayAuths returns the records of a business date, oldest first.
func (s *SwitchStore) DayAuths(ctx context.Context, businessDate string) ([]netswitch.Auth, error) {
	return s.auths(ctx, "reading a day's authorizations", `WHERE business_date = ? ORDER BY received_at, id`, businessDate)
}

// MarkCleared records the clearing of records not cleared before.
func (s *SwitchStore) MarkCleared(ctx context.Context, ids []string, clearingDate string, at time.Time) error {
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error {
		for _, id := range ids {
			if _, err := tx.Exec(ctx, `UPDATE switch_auths SET cleared_at = ?, clearing_date = ? WHERE id = ? AND cleared_at = 0`, Millis(at), clearingDate, id); err != nil {
				return err
			}
		}
		return nil
	}), "marking authorizations cleared")
}

// IssuerReversals keeps the issuer hosts' memory of reversals whose
// original they never saw (table issuer_reversals).
type IssuerReversals struct{ DB *DB }

var _ issuer.ReversalStore = (*IssuerReversals)(nil)

// RememberReversal records that the original with this identity was
// reversed at the bank before it arrived; recording it again changes nothing.
func (s *IssuerReversals) RememberReversal(ctx context.Context, bankID, originalID string, at time.Time) error {
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO issuer_reversals (bank_id, original_id, at) VALUES (?, ?, ?) ON CONFLICT (bank_id, original_id) DO NOTHING`, bankID, originalID, Millis(at))
		return err
	}), "remembering a reversal")
}

// Reversed returns the identities a bank remembers as reversed before
// their original arrived.
func (s *IssuerReversals) Reversed(ctx context.Context, bankID string) ([]string, error) {
	rows, err := s.DB.Query(ctx, `SELECT original_id FROM issuer_reversals WHERE bank_id = ?`, bankID)
	if err != nil {
		return nil, dbErr(err, "reading reversals")
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, dbErr(err, "reading reversals")
		}
		out = append(out, id)
	}
	return out, dbErr(rows.Err(), "reading reversals")
}

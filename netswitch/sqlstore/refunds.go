package sqlstore

import (
	"context"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/sqldb"
)

// The switch's refund records (table switch_refunds).

const refundCols = `id, digest, original_id, acquirer, terminal, stan, transmission, rrn, merchant, merchant_name, local_date, local_time,
	token, token_last4, pan_last4, phone_id, account_id, bank_id, amount, currency, auth_code, response_code, reason, answer,
	business_date, received_at, answered_at, cleared_at, clearing_date, promo`

var (
	errRefundExceeds = fault.E(fault.Conflict, netswitch.CodeRefundExceeds, "the refund exceeds what is left of its original")
	errRefundClash   = fault.E(fault.Conflict, netswitch.CodeRefundExists, "a refund with this identity claimed another original or amount")
	errNoOriginal    = fault.E(fault.NotFound, "original_not_found", "the refund's original is not an approved authorization")
)

// ClaimRefund claims amount of what is left of an approved original for
// the refund refundID (netswitch.RefundStore): the claim is stored once by
// the refund's identity, and the original's refunded total raised by a
// conditional update that keeps it within its clear amount — on
// PostgreSQL the update waits for, and re-reads, a concurrent one on the
// same row, so two switches never both fit. It fails with fault.Conflict
// CodeRefundExceeds or CodeRefundExists, fault.NotFound for an original
// that is not approved, and fault.Unavailable when the database fails.
func (s *Store) ClaimRefund(ctx context.Context, refundID, originalID string, amount int64) error {
	if err := s.caughtUp(ctx); err != nil {
		return err
	}
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		res, err := tx.Exec(ctx, `INSERT INTO switch_refund_claims (refund_id, original_id, amount) VALUES (?, ?, ?) ON CONFLICT (refund_id) DO NOTHING`,
			refundID, originalID, amount)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			var orig string
			var was int64
			if err := tx.QueryRow(ctx, `SELECT original_id, amount FROM switch_refund_claims WHERE refund_id = ?`, refundID).Scan(&orig, &was); err != nil {
				return err
			}
			if orig != originalID || was != amount {
				return errRefundClash
			}
			return nil // claimed already: a repeat of the refund
		}
		res, err = tx.Exec(ctx, `UPDATE switch_auths SET refunded = refunded + ? WHERE id = ? AND response_code = '00' AND refunded + ? <= clear_amount`,
			amount, originalID, amount)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		var found int
		err = tx.QueryRow(ctx, `SELECT 1 FROM switch_auths WHERE id = ? AND response_code = '00'`, originalID).Scan(&found)
		if sqldb.NoRows(err) {
			return errNoOriginal
		}
		if err != nil {
			return err
		}
		return errRefundExceeds
	})
	return sqldb.Err(err, "claiming a refund")
}

// release gives back a refund's claim, if it has one, in tx.
func release(ctx context.Context, tx *sqldb.Tx, refundID string) error {
	var orig string
	var amount int64
	err := tx.QueryRow(ctx, `SELECT original_id, amount FROM switch_refund_claims WHERE refund_id = ?`, refundID).Scan(&orig, &amount)
	if sqldb.NoRows(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM switch_refund_claims WHERE refund_id = ?`, refundID); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE switch_auths SET refunded = refunded - ? WHERE id = ?`, amount, orig)
	return err
}

// SaveRefund stores a new refund record — one not approved giving its
// claim back in the same transaction; it fails with fault.Conflict
// "refund_exists" when the identity is stored already, and
// fault.Unavailable when the database fails.
func (s *Store) SaveRefund(ctx context.Context, r netswitch.Refund) error {
	if err := s.caughtUp(ctx); err != nil {
		return err
	}
	var dup bool
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		res, err := tx.Exec(ctx, `INSERT INTO switch_refunds (`+refundCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`,
			r.ID, r.Digest, r.OriginalID, r.Acquirer, r.Terminal, r.STAN, r.Transmission, r.RRN, r.Merchant, r.MerchantName, r.LocalDate, r.LocalTime,
			r.Token.Digits(), r.TokenLast4, r.PANLast4, r.PhoneID, r.AccountID, r.BankID, r.Amount.Minor, int(r.Amount.Currency), r.AuthCode, string(r.ResponseCode), string(r.Reason), r.Answer,
			r.BusinessDate, sqldb.Millis(r.ReceivedAt), sqldb.Millis(r.AnsweredAt), sqldb.Millis(r.ClearedAt), r.ClearingDate, jsonOf(r.Promo))
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		dup = n != 1
		if dup || r.Approved() {
			return nil
		}
		return release(ctx, tx, r.ID)
	})
	if err != nil {
		return sqldb.Err(err, "storing a refund")
	}
	if dup {
		return fault.E(fault.Conflict, "refund_exists", "a refund with this identity is already stored")
	}
	return nil
}

func scanRefund(sc interface{ Scan(...any) error }) (netswitch.Refund, error) {
	var r netswitch.Refund
	var recv, ans, clr int64
	var rc, reason, pr string
	var tv typed
	err := sc.Scan(&r.ID, &r.Digest, &r.OriginalID, &r.Acquirer, &r.Terminal, &r.STAN, &r.Transmission, &r.RRN, &r.Merchant, &r.MerchantName,
		&r.LocalDate, &r.LocalTime, &tv.token, &r.TokenLast4, &r.PANLast4, &r.PhoneID, &r.AccountID, &r.BankID, &tv.minor, &tv.currency,
		&r.AuthCode, &rc, &reason, &r.Answer, &r.BusinessDate, &recv, &ans, &clr, &r.ClearingDate, &pr)
	if err == nil {
		r.Promo, err = fromJSON[netswitch.PromoRefund](pr)
	}
	r.ResponseCode, r.Reason = iso8583.ResponseCode(rc), netswitch.Reason(reason)
	r.Token, r.Amount = tv.values()
	r.ReceivedAt, r.AnsweredAt, r.ClearedAt = sqldb.Time(recv), sqldb.Time(ans), sqldb.Time(clr)
	return r, err
}

// Refund returns a refund record by identity, or fault.NotFound
// "refund_not_found".
func (s *Store) Refund(ctx context.Context, id string) (netswitch.Refund, error) {
	if err := s.caughtUp(ctx); err != nil {
		return netswitch.Refund{}, err
	}
	r, err := scanRefund(s.DB.QueryRow(ctx, `SELECT `+refundCols+` FROM switch_refunds WHERE id = ?`, id))
	if sqldb.NoRows(err) {
		return r, fault.E(fault.NotFound, "refund_not_found", "no such refund")
	}
	return r, sqldb.Err(err, "reading a refund")
}

// Refunded returns the sum of the approved refunds of an original
// authorization (0 when none); it fails with fault.Unavailable when the
// database does.
func (s *Store) Refunded(ctx context.Context, originalID string) (int64, error) {
	if err := s.caughtUp(ctx); err != nil {
		return 0, err
	}
	var n int64
	err := s.DB.QueryRow(ctx, `SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM switch_refunds WHERE original_id = ? AND response_code = '00'`, originalID).Scan(&n)
	return n, sqldb.Err(err, "reading refunds")
}

// DayRefunds returns the refund records of a business date, oldest first;
// it fails with fault.Unavailable when the database does.
func (s *Store) DayRefunds(ctx context.Context, businessDate string) ([]netswitch.Refund, error) {
	if err := s.caughtUp(ctx); err != nil {
		return nil, err
	}
	const what = "reading a day's refunds"
	rows, err := s.DB.Query(ctx, `SELECT `+refundCols+` FROM switch_refunds WHERE business_date = ? ORDER BY received_at, id`, businessDate)
	if err != nil {
		return nil, sqldb.Err(err, what)
	}
	defer rows.Close()
	var out []netswitch.Refund
	for rows.Next() {
		r, err := scanRefund(rows)
		if err != nil {
			return nil, sqldb.Err(err, what)
		}
		out = append(out, r)
	}
	return out, sqldb.Err(rows.Err(), what)
}

// MarkRefundsCleared records the clearing of refunds not cleared before;
// it fails with fault.Unavailable when the database does.
func (s *Store) MarkRefundsCleared(ctx context.Context, ids []string, clearingDate string, at time.Time) error {
	return s.markCleared(ctx, "switch_refunds", ids, clearingDate, at)
}

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
	business_date, received_at, answered_at, cleared_at, clearing_date`

// SaveRefund stores a new refund record; it fails with fault.Conflict
// "refund_exists" when the identity is stored already, and
// fault.Unavailable when the database fails.
func (s *Store) SaveRefund(ctx context.Context, r netswitch.Refund) error {
	var dup bool
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		res, err := tx.Exec(ctx, `INSERT INTO switch_refunds (`+refundCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`,
			r.ID, r.Digest, r.OriginalID, r.Acquirer, r.Terminal, r.STAN, r.Transmission, r.RRN, r.Merchant, r.MerchantName, r.LocalDate, r.LocalTime,
			r.Token, r.TokenLast4, r.PANLast4, r.PhoneID, r.AccountID, r.BankID, r.Amount, r.Currency, r.AuthCode, string(r.ResponseCode), string(r.Reason), r.Answer,
			r.BusinessDate, sqldb.Millis(r.ReceivedAt), sqldb.Millis(r.AnsweredAt), sqldb.Millis(r.ClearedAt), r.ClearingDate)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		dup = n != 1
		return nil
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
	var rc, reason string
	err := sc.Scan(&r.ID, &r.Digest, &r.OriginalID, &r.Acquirer, &r.Terminal, &r.STAN, &r.Transmission, &r.RRN, &r.Merchant, &r.MerchantName,
		&r.LocalDate, &r.LocalTime, &r.Token, &r.TokenLast4, &r.PANLast4, &r.PhoneID, &r.AccountID, &r.BankID, &r.Amount, &r.Currency,
		&r.AuthCode, &rc, &reason, &r.Answer, &r.BusinessDate, &recv, &ans, &clr, &r.ClearingDate)
	r.ResponseCode, r.Reason = iso8583.ResponseCode(rc), netswitch.Reason(reason)
	r.ReceivedAt, r.AnsweredAt, r.ClearedAt = sqldb.Time(recv), sqldb.Time(ans), sqldb.Time(clr)
	return r, err
}

// Refund returns a refund record by identity, or fault.NotFound
// "refund_not_found".
func (s *Store) Refund(ctx context.Context, id string) (netswitch.Refund, error) {
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
	var n int64
	err := s.DB.QueryRow(ctx, `SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM switch_refunds WHERE original_id = ? AND response_code = '00'`, originalID).Scan(&n)
	return n, sqldb.Err(err, "reading refunds")
}

// DayRefunds returns the refund records of a business date, oldest first;
// it fails with fault.Unavailable when the database does.
func (s *Store) DayRefunds(ctx context.Context, businessDate string) ([]netswitch.Refund, error) {
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

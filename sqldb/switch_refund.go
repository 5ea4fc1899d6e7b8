package sqldb

import (
	"context"

	"github.com/tapwallet/tapwallet/issuer"
)

// Refunds over the card network (migration 008_refunds.sql): the issuers'
// refunds and refunded totals (issuer_refunds, issuer_refund_totals); the
// switch's refund records are the network's wing (netswitch/sqlstore). The
// acquirer's side
// (charges and refund messages) is the acquirer's own wing,
// acquirer/sqlstore; the tables acquirer_charges and acquirer_refunds of
// 008_refunds.sql are no longer used.

var _ issuer.RefundStore = (*IssuerReversals)(nil)

// ReserveRefund counts a refund against its original in one transaction:
// a refund stored before is Repeated (Clashes if it names another original
// or amount); a new one is counted, and stored, only if the original's
// refunded total stays at most limit (the total's row is updated with that
// condition, so concurrent refunds of one original, on any number of
// hosts, cannot both fit). It fails with fault.Unavailable when the
// database does.
func (s *IssuerReversals) ReserveRefund(ctx context.Context, r issuer.Refund, limit int64) (issuer.Reserve, error) {
	var out issuer.Reserve
	err := s.DB.InTx(ctx, func(tx *Tx) error {
		var orig string
		var amount int64
		err := tx.QueryRow(ctx, `SELECT original_id, amount FROM issuer_refunds WHERE bank_id = ? AND id = ?`, r.BankID, r.ID).Scan(&orig, &amount)
		if err == nil {
			out = issuer.Repeated
			if orig != r.OriginalID || amount != r.Amount {
				out = issuer.Clashes
			}
			return nil
		}
		if !NoRows(err) {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO issuer_refund_totals (bank_id, original_id, refunded) VALUES (?, ?, 0) ON CONFLICT (bank_id, original_id) DO NOTHING`,
			r.BankID, r.OriginalID); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `UPDATE issuer_refund_totals SET refunded = refunded + ? WHERE bank_id = ? AND original_id = ? AND refunded + ? <= ?`,
			r.Amount, r.BankID, r.OriginalID, r.Amount, limit)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			out = issuer.Exceeds
			return nil
		}
		if _, err := tx.Exec(ctx, `INSERT INTO issuer_refunds (bank_id, id, original_id, amount, at) VALUES (?, ?, ?, ?, ?)`,
			r.BankID, r.ID, r.OriginalID, r.Amount, Millis(r.At)); err != nil {
			return err
		}
		out = issuer.Reserved
		return nil
	})
	if err != nil && IsUniqueViolation(err) {
		// The same refund counted by another host at the same moment: ask again.
		return s.ReserveRefund(ctx, r, limit)
	}
	return out, dbErr(err, "counting a refund")
}

// Refunded returns what an original has had refunded at a bank (0 when
// nothing); it fails with fault.Unavailable when the database does.
func (s *IssuerReversals) Refunded(ctx context.Context, bankID, originalID string) (int64, error) {
	var n int64
	err := s.DB.QueryRow(ctx, `SELECT refunded FROM issuer_refund_totals WHERE bank_id = ? AND original_id = ?`, bankID, originalID).Scan(&n)
	if NoRows(err) {
		return 0, nil
	}
	return n, dbErr(err, "reading refunds")
}

package sqldb

import (
	"context"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/netswitch"
)

// Refunds over the card network (migration 008_refunds.sql): (the
// switch's refund records are the network's wing, netswitch/sqlstore) the
// issuers' refunds and refunded totals (issuer_refunds, issuer_refund_totals), and the acquirer side's
// charges and refund messages (acquirer_charges, acquirer_refunds).

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

// AcquirerStore keeps what an acquirer (the transit operators as
// merchants) needs to give money back over the card network: the charges
// the network approved (acquirer_charges) and the refund messages sent
// against them (acquirer_refunds).
type AcquirerStore struct{ DB *DB }

const chargeCols = `ref, token, acquirer, terminal, stan, transmission, rrn, merchant, merchant_name, mcc, amount, currency, at`

// SaveCharge remembers an approved charge; saving a reference again
// changes nothing. It fails with fault.Unavailable when the database does.
func (s *AcquirerStore) SaveCharge(ctx context.Context, c netswitch.Charge) error {
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO acquirer_charges (auth_id, `+chargeCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (ref) DO NOTHING`, c.AuthID(), c.Ref, c.Token, c.Acquirer, c.Terminal, c.STAN, c.Transmission, c.RRN, c.Merchant,
			c.MerchantName, c.MCC, c.Amount, c.Currency, Millis(c.At))
		return err
	}), "remembering a charge")
}

func scanCharge(sc interface{ Scan(...any) error }) (netswitch.Charge, error) {
	var c netswitch.Charge
	var at int64
	err := sc.Scan(&c.Ref, &c.Token, &c.Acquirer, &c.Terminal, &c.STAN, &c.Transmission, &c.RRN, &c.Merchant, &c.MerchantName, &c.MCC,
		&c.Amount, &c.Currency, &at)
	c.At = Time(at)
	return c, err
}

// Charge returns a charge by reference, or fault.NotFound
// "charge_not_found".
func (s *AcquirerStore) Charge(ctx context.Context, ref string) (netswitch.Charge, error) {
	c, err := scanCharge(s.DB.QueryRow(ctx, `SELECT `+chargeCols+` FROM acquirer_charges WHERE ref = ?`, ref))
	if NoRows(err) {
		return c, fault.E(fault.NotFound, "charge_not_found", "no charge with this reference")
	}
	return c, dbErr(err, "reading a charge")
}

// PlanRefund returns the parts of the refund ref: those planned before, or
// — the first time — new ones, in one transaction: amount spread over the
// charges named (in the order given), each part at most what its charge
// has left (its amount less the parts of other refunds not declined), each
// with a new STAN from stan and the transmission time now. The parts may
// come to less than amount when the charges have less left. It fails with
// fault.Unavailable when the database does.
func (s *AcquirerStore) PlanRefund(ctx context.Context, ref string, charges []string, amount int64, stan func() iso8583.STAN, now time.Time) ([]netswitch.RefundPart, error) {
	var parts []netswitch.RefundPart
	err := s.DB.InTx(ctx, func(tx *Tx) error {
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
			err := tx.QueryRow(ctx, `SELECT amount FROM acquirer_charges WHERE ref = ?`, cref).Scan(&charged)
			if NoRows(err) {
				continue
			}
			if err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, `SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM acquirer_refunds WHERE charge_ref = ? AND response_code IN ('', '00')`, cref).Scan(&given); err != nil {
				return err
			}
			n := min(charged-given, left)
			if n <= 0 {
				continue
			}
			p := netswitch.RefundPart{Ref: ref, Part: len(parts), ChargeRef: cref, Message: netswitch.NewRefundMessage(n, stan(), now)}
			if _, err := tx.Exec(ctx, `INSERT INTO acquirer_refunds (ref, part, charge_ref, amount, stan, transmission, local_date, local_time, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, p.Ref, p.Part, p.ChargeRef, n, p.Message.STAN, p.Message.Transmission,
				p.Message.LocalDate, p.Message.LocalTime, Millis(now)); err != nil {
				return err
			}
			parts = append(parts, p)
			left -= n
		}
		return nil
	})
	return parts, dbErr(err, "planning a refund")
}

func refundParts(ctx context.Context, tx *Tx, ref string) ([]netswitch.RefundPart, error) {
	rows, err := tx.Query(ctx, `SELECT part, charge_ref, amount, stan, transmission, local_date, local_time, response_code, auth_code
		FROM acquirer_refunds WHERE ref = ? ORDER BY part`, ref)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []netswitch.RefundPart
	for rows.Next() {
		p := netswitch.RefundPart{Ref: ref}
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
func (s *AcquirerStore) AnswerRefund(ctx context.Context, ref string, part int, rc, authCode string) error {
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `UPDATE acquirer_refunds SET response_code = ?, auth_code = ? WHERE ref = ? AND part = ?`, rc, authCode, ref, part)
		return err
	}), "recording a refund's answer")
}

// TransitLoadCharges returns the payment references of a transit card's
// loads that reached the card, newest first: the charges a refund of the
// card's balance gives back. It fails with fault.Unavailable when the
// database does.
func (s *AcquirerStore) TransitLoadCharges(ctx context.Context, cardNumber string) ([]string, error) {
	rows, err := s.DB.Query(ctx, `SELECT payment_ref FROM transit_loads WHERE card = ? AND state = 'done' ORDER BY created_at DESC, id DESC`, cardNumber)
	if err != nil {
		return nil, dbErr(err, "reading a card's loads")
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var ref string
		if err := rows.Scan(&ref); err != nil {
			return nil, dbErr(err, "reading a card's loads")
		}
		out = append(out, ref)
	}
	return out, dbErr(rows.Err(), "reading a card's loads")
}

package sqldb

import (
	"context"
	"time"

	"github.com/tapwallet/tapwallet/issuer"
)

// The switch's records moved to the network's own wing
// (netswitch/sqlstore); what stays here is the issuer hosts' part, until
// the issuers' wing takes it.

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

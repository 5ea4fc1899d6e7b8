package sqldb

import (
	"context"
	"encoding/hex"

	"github.com/tapwallet/tapwallet/tsp"
)

var (
	_ tsp.KeyLister = (*TokenStore)(nil)
	_ tsp.Alerter   = (*TokenStore)(nil)
)

// AddMessage queues a message to a card holder in the one-time-code outbox
// (an alert, tied to no binding).
func (s *TokenStore) AddMessage(ctx context.Context, m tsp.OTPMessage) error {
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO otp_outbox (id, account_id, binding_id, message, created_at) VALUES (?, ?, ?, ?, ?)`,
			m.ID, m.AccountID, m.BindingID, m.Message, Millis(m.CreatedAt))
		return err
	}), "queueing a message to the card holder")
}

// LUKs lists a token's limited-use keys by index (for a phone's sync).
func (s *TokenStore) LUKs(ctx context.Context, token string) ([]tsp.LUK, error) {
	rows, err := s.DB.Query(ctx, `SELECT token, key_index, issued_at, expires_at, used_at, used_atc, used_arqc FROM luks WHERE token = ? ORDER BY key_index`, token)
	if err != nil {
		return nil, dbErr(err, "listing limited-use keys")
	}
	defer rows.Close()
	var out []tsp.LUK
	for rows.Next() {
		var k tsp.LUK
		var issued, exp, used int64
		var arqc string
		if err := rows.Scan(&k.Token, &k.Index, &issued, &exp, &used, &k.UsedATC, &arqc); err != nil {
			return nil, dbErr(err, "listing limited-use keys")
		}
		k.IssuedAt, k.ExpiresAt, k.UsedAt = Time(issued), Time(exp), Time(used)
		k.UsedARQC, _ = hex.DecodeString(arqc)
		out = append(out, k)
	}
	return out, dbErr(rows.Err(), "listing limited-use keys")
}

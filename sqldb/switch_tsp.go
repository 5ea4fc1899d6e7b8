package sqldb

import (
	"context"

	"github.com/tapwallet/tapwallet/tsp"
)

var _ tsp.KeyLister = (*TokenStore)(nil)

// LUKs lists a token's limited-use keys by index (for a phone's sync).
func (s *TokenStore) LUKs(ctx context.Context, token string) ([]tsp.LUK, error) {
	rows, err := s.DB.Query(ctx, `SELECT token, key_index, issued_at, expires_at, used_at, used_atc FROM luks WHERE token = ? ORDER BY key_index`, token)
	if err != nil {
		return nil, dbErr(err, "listing limited-use keys")
	}
	defer rows.Close()
	var out []tsp.LUK
	for rows.Next() {
		var k tsp.LUK
		var issued, exp, used int64
		if err := rows.Scan(&k.Token, &k.Index, &issued, &exp, &used, &k.UsedATC); err != nil {
			return nil, dbErr(err, "listing limited-use keys")
		}
		k.IssuedAt, k.ExpiresAt, k.UsedAt = Time(issued), Time(exp), Time(used)
		out = append(out, k)
	}
	return out, dbErr(rows.Err(), "listing limited-use keys")
}

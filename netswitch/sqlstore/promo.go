package sqlstore

import (
	"context"
	"encoding/json"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/sqldb"
)

// The promotions' part of the records (migration 003_promo): the card's
// PAR and the promotion applied, as JSON.

var (
	_ netswitch.PromoRecords   = (*Store)(nil)
	_ netswitch.NewCardHolders = (*Store)(nil)
)

// jsonOf is v as stored: ” for nil, else its JSON.
func jsonOf[T any](v *T) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "" // a plain struct of strings and numbers: cannot happen
	}
	return string(b)
}

// fromJSON reads a column written by jsonOf: nil for ”.
func fromJSON[T any](s string) (*T, error) {
	if s == "" {
		return nil, nil
	}
	v := new(T)
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return nil, fault.Wrap(err, fault.Internal, "switch_promo", "a stored promotion does not decode")
	}
	return v, nil
}

// SetPromo replaces the promotion of a record (nil: none any more), after
// a partial reversal. It fails with fault.NotFound for an unknown id.
func (s *Store) SetPromo(ctx context.Context, id string, r *promo.Redemption) error {
	if err := s.caughtUp(ctx); err != nil {
		return err
	}
	var n int64
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE switch_auths SET promo = ? WHERE id = ? AND `+records, jsonOf(r), id)
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return sqldb.Err(err, "recording a promotion")
	}
	if n != 1 {
		return fault.E(fault.NotFound, netswitch.CodeAuthNotFound, "no such authorization")
	}
	return nil
}

// purchasedBefore reads whether a card has a purchase that stays captured,
// on switch_auths_par: the index holds the records with a PAR only, and
// SQLite takes it only for a query that says so (par not empty); with
// par = ? alone it read every record.
const purchasedBefore = `SELECT 1 FROM switch_auths WHERE par = ? AND par <> '' AND id <> ? AND response_code = '00' AND clear_amount > 0 LIMIT 1`

// PurchasedBefore reports whether the card par has an approved purchase
// other than id that stays captured (not reversed in full).
func (s *Store) PurchasedBefore(ctx context.Context, par, id string) (bool, error) {
	if err := s.caughtUp(ctx); err != nil {
		return false, err
	}
	var one int
	err := s.DB.QueryRow(ctx, purchasedBefore, par, id).Scan(&one)
	if sqldb.NoRows(err) {
		return false, nil
	}
	return err == nil, sqldb.Err(err, "reading a card's purchases")
}

package sqlstore

import (
	"context"
	"time"

	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/sqldb"
)

// Promoted returns the approved records that name a promotion among those
// received within window of the last record received, oldest first: the
// holds a switch that decides them in memory may have answered before
// the promotions' wing stored them (netswitch.PromoHold), for the wing to
// be given again at a start. No record: none. It fails with
// fault.Unavailable when the database does.
func (s *Store) Promoted(ctx context.Context, window time.Duration) ([]netswitch.Auth, error) {
	if err := s.caughtUp(ctx); err != nil {
		return nil, err
	}
	var day string
	var last int64
	err := s.DB.QueryRow(ctx, lastAuth).Scan(&day, &last)
	if sqldb.NoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, sqldb.Err(err, "reading the last authorization")
	}
	since := sqldb.Time(last).Add(-window)
	// The day index: business dates from the window's start's (UTC, as
	// the switch writes them), received from its start.
	as, err := s.auths(ctx, "reading the promoted authorizations", promotedWhere, since.UTC().Format("20060102"), sqldb.Millis(since))
	if err != nil {
		return nil, err
	}
	return as, nil
}

// The last record received, and the promoted records of a window (from
// its business date and time on), both on switch_auths_day.
const (
	lastAuth      = `SELECT business_date, received_at FROM switch_auths ORDER BY business_date DESC, received_at DESC LIMIT 1`
	promotedWhere = `WHERE business_date >= ? AND received_at >= ? AND promo <> '' AND response_code = '00' ORDER BY received_at, id`
)

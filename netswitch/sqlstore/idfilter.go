package sqlstore

import (
	"context"

	"github.com/tapwallet/tapwallet/id/idfilter"
	"github.com/tapwallet/tapwallet/sqldb"
)

// loadIDs fills a filter (package idfilter: a Bloom filter) with every
// identity in switch_auths (records and reversals' markers), sized for
// twice as many, so that SaveAuth on the journal asks SQL whether an
// identity is stored only when the filter says it may be.
func (s *Store) loadIDs(ctx context.Context) (*idfilter.Filter, error) {
	const what = "reading the stored identities"
	var n int
	if err := s.DB.QueryRow(ctx, `SELECT COUNT(*) FROM switch_auths`).Scan(&n); err != nil {
		return nil, sqldb.Err(err, what)
	}
	f := idfilter.New(2 * n)
	rows, err := s.DB.Query(ctx, `SELECT id FROM switch_auths`)
	if err != nil {
		return nil, sqldb.Err(err, what)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, sqldb.Err(err, what)
		}
		f.Add(id)
	}
	return f, sqldb.Err(rows.Err(), what)
}

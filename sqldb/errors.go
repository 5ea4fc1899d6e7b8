package sqldb

import "github.com/tapwallet/tapwallet/fault"

// OneRow turns an UPDATE's outcome into nil (one row or more changed),
// fault.NotFound with code (no row), or a database error (Err with what).
// The wings use it for updates of one named row.
func OneRow(r interface{ RowsAffected() (int64, error) }, err error, code, msg, what string) error {
	if err != nil {
		return Err(err, what)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return Err(err, what)
	}
	if n == 0 {
		return fault.E(fault.NotFound, code, "%s", msg)
	}
	return nil
}

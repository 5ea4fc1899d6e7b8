package sqldb

import "github.com/tapwallet/tapwallet/fault"

// dbErr is Err for the stores still in this package.
func dbErr(err error, what string) error { return Err(err, what) }

// OneRow turns an UPDATE's outcome into nil (one row or more changed),
// fault.NotFound with code (no row), or a database error (Err with what).
func OneRow(r interface{ RowsAffected() (int64, error) }, err error, code, msg, what string) error {
	if err != nil {
		return dbErr(err, what)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return dbErr(err, what)
	}
	if n == 0 {
		return fault.E(fault.NotFound, code, "%s", msg)
	}
	return nil
}

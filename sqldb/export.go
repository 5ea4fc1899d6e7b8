package sqldb

import (
	"context"
	"database/sql"

	"github.com/tapwallet/tapwallet/fault"
)

// What the storage wings (each party's sqlstore package) use of the kernel
// beyond DB and Tx: prepared statements, the error wrapping and the
// batcher's helpers.

// Stmt returns q (with ? placeholders) as a statement of the transaction,
// prepared once for the database and kept (see the statement cache). It
// fails when q does not prepare.
func (t *Tx) Stmt(ctx context.Context, q string) (*sql.Stmt, error) { return t.stmt(ctx, q) }

// Prepare prepares q (with ? placeholders, rebound for the backend) on the
// pool, for a hot read the caller keeps; the caller closes it. It fails
// when q does not prepare.
func (db *DB) Prepare(ctx context.Context, q string) (*sql.Stmt, error) {
	return db.sql.PrepareContext(ctx, db.rebind(q))
}

// Err wraps a database error as fault.Unavailable "db" saying what was
// being done; a fault error passes unchanged and nil stays nil.
func Err(err error, what string) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*fault.Error); ok {
		return err
	}
	return fault.Wrap(err, fault.Unavailable, "db", "database error while %s", what)
}

// ErrClosed is the error of a call on a store that was closed
// (fault.Unavailable "store_closed").
var ErrClosed error = errBatcherClosed

// Serialized wraps a batch function so that, on SQLite, the batches of all
// the batchers of db run one at a time (see serialized).
func Serialized[In, Out any](db *DB, run func(context.Context, []In) ([]Out, error)) func(context.Context, []In) ([]Out, error) {
	return serialized(db, run)
}

// BatchWorkers is how many batches of one batcher should run at once on
// db: one on SQLite, a few on PostgreSQL.
func (db *DB) BatchWorkers() int { return db.workersFor() }

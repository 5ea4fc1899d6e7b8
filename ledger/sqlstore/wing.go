package sqlstore

import (
	"context"
	"embed"

	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/sqldb"
)

// Migrations holds the ledger's tables as migrations/NNN_*.sql, for a
// wing that keeps a ledger among its own tables (issuer/sqlstore).
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Wing returns a storage wing named name holding a ledger alone.
func Wing(name string) sqldb.Wing {
	return sqldb.Wing{Name: name, Migrations: Migrations, Dir: "migrations"}
}

// Batch is a ledger.Store whose single transfers (CreateTransfer, as an
// issuer host places one hold per authorization) are group-committed: the
// transfers of concurrent callers are applied as one batch in one
// transaction, each with its own Result. Everything else goes straight to
// the store underneath.
type Batch struct {
	*Store
	b *sqldb.Batcher[ledger.Transfer, ledger.Result]
}

var _ ledger.Store = (*Batch)(nil)

// NewBatch wraps the ledger s with one batch worker. It never fails;
// Close stops it.
func NewBatch(s *Store) *Batch {
	// One worker even on PostgreSQL: every hold of a bank credits its one
	// settlement account, so concurrent batches would wait on its row lock.
	return &Batch{Store: s, b: sqldb.NewBatcher(1, 2000, sqldb.Serialized(s.db, s.CreateTransfers))}
}

// CreateTransfer applies t in the next batch. A Linked transfer goes alone
// (it would chain to another caller's transfer). It fails like
// Store.CreateTransfers, or with fault.Unavailable after Close.
func (l *Batch) CreateTransfer(ctx context.Context, t ledger.Transfer) (ledger.Result, error) {
	if t.Flags&ledger.Linked != 0 {
		return l.Store.CreateTransfer(ctx, t)
	}
	return l.b.Do(ctx, t)
}

// Close stops the batch worker; it does not close the database.
func (l *Batch) Close() { l.b.Close() }

package sqlstore

import (
	"context"
	"embed"
	"runtime"

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
	return &Batch{Store: s, b: sqldb.NewGatedBatcher(1, 2000, gateFor(s.db.Dialect()), sqldb.Serialized(s.db, s.CreateTransfers))}
}

// gateFor is the turn a ledger on dialect d takes to commit.
func gateFor(d sqldb.Dialect) sqldb.CommitGate {
	if d == sqldb.SQLite {
		return sqliteCommits
	}
	return nil
}

// sqliteCommits is the turn the banks' ledgers hosted in this process take
// to commit on SQLite: as many at once as the process has CPUs. Each bank
// its own database (issue 10), a bank takes a twentieth of the holds; its
// batches were 4 holds where the one file of all banks had 10-12, and a
// transaction's fixed cost (its log pages: a page per table and index it
// touches, two pwrite(2)s each) is most of a small batch's. Waiting for
// its turn while others commit, a bank's batch gathers the holds that came
// meanwhile. On PostgreSQL the commits wait on the server, not the CPUs:
// no turn.
var sqliteCommits = sqldb.NewCommitGate(runtime.GOMAXPROCS(0))

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

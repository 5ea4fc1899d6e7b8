package sqldb

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/tapwallet/tapwallet/fault"
)

// Durability (issue 16): money is on disk before anyone is told
// "approved". Every SQLite file opens in WAL mode with synchronous=FULL,
// under which SQLite syncs the log (fdatasync(2), see useFdatasync) at the
// commit of every transaction that wrote, so InTx returns only once what it
// committed survives a power cut; a checkpoint syncs the log and the file
// again before it lets the log be reused. synchronous=NORMAL, which syncs
// only at checkpoints (a process crash loses nothing, a power loss can lose
// the last commits), is there only for a bench or test that asks for it by
// name (SetSQLiteSyncNormal; `tapwallet bench auth --sqlite-sync normal`).
// On PostgreSQL the server syncs its log at commit unless
// synchronous_commit is off: the kernel refuses to open a database whose
// connections have it off (checkDurablePostgres).

// sqliteSyncNormal is set by SetSQLiteSyncNormal; false (FULL) by default.
var sqliteSyncNormal atomic.Bool

// SetSQLiteSyncNormal makes the SQLite files opened after it commit with
// synchronous=NORMAL (on: not durable against a power cut) or FULL (off, the
// default). It is process-wide and is for benches and tests that measure
// what durability costs; nothing in the platform calls it.
func SetSQLiteSyncNormal(on bool) { sqliteSyncNormal.Store(on) }

// sqliteSynchronous is the synchronous pragma files are opened with.
func sqliteSynchronous() string {
	if sqliteSyncNormal.Load() {
		return "NORMAL"
	}
	return "FULL"
}

// syncs counts the fdatasync(2)s the kernel has SQLite make, process-wide.
var syncs atomic.Uint64

// Syncs returns the number of fdatasync(2)s the storage kernel has had
// SQLite make in this process so far: one at the commit of each transaction
// that wrote to a file opened with synchronous=FULL, and two for each
// background checkpoint that copied pages back (log, then file) — SQLite's
// rule in WAL mode, counted where the kernel commits and checkpoints
// (modernc's SQLite calls fdatasync from its own code, with no hook to
// count the calls themselves). The rare checkpoint a committing writer runs
// itself at walAutoCheckpoint pages is not counted, so this is a lower bound.
// Nothing is counted on PostgreSQL, where the server syncs.
func Syncs() uint64 { return syncs.Load() }

// readSynchronous reads the synchronous level of one of the pool's
// connections (0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA) and remembers whether a
// commit syncs the log.
func (db *DB) readSynchronous(ctx context.Context) error {
	var level int
	if err := db.sql.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&level); err != nil {
		return fault.Wrap(err, fault.Unavailable, "db_open", "read sqlite synchronous")
	}
	db.commitSyncs = level >= 2
	return nil
}

// checkDurablePostgres refuses a PostgreSQL database whose connections do
// not wait for the log to be flushed at commit (synchronous_commit=off, set
// in the DSN's options or the server's configuration): a commit there is
// answered before it is on disk.
func (db *DB) checkDurablePostgres(ctx context.Context) error {
	var v string
	if err := db.sql.QueryRowContext(ctx, "SHOW synchronous_commit").Scan(&v); err != nil {
		return fault.Wrap(err, fault.Unavailable, "db_open", "read postgres synchronous_commit")
	}
	if v == "off" {
		return fault.E(fault.Unavailable, "db_not_durable", "postgres synchronous_commit is off: commits would be answered before they are on disk; remove it from the DSN or the server's configuration")
	}
	return nil
}

// isSelect reports whether q is a plain read (its commit writes nothing).
func isSelect(q string) bool {
	q = strings.TrimLeft(q, " \t\n")
	return len(q) >= 6 && strings.EqualFold(q[:6], "SELECT")
}

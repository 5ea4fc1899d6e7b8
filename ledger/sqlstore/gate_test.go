package sqlstore

import (
	"runtime"
	"testing"

	"github.com/tapwallet/tapwallet/sqldb"
)

// TestBanksShareCommitTurns: the ledgers on SQLite take turns at one gate
// as wide as the process's CPUs; on PostgreSQL they have none.
func TestBanksShareCommitTurns(t *testing.T) {
	if cap(sqliteCommits) != runtime.GOMAXPROCS(0) {
		t.Errorf("gate for %d commits at once, want %d (GOMAXPROCS)", cap(sqliteCommits), runtime.GOMAXPROCS(0))
	}
	if gateFor(sqldb.SQLite) == nil || gateFor(sqldb.Postgres) != nil {
		t.Errorf("gate on SQLite %v, on PostgreSQL %v: want sqliteCommits and none", gateFor(sqldb.SQLite) != nil, gateFor(sqldb.Postgres) != nil)
	}
}

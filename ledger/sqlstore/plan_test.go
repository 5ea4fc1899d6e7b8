package sqlstore

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// TestReadersHaveTheirIndexes: with fewer indexes on ledger_transfers
// (issue 16), each reader of the ledger beyond a lookup by id still finds
// its index on SQLite — the expiry sweep, an account's statement and the
// settlement queries of docs/ledger.md — instead of reading every transfer.
func TestReadersHaveTheirIndexes(t *testing.T) {
	db := planDB(t)
	day := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	query := func(f ledger.Filter) (string, []any) { return transfersQuery(sqldb.SQLite, f) }
	cases := []struct {
		name  string
		q     string
		args  []any
		index []string
	}{
		{name: "expiry sweep", q: expiredQuery, args: []any{int64(1), 10}, index: []string{"ledger_transfers_open"}},
		{name: "account statement", index: []string{"ledger_transfers_debit", "ledger_transfers_credit"}},
		{name: "open holds before a cutoff", index: []string{"ledger_transfers_open"}},
		{name: "the day's posts", index: []string{"ledger_transfers_posts"}},
	}
	cases[1].q, cases[1].args = query(ledger.Filter{AccountID: "acct-1", From: day})
	cases[2].q, cases[2].args = query(ledger.Filter{Status: ledger.StatusPending, To: day})
	cases[3].q, cases[3].args = query(ledger.Filter{Flags: ledger.PostPending, From: day, To: day.Add(24 * time.Hour)})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := sqldbtest.QueryPlan(t, db, tc.q, tc.args...)
			plan := strings.Split(text, "; ")
			for _, ix := range tc.index {
				if !strings.Contains(text, "INDEX "+ix) {
					t.Errorf("plan %q does not use %s", text, ix)
				}
			}
			for _, step := range plan {
				if step == "SCAN t" {
					t.Errorf("plan %q reads the whole table", text)
				}
			}
			t.Logf("%s", text)
		})
	}
}

// TestTransferInsertMakesNoTemporaryTable: the write-behind's insert of
// holds checks a transfer's state with comparisons (007), not with the
// temporary B-tree of the states SQLite built for every row under 004's
// CHECK (status IN (…)).
func TestTransferInsertMakesNoTemporaryTable(t *testing.T) {
	db := planDB(t)
	for _, q := range []string{insertFreshTransfers.of(2), insertTransfers.of(2)} {
		ops := sqldbtest.Program(t, db, q)
		if len(ops) == 0 || slices.Contains(ops, "OpenEphemeral") {
			t.Errorf("%.60q…: program %v, want one without OpenEphemeral", q, ops)
		}
	}
}

// TestAddHeldMakesNoTemporaryValues: on SQLite the write-behind's update
// of the accounts' pending totals reads its VALUES as they come — its one
// temporary table is the update's own — where with CAST expressions in
// its rows SQLite first copied them into a second one; so does the SQL
// path's UpdateAccounts.
func TestAddHeldMakesNoTemporaryValues(t *testing.T) {
	db := planDB(t)
	count := func(q string) int {
		n := 0
		for _, op := range sqldbtest.Program(t, db, q) {
			if op == "OpenEphemeral" {
				n++
			}
		}
		return n
	}
	if got := count(addHeldFor(sqldb.SQLite).of(4)); got != 1 {
		t.Errorf("SQLite's addHeld opens %d temporary tables, want 1", got)
	}
	if got := count(addHeld.of(4)); got != 2 {
		t.Errorf("addHeld with CASTs opens %d temporary tables on SQLite, want 2 (what the bare form saves)", got)
	}
	if got := count(updateAccountsRows(sqldb.SQLite, 8)); got != 1 {
		t.Errorf("SQLite's UpdateAccounts opens %d temporary tables, want 1", got)
	}
	if got := count(updateAccountsRows(sqldb.Postgres, 8)); got != 2 {
		t.Errorf("UpdateAccounts with CASTs opens %d temporary tables on SQLite, want 2 (what the bare form saves)", got)
	}
}

// planDB is a fresh SQLite issuer wing for reading statements' plans and
// programs, closed at the test's end.
func planDB(t *testing.T) *sqldb.DB {
	t.Helper()
	db, err := sqldb.OpenWing(context.Background(), "", t.TempDir(), Wing("issuer_plan"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

package sqldbtest

import (
	"context"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/sqldb"
)

// QueryPlan returns SQLite's plan of q with args (EXPLAIN QUERY PLAN), its
// steps joined by "; " — for a test that a reader finds its index.
func QueryPlan(t testing.TB, db *sqldb.DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.Query(context.Background(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "; ")
}
